//! Namespace tests with real traffic through each backend (see common/mod.rs for the
//! topology: A - MR - R - HA - B, stranger X on R).

mod common;

use anyhow::{ensure, Result};
use common::*;
use dataplane::{Backend, TunnelSettings};
use integration::backend_tests;
use integration::backends::{in_kernel, tunnel_marker};

fn routes_match_fig7(t: &Topology, backend: Backend) -> Result<()> {
    let mr4 = t.mr.ip(&["route", "show", "default", "proto", "168"])?;
    ensure!(
        mr4.contains(&format!("src {MR_IN4}")),
        "MR IPv4 default: {mr4}"
    );
    ensure!(mr4.contains("mtu 1460"), "MR IPv4 default mtu: {mr4}");
    let mr6 = t.mr.ip(&["-6", "route", "show", "proto", "168"])?;
    ensure!(
        mr6.contains("default from 2001:db8:281::/64"),
        "MR IPv6 from MNP: {mr6}"
    );
    ensure!(
        mr6.contains(&format!("default from {HOA}")),
        "MR IPv6 from HoA: {mr6}"
    );
    let ha4 = t.ha.ip(&["route", "show", "proto", "168"])?;
    ensure!(ha4.starts_with("10.0.0.0/24"), "HA IPv4 MNP: {ha4}");
    let ha6 = t.ha.ip(&["-6", "route", "show", "proto", "168"])?;
    ensure!(
        ha6.contains("2001:db8:281::/64") && ha6.contains(HOA),
        "HA IPv6 MNP and HoA: {ha6}"
    );
    let marker = tunnel_marker(backend);
    for out in [&mr4, &mr6, &ha4, &ha6] {
        // tun: each route into the device has a blackhole behind it (the next metric) for
        // while the relay restarts.
        ensure!(
            out.lines()
                .all(|l| l.contains(marker)
                    || (backend == Backend::Tun && l.starts_with("blackhole "))),
            "not through the tunnel ({marker}): {out}"
        );
    }
    match backend {
        Backend::Ip6tnl => {
            // One ip6tnl device per binding, named nemoN, marked with the home address,
            // mode any, no encapsulation limit option, the configured hop limit, the
            // tunnel MTU; no rules (the kernel decapsulates on the device).
            for (ns, local, remote, dev) in [(&t.mr, COA1, HA, "up0"), (&t.ha, HA, COA1, "home0")] {
                let l = ip6tnl_devices(ns)?;
                ensure!(l.len() == 1, "one ip6tnl device per binding: {l:?}");
                let l = &l[0];
                for want in [
                    ": nemo0@".to_string(),
                    "mtu 1460".to_string(),
                    format!("ip6tnl any remote {remote} local {local} dev {dev}"),
                    "encaplimit none".to_string(),
                    "hoplimit 64".to_string(),
                    format!("alias shisa {HOA}"),
                ] {
                    ensure!(l.contains(&want), "ip6tnl device lacks {want:?}: {l}");
                }
                let rules = ns.ip(&["-6", "rule"])?;
                ensure!(
                    !rules.contains("proto 168"),
                    "ip6tnl installs no rules: {rules}"
                );
            }
        }
        Backend::Tun => {
            let link = t.mr.ip(&["link", "show", "nemo0"])?;
            ensure!(
                link.contains("mtu 1460"),
                "TUN MTU must be path MTU - 40: {link}"
            );
        }
        Backend::Seg6 => {
            ensure!(
                mr4.contains(&format!("encap seg6 mode encap.red segs 1 [ {HA} ]")),
                "{mr4}"
            );
            ensure!(ha4.contains(&format!("segs 1 [ {COA1} ]")), "{ha4}");
            let rules = t.ha.ip(&["-6", "rule"])?;
            ensure!(
                rules.contains(&format!(
                    "50:\tfrom all to {HA} ipproto ipencap lookup 16804 proto 168"
                )),
                "{rules}"
            );
            ensure!(
                rules.contains(&format!(
                    "50:\tfrom all to {HA} ipproto ipv6 lookup 16841 proto 168"
                )),
                "{rules}"
            );
            ensure!(
                rules.contains("100:\tfrom all lookup local proto 168"),
                "{rules}"
            );
            ensure!(
                !rules.lines().any(|l| l.starts_with("0:")),
                "pref 0 local still there: {rules}"
            );
            let decap = t.ha.ip(&["-6", "route", "show", "table", "16804"])?;
            ensure!(
                decap.contains(&format!("{HA} from {COA1}")) && decap.contains("End.DX4"),
                "{decap}"
            );
        }
        Backend::Bpf => {
            // The encapsulation program runs on routes out of the uplink / home interface;
            // decapsulation is a tc ingress program there. No rules, no TUN device.
            for (out, dev) in [
                (&mr4, "up0"),
                (&mr6, "up0"),
                (&ha4, "home0"),
                (&ha6, "home0"),
            ] {
                ensure!(
                    out.lines().all(|l| l.contains(&format!("dev {dev}"))),
                    "not out of {dev}: {out}"
                );
            }
            for (ns, dev) in [(&t.mr, "up0"), (&t.ha, "home0")] {
                let rules = ns.ip(&["-6", "rule"])?;
                ensure!(
                    !rules.contains("proto 168"),
                    "bpf installs no rules: {rules}"
                );
                ensure!(
                    rules.starts_with("0:\tfrom all lookup local"),
                    "local rule moved: {rules}"
                );
                let ingress = tc_ingress(t, dev)?;
                ensure!(
                    ingress.contains("nemo_decap"),
                    "no decapsulation program on {dev} ingress: {ingress}"
                );
            }
            ensure!(
                t.mr.ip(&["link", "show", "nemo0"]).is_err(),
                "bpf makes no TUN device"
            );
        }
    }
    Ok(())
}

