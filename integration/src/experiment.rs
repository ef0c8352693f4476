//! The paper's experiment on a [`Lab`]: register from a foreign link, run the paper's checks
//! (and more), show the Fig. 7 routing tables, measure a handover between two foreign
//! links under a continuous ping, and return home, where the mobile network is routed
//! natively (no tunnel) and still reachable. Shared by `nemo-lab` and the CI test.

use crate::backends::{self, Backend};
use crate::capture::{tshark_fields, Capture};
use crate::lab::Stop;
use crate::lab::{
    self, Lab, Services, A4, A6, B4, B6, CAPTURE_PORTS, FOREIGN1, FOREIGN2, HA6, HOA, HOME, MNP4,
    MNP6, WAIT,
};
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set by a Ctrl-C handler: the experiment stops at the next step and the lab is removed.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// One check of the experiment.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// A handover measured under a continuous ping (10 ms interval).
#[derive(Debug, Clone, Copy)]
pub struct Handover {
    /// From the L2 move to babymdd's announcement of the new CoA (CoA usable).
    pub to_coa: Duration,
    /// From the announcement to the first reply through the new path, in both flows.
    pub to_traffic: Duration,
    /// The same for each flow: IPv4, IPv6.
    pub to_traffic_each: [Duration; 2],
    /// Echo requests (both families together) sent after the attachment that got no reply.
    pub lost: u32,
}

impl Handover {
    pub fn total(&self) -> Duration {
        self.to_coa + self.to_traffic
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// The backend nemonetd ran on (probed for `data-plane auto`).
    pub backend: Option<Backend>,
    pub checks: Vec<Check>,
    pub mr_tables: String,
    pub ha_tables: String,
    pub registration: Option<Duration>,
    pub handover: Option<Handover>,
    /// The router's routes to the MNPs while the MR is registered away (BGP-learned).
    pub router_routes: String,
    /// From the registration (BUL_ADD) to the router's BGP routes via the HA.
    pub bgp_follow: Option<Duration>,
    /// From the deregistration (BC_REMOVE) to the router's routes no longer via the HA.
    pub bgp_withdraw: Option<Duration>,
}

impl Report {
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed).collect()
    }
}

fn interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        anyhow::bail!("interrupted");
    }
    Ok(())
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The monitor's timestamp of a bus message, as Unix seconds.
fn bus_time(v: &Value) -> Option<f64> {
    let t = humantime::parse_rfc3339(v["time"].as_str()?).ok()?;
    Some(unix(t))
}

fn coa_in(v: &Value, prefix: &str) -> bool {
    let p = prefix.trim_end_matches("/64").trim_end_matches("::");
    v["coa"].as_str().is_some_and(|c| c.starts_with(p))
}

fn check(report: &mut Report, out: &mut dyn Write, name: &str, passed: bool, detail: String) {
    let _ = writeln!(out, "  [{}] {name}", if passed { " ok " } else { "FAIL" });
    if !passed {
        let _ = writeln!(
            out,
            "         {}",
            detail.trim().replace('\n', "\n         ")
        );
    }
    report.checks.push(Check {
        name: name.into(),
        passed,
        detail,
    });
}

fn run_check(
    report: &mut Report,
    out: &mut dyn Write,
    name: &str,
    ns: &crate::Netns,
    args: &[&str],
    expect: &str,
) {
    let (ok, output) = Lab::try_run(ns, args);
    check(report, out, name, ok && output.contains(expect), output);
}

/// Waits until both data planes route IPv4 into the tunnel (nemonetd acted on BUL_ADD on
/// the MR and on BC_ADD on the HA).
pub fn wait_for_tunnel_routes(lab: &Lab) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        let v4 = lab.mr.ip(&["route", "show", "default"])?;
        let ha = lab.ha.ip(&["route", "show", "10.0.0.0/24"])?;
        // Through the tunnel (seg6 or bpf encapsulation, or the TUN device), not the routes
        // of the mobile router at home, which also carry our protocol and source.
        let tunnel = |r: &str| match lab.running {
            Some(b) => r.contains(backends::tunnel_marker(b)),
            None => backends::is_tunnel_route(r),
        };
        if v4.contains("src 10.0.0.1") && tunnel(&v4) && tunnel(&ha) {
            // The rest of the apply (decapsulation, local routes) follows the tunnel routes
            // within the same reconcile: settled once nothing of ours changes for 100 ms
            // (under emulation that takes a while).
            return wait_until_settled(lab);
        }
        anyhow::ensure!(
            start.elapsed() < WAIT,
            "no tunnel default route on the MR:\n{v4}\n{}",
            lab.log("nemonetd-mr")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the routes and rules of ours on both nodes stay the same for 100 ms.
fn wait_until_settled(lab: &Lab) -> Result<()> {
    let start = std::time::Instant::now();
    let mut last = (installed(&lab.mr)?, installed(&lab.ha)?);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = (installed(&lab.mr)?, installed(&lab.ha)?);
        if now == last || start.elapsed() > WAIT {
            return Ok(());
        }
        last = now;
    }
}

