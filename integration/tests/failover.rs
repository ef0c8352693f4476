//! Issue 15 items 3 and 4 on the lab's topology (`integration/src/lab.rs`, data-plane auto):
//! the router's BGP routes to the mobile network prefixes when a home agent dies, and the
//! failover of a mobile router between two home agents of the home link with traffic
//! between node A (behind the MR) and node B in both families, measured with 10 ms pings.
//!
//! A home agent "dies" as a host does: `kill -9` of had, nemonetd and bird, and its port on
//! the home link goes down. (`kill -9` of the daemons alone leaves its kernel forwarding:
//! the data plane is built to survive its daemon, and proxy ND for the home address stays,
//! so a half-dead home agent goes on carrying the old binding's traffic.)

use integration::experiment::{parse_reply, sequence_gaps};
use integration::lab::{Lab, Options, A4, A6, B4, B6, FOREIGN1, HA2_6, HA6, HOA, WAIT};
use integration::BackgroundProcess;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Builds the lab, starts the daemons and registers the MR from foreign link 1.
fn registered(opts: Options) -> Lab {
    let mut lab = Lab::build_with(opts).unwrap();
    // With two home agents they list each other before the MR starts (start_daemons).
    lab.start_daemons().unwrap();
    lab.rt_bird.wait_established("ha1", WAIT).unwrap();
    lab.wait_router_routes(Some(HOA), WAIT).unwrap();
    lab.move_mr(FOREIGN1.0).unwrap();
    lab.mr_bus
        .wait_for("BUL_ADD", WAIT, |v| v["ha"] == HA6)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", lab.log("mrd-mr")));
    integration::experiment::wait_for_tunnel_routes(&lab).unwrap();
    lab.wait_router_routes(Some(HA6), WAIT).unwrap();
    lab
}

/// The home agent `ha` dies: its daemons are killed (-9) and its home link port goes down.
fn home_agent_dies(lab: &mut Lab) {
    lab.kill("had-ha").unwrap();
    lab.kill("nemonetd-ha").unwrap();
    lab.ha_bird.kill();
    lab.switch.ns.ip(&["link", "set", "s-ha", "down"]).unwrap();
}