/// Our ip6tnl devices in `ns` (`ip -d -o link`, alias `shisa HOA`), one line each.
fn ip6tnl_devices(ns: &integration::Netns) -> Result<Vec<String>> {
    Ok(ns
        .ip(&["-d", "-o", "link", "show", "type", "ip6tnl"])?
        .lines()
        .filter(|l| l.contains("alias shisa "))
        .map(str::to_string)
        .collect())
}

/// `N: name` of our ip6tnl devices: the same after a change in place.
fn ip6tnl_identities(ns: &integration::Netns) -> Result<Vec<String>> {
    Ok(ip6tnl_devices(ns)?
        .iter()
        .map(|l| l.split('@').next().unwrap_or_default().to_string())
        .collect())
}

/// The bpf backend's programs at ingress of `dev` (the MR's `up0` or the HA's `home0`):
/// tcx programs and clsact filters, by name (`tc filter show` does not list tcx).
fn tc_ingress(t: &Topology, dev: &str) -> Result<String> {
    let node = if dev == "up0" { &t.mr_node } else { &t.ha_node };
    let dev = dev.to_string();
    let names = node.run(move |_, _| dataplane::bpf_ingress_programs(&dev))??;
    Ok(names.join(" "))
}

fn traffic(t: &Topology) -> Result<()> {
    ping(&t.a, &[B4])?;
    ping(&t.a, &[B6])?;
    ping(&t.b, &[A4])?;
    ping(&t.b, &[A6])?;
    // The MR's own IPv4 traffic, sourced from its inside address.
    ping(&t.mr, &[B4])?;
    Ok(())
}

fn bulk_tcp(t: &Topology) -> Result<()> {
    for (reverse, what) in [(false, "A->B"), (true, "B->A")] {
        let bps = iperf(&t.a, &t.b, B4, 2, reverse)?;
        eprintln!("IPv4 {what}: {:.2} Gbit/s", bps / 1e9);
        ensure!(bps > 5e6, "IPv4 bulk TCP {what} only {bps} bit/s");
    }
    for (reverse, what) in [(false, "A->B"), (true, "B->A")] {
        let bps = iperf(&t.a, &t.b, B6, 2, reverse)?;
        eprintln!("IPv6 {what}: {:.2} Gbit/s", bps / 1e9);
        ensure!(bps > 5e6, "IPv6 bulk TCP {what} only {bps} bit/s");
    }
    Ok(())
}

fn registered_traffic(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    routes_match_fig7(&t, backend)?;
    traffic(&t)?;
    bulk_tcp(&t)?;
    let nft = t.mr.run(&["nft", "list", "table", "inet", NFT_TABLE])?;
    ensure!(
        nft.contains("maxseg size set 1420") && nft.contains("maxseg size set 1400"),
        "{nft}"
    );
    Ok(())
}