/// Waits until the HA routes the mobile network prefixes to the MR's home address on the
/// home link (nemonetd acted on BC_REMOVE).
fn wait_for_home_routes(lab: &Lab) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        let v4 = lab.ha.ip(&["route", "show", MNP4])?;
        if v4.contains(HOA) && !v4.contains("encap") && !v4.contains("nemo0") {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < WAIT,
            "the HA does not route {MNP4} to the home address:\n{v4}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the whole experiment; `out` gets a human-readable account as it goes.
pub fn run(lab: &mut Lab, out: &mut dyn Write) -> Result<Report> {
    let mut report = Report::default();
    writeln!(
        out,
        "== nemo-lab: dual-stack NEMO over IPv6-only access (data-plane {})",
        lab.backend
    )?;
    // The whole run on the wire, for the ICMP error check at the end.
    let mut captures = Vec::new();
    for (port, what) in CAPTURE_PORTS {
        let file = lab.dir.join(format!("capture-{port}.pcap"));
        let cap = Capture::start_truncated(&lab.switch.ns, port, &file, 256)?;
        captures.push((port, what, cap));
    }
    lab.start_daemons()?;
    report.backend = lab.running;
    writeln!(
        out,
        "daemons: had, nemonetd -h on the HA; babymdd, mrd, nemonetd -m on the MR"
    )?;
    writeln!(
        out,
        "data plane: nemonetd runs the {} backend on both nodes ({})",
        backend_name(lab),
        if lab.backend == "auto" {
            "probed: data-plane auto"
        } else {
            "forced by data-plane"
        }
    )?;
    lab.mr_bus
        .wait_for("MD_INFO", WAIT, |v| {
            v["command"].as_str().is_some_and(|c| c.contains("home"))
        })
        .context("babymdd did not find the MR at home")?;
    lab.rt_bird
        .wait_established("ha1", WAIT)
        .context("no BGP session between the router and the HA")?;
    // At home the HA announces the MNPs with the home address as next hop.
    let ok = lab.wait_router_routes(Some(HOA), WAIT);
    check(
        &mut report,
        out,
        "the router learns both MNPs by BGP from the HA (MR at home: next hop its home address; IPv4 with an IPv6 next hop, RFC 8950)",
        ok.is_ok(),
        format!("{ok:?}\n{}", lab.router_mnp_routes().unwrap_or_default()),
    );
    writeln!(
        out,
        "MR is on its home link (babymdd: DEREGHOME); the home link's RAs carry the home prefix with SLAAC {}",
        if lab::HOME_SLAAC { "on" } else { "off (A=0): no address but the home address mrd places" }
    )?;
    if lab.options.dhaad {
        // Without home-agent-address mrd asks by DHAAD at home too (the anycast address is
        // on-link there) and names the home agent on the bus: nemonetd sends IPv4 to it.
        let in_use = |v: &Value| {
            v["type"] == "HA_LIST"
                && v["entries"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|x| x["address"] == HA6 && x["own"] == true))
        };
        // It may have come while the lab waited for babymdd's report.
        let list = match lab.mr_bus.seen.iter().find(|v| in_use(v)) {
            Some(v) => Ok(v.clone()),
            None => lab.mr_bus.wait_for("HA_LIST", WAIT, in_use),
        };
        check(
            &mut report,
            out,
            "no home-agent-address: DHAAD at home finds the home agent before any registration",
            list.is_ok() && lab.log("mrd-mr").contains("DHAAD reply from"),
            format!("{list:?}\n{}", lab.log("mrd-mr")),
        );
    }
    home_checks(lab, &mut report, out, "at home, before any registration")?;
    let svc = Services::start(&lab.a, &lab.dir, 10 * 1024 * 1024)?;
    interrupted()?;

    // Home -> foreign link 1.
    let t0 = SystemTime::now();
    lab.move_mr(FOREIGN1.0)?;
    writeln!(
        out,
        "moved the MR's uplink to the IPv6-only foreign link {}",
        FOREIGN1.1
    )?;
    let bul = lab
        .mr_bus
        .wait_for("BUL_ADD", WAIT, |v| coa_in(v, FOREIGN1.1))
        .with_context(|| {
            format!(
                "no registration from {}:\n{}",
                FOREIGN1.1,
                lab.log("mrd-mr")
            )
        })?;
    let registered = Instant::now();
    lab.ha_bus
        .wait_for("BC_ADD", WAIT, |v| coa_in(v, FOREIGN1.1))?;
    wait_for_tunnel_routes(lab)?;
    if lab.options.dhaad {
        check(
            &mut report,
            out,
            "no home-agent-address: DHAAD found the home agent and the MR registered with it",
            bul["ha"] == HA6 && lab.log("mrd-mr").contains("DHAAD reply from"),
            format!("{bul}\n{}", lab.log("mrd-mr")),
        );
    }
    let hoa_pings = HoaPings::spawn(lab, registered)?;
    let reg = Duration::from_secs_f64((unix(SystemTime::now()) - unix(t0)).max(0.0));
    report.registration = Some(reg);
    writeln!(
        out,
        "registered: CoA {} lifetime {}s, MNPs {} {} ({:.0} ms after the move)",
        bul["coa"].as_str().unwrap_or("?"),
        bul["lifetime"],
        bul["mnp6"],
        bul["mnp4"],
        reg.as_secs_f64() * 1000.0
    )?;
    let follow = lab
        .wait_router_routes(Some(HA6), WAIT)
        .map(|_| registered.elapsed());
    check(
        &mut report,
        out,
        &format!(
            "the router's BGP routes to both MNPs follow the binding: via the HA{}",
            follow
                .as_ref()
                .map(|d| format!(
                    " ({:.0} ms after the registration)",
                    d.as_secs_f64() * 1000.0
                ))
                .unwrap_or_default()
        ),
        follow.is_ok(),
        format!("{follow:?}"),
    );
    report.bgp_follow = follow.ok();
    hoa_pings.finish(&mut report, out, "right after the move to foreign link 1")?;
    interrupted()?;

    writeln!(
        out,
        "checks (node A {A4} {A6} behind the MR, node B {B4} {B6} on the Internet):"
    )?;
    run_check(
        &mut report,
        out,
        "IPv4 ping A -> B",
        &lab.a,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", B4],
        " 0% packet loss",
    );
    run_check(
        &mut report,
        out,
        "IPv4 ping B -> A",
        &lab.b,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", A4],
        " 0% packet loss",
    );
    let ssh4 = svc.ssh_command(A4, "ip -4 addr show dev eth0");
    run_check(
        &mut report,
        out,
        "SSH login B -> A over IPv4, running a command",
        &lab.b,
        &ssh4.iter().map(String::as_str).collect::<Vec<_>>(),
        "inet 10.0.0.2/24",
    );
    for (family, url) in [
        ("IPv4", format!("http://{A4}:8080/file.bin")),
        ("IPv6", format!("http://[{A6}]:8080/file.bin")),
    ] {
        let dest = lab.dir.join(format!("download-{family}.bin"));
        let (ok, output) = Lab::try_run(
            &lab.b,
            &[
                "curl",
                "-sS",
                "--max-time",
                "60",
                "-o",
                dest.to_str().unwrap_or_default(),
                &url,
            ],
        );
        let sum = std::process::Command::new("sha256sum")
            .arg(&dest)
            .output()
            .ok();
        let got = sum
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
        check(
            &mut report,
            out,
            &format!("HTTP download of 10 MB from A to B over {family}, checksum compared"),
            ok && got == svc.file_sha256,
            format!(
                "{output} got {size} bytes, sha256 {got}, want {}",
                svc.file_sha256
            ),
        );
    }
    run_check(
        &mut report,
        out,
        "IPv6 ping A -> B",
        &lab.a,
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", B6],
        " 0% packet loss",
    );
    run_check(
        &mut report,
        out,
        "IPv6 ping B -> A",
        &lab.b,
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", A6],
        " 0% packet loss",
    );
    run_check(
        &mut report,
        out,
        "the MR's own IPv4 ping to B (source 10.0.0.1)",
        &lab.mr,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", B4],
        " 0% packet loss",
    );
    interrupted()?;

    graceful_restart(lab, &mut report, out)?;
    interrupted()?;

    report.mr_tables = Lab::routing_tables(&lab.mr)?;
    report.ha_tables = Lab::routing_tables(&lab.ha)?;
    report.router_routes = Lab::routing_tables(&lab.rt)?;
    writeln!(
        out,
        "routing table of the router (the MNP routes learned by BGP from the HA: proto bird):\n{}",
        indent(&report.router_routes)
    )?;
    writeln!(
        out,
        "the HA's announcements (table {}, read by BIRD's kernel protocol):\n{}",
        lab::ANNOUNCE_TABLE,
        indent(
            &(lab
                .ha
                .ip(&["route", "show", "table", &lab::ANNOUNCE_TABLE.to_string()])?
                + &lab.ha.ip(&[
                    "-6",
                    "route",
                    "show",
                    "table",
                    &lab::ANNOUNCE_TABLE.to_string()
                ])?)
        )
    )?;
    writeln!(
        out,
        "routing table of the MR (cf. the paper's Fig. 7):\n{}",
        indent(&report.mr_tables)
    )?;
    writeln!(
        out,
        "routing table of the HA (cf. the paper's Fig. 7):\n{}",
        indent(&report.ha_tables)
    )?;

    // Handover foreign link 1 -> foreign link 2 under a continuous ping.
    let (handover, hoa_pings) =
        measure_handover_then(lab, FOREIGN2, Duration::from_millis(1100), HoaPings::spawn)?;
    writeln!(
        out,
        "handover {} -> {} (IPv4 and IPv6 pings every 10 ms; clock from the attachment to the new link): {:.0} ms to a usable CoA + {:.0} ms to traffic through the new path = {:.0} ms, {} echo requests lost",
        FOREIGN1.1,
        FOREIGN2.1,
        handover.to_coa.as_secs_f64() * 1000.0,
        handover.to_traffic.as_secs_f64() * 1000.0,
        handover.total().as_secs_f64() * 1000.0,
        handover.lost
    )?;
    report.handover = Some(handover);
    hoa_pings?.finish(
        &mut report,
        out,
        "right after the handover to foreign link 2",
    )?;
    interrupted()?;

    // Back home: deregistration.
    lab.move_mr(HOME.0)?;
    writeln!(
        out,
        "moved the MR back to its home link (SLAAC {} there)",
        if lab::HOME_SLAAC { "on" } else { "off" }
    )?;
    lab.mr_bus
        .wait_for("BUL_REMOVE", WAIT, |_| true)
        .context("no BUL_REMOVE at home")?;
    let deregistered = Instant::now();
    let removed = lab
        .ha_bus
        .wait_for("BC_REMOVE", WAIT, |_| true)
        .context("no BC_REMOVE at home")?;
    // As after a move away (the tunnel routes on both ends): the HA's data plane has
    // followed the Binding Cache (had acknowledges before nemonetd drops the tunnel route
    // to the home address).
    wait_for_home_routes(lab)?;
    let hoa_pings = HoaPings::spawn(lab, deregistered)?;
    check(
        &mut report,
        out,
        "deregistration at home (BC_REMOVE reason deregistered)",
        removed["reason"] == "deregistered",
        removed.to_string(),
    );
    // The binding's announcement (next hop the HA) is withdrawn; the at-home one (next hop
    // the home address) takes its place.
    let withdrawn = lab.wait_router_routes(Some(HOA), WAIT).map(|_| {
        Duration::from_secs_f64(
            (unix(SystemTime::now()) - bus_time(&removed).unwrap_or(0.0)).max(0.0),
        )
    });
    let after = lab.router_mnp_routes().unwrap_or_default();
    check(
        &mut report,
        out,
        &format!(
            "after the deregistration the router's BGP routes via the HA are withdrawn{}: the MNPs go to the home address",
            withdrawn
                .as_ref()
                .map(|d| format!(" ({:.0} ms after BC_REMOVE)", d.as_secs_f64() * 1000.0))
                .unwrap_or_default()
        ),
        withdrawn.is_ok() && !after.contains(&format!("via inet6 {HA6} ")),
        format!("{withdrawn:?}\n{after}"),
    );
    writeln!(out, "the router's MNP routes at home:\n{}", indent(&after))?;
    report.bgp_withdraw = withdrawn.ok();
    hoa_pings.finish(&mut report, out, "right after the return home")?;
    home_checks(lab, &mut report, out, "back at home")?;
    writeln!(out, "routing tables at home:")?;
    for (who, ns) in [("MR", &lab.mr), ("HA", &lab.ha)] {
        for line in installed(ns)? {
            writeln!(out, "  {who}: {line}")?;
        }
    }

    let mut files = Vec::new();
    for (port, what, cap) in captures {
        files.push((port, what, cap.finish()?));
    }
    wire_check(&mut report, out, &files)?;

    writeln!(out, "bus events on the MR:")?;
    for v in lab.mr_bus.drain() {
        writeln!(out, "  {}", summary(v))?;
    }
    writeln!(out, "bus events on the HA:")?;
    for v in lab.ha_bus.drain() {
        writeln!(out, "  {}", summary(v))?;
    }
    let failed = report.failed().len();
    writeln!(
        out,
        "== {} of {} checks passed on the {} backend",
        report.checks.len() - failed,
        report.checks.len(),
        backend_name(lab)
    )?;
    Ok(report)
}

