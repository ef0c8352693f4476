//! The path MTU state of the data plane in namespaces, without the daemons, on each backend:
//! the seg6 oversize path appears with a registration, follows a run-time path MTU change,
//! and goes with teardown; the bpf and tun backends get only the Packet Too Big rate bound.
//! Hosts at 1500.

mod common;

use anyhow::{Context, Result};
use common::*;
use dataplane::{Backend, HaBinding, OVERSIZE_LINK};
use integration::backend_tests;
use integration::Netns;

const PMTU_TABLE: &str = "nemodp_pmtu";

fn pmtu_state(ns: &Netns) -> (String, String, String) {
    let run = |args: &[&str]| {
        ns.command(args[0])
            .args(&args[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    (
        run(&["ip", "-o", "link", "show"]),
        run(&["ip", "rule", "show"]) + &run(&["ip", "-6", "rule", "show"]),
        run(&["nft", "list", "table", "inet", PMTU_TABLE]),
    )
}

fn set_path_mtu(t: &Topology, mtu: u32) -> Result<bool> {
    t.mr_node.run(move |rt, dp| -> Result<bool> {
        let dp = dp.as_mut().context("no data plane")?;
        Ok(rt.block_on(dp.set_path_mtu(mtu))?)
    })?
}

/// `ping -M do` from `ns`: its output (whatever the status).
fn ping_df(ns: &Netns, size: &str, dst: &str) -> String {
    ns.command("ping")
        .args(["-n", "-M", "do", "-s", size, "-c", "1", "-W", "2", dst])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default()
}

/// The path MTU state a backend installs and how it follows a path MTU change: seg6 steers
/// oversized packets through the oversize link, bpf and tun need no such link.
fn path_mtu_state(backend: Backend) -> Result<()> {
    match backend {
        Backend::Seg6 => oversize_path_life_cycle(),
        Backend::Bpf | Backend::Ip6tnl | Backend::Tun => {
            no_oversize_link_and_a_bounded_rate(backend)
        }
    }
}

fn oversize_path_life_cycle() -> Result<()> {
    let t = Topology::new()?;
    t.register(Backend::Seg6, COA1)?;
    ping(&t.a, &[B4])?;
    let (links, rules, nft) = pmtu_state(&t.mr);
    assert!(
        links.contains(&format!("{OVERSIZE_LINK}@")) && links.contains("mtu 1460"),
        "{links}"
    );
    assert_eq!(
        rules.matches("fwmark 0xa8 lookup 16880").count(),
        2,
        "{rules}"
    );
    assert!(nft.contains("meta length > 1460"), "{nft}");
    let out = ping_df(&t.a, "1472", B4);
    if !out.contains("mtu = 1460") {
        let diag = |args: &[&str]| t.mr.run(args).unwrap_or_else(|e| e.to_string());
        panic!(
            "{out}\nDIAG nft:\n{}\nDIAG links:\n{}\nDIAG rules:\n{}\nDIAG t16880:\n{}{}\nDIAG nstat:\n{}\nDIAG routes:\n{}",
            diag(&["nft", "list", "ruleset"]),
            diag(&["ip", "-s", "-d", "link"]),
            diag(&["ip", "rule"]),
            diag(&["ip", "route", "show", "table", "16880"]),
            diag(&["ip", "route", "get", "198.51.100.2", "from", "10.0.0.2", "iif", "eth1", "mark", "0xa8"]),
            diag(&["nstat", "-az"]),
            diag(&["ip", "route"]),
        );
    }

    // A narrower path at run time: routes, the oversize link, the rules and the clamp follow.
    assert!(set_path_mtu(&t, 1400)?);
    assert!(!set_path_mtu(&t, 1400)?, "same MTU: no change");
    assert!(set_path_mtu(&t, 1300).is_err(), "tunnel MTU below 1280");
    let (links, _, nft) = pmtu_state(&t.mr);
    assert!(links.contains("mtu 1360"), "{links}");
    assert!(nft.contains("meta length > 1360"), "{nft}");
    let routes = t.mr.ip(&["route", "show", "default"])?;
    assert!(routes.contains("mtu 1360"), "{routes}");
    let clamp = t.mr.run(&["nft", "list", "table", "inet", NFT_TABLE])?;
    assert!(clamp.contains("maxseg size set 1320"), "{clamp}");
    let out = ping_df(&t.a, "1432", B4);
    assert!(out.contains("mtu = 1360"), "{out}");

    // Teardown takes all of it away.
    t.mr_node.teardown()?;
    let (links, rules, nft) = pmtu_state(&t.mr);
    assert!(!links.contains(OVERSIZE_LINK), "{links}");
    assert!(!rules.contains("fwmark 0xa8"), "{rules}");
    assert!(nft.is_empty(), "{nft}");
    Ok(())
}

/// bpf and tun answer oversized packets themselves (no oversize link, no mark rules) and
/// bound the rate of Packet Too Big.
fn no_oversize_link_and_a_bounded_rate(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    ping(&t.a, &[B4])?;
    let (links, rules, nft) = pmtu_state(&t.mr);
    assert!(!links.contains(OVERSIZE_LINK), "{links}");
    assert!(!rules.contains("fwmark 0xa8"), "{rules}");
    assert!(
        nft.contains("limit rate over 100/second") && !nft.contains("mark set"),
        "{nft}"
    );
    let out = ping_df(&t.a, "1472", B4);
    assert!(out.contains("mtu = 1460"), "{out}");
    assert!(set_path_mtu(&t, 1400)?);
    if matches!(backend, Backend::Tun | Backend::Ip6tnl) {
        // The TUN device, or the MR's one ip6tnl device, has the tunnel MTU.
        let link = t.mr.ip(&["link", "show", "nemo0"])?;
        assert!(link.contains("mtu 1360"), "{link}");
    }
    let routes = t.mr.ip(&["route", "show", "default"])?;
    assert!(routes.contains("mtu 1360"), "{routes}");
    let out = ping_df(&t.a, "1432", B4);
    assert!(out.contains("mtu = 1360"), "{out}");
    Ok(())
}

/// A second mobile router, registered at the HA only: its prefixes exist nowhere, but the
/// HA answers an oversized packet before encapsulating it, which is what is tested.
fn far_binding() -> HaBinding {
    HaBinding {
        hoa: "2001:db8:280::cafe".parse().unwrap(),
        coa: COA2.parse().unwrap(),
        mnp6: vec!["2001:db8:282::/64".parse().unwrap()],
        mnp4: vec!["10.0.1.0/24".parse().unwrap()],
    }
}

fn set_peer_path_mtu(t: &Topology, coa: &str, mtu: Option<u32>) -> Result<bool> {
    let coa: std::net::Ipv6Addr = coa.parse()?;
    t.ha_node.run(move |rt, dp| -> Result<bool> {
        let dp = dp.as_mut().context("no data plane")?;
        Ok(rt.block_on(dp.set_peer_path_mtu(coa, mtu))?)
    })?
}

fn said_mtu(out: &str, mtu: u32) -> bool {
    out.contains(&format!("mtu = {mtu}")) || out.contains(&format!("mtu={mtu}"))
}

/// An HA serves many mobile routers: a narrow path towards one of them lowers the tunnel
/// MTU towards that one only (routes, clamp, oversize answers), and raising it again or
/// the binding moving to another care-of address restores the configured MTU.
fn ha_narrows_only_one_tunnel(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    t.ha_node
        .apply_ha(vec![Topology::binding(COA1), far_binding()])?;
    // Neighbours resolved on the whole path, so single probes below are not lost to it.
    ping(&t.b, &[A4])?;
    ping(&t.b, &[A6])?;
    assert!(set_peer_path_mtu(&t, COA2, Some(1400))?);
    assert!(!set_peer_path_mtu(&t, COA2, Some(1400))?, "no change");
    assert!(
        set_peer_path_mtu(&t, COA2, Some(1300)).is_err(),
        "below 1280"
    );

    let far4 = t.ha.ip(&["route", "show", "10.0.1.0/24"])?;
    let near4 = t.ha.ip(&["route", "show", "10.0.0.0/24"])?;
    assert!(
        far4.contains("mtu 1360") && near4.contains("mtu 1460"),
        "{far4}{near4}"
    );
    if backend == Backend::Ip6tnl {
        // A device per binding: the per-peer MTU is the device's.
        let links = t.ha.ip(&["-d", "-o", "link", "show", "type", "ip6tnl"])?;
        let mtu_towards = |coa: &str| {
            links
                .lines()
                .find(|l| l.contains(&format!("remote {coa} ")))
                .map(|l| l.contains("mtu 1360"))
        };
        assert_eq!(mtu_towards(COA2), Some(true), "{links}");
        assert_eq!(mtu_towards(COA1), Some(false), "{links}");
    }
    let clamp = t.ha.run(&["nft", "list", "table", "inet", NFT_TABLE])?;
    assert!(
        clamp.contains("maxseg size set 1320") && clamp.contains("maxseg size set 1420"),
        "{clamp}"
    );
    // Towards the far mobile router: Fragmentation Needed / Packet Too Big with 1360.
    let out = ping_df(&t.b, "1432", "10.0.1.5");
    assert!(
        said_mtu(&out, 1360),
        "IPv4 towards the narrowed tunnel: {out}"
    );
    let out = ping_df(&t.b, "1412", "2001:db8:282::5");

    assert!(
        said_mtu(&out, 1360),
        "IPv6 towards the narrowed tunnel: {out}"
    );
    // Towards the near one the full tunnel MTU still passes, both families.
    let out = ping_df(&t.b, "1432", A4);
    assert!(out.contains(" 0% packet loss"), "IPv4 at 1460 to A: {out}");
    let out = ping_df(&t.b, "1412", A6);
    assert!(out.contains(" 0% packet loss"), "IPv6 at 1460 to A: {out}");
    let out = ping_df(&t.b, "1433", A4);
    assert!(said_mtu(&out, 1460), "A's tunnel keeps 1460: {out}");

    // Raised again (the timer in nemonetd does this after 10 minutes).
    assert!(set_peer_path_mtu(&t, COA2, None)?);
    let far4 = t.ha.ip(&["route", "show", "10.0.1.0/24"])?;
    assert!(far4.contains("mtu 1460"), "{far4}");
    // A new care-of address is a new path: the lowered MTU does not follow the binding.
    assert!(set_peer_path_mtu(&t, COA2, Some(1400))?);
    let mut moved = far_binding();
    moved.coa = "2001:db8:2ff::9".parse()?;
    t.ha_node.apply_ha(vec![Topology::binding(COA1), moved])?;
    let far4 = t.ha.ip(&["route", "show", "10.0.1.0/24"])?;
    assert!(far4.contains("mtu 1460"), "{far4}");
    t.ha_node.teardown()?;
    Ok(())
}

backend_tests! {
    path_mtu_state: seg6_path_mtu_state, ip6tnl_path_mtu_state, bpf_path_mtu_state, tun_path_mtu_state;
    ha_narrows_only_one_tunnel: seg6_ha_narrows_only_one_tunnel, ip6tnl_ha_narrows_only_one_tunnel, bpf_ha_narrows_only_one_tunnel, tun_ha_narrows_only_one_tunnel;
}
