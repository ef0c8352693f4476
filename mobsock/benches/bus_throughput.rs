//! Bus benchmark: 1 sender -> 4 receivers, each a member in its own task.
//!
//! Prints throughput (all messages offered as fast as the sender can, per-receiver
//! delivery rate and loss) and latency percentiles at a paced rate (send to receive,
//! measured on one clock since all members share the process). Pacing uses tokio timers
//! (1 ms resolution), so above 1000 msg/s messages leave in bursts of rate/1000.
//! Run: `cargo bench -p mobsock --bench bus_throughput` (as root or any user).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mobsock::{BcEntry, Body, Bus, BusMember, BusOptions, Event};

const RECEIVERS: usize = 4;

fn entry(i: u64) -> BcEntry {
    BcEntry {
        hoa: std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        coa: std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 5),
        lifetime: 40,
        mnp6: vec!["2001:db8:281::/64".parse().expect("prefix")],
        mnp4: vec!["10.0.0.0/24".parse().expect("prefix")],
        ha: None,
        bu_seq: Some(i as u16),
        flags: 0x4c00,
    }
}

struct Received {
    /// (sequence number, arrival time)
    arrivals: Vec<(u64, Instant)>,
    gaps: u64,
}

/// Receives BC_ADDs from the sender until `last_seq` or a quiet second.
async fn receive(mut m: BusMember, last_seq: u64) -> Received {
    let mut r = Received {
        arrivals: Vec::new(),
        gaps: 0,
    };
    loop {
        match tokio::time::timeout(Duration::from_secs(1), m.recv()).await {
            Ok(Ok(Event::Message(env))) if matches!(env.body, Body::BcAdd(_)) => {
                r.arrivals.push((env.seq, Instant::now()));
                if env.seq >= last_seq {
                    break;
                }
            }
            Ok(Ok(Event::Gap { .. })) => r.gaps += 1,
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    r
}

/// One run: `count` messages, `pace` between sends (None: as fast as possible).
async fn run(
    dir: &std::path::Path,
    count: u64,
    pace: Option<Duration>,
) -> (Vec<Received>, Vec<Instant>, Duration) {
    let mut receivers = Vec::new();
    for i in 0..RECEIVERS {
        let m = Bus::join(dir, &format!("recv{i}"), BusOptions::default())
            .await
            .expect("join");
        receivers.push(m);
    }
    let sender = Bus::join(dir, "sender", BusOptions::default())
        .await
        .expect("join");
    // Receivers hear the sender's JOIN first; its messages are sequence 2..=count+1.
    let last_seq = count + 1;
    let handles: Vec<_> = receivers
        .into_iter()
        .map(|m| tokio::spawn(receive(m, last_seq)))
        .collect();
    let sent_at = Arc::new(Mutex::new(Vec::with_capacity(count as usize)));
    let start = Instant::now();
    let mut next = Instant::now();
    for i in 0..count {
        if let Some(p) = pace {
            next += p;
            tokio::time::sleep_until(next.into()).await;
        } else if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
        sent_at.lock().expect("lock").push(Instant::now());
        sender.send(Body::BcAdd(entry(i))).expect("send");
    }
    let send_time = start.elapsed();
    sender.flush(Duration::from_secs(10)).await;
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.expect("receiver task"));
    }
    let sent = sent_at.lock().expect("lock").clone();
    drop(sender);
    (results, sent, send_time)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let tmp = tempfile::tempdir().expect("tempdir");

        // Throughput: offer as fast as the sender can.
        let count = 200_000u64;
        let dir = tmp.path().join("tput");
        let (results, _, send_time) = run(&dir, count, None).await;
        println!(
            "throughput: 1 sender -> {RECEIVERS} receivers, {count} BC_ADD messages ({} bytes each)",
            mobsock::Envelope {
                version: (1, 0),
                sender: mobsock::Sender { name: "sender".into(), pid: std::process::id() },
                seq: 1,
                body: Body::BcAdd(entry(1)),
            }
            .encode()
            .map(|b| b.len())
            .unwrap_or(0)
        );
        println!(
            "  sender: {:.0} msg/s offered ({:.3} s)",
            count as f64 / send_time.as_secs_f64(),
            send_time.as_secs_f64()
        );
        for (i, r) in results.iter().enumerate() {
            let span = r
                .arrivals
                .last()
                .map(|(_, t)| t.duration_since(r.arrivals[0].1))
                .unwrap_or_default();
            println!(
                "  recv{i}: {} delivered ({:.1}% lost, {} gap reports), {:.0} msg/s",
                r.arrivals.len(),
                100.0 * (count - r.arrivals.len() as u64) as f64 / count as f64,
                r.gaps,
                r.arrivals.len() as f64 / span.as_secs_f64().max(1e-9)
            );
        }

        // Latency at paced rates.
        for rate in [1_000u64, 10_000, 50_000, 100_000] {
            let count = rate * 2;
            let dir = tmp.path().join(format!("lat{rate}"));
            let pace = Duration::from_nanos(1_000_000_000 / rate);
            let (results, sent, _) = run(&dir, count, Some(pace)).await;
            let mut lat: Vec<Duration> = Vec::new();
            let mut lost = 0;
            for r in &results {
                lost += count - r.arrivals.len() as u64;
                for (seq, at) in &r.arrivals {
                    if let Some(t) = sent.get((*seq - 2) as usize) {
                        lat.push(at.duration_since(*t));
                    }
                }
            }
            lat.sort();
            println!(
                "latency at {rate} msg/s x {RECEIVERS} receivers ({} samples, {lost} lost): p50 {:?} p90 {:?} p99 {:?} max {:?}",
                lat.len(),
                percentile(&lat, 0.50),
                percentile(&lat, 0.90),
                percentile(&lat, 0.99),
                lat.last().copied().unwrap_or_default()
            );
        }
    });
}