/// The backend nemonetd runs on, for the account.
fn backend_name(lab: &Lab) -> String {
    lab.running
        .map_or_else(|| format!("{} (not known)", lab.backend), |b| b.to_string())
}

/// At home the mobile network is routed natively: the HA sends its prefixes to the MR's
/// home address on the home link, the MR sends IPv4 to the HA (an IPv6 next hop), no
/// tunnel; A and B reach each other in both families.
fn home_checks(lab: &Lab, report: &mut Report, out: &mut dyn Write, when: &str) -> Result<()> {
    let home_route = |ns: &crate::Netns, args: &[&str]| -> Result<bool> {
        let t = ns.ip(args)?;
        Ok(t.contains(&format!("via inet6 {HOA}")) || t.contains(&format!("via {HOA}")))
    };
    let ha_ready = || -> Result<bool> {
        Ok(home_route(&lab.ha, &["route", "show", MNP4])?
            && home_route(&lab.ha, &["-6", "route", "show", MNP6])?)
    };
    let mr_ready = || -> Result<bool> {
        Ok(lab
            .mr
            .ip(&["route", "show", "default"])?
            .contains(&format!("via inet6 {HA6}")))
    };
    let start = std::time::Instant::now();
    while !(ha_ready()? && mr_ready()?) && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let table = lab.ha.ip(&["route", "show"])? + &lab.ha.ip(&["-6", "route", "show", MNP6])?;
    check(
        report,
        out,
        &format!(
            "{when}: the HA routes the mobile network prefixes to the MR's home address, no tunnel"
        ),
        ha_ready()? && !table.contains("encap") && !table.contains("nemo0"),
        table,
    );
    let mr_table = lab.mr.ip(&["route", "show"])?;
    check(
        report,
        out,
        &format!("{when}: the MR sends IPv4 to the HA on the home link"),
        mr_ready()?,
        mr_table,
    );
    for (name, node, dst) in [
        ("IPv4 ping A -> B", &lab.a, B4),
        ("IPv4 ping B -> A", &lab.b, A4),
        ("IPv6 ping A -> B", &lab.a, B6),
    ] {
        run_check(
            report,
            out,
            &format!("{when}: {name}"),
            node,
            &["ping", "-c", "3", "-i", "0.2", "-W", "2", dst],
            " 0% packet loss",
        );
    }
    Ok(())
}

