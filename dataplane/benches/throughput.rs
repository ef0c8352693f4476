//! Single-stream TCP throughput (iperf3 -J, -t 5) from host A behind the MR to host B
//! behind the HA, end hosts at MTU 1500: plain IPv4 routing (no tunnel, same namespaces)
//! and every backend this kernel runs (seg6, bpf, tun; a line says which it lacks). They
//! are measured in turn, round after round, so that load from other work on the machine
//! hits them alike; medians are reported. Run as root: `cargo bench -p dataplane`. For the
//! tun backend it also prints the relay's packet/syscall counts (how well TSO reads and
//! coalesced writes batch, how many ACKs cross the tunnel) and the CPU share of the relay
//! threads, which shows the bottleneck: the MR's encapsulating thread runs a whole core,
//! because on one machine the per-packet work of the transit router and the HA's receive
//! path happens inside its sendmmsg(2). DATAPLANE_BENCH=plain|seg6|bpf|tun measures one
//! path, DATAPLANE_BENCH_ROUNDS=N sets the rounds.
//! DATAPLANE_WIRE=1 turns TSO/GSO off on the links between MR, router and HA, so that they
//! carry 1500-byte frames as real links do: every path then pays the routers' per-packet
//! work, not only the tun backend (by default veth hands TCP super-packets along whole).

#[path = "../tests/common/mod.rs"]
mod common;

use anyhow::Result;
use common::*;
use dataplane::Backend;

const SECONDS: u32 = 5;
/// Rounds unless DATAPLANE_BENCH_ROUNDS says otherwise (more rounds for noisy machines).
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
    let before = thread_cpu();
    let gbps = iperf(&t.a, &t.b, B4, SECONDS, false)? / 1e9;
    let used: Vec<String> = thread_cpu()
        .into_iter()
        .filter(|(name, _)| name.starts_with("nemo-"))
        .map(|(name, t)| {
            let t0 = before.iter().find(|(n, _)| *n == name).map_or(0.0, |b| b.1);
            format!("{name} {:.0}%", 100.0 * (t - t0) / f64::from(SECONDS))
        })
        .collect();
    if !used.is_empty() {
        println!(
            "    relay threads (MR+HA, share of one core): {}",
            used.join(", ")
        );
    }
    match path {
        Path::Plain => plain_routing(t, false)?,
        Path::Tunnel(_) => {
            if let Some(stats) = t.mr_node.relay_stats()? {
                let ha = t.ha_node.relay_stats()?.unwrap_or_default();
                println!(
                    "    tun relay: MR {} packets in {} TUN reads, HA {} packets in {} TUN writes; \
                     ACKs: HA {} packets, MR {} TUN writes",
                    stats.encapsulated,
                    stats.tun_reads,
                    ha.decapsulated,
                    ha.tun_writes,
                    ha.encapsulated,
                    stats.tun_writes
                );
            }
            t.mr_node.teardown()?;
            t.ha_node.teardown()?;
        }
    }
    Ok(gbps)
}

/// CPU seconds used so far by this process's threads, per thread name (the relay's
/// threads of MR and HA share names, so their times add up).
fn thread_cpu() -> Vec<(String, f64)> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut out: Vec<(String, f64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ..."; utime and stime are fields 14 and 15.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
            .sum();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += ticks / hz,
            None => out.push((name, ticks / hz)),
        }
    }
    out
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
    // DATAPLANE_BENCH=seg6 (or bpf, tun, plain) measures only that path, e.g. for profiling.
    let only = std::env::var("DATAPLANE_BENCH").ok();
    let wanted: Vec<Path> = match only.as_deref().map(|s| (s, s.parse::<Backend>())) {
        Some(("plain", _)) => vec![Path::Plain],
        Some((_, Ok(b))) => vec![Path::Tunnel(b)],
        _ => std::iter::once(Path::Plain)
            .chain(Backend::ALL.into_iter().map(Path::Tunnel))
            .collect(),
    };
    // Every backend this kernel runs; a line for each one it lacks.
    let mut paths = Vec::new();
    for path in wanted {
        if let Path::Tunnel(b) = path {
            if integration::backends::unavailable(b)?.is_some() {
                println!(
                    "{}",
                    integration::backends::skip_line(b, "throughput benchmark")
                );
                continue;
            }
        }
        paths.push(path);
    }
    if paths.is_empty() {
        return Ok(());
    }
    let rounds = std::env::var("DATAPLANE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(ROUNDS);
    let t = Topology::new()?;
    plain_addresses(&t)?;
    println!("load average before: {}", load());
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    for round in 1..=rounds {
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
    println!("single-stream TCP A->B, MTU 1500, iperf3 -t {SECONDS}, median of {rounds}:");
    let medians: Vec<f64> = samples.iter().cloned().map(median).collect();
    let plain = if paths[0] == Path::Plain {
        Some(medians[0])
    } else {
        None
    };
    for (i, (path, m)) in paths.iter().zip(&medians).enumerate() {
        let name = match path {
            Path::Plain => "plain".to_string(),
            Path::Tunnel(b) => b.to_string(),
        };
        match plain {
            Some(p) if *path != Path::Plain => {
                // The ratio within each round as well: a load change between rounds moves
                // both of its measurements, so this median is the steadier of the two.
                let per_round = median(
                    samples[i]
                        .iter()
                        .zip(&samples[0])
                        .map(|(t, p)| t / p)
                        .collect(),
                );
                println!(
                    "  {name:<6} {m:6.2} Gbit/s  {:5.1}% of plain (median of per-round ratios {:5.1}%)",
                    100.0 * m / p,
                    100.0 * per_round
                )
            }
            _ => println!("  {name:<6} {m:6.2} Gbit/s"),
        }
    }
    Ok(())
}
