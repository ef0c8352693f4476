//! Single-stream TCP throughput (iperf3 -J, -t 5) from host A behind the MR to host B
//! behind the HA, end hosts at MTU 1500: plain IPv4 routing (no tunnel, same namespaces),
//! then the seg6 backend, then the tun backend. Run as root: `cargo bench -p dataplane`.

#[path = "../tests/common/mod.rs"]
mod common;

use anyhow::Result;
use common::*;
use dataplane::Backend;

const SECONDS: u32 = 5;
const RUNS: usize = 2;

fn measure(t: &Topology, what: &str) -> Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        samples.push(iperf(&t.a, &t.b, B4, SECONDS, false)? / 1e9);
    }
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    println!("{what:<6} runs {samples:.2?} Gbit/s, mean {mean:.2}");
    Ok(mean)
}

/// IPv4 on the transit links and static routes: the same path without a tunnel.
fn plain_routing(t: &Topology, install: bool) -> Result<()> {
    let verb = if install { "add" } else { "del" };
    if install {
        t.mr.ip(&["addr", "add", "172.16.0.2/24", "dev", "up0"])?;
        t.r.ip(&["addr", "add", "172.16.0.1/24", "dev", "rmr"])?;
        t.r.ip(&["addr", "add", "172.16.1.1/24", "dev", "rha"])?;
        t.ha.ip(&["addr", "add", "172.16.1.2/24", "dev", "home0"])?;
        for ns in [&t.mr, &t.r, &t.ha] {
            ns.sysctl("net.ipv4.ip_forward=1")?;
        }
    }
    t.r.ip(&["route", verb, "10.0.0.0/24", "via", "172.16.0.2"])?;
    t.r.ip(&["route", verb, "192.168.64.0/25", "via", "172.16.1.2"])?;
    t.mr.ip(&["route", verb, "default", "via", "172.16.0.1"])?;
    t.ha.ip(&["route", verb, "10.0.0.0/24", "via", "172.16.1.1"])?;
    Ok(())
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
    let t = Topology::new()?;
    plain_routing(&t, true)?;
    ping(&t.a, &[B4])?;
    let plain = if only.is_none() {
        measure(&t, "plain")?
    } else {
        f64::NAN
    };
    plain_routing(&t, false)?;

    let mut results = Vec::new();
    for backend in [Backend::Seg6, Backend::Tun]
        .into_iter()
        .filter(|b| only.is_none_or(|o| o == *b))
    {
        t.register(backend, COA1)?;
        ping(&t.a, &[B4])?;
        results.push((backend, measure(&t, &backend.to_string())?));
        if let Some(stats) = t.mr_node.relay_stats()? {
            println!("  MR relay: {stats:?}");
            println!(
                "  HA relay: {:?}",
                t.ha_node.relay_stats()?.unwrap_or_default()
            );
        }
        t.mr_node.teardown()?;
        t.ha_node.teardown()?;
    }
    println!("single-stream TCP A->B, MTU 1500, iperf3 -t {SECONDS}:");
    println!("  plain  {plain:6.2} Gbit/s");
    for (backend, gbps) in results {
        println!(
            "  {backend:<6} {gbps:6.2} Gbit/s  {:5.1}% of plain",
            100.0 * gbps / plain
        );
    }
    Ok(())
}