/// What nemonetd installed on a node: its routes (protocol 168) and the IPv6 rules, sorted.
fn installed(ns: &crate::Netns) -> Result<Vec<String>> {
    let mut lines: Vec<String> = [
        ns.ip(&["-4", "route", "show", "table", "all", "proto", "168"])?,
        ns.ip(&["-6", "route", "show", "table", "all", "proto", "168"])?,
        ns.ip(&["-6", "rule", "show"])?,
    ]
    .iter()
    .flat_map(|t| t.lines().map(|l| l.trim().to_string()))
    .filter(|l| !l.is_empty())
    .collect();
    lines.sort();
    Ok(lines)
}

/// Restarts nemonetd on both nodes, then had and mrd (graceful: SIGUSR1, as `systemctl
/// restart` does), and then kills nemonetd on both nodes (SIGKILL, a crash) and starts it
/// again, while node A pings node B every 10 ms. On seg6 and bpf the kernel keeps
/// forwarding: no loss; on tun the relay goes with nemonetd, so the flow pauses. Either way
/// the restarted daemons adopt what is installed: the same routes and rules, none twice.
fn graceful_restart(lab: &mut Lab, report: &mut Report, out: &mut dyn Write) -> Result<()> {
    restart_under_ping(
        lab,
        report,
        out,
        "nemonetd, had and mrd restarted",
        &[
            ("nemonetd-mr", Stop::Graceful),
            ("nemonetd-ha", Stop::Graceful),
            // The signaling daemons too: had restores its Binding Cache, mrd registers
            // again; the data plane must not flinch meanwhile.
            ("had-ha", Stop::Graceful),
            ("mrd-mr", Stop::Graceful),
        ],
    )?;
    restart_under_ping(
        lab,
        report,
        out,
        "nemonetd killed (-9) and started again on both ends",
        &[("nemonetd-mr", Stop::Kill), ("nemonetd-ha", Stop::Kill)],
    )
}