/// Sends, from the stranger X, an IPv4-in-IPv6 and an IPv6-in-IPv6 packet to the HA with
/// inner destination B and outer source `outer_src`; true when B received either.
fn stranger_packets_reach_b(t: &Topology, outer_src: &str) -> Result<bool> {
    let mut dump = t.b.command("timeout");
    // Lives past the (slow, under emulation) scapy start; ended when dropped.
    dump.args([
        "30",
        "tcpdump",
        "-n",
        "-l",
        "--immediate-mode",
        "-i",
        "eth0",
        "icmp or icmp6",
    ]);
    let mut dump = integration::BackgroundProcess::spawn(dump, "tcpdump")?;
    let lines = dump.lines()?;
    std::thread::sleep(std::time::Duration::from_millis(700));
    let script = format!(
        "from scapy.all import *\n\
         conf.verb = 0\n\
         send(IPv6(src='{outer_src}', dst='{HA}')/IP(src='10.0.0.99', dst='{B4}')/ICMP(), count=3, inter=0.05)\n\
         send(IPv6(src='{outer_src}', dst='{HA}')/IPv6(src='2001:db8:281::99', dst='{B6}')/ICMPv6EchoRequest(), count=3, inter=0.05)\n"
    );
    t.x.run(&["/usr/bin/python3", "-c", &script])?;
    let seen = lines.wait_for(std::time::Duration::from_secs(3), |l| {
        l.contains("10.0.0.99 >") || l.contains("2001:db8:281::99 >")
    });
    Ok(seen.is_ok())
}

fn rejects_unregistered_source(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    ensure!(
        !stranger_packets_reach_b(&t, X6)?,
        "a packet from an unregistered source was decapsulated"
    );
    // Control: the same packets with the registered CoA as (spoofed) source do come out,
    // so the check above can fail.
    ensure!(
        stranger_packets_reach_b(&t, COA1)?,
        "control: packets from the registered CoA did not pass"
    );
    if backend == Backend::Tun {
        let stats = t.ha_node.relay_stats()?.unwrap_or_default();
        ensure!(stats.rejected >= 6, "relay rejected count {stats:?}");
    }
    Ok(())
}

/// Packets lost by a `ping -i 0.01` from A to B running while `during` runs.
fn loss_during(t: &Topology, count: u32, during: impl FnOnce() -> Result<()>) -> Result<u32> {
    let mut cmd = t.a.command("ping");
    let count_s = count.to_string();
    cmd.args(["-n", "-i", "0.01", "-W", "1", "-c", &count_s, B4]);
    let mut ping = integration::BackgroundProcess::spawn(cmd, "ping")?;
    let lines = ping.lines()?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    during()?;
    let summary = lines.wait_for(std::time::Duration::from_secs(20), |l| {
        l.contains("packets transmitted")
    })?;
    // "300 packets transmitted, 297 received, 1% packet loss, time 3300ms"
    let nums: Vec<u32> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums.as_slice() {
        [sent, received, ..] => Ok(sent - received),
        _ => anyhow::bail!("cannot read ping summary {summary:?}"),
    }
}

fn coa_change_keeps_traffic(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    ping(&t.a, &[B4])?;
    let devices_before = (ip6tnl_identities(&t.mr)?, ip6tnl_identities(&t.ha)?);
    let lost = loss_during(&t, 300, || {
        // The MR moves: a new CoA appears and the old one is deprecated; the HA accepts
        // the new binding (BC_ADD), then the MR gets its BA (BUL_ADD).
        t.mr.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{COA2}/64"),
            "dev",
            "up0",
            "nodad",
        ])?;
        t.mr.ip(&[
            "-6",
            "addr",
            "change",
            &format!("{COA1}/64"),
            "dev",
            "up0",
            "preferred_lft",
            "0",
        ])?;
        t.ha_node.apply_ha(vec![Topology::binding(COA2)])?;
        t.mr_node.apply_mr(Some(Topology::registration(COA2)))?;
        Ok(())
    })?;
    eprintln!("{backend}: {lost} of 300 pings lost across the CoA change");
    ensure!(lost <= 10, "{lost} packets lost across the CoA change");
    // Nothing of the old CoA is left, and traffic flows on the new one.
    for ns in [&t.mr, &t.ha] {
        let state = our_state(ns)?;
        ensure!(
            !state.contains(COA1),
            "stale state for the old CoA: {state}"
        );
    }
    if backend == Backend::Ip6tnl {
        // `ip -6 tunnel change`: the same devices with new endpoints, so the routes
        // never left them.
        let after = (ip6tnl_identities(&t.mr)?, ip6tnl_identities(&t.ha)?);
        ensure!(
            after == devices_before && after.0.len() == 1 && after.1.len() == 1,
            "ip6tnl devices replaced instead of changed: {devices_before:?} -> {after:?}"
        );
        let mr = ip6tnl_devices(&t.mr)?;
        ensure!(
            mr[0].contains(&format!("remote {HA} local {COA2}")),
            "{mr:?}"
        );
        let ha = ip6tnl_devices(&t.ha)?;
        ensure!(
            ha[0].contains(&format!("remote {COA2} local {HA}")),
            "{ha:?}"
        );
    }
    t.mr.ip(&["-6", "addr", "del", &format!("{COA1}/64"), "dev", "up0"])?;
    traffic(&t)?;
    Ok(())
}

