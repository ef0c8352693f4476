//! Single-stream TCP throughput (iperf3 -J, -t 5) from host A behind the MR to host B
//! behind the HA, end hosts at MTU 1500: plain IPv4 routing (no tunnel, same namespaces),
//! the seg6 backend and the tun backend. The three are measured in turn, round after
//! round, so that load from other work on the machine hits them alike; medians are
//! reported. Run as root: `cargo bench -p dataplane`.

#[path = "../tests/common/mod.rs"]
mod common;

use anyhow::Result;
use common::*;
use dataplane::Backend;

const SECONDS: u32 = 5;
const ROUNDS: usize = 3;

/// IPv4 on the transit links and static routes: the same path without a tunnel.
fn plain_routing(t: &Topology, install: bool) -> Result<()> {
    let verb = if install { "add" } else { "del" };
    t.r.ip(&["route", verb, "10.0.0.0/24", "via", "172.16.0.2"])?;
    t.r.ip(&["route", verb, "192.168.64.0/25", "via", "172.16.1.2"])?;
    t.mr.ip(&["route", verb, "default", "via", "172.16.0.1"])?;
    t.ha.ip(&["route", verb, "10.0.0.0/24", "via", "172.16.1.1"])?;
    Ok(())
}

fn plain_addresses(t: &Topology) -> Result<()> {
    t.mr.ip(&["addr", "add", "172.16.0.2/24", "dev", "up0"])?;
    t.r.ip(&["addr", "add", "172.16.0.1/24", "dev", "rmr"])?;
    t.r.ip(&["addr", "add", "172.16.1.1/24", "dev", "rha"])?;
    t.ha.ip(&["addr", "add", "172.16.1.2/24", "dev", "home0"])?;
    for ns in [&t.mr, &t.r, &t.ha] {
        ns.sysctl("net.ipv4.ip_forward=1")?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Plain,
    Tunnel(Backend),
}

fn measure(t: &Topology, path: Path) -> Result<f64> {
    match path {
        Path::Plain => plain_routing(t, true)?,
        Path::Tunnel(b) => t.register(b, COA1)?,
    }
    ping(&t.a, &[B4])?;
    let gbps = iperf(&t.a, &t.b, B4, SECONDS, false)? / 1e9;
    match path {
        Path::Plain => plain_routing(t, false)?,
        Path::Tunnel(_) => {
            if let Some(stats) = t.mr_node.relay_stats()? {
                let ha = t.ha_node.relay_stats()?.unwrap_or_default();
                println!(
                    "    tun relay: MR {} packets in {} TUN reads, HA {} packets in {} TUN writes",
                    stats.encapsulated, stats.tun_reads, ha.decapsulated, ha.tun_writes
                );
            }
            t.mr_node.teardown()?;
            t.ha_node.teardown()?;
        }
    }
    Ok(gbps)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<()> {
    // `cargo bench` passes --bench; anything else (e.g. `cargo test --benches`) only checks
    // that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    // DATAPLANE_BENCH=tun (or seg6) measures only that backend, e.g. for profiling.
    let only: Option<Backend> = std::env::var("DATAPLANE_BENCH")
        .ok()
        .and_then(|s| s.parse().ok());
    let paths: Vec<Path> = match only {
        Some(b) => vec![Path::Tunnel(b)],
        None => vec![
            Path::Plain,
            Path::Tunnel(Backend::Seg6),
            Path::Tunnel(Backend::Tun),
        ],
    };
    let t = Topology::new()?;
    plain_addresses(&t)?;
    println!("load average before: {}", load());
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    for round in 1..=ROUNDS {
        for (i, &path) in paths.iter().enumerate() {
            let gbps = measure(&t, path)?;
            let name = match path {
                Path::Plain => "plain".to_string(),
                Path::Tunnel(b) => b.to_string(),
            };
            println!("  round {round} {name:<6} {gbps:6.2} Gbit/s");
            samples[i].push(gbps);
        }
    }
    println!("load average after: {}", load());
    println!("single-stream TCP A->B, MTU 1500, iperf3 -t {SECONDS}, median of {ROUNDS}:");
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    let plain = if paths[0] == Path::Plain {
        Some(medians[0])
    } else {
        None
    };
    for (path, m) in paths.iter().zip(&medians) {
        let name = match path {
            Path::Plain => "plain".to_string(),
            Path::Tunnel(b) => b.to_string(),
        };
        match plain {
            Some(p) if *path != Path::Plain => println!(
                "  {name:<6} {m:6.2} Gbit/s  {:5.1}% of plain",
                100.0 * m / p
            ),
            _ => println!("  {name:<6} {m:6.2} Gbit/s"),
        }
    }
    Ok(())
}