fn restart_under_ping(
    lab: &mut Lab,
    report: &mut Report,
    out: &mut dyn Write,
    what: &str,
    restarts: &[(&str, Stop)],
) -> Result<()> {
    let before = (installed(&lab.mr)?, installed(&lab.ha)?);
    let mut ping = lab.a.command("ping");
    ping.args(["-n", "-i", "0.01", "-W", "1", B4]);
    let mut ping = crate::BackgroundProcess::spawn(ping, "ping")?;
    let lines = ping.lines()?;
    lines.wait_for(Duration::from_secs(5), |l| l.contains("icmp_seq="))?;
    for (tag, how) in restarts {
        lab.restart_after(tag, *how)?;
    }
    std::thread::sleep(Duration::from_millis(1000));
    let _ = ping.stop(nix::sys::signal::Signal::SIGINT, Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(50));
    let replies = lines.drain();
    let (lost, answered) = sequence_gaps(&replies);
    let after = (installed(&lab.mr)?, installed(&lab.ha)?);
    let unique = |v: &Vec<String>| {
        let mut d = v.clone();
        d.dedup();
        d.len() == v.len()
    };
    check(
        report,
        out,
        &format!("{what}: the same routes and rules, none twice"),
        after == before && unique(&after.0) && unique(&after.1),
        format!("before {before:#?}\nafter {after:#?}"),
    );
    let backend = lab.running.unwrap_or(Backend::Tun);
    if backends::in_kernel(backend) {
        check(
            report,
            out,
            &format!("{what}: no echo request lost ({backend}, every 10 ms)"),
            lost == 0 && answered > 50,
            format!("{lost} lost among {answered} answered"),
        );
    } else {
        writeln!(out, "  (tun: the relay restarts with nemonetd; {lost} echo requests lost, {answered} answered)")?;
    }
    Ok(())
}