fn restart_reconciles(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    let (mr_before, ha_before) = (our_state(&t.mr)?, our_state(&t.ha)?);
    // Warm up neighbour caches so that loss below is the restart's own.
    ping(&t.a, &[B4])?;
    let mut reports = Vec::new();
    let lost = loss_during(&t, 200, || {
        // Restart without teardown: drop both data planes, start again, apply the same.
        t.mr_node.drop_dataplane()?;
        t.ha_node.drop_dataplane()?;
        t.ha_node.start(Topology::ha_role(), backend)?;
        t.mr_node.start(Topology::mr_role(), backend)?;
        reports.push(t.ha_node.apply_ha(vec![Topology::binding(COA1)])?);
        reports.push(t.mr_node.apply_mr(Some(Topology::registration(COA1)))?);
        Ok(())
    })?;
    eprintln!("{backend}: {lost} of 200 pings lost across the restart; {reports:?}");
    ensure!(
        our_state(&t.mr)? == mr_before,
        "MR state changed:\n{}\nvs\n{mr_before}",
        our_state(&t.mr)?
    );
    ensure!(
        our_state(&t.ha)? == ha_before,
        "HA state changed:\n{}\nvs\n{ha_before}",
        our_state(&t.ha)?
    );
    if in_kernel(backend) {
        // Everything was found in place: nothing re-added, forwarding never stopped.
        for r in &reports {
            ensure!(
                !r.changed() && r.routes_kept >= 3,
                "restart changed kernel state: {r:?}"
            );
        }
        ensure!(
            lost == 0,
            "{lost} packets lost while restarting on {backend}"
        );
    }
    // A second apply of the same state is a no-op on every backend.
    let again = t.mr_node.apply_mr(Some(Topology::registration(COA1)))?;
    ensure!(!again.changed(), "repeated apply changed state: {again:?}");
    traffic(&t)?;
    Ok(())
}

fn teardown_restores(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    // Routes and rules outside the local table (forwarding, which stays on, adds
    // subnet-router anycast entries there).
    let snapshot = |ns: &integration::Netns| -> Result<String> {
        let all = format!(
            "{}{}{}",
            ns.ip(&["-4", "route", "show", "table", "all"])?,
            ns.ip(&["-6", "route", "show", "table", "all"])?,
            ns.ip(&["-6", "rule"])?
        );
        Ok(all
            .lines()
            .filter(|l| !l.contains("table local"))
            .map(|l| format!("{l}\n"))
            .collect())
    };
    let (mr0, ha0) = (snapshot(&t.mr)?, snapshot(&t.ha)?);
    t.register(backend, COA1)?;
    ping(&t.a, &[B4])?;
    // Deregistration (home) removes the tunnel routes but keeps the data plane.
    t.mr_node.apply_mr(None)?;
    t.ha_node.apply_ha(vec![])?;
    ensure!(
        !our_state(&t.mr)?.contains("encap") && !our_state(&t.mr)?.contains("nemo0"),
        "{}",
        our_state(&t.mr)?
    );
    ensure!(
        t.a.run(&["ping", "-c", "1", "-W", "1", B4]).is_err(),
        "IPv4 still reaches B after deregistration"
    );
    t.mr_node.teardown()?;
    t.ha_node.teardown()?;
    for (ns, before) in [(&t.mr, &mr0), (&t.ha, &ha0)] {
        ensure!(our_state(ns)?.is_empty(), "left behind: {}", our_state(ns)?);
        let after = snapshot(ns)?;
        let only_after: Vec<&str> = after
            .lines()
            .filter(|l| !before.lines().any(|b| b == *l))
            .collect();
        let only_before: Vec<&str> = before
            .lines()
            .filter(|l| !after.lines().any(|a| a == *l))
            .collect();
        ensure!(
            only_after.is_empty() && only_before.is_empty(),
            "kernel state differs after teardown: added {only_after:?}, missing {only_before:?}"
        );
        ensure!(
            ns.run(&["nft", "list", "table", "inet", NFT_TABLE])
                .is_err(),
            "nft table left"
        );
        let devices = ip6tnl_devices(ns)?;
        ensure!(devices.is_empty(), "ip6tnl devices left: {devices:?}");
    }
    for dev in ["up0", "home0"] {
        let ingress = tc_ingress(&t, dev)?;
        ensure!(
            !ingress.contains("nemo_decap"),
            "decapsulation program left on {dev}: {ingress}"
        );
    }
    Ok(())
}

