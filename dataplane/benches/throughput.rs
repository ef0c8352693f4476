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
//! path, DATAPLANE_BENCH_ROUNDS=N sets the rounds. `plain6` is IPv6 end to end without a
//! tunnel (A6 -> B6): the tunnels' outer path is IPv6, so it is a reference for what IPv6
//! forwarding costs on this kernel (not a decomposition: its hosts speak TCP over IPv6). Each measurement also prints the machine's
//! CPU use during the transfer and CPU-seconds per gigabyte moved.
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
    /// IPv6 routing without a tunnel (A6 -> B6): what the tunnels' outer path costs by itself.
    Plain6,
    Tunnel(Backend),
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Plain => f.write_str("plain"),
            Path::Plain6 => f.write_str("plain6"),
            Path::Tunnel(b) => write!(f, "{b}"),
        }
    }
}

/// The router's route back to the mobile network over IPv6 (the rest is in the topology).
fn plain6_routing(t: &Topology, install: bool) -> Result<()> {
    let verb = if install { "add" } else { "del" };
    t.r.ip(&["-6", "route", verb, "2001:db8:281::/64", "via", COA1])?;
    if install {
        for ns in [&t.mr, &t.ha] {
            ns.sysctl("net.ipv6.conf.all.forwarding=1")?;
        }
    }
    Ok(())
}

fn measure(t: &Topology, path: Path) -> Result<f64> {
    match path {
        Path::Plain => plain_routing(t, true)?,
        Path::Plain6 => plain6_routing(t, true)?,
        Path::Tunnel(b) => {
            t.register(b, COA1)?;
        }
    }
    let dst = if path == Path::Plain6 { B6 } else { B4 };
    ping(&t.a, &[dst])?;
    let before = thread_cpu();
    let stat0 = cpu_ticks();
    let gbps = iperf(&t.a, &t.b, dst, SECONDS, false)? / 1e9;
    let stat1 = cpu_ticks();
    if let (Some(a), Some(b)) = (stat0, stat1) {
        let total = (b.busy + b.idle - a.busy - a.idle).max(1) as f64;
        let busy = (b.busy - a.busy) as f64;
        // Whole machine, all cores: what the path costs per gigabyte moved.
        println!(
            "    CPU during the transfer: {:.0}% busy ({:.0}% softirq) of {} cores, {:.2} CPU-s per GB",
            100.0 * busy / total,
            100.0 * (b.softirq - a.softirq) as f64 / total,
            a.cores,
            busy / a.hz / (gbps * f64::from(SECONDS) / 8.0)
        );
    }
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
        Path::Plain6 => plain6_routing(t, false)?,
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

struct CpuTicks {
    busy: u64,
    softirq: u64,
    idle: u64,
    cores: usize,
    hz: f64,
}

/// The machine's CPU time so far (/proc/stat, all cores), in clock ticks.
fn cpu_ticks() -> Option<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let &[user, nice, system, idle, iowait, irq, softirq, steal, ..] = f.as_slice() else {
        return None;
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(CpuTicks {
        busy: user + nice + system + irq + softirq + steal,
        softirq,
        idle: idle + iowait,
        cores: stat
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count(),
        hz,
    })
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
    // DATAPLANE_BENCH=seg6 (or bpf, ip6tnl, tun, plain, plain6) measures only that path, e.g. for profiling.
    let only = std::env::var("DATAPLANE_BENCH").ok();
    let wanted: Vec<Path> = match only.as_deref().map(|s| (s, s.parse::<Backend>())) {
        Some(("plain", _)) => vec![Path::Plain],
        Some(("plain6", _)) => vec![Path::Plain6],
        Some((_, Ok(b))) => vec![Path::Tunnel(b)],
        _ => [Path::Plain, Path::Plain6]
            .into_iter()
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
            let name = path.to_string();
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
        let name = path.to_string();
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
                // And beside IPv6 routing without a tunnel: the tunnels' outer path is IPv6.
                let of_plain6 = paths
                    .iter()
                    .position(|p| *p == Path::Plain6)
                    .filter(|_| matches!(path, Path::Tunnel(_)))
                    .map(|j| format!(", {:5.1}% of plain6", 100.0 * m / medians[j]))
                    .unwrap_or_default();
                println!(
                    "  {name:<6} {m:6.2} Gbit/s  {:5.1}% of plain (median of per-round ratios {:5.1}%){of_plain6}",
                    100.0 * m / p,
                    100.0 * per_round
                )
            }
            _ => println!("  {name:<6} {m:6.2} Gbit/s"),
        }
    }
    Ok(())
}