/// Echo requests lost between the first and the last answered one (sequence numbers
/// missing from the replies), and the number answered: the request in flight when ping
/// stops is not a loss.
pub fn sequence_gaps(lines: &[String]) -> (u64, u64) {
    let mut seqs: Vec<u64> = lines
        .iter()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| {
            let rest = l.split("icmp_seq=").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let answered = seqs.len() as u64;
    let span = match (seqs.first(), seqs.last()) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    };
    (span - answered, answered)
}

/// Ping interval of the flows a handover is measured with.
const PING_INTERVAL: f64 = 0.01;

/// Moves the MR to `to` while node A pings node B every 10 ms in each family; measures the
/// split handover. The uplink is detached `detach` before it is attached to the new link,
/// and the clock starts at the attachment: Linux's linkwatch handles carrier events at most
/// once a second, so an instant down/up pair would measure that rate limit, not us.
pub fn measure_handover(
    lab: &mut Lab,
    to: (&'static str, &'static str),
    detach: Duration,
) -> Result<Handover> {
    measure_handover_then(lab, to, detach, |_, _| ()).map(|(h, ())| h)
}

/// [`measure_handover`], running `after_registration` (with the time it was seen) as soon
/// as the new registration is on the MR's bus, before the measurement is evaluated.
pub fn measure_handover_then<T>(
    lab: &mut Lab,
    to: (&'static str, &'static str),
    detach: Duration,
    after_registration: impl FnOnce(&Lab, Instant) -> T,
) -> Result<(Handover, T)> {
    let mut flows = Vec::new();
    for target in [B4, B6] {
        let mut ping = lab.a.command("ping");
        ping.args(["-D", "-n", "-i", "0.01", "-W", "1", target]);
        let mut ping = crate::BackgroundProcess::spawn(ping, "ping")?;
        let lines = ping.lines()?;
        lines.wait_for(Duration::from_secs(5), |l| l.contains("icmp_seq="))?;
        flows.push((ping, lines));
    }
    std::thread::sleep(Duration::from_millis(300));
    lab.switch.ns.ip(&["link", "set", "s-mr", "down"])?;
    std::thread::sleep(detach);
    let t0 = unix(SystemTime::now());
    lab.switch.ns.sh(&format!(
        "ip link set s-mr master {} && ip link set s-mr up",
        to.0
    ))?;
    lab.mr_link = to.0;
    let md = lab
        .mr_bus
        .wait_for("MD_INFO", WAIT, |v| {
            v["command"] == "rereg" && coa_in(v, to.1)
        })
        .context("babymdd announced no CoA on the new link")?;
    let t_coa = bus_time(&md).unwrap_or(t0);
    lab.mr_bus.wait_for("BUL_ADD", WAIT, |v| coa_in(v, to.1))?;
    let then = after_registration(lab, Instant::now());
    std::thread::sleep(Duration::from_millis(500));
    let mut restored_at = t0;
    let mut each = [t0; 2];
    let mut lost = 0;
    for (i, (mut ping, lines)) in flows.into_iter().enumerate() {
        let _ = ping.stop(nix::sys::signal::Signal::SIGINT, Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(50));
        let replies: Vec<(f64, u64)> = lines
            .drain()
            .iter()
            .filter_map(|l| parse_reply(l))
            .collect();
        let before: Vec<&(f64, u64)> = replies.iter().filter(|r| r.0 < t0).collect();
        let after: Vec<&(f64, u64)> = replies.iter().filter(|r| r.0 >= t0).collect();
        let (Some(last_before), Some(first_after)) = (before.last(), after.first()) else {
            anyhow::bail!(
                "the ping flow to {} did not recover",
                if lost == 0 { B4 } else { B6 }
            );
        };
        restored_at = restored_at.max(first_after.0);
        each[i] = first_after.0;
        // Requests sent after the attachment (the clock's start) that got no reply. ping's
        // real pace (slower than asked under load) comes from the replies before the move.
        let first = before.first().copied().unwrap_or(last_before);
        let pace = if last_before.1 > first.1 {
            (last_before.0 - first.0) / (last_before.1 - first.1) as f64
        } else {
            PING_INTERVAL
        };
        let seq_at_t0 = last_before.1 + ((t0 - last_before.0) / pace) as u64;
        let max_seq = after.iter().map(|r| r.1).max().unwrap_or(seq_at_t0);
        let answered = after.iter().filter(|r| r.1 > seq_at_t0).count() as u64;
        lost += max_seq.saturating_sub(seq_at_t0).saturating_sub(answered) as u32;
    }
    let handover = Handover {
        to_coa: Duration::from_secs_f64((t_coa - t0).max(0.0)),
        to_traffic: Duration::from_secs_f64((restored_at - t_coa).max(0.0)),
        to_traffic_each: each.map(|t| Duration::from_secs_f64((t - t_coa).max(0.0))),
        lost,
    };
    Ok((handover, then))
}