/// What crosses the access network is plain RFC 2473: outer IPv6 from the CoA to the HA
/// with next header 4 or 41 and no routing header, in both directions.
fn wire_format_is_rfc2473(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    ping(&t.a, &[B4])?;
    let mut cmd = t.r.command("timeout");
    cmd.args([
        "4",
        "tcpdump",
        "-n",
        "-l",
        "-i",
        "rmr",
        "ip6 and (ip6[6] == 4 or ip6[6] == 41 or ip6[6] == 43)",
    ]);
    let mut dump = integration::BackgroundProcess::spawn(cmd, "tcpdump")?;
    let lines = dump.lines()?;
    std::thread::sleep(std::time::Duration::from_millis(700));
    ping(&t.a, &[B4])?;
    ping(&t.a, &[B6])?;
    let deadline = std::time::Duration::from_secs(4);
    let up4 = lines.wait_for(deadline, |l| {
        l.contains(&format!("IP6 {COA1} > {HA}: IP {A4} > {B4}"))
    })?;
    let down4 = lines.wait_for(deadline, |l| {
        l.contains(&format!("IP6 {HA} > {COA1}: IP {B4} > {A4}"))
    })?;
    let up6 = lines.wait_for(deadline, |l| {
        l.contains(&format!("IP6 {COA1} > {HA}: IP6 {A6} > {B6}"))
    })?;
    let rest = lines.drain();
    for l in [&up4, &down4, &up6].into_iter().chain(&rest) {
        ensure!(
            !l.contains("srcrt") && !l.contains("RT6"),
            "routing header on the wire: {l}"
        );
    }
    Ok(())
}

/// RFC 2473 section 6.3: the outer header carries the configured hop limit (64 by default,
/// and another one here), whatever the inner packet's, for IPv4 and IPv6 inside, on both
/// tunnel entry points. Captured where the outer packets leave (MR up0, HA home0), before
/// any router decrements them. The data planes restart (without teardown) with the other
/// hop limit: it takes effect (the bpf backend must not adopt the pinned program loaded
/// with the old one).
fn outer_hop_limit_is_configured(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    for (i, hops) in [TunnelSettings::DEFAULT_HOP_LIMIT, 42, 64]
        .into_iter()
        .enumerate()
    {
        let tunnel = TunnelSettings {
            hop_limit: hops,
            ..Topology::tunnel()
        };
        if i > 0 {
            t.mr_node.drop_dataplane()?;
            t.ha_node.drop_dataplane()?;
        }
        t.register_with(backend, COA1, tunnel)?;
        ping(&t.a, &[B4])?;
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        let mr_file = dir.join(format!("hoplimit-{backend}-{hops}-{pid}-mr.pcap"));
        let ha_file = dir.join(format!("hoplimit-{backend}-{hops}-{pid}-ha.pcap"));
        let mr_cap = integration::capture::Capture::start(&t.mr, "up0", &mr_file)?;
        let ha_cap = integration::capture::Capture::start(&t.ha, "home0", &ha_file)?;
        // Inner hop limits unlike the configured one, from both sides.
        ping(&t.a, &["-t", "7", B4])?;
        ping(&t.a, &["-t", "200", B6])?;
        ping(&t.b, &["-t", "9", A4])?;
        ping(&t.b, &["-t", "250", A6])?;
        let mr_file = mr_cap.finish()?;
        let ha_file = ha_cap.finish()?;
        for (file, src) in [(&mr_file, COA1), (&ha_file, HA)] {
            let rows = integration::capture::tshark_fields(
                file,
                &format!("ipv6.src == {src} && (ipv6.nxt == 4 || ipv6.nxt == 41)"),
                &["ipv6.nxt", "ipv6.hlim"],
            )?;
            let _ = std::fs::remove_file(file);
            let mut seen = std::collections::BTreeSet::new();
            for row in &rows {
                // Outer first (occurrence=a lists the inner IPv6 header's values after).
                let first = |i: usize| row.get(i).and_then(|v| v.split(',').next()).unwrap_or("");
                let (nxt, hlim) = (first(0), first(1));
                ensure!(
                    hlim == hops.to_string(),
                    "{backend}: outer hop limit {hlim} from {src} (next header {nxt}), configured {hops}: {rows:?}"
                );
                seen.insert(nxt.to_string());
            }
            ensure!(
                seen.contains("4") && seen.contains("41"),
                "{backend}: tunnel packets of both families from {src} expected, saw next headers {seen:?}"
            );
            eprintln!(
                "{backend}: {} outer packets from {src}, hop limit {hops}",
                rows.len()
            );
        }
    }
    Ok(())
}