/// The shipped sample is valid BIRD 2 (`bird -p` parses a configuration and exits).
#[test]
fn shipped_bird_conf_parses() {
    let out = std::process::Command::new("bird")
        .args(["-p", "-c"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/bird.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bgp_routes_are_withdrawn_when_the_home_agent_dies() {
    let mut lab = registered(Options::new("auto"));
    // Its port on the home link goes down first, the router's own link stays up: only
    // BFD (3 x 100 ms) tells the router, long before the BGP hold time (90 s here).
    let t0 = Instant::now();
    lab.switch.ns.ip(&["link", "set", "s-ha", "down"]).unwrap();
    let gone = lab.wait_router_routes(None, Duration::from_secs(10));
    let bfd = t0.elapsed();
    let log = integration::lab::read(&lab.rt_bird.log)
        + &lab
            .rt_bird
            .birdc(&["show", "protocols", "all", "ha1"])
            .unwrap();
    println!(
        "HA unreachable (its port down): the router withdrew both MNP routes after {:.0} ms (BFD)",
        bfd.as_secs_f64() * 1000.0
    );
    gone.unwrap();
    assert!(bfd < Duration::from_secs(2), "{bfd:?}\n{log}");
    assert!(log.contains("BFD session down"), "{log}");

    // Back up: the session and the routes return; then bird itself is killed (-9): the
    // kernel closes its TCP session, and the router withdraws at once.
    lab.switch.ns.ip(&["link", "set", "s-ha", "up"]).unwrap();
    // After an error BIRD waits (`error wait time`, 60 s at first) before it connects
    // again: restart the session on both ends.
    lab.rt_bird.birdc(&["restart", "ha1"]).unwrap();
    lab.ha_bird.birdc(&["restart", "uplink"]).unwrap();
    lab.rt_bird
        .wait_established("ha1", Duration::from_secs(30))
        .unwrap();
    lab.wait_router_routes(Some(HA6), WAIT).unwrap();
    let t1 = Instant::now();
    lab.ha_bird.kill();
    lab.wait_router_routes(None, Duration::from_secs(10))
        .unwrap();
    let killed = t1.elapsed();
    println!(
        "bird on the HA killed (-9): the router withdrew both MNP routes after {:.0} ms",
        killed.as_secs_f64() * 1000.0
    );
    assert!(killed < Duration::from_secs(2), "{killed:?}");
}

/// A 10 ms ping from A to `target`, with timestamps.
struct Flow {
    target: &'static str,
    ping: BackgroundProcess,
    lines: integration::LineReader,
}

impl Flow {
    fn start(lab: &Lab, target: &'static str) -> Flow {
        let mut cmd = lab.a.command("ping");
        cmd.args(["-D", "-n", "-i", "0.01", "-W", "1", target]);
        let mut ping = BackgroundProcess::spawn(cmd, "ping").unwrap();
        let lines = ping.lines().unwrap();
        lines
            .wait_for(Duration::from_secs(5), |l| l.contains("icmp_seq="))
            .unwrap();
        Flow {
            target,
            ping,
            lines,
        }
    }

    /// Stops the ping: (echo requests lost, answered, longest time without a reply).
    fn finish(mut self) -> (u64, u64, f64) {
        let _ = self
            .ping
            .stop(nix::sys::signal::Signal::SIGINT, Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(50));
        let lines = self.lines.drain();
        let (lost, answered) = sequence_gaps(&lines);
        let mut times: Vec<f64> = lines
            .iter()
            .filter_map(|l| parse_reply(l))
            .map(|r| r.0)
            .collect();
        times.sort_by(f64::total_cmp);
        let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        (lost, answered, gap)
    }
}

#[test]
fn killed_home_agent_fails_over_to_the_second_with_traffic_and_bgp() {
    let mut opts = Options::new("auto");
    opts.dhaad = true;
    opts.second_ha = true;
    // A short binding: mrd moves to the next home agent when its binding expires without
    // a successful refresh (or when the BU retransmissions back off to 32 s).
    opts.lifetime = 8;
    let mut lab = registered(opts);
    assert!(
        lab.log("mrd-mr").contains("DHAAD reply from"),
        "{}",
        lab.log("mrd-mr")
    );
    lab.rt_bird.wait_established("ha2", WAIT).unwrap();
    let flows: Vec<Flow> = [B4, B6].into_iter().map(|t| Flow::start(&lab, t)).collect();
    std::thread::sleep(Duration::from_millis(500));

    let killed = now();
    let t0 = Instant::now();
    home_agent_dies(&mut lab);
    let bul = lab
        .mr_bus
        .wait_for("BUL_ADD", Duration::from_secs(40), |v| v["ha"] == HA2_6)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", lab.log("mrd-mr")));
    let registered = t0.elapsed();
    // From the registration seen on the MR's bus to the router's routes via ha2.
    let routed = lab
        .wait_router_routes(Some(HA2_6), WAIT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Traffic through ha2 for two seconds, then the figures.
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "failover: kill -9 of ha's had, nemonetd and bird and its port down at {killed:.3}; \
         the MR registered with ha2 {:.0} ms later (binding lifetime 8 s), the router's BGP \
         routes went via ha2 {:.0} ms after that",
        registered.as_secs_f64() * 1000.0,
        routed.as_secs_f64() * 1000.0
    );
    let mut results = Vec::new();
    for flow in flows {
        let target = flow.target;
        let (lost, answered, gap) = flow.finish();
        println!(
            "  ping A -> {target} every 10 ms: {lost} echo requests lost, {answered} answered, \
             outage {:.0} ms (longest time without a reply)",
            gap * 1000.0
        );
        results.push((target, lost, answered, gap));
    }
    assert_eq!(
        bul["coa"]
            .as_str()
            .map(|c| c.starts_with("2001:240:1:200:")),
        Some(true)
    );
    for (target, lost, answered, gap) in results {
        // Before the death and after the failover (ping is slower than 10 ms under load).
        assert!(answered > 50, "{target}: {answered} answered");
        assert!(lost > 0, "{target}: no loss: the home agent did not die?");
        assert!(gap < 20.0, "{target}: outage {gap} s");
    }
    // Everything through ha2, in both families and both directions.
    for (from, to) in [(&lab.a, B4), (&lab.b, A4), (&lab.a, B6), (&lab.b, A6)] {
        let out = from
            .run(&["ping", "-c", "3", "-i", "0.2", "-W", "2", to])
            .unwrap_or_else(|e| panic!("ping {to} after the failover: {e:#}"));
        assert!(out.contains(" 0% packet loss"), "{out}");
    }
    let bc = lab
        .ha2
        .as_mut()
        .unwrap()
        .bus
        .wait_for("BC_ADD", WAIT, |v| v["hoa"] == HOA)
        .unwrap();
    assert_eq!(bc["coa"], bul["coa"]);
}