/// How soon after a (de)registration the home address must answer; ten times that under
/// software emulation (`SHISA_EMULATED`, set by the VM stage), which checks function: TCG
/// runs about ten times slower, and a loaded host slows it further (one VM run on a host
/// busy compiling took 5.2 s from the BUL_ADD to the HA's tunnel routes).
fn hoa_deadline() -> Duration {
    let base = Duration::from_secs(1);
    if std::env::var_os("SHISA_EMULATED").is_some() {
        base * 10
    } else {
        base
    }
}

/// Pings from and to the MR's home address, started right after a registration or
/// deregistration: node B pings the home address (through the tunnel, or on the home link,
/// where the router's neighbour cache must follow the MR at once: RFC 6275 10.4.1 and
/// 11.5.4), and the MR pings B from its home address.
struct HoaPings {
    /// From the (de)registration to the start of the pings.
    started: Duration,
    pings: Vec<(String, std::process::Child)>,
}

impl HoaPings {
    fn spawn(lab: &Lab, since: Instant) -> Result<Self> {
        let started = since.elapsed();
        let mut pings = Vec::new();
        for (name, ns, args) in [
            ("IPv6 ping B -> the MR's home address", &lab.b, vec![HOA]),
            (
                "IPv6 ping from the MR's home address to B",
                &lab.mr,
                vec!["-I", HOA, B6],
            ),
        ] {
            let mut cmd = ns.command("ping");
            cmd.args(["-6", "-n", "-c", "3", "-i", "0.2", "-W", "2"])
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let child = cmd.spawn().with_context(|| format!("spawn {name}"))?;
            pings.push((name.to_string(), child));
        }
        Ok(Self { started, pings })
    }

    fn finish(self, report: &mut Report, out: &mut dyn Write, when: &str) -> Result<()> {
        let ms = self.started.as_secs_f64() * 1000.0;
        for (name, child) in self.pings {
            let o = child.wait_with_output()?;
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            check(
                report,
                out,
                &format!("{when}: {name}, started {ms:.0} ms after the (de)registration"),
                o.status.success()
                    && text.contains(" 0% packet loss")
                    && self.started < hoa_deadline(),
                text,
            );
        }
        Ok(())
    }
}