/// `auto` picks the first backend of [`Backend::ALL`] this kernel runs; a forced backend
/// that runs is honoured, a forced one the kernel lacks is an error naming its kernel option.
#[test]
fn probe_prefers_the_first_available_and_honours_a_forced_backend() -> Result<()> {
    let ns = integration::Netns::new("dpp")?;
    let node = Node::spawn(&ns)?;
    let results = node.run(|rt, _| {
        rt.block_on(async {
            let auto = dataplane::probe(None).await.map_err(|e| e.to_string());
            let mut forced = Vec::new();
            for b in Backend::ALL {
                let available = b.available().await;
                let chosen = dataplane::probe(Some(b)).await.map_err(|e| e.to_string());
                forced.push((b, available, chosen));
            }
            (auto, forced)
        })
    })?;
    let (auto, forced) = results;
    let first = forced
        .iter()
        .find(|(_, available, _)| *available)
        .map(|f| f.0);
    match first {
        Some(first) => ensure!(
            auto.as_ref() == Ok(&first),
            "auto chose {auto:?}, the first available is {first}"
        ),
        None => ensure!(auto.is_err(), "auto chose {auto:?} with nothing available"),
    }
    for (b, available, chosen) in &forced {
        if *available {
            ensure!(chosen.as_ref() == Ok(b), "forced {b}: {chosen:?}");
        } else {
            let err = chosen.as_ref().err().cloned().unwrap_or_default();
            ensure!(
                chosen.is_err() && err.contains(b.requirement()),
                "forced {b} on a kernel without it: {chosen:?}"
            );
            eprintln!("forced {b}: {err}");
        }
    }
    let leftovers = ns.ip(&["-6", "route", "show", "table", "all", "proto", "168"])?;
    ensure!(leftovers.is_empty(), "probe left routes: {leftovers}");
    Ok(())
}

/// The HA's binding set: adding a second MR leaves the first alone, removing it takes
/// exactly its routes and its decapsulation away.
fn ha_binding_set_changes(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    let only_first = our_state(&t.ha)?;
    let second = dataplane::HaBinding {
        hoa: "2001:db8:280::9".parse()?,
        coa: "2001:db8:300::9".parse()?,
        mnp6: vec!["2001:db8:299::/64".parse()?],
        mnp4: vec!["10.9.0.0/24".parse()?],
    };
    let report = t
        .ha_node
        .apply_ha(vec![Topology::binding(COA1), second.clone()])?;
    ensure!(
        report.routes_replaced >= 3 && report.routes_deleted == 0,
        "{report:?}"
    );
    let both = our_state(&t.ha)?;
    ensure!(
        both.contains("10.9.0.0/24") && both.contains("2001:db8:299::/64"),
        "{both}"
    );
    ping(&t.a, &[B4])?;
    let report = t.ha_node.apply_ha(vec![Topology::binding(COA1)])?;
    ensure!(
        report.routes_replaced == 0 && report.routes_deleted >= 3,
        "{report:?}"
    );
    ensure!(
        our_state(&t.ha)? == only_first,
        "not back to the first binding:\n{}",
        our_state(&t.ha)?
    );
    let nft = t.ha.run(&["nft", "list", "table", "inet", NFT_TABLE])?;
    ensure!(
        !nft.contains("10.9.0.0"),
        "clamp still covers the removed MR: {nft}"
    );
    ping(&t.a, &[B4])?;
    Ok(())
}

/// The MR's signaling leaves natively while registered: a header-included raw packet
/// (how mhsock sends BUs) from the home address and one from the CoA with a Home Address
/// option both cross the access link unencapsulated.
fn signaling_stays_native(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    let mut cmd = t.r.command("timeout");
    cmd.args(["4", "tcpdump", "-n", "-l", "-i", "rmr", "ip6 and not icmp6"]);
    let mut dump = integration::BackgroundProcess::spawn(cmd, "tcpdump")?;
    let lines = dump.lines()?;
    std::thread::sleep(std::time::Duration::from_millis(700));
    let script = format!(
        "import socket\n\
         from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, HAO, MIP6MH_BU\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)\n\
         for p in [IPv6(src='{HOA}', dst='{HA}')/MIP6MH_BU(seq=1), \
                   IPv6(src='{COA1}', dst='{HA}')/IPv6ExtHdrDestOpt(options=[HAO(hoa='{HOA}')])/MIP6MH_BU(seq=2)]:\n\
         \ts.sendto(bytes(p), ('{HA}', 0))\n"
    );
    t.mr.run(&["/usr/bin/python3", "-c", &script])?;
    let deadline = std::time::Duration::from_secs(4);
    let from_hoa = lines.wait_for(deadline, |l| l.contains(&format!("{HOA} > {HA}")))?;
    let from_coa = lines.wait_for(deadline, |l| l.contains(&format!("{COA1} > {HA}")))?;
    eprintln!("{from_hoa}\n{from_coa}");
    for l in [&from_hoa, &from_coa] {
        ensure!(
            l.contains("mobility") || l.contains("DSTOPT"),
            "not a native MH packet: {l}"
        );
        ensure!(!l.contains(": IP6 "), "encapsulated: {l}");
    }
    Ok(())
}

/// A restart with another backend converges too, between each kernel backend and the TUN
/// relay, both ways: kernel routes become TUN routes (seg6's decapsulation rules go and the
/// `lookup local` rule is back at pref 0; bpf's tc programs go; ip6tnl's devices go), and
/// back.
#[test]
fn seg6_restart_on_another_backend_converges() -> Result<()> {
    integration::backends::run_on(
        Backend::Seg6,
        concat!(
            module_path!(),
            "::seg6_restart_on_another_backend_converges"
        ),
        restart_on_another_backend_converges,
    )
}

#[test]
fn bpf_restart_on_another_backend_converges() -> Result<()> {
    integration::backends::run_on(
        Backend::Bpf,
        concat!(module_path!(), "::bpf_restart_on_another_backend_converges"),
        restart_on_another_backend_converges,
    )
}

#[test]
fn ip6tnl_restart_on_another_backend_converges() -> Result<()> {
    integration::backends::run_on(
        Backend::Ip6tnl,
        concat!(
            module_path!(),
            "::ip6tnl_restart_on_another_backend_converges"
        ),
        restart_on_another_backend_converges,
    )
}

fn restart_on_another_backend_converges(kernel: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(kernel, COA1)?;
    ping(&t.a, &[B4])?;
    for node in [&t.mr_node, &t.ha_node] {
        node.drop_dataplane()?;
    }
    t.register(Backend::Tun, COA1)?;
    for (ns, dev) in [(&t.mr, "up0"), (&t.ha, "home0")] {
        let rules = ns.ip(&["-6", "rule"])?;
        ensure!(
            rules.starts_with("0:\tfrom all lookup local"),
            "local rule not restored: {rules}"
        );
        ensure!(!rules.contains("proto 168"), "{kernel} rules left: {rules}");
        let state = our_state(ns)?;
        ensure!(!state.contains("encap"), "{kernel} routes left: {state}");
        ensure!(
            state.lines().count() == 6,
            "expected exactly the 3 TUN routes and their 3 blackholes: {state}"
        );
        let ingress = tc_ingress(&t, dev)?;
        ensure!(
            !ingress.contains("nemo_decap"),
            "{kernel} decapsulation left on {dev}: {ingress}"
        );
        let devices = ip6tnl_devices(ns)?;
        ensure!(devices.is_empty(), "ip6tnl devices left: {devices:?}");
    }
    traffic(&t)?;
    // And back to the kernel backend: the TUN routes become kernel routes.
    for node in [&t.mr_node, &t.ha_node] {
        node.drop_dataplane()?;
    }
    t.register(kernel, COA1)?;
    for ns in [&t.mr, &t.ha] {
        let state = our_state(ns)?;
        if kernel == Backend::Ip6tnl {
            // Its devices are named nemoN too: nemo0 must be an ip6tnl device now.
            let link = ns.ip(&["-d", "link", "show", "nemo0"])?;
            ensure!(link.contains("ip6tnl"), "nemo0 is not ip6tnl: {link}");
        } else {
            ensure!(!state.contains("nemo0"), "TUN routes left: {state}");
        }
        ensure!(
            state.contains(tunnel_marker(kernel)),
            "no {kernel} routes: {state}"
        );
    }
    traffic(&t)?;
    t.mr_node.teardown()?;
    t.ha_node.teardown()?;
    if kernel == Backend::Seg6 {
        let tunsrc = t.mr.ip(&["sr", "tunsrc", "show"])?;
        ensure!(
            tunsrc.trim() == "tunsrc addr ::",
            "seg6 tunnel source left set: {tunsrc}"
        );
    }
    Ok(())
}