/// ICMPv6 error types (RFC 4443): Destination Unreachable, Packet Too Big, Time Exceeded,
/// Parameter Problem.
const ICMPV6_ERRORS: &str = "icmpv6.type >= 1 && icmpv6.type <= 4";
/// ICMPv4 errors: Destination Unreachable, Source Quench, Redirect, Time Exceeded,
/// Parameter Problem.
const ICMPV4_ERRORS: &str =
    "icmp.type == 3 || icmp.type == 4 || icmp.type == 5 || icmp.type == 11 || icmp.type == 12";

/// The capture summary of the whole run, and the check: no ICMPv6 error on any captured
/// link (the lab provokes none on purpose: it has no PMTU checks).
fn wire_check(
    report: &mut Report,
    out: &mut dyn Write,
    files: &[(&str, &str, PathBuf)],
) -> Result<()> {
    writeln!(
        out,
        "capture of the whole run (tcpdump on the switch ports, tshark):"
    )?;
    let mut errors = Vec::new();
    for (port, what, file) in files {
        let frames = tshark_fields(file, "frame", &["frame.number"])?.len();
        let mut types: std::collections::BTreeMap<u32, usize> = Default::default();
        for row in tshark_fields(file, "icmpv6", &["icmpv6.type"])? {
            let mut seen: Vec<u32> = row
                .first()
                .map(|v| v.split(',').filter_map(|t| t.parse().ok()).collect())
                .unwrap_or_default();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *types.entry(t).or_default() += 1;
            }
        }
        let fields = [
            "frame.time_relative",
            "ipv6.src",
            "ipv6.dst",
            "ip.src",
            "ip.dst",
            "icmpv6.type",
            "icmpv6.code",
            "icmp.type",
            "icmp.code",
        ];
        let err6 = tshark_fields(file, ICMPV6_ERRORS, &fields)?;
        let err4 = tshark_fields(file, ICMPV4_ERRORS, &fields)?;
        let histogram = types
            .iter()
            .map(|(t, n)| format!("{t}:{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(
            out,
            "  {what} ({port}): {frames} frames; ICMPv6 frames by type {histogram}; ICMPv6 errors {}, ICMPv4 errors {}",
            err6.len(),
            err4.len()
        )?;
        for row in err6.iter().chain(&err4) {
            let line = format!("{what}: {}", row.join(" "));
            writeln!(out, "    {line}")?;
            errors.push(line);
        }
    }
    check(
        report,
        out,
        "no ICMP error (v6 types 1-4, v4 unreachable/quench/redirect/time exceeded/parameter problem) on the access and home links during the whole run",
        errors.is_empty(),
        errors.join("\n"),
    );
    Ok(())
}

/// `[1700000000.123456] 64 bytes from ...: icmp_seq=12 ttl=...` -> (time, seq).
pub fn parse_reply(line: &str) -> Option<(f64, u64)> {
    let ts = line.strip_prefix('[')?.split(']').next()?.parse().ok()?;
    let seq = line
        .split("icmp_seq=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    line.contains("bytes from").then_some((ts, seq))
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn summary(v: &Value) -> String {
    let mut s = format!(
        "{} {}",
        v["time"].as_str().unwrap_or(""),
        v["type"].as_str().unwrap_or("?")
    );
    for k in [
        "command", "hoa", "coa", "lifetime", "mnp6", "mnp4", "status", "reason",
    ] {
        if !v[k].is_null() {
            s.push_str(&format!(" {k} {}", v[k].to_string().trim_matches('"')));
        }
    }
    if let Some(f) = v["from"]["name"].as_str() {
        s.push_str(&format!(" from {f}[{}]", v["from"]["pid"]));
    }
    s
}

pub use lab::read;

#[cfg(test)]
mod sequence_tests {
    use super::sequence_gaps;

    #[test]
    fn gaps_between_answers_are_losses_the_last_request_is_not() {
        let lines: Vec<String> = [1, 2, 4, 5, 8]
            .iter()
            .map(|n| format!("64 bytes from 192.0.2.2: icmp_seq={n} ttl=62 time=0.1 ms"))
            .chain(["--- 192.0.2.2 ping statistics ---".to_string()])
            .collect();
        assert_eq!(sequence_gaps(&lines), (3, 5));
        assert_eq!(sequence_gaps(&[]), (0, 0));
    }
}