/// A mobile router that came home: the HA's tunnel routes for its prefixes are replaced in
/// place by routes to its home address on the home link (an IPv6 next hop, also for
/// IPv4); a restarted data plane finds them; the MR's IPv4 default goes to the HA.
fn at_home(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    ping(&t.a, &[B4])?;
    let b = Topology::binding(COA1);
    let home = dataplane::HomeRouter {
        hoa: b.hoa,
        mnp6: b.mnp6.clone(),
        mnp4: b.mnp4.clone(),
    };
    t.ha_node.apply_ha_with_home(vec![], vec![home.clone()])?;
    let v4 = t.ha.ip(&["route", "show", "10.0.0.0/24"])?;
    let v6 = t.ha.ip(&["-6", "route", "show", "2001:db8:281::/64"])?;
    assert!(v4.contains(&format!("via inet6 {HOA} dev home0")), "{v4}");
    assert!(v6.contains(&format!("via {HOA} dev home0")), "{v6}");
    assert!(!v4.contains("nemo0") && !v4.contains("encap"), "{v4}");
    let hoa = t.ha.ip(&["-6", "route", "show", &format!("{HOA}/128")])?;
    assert!(hoa.contains("dev home0") && !hoa.contains("encap"), "{hoa}");
    // A restarted nemonetd learns them from the kernel.
    t.ha_node.drop_dataplane()?;
    t.ha_node.start(Topology::ha_role(), backend)?;
    let found = t.ha_node.home_routers_installed()?;
    assert_eq!(found, vec![home.clone()]);
    // It leaves home again: the tunnel routes take their place.
    t.ha_node.apply_ha_with_home(vec![b], vec![home])?;
    ping(&t.b, &[A4])?;
    // The MR at home: IPv4 to the HA on the link, the tunnel gone.
    t.mr_node.apply_mr_home(HA.parse()?)?;
    let d = t.mr.ip(&["route", "show", "default"])?;
    assert!(
        d.contains(&format!("via inet6 {HA} dev up0")) && d.contains("src 10.0.0.1"),
        "{d}"
    );
    assert!(!our_state(&t.mr)?.contains("encap"));
    Ok(())
}

backend_tests! {
    registered_traffic: seg6_routes_pings_and_bulk_tcp, ip6tnl_routes_pings_and_bulk_tcp, bpf_routes_pings_and_bulk_tcp, tun_routes_pings_and_bulk_tcp;
    rejects_unregistered_source: seg6_rejects_unregistered_source, ip6tnl_rejects_unregistered_source, bpf_rejects_unregistered_source, tun_rejects_unregistered_source;
    coa_change_keeps_traffic: seg6_coa_change_keeps_traffic, ip6tnl_coa_change_keeps_traffic, bpf_coa_change_keeps_traffic, tun_coa_change_keeps_traffic;
    restart_reconciles: seg6_restart_reconciles_without_duplicates, ip6tnl_restart_reconciles_without_duplicates, bpf_restart_reconciles_without_duplicates, tun_restart_reconciles_without_duplicates;
    teardown_restores: seg6_teardown_restores_everything, ip6tnl_teardown_restores_everything, bpf_teardown_restores_everything, tun_teardown_restores_everything;
    wire_format_is_rfc2473: seg6_wire_format_is_rfc2473, ip6tnl_wire_format_is_rfc2473, bpf_wire_format_is_rfc2473, tun_wire_format_is_rfc2473;
    ha_binding_set_changes: seg6_ha_binding_set_changes, ip6tnl_ha_binding_set_changes, bpf_ha_binding_set_changes, tun_ha_binding_set_changes;
    signaling_stays_native: seg6_signaling_stays_native, ip6tnl_signaling_stays_native, bpf_signaling_stays_native, tun_signaling_stays_native;
    at_home: seg6_at_home, ip6tnl_at_home, bpf_at_home, tun_at_home;
    outer_hop_limit_is_configured: seg6_outer_hop_limit_is_configured, ip6tnl_outer_hop_limit_is_configured, bpf_outer_hop_limit_is_configured, tun_outer_hop_limit_is_configured;
}
