//! Registers N simulated mobile routers against one real `had` and prints the BUs processed
//! per second and had's resident memory per binding (issue 5). Not a test: figures only.
//!
//! The simulator lives in a second namespace and speaks through the same raw sockets as mrd
//! (mhsock), building BUs with mip6; it keeps a window of BUs outstanding and counts BAs.

use integration::{bins, BackgroundProcess};
use mip6::{BuFlags, MessageRepr, MhPacket, MobilityOption, ParseContext};
use std::collections::HashSet;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const HA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 5);
const WINDOW: usize = 256;

fn hoa(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, (i >> 16) as u16 + 1, i as u16)
}

fn mnp(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb9, (i >> 16) as u16, i as u16, 0, 0, 0, 0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn run(n: u32) {
    let (ha, mr) = integration::signaling::ha_and_mr("b").unwrap();

    let dir = std::env::temp_dir().join(format!("regbench-{}", ha.name()));
    std::fs::create_dir_all(dir.join("bus")).unwrap();
    let mut conf = String::from(
        "interface home0 {\n home-prefix 2001:db8:1::/64;\n max-binding-lifetime 3600;\n authentication none;\n prefixtable {\n",
    );
    for i in 0..n {
        conf.push_str(&format!("  {} {}/64 explicit;\n", hoa(i), mnp(i)));
    }
    conf.push_str(" };\n};\n");
    std::fs::write(dir.join("had.conf"), conf).unwrap();
    let mut cmd = ha.command(bins::path("had").unwrap().to_str().unwrap());
    cmd.arg("-f").arg("-c").arg(dir.join("had.conf"));
    for (flag, file) in [
        ("--bus-dir", "bus"),
        ("--pid-file", "had.pid"),
        ("--state-file", "bc.json"),
        ("--log-file", "had.log"),
    ] {
        cmd.arg(flag).arg(dir.join(file));
    }
    cmd.arg("home0");
    let had = BackgroundProcess::spawn(cmd, "had").unwrap();
    let log = dir.join("had.log");
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("had started")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "had did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = rss_kib(had.pid());

    let mr_file = std::fs::File::open(format!("/run/netns/{}", mr.name())).unwrap();
    let elapsed = std::thread::spawn(move || {
        nix::sched::setns(mr_file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(simulate(n))
    })
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500)); // let the batched Binding Cache write settle
    let rss_after = rss_kib(had.pid());
    let per_binding = (rss_after.saturating_sub(rss_before) as f64 * 1024.0) / f64::from(n);
    println!(
        "N={n:>6}: {:>8.0} BUs/s ({:.2} s for all), had RSS {} KiB -> {} KiB, {:.0} bytes per binding",
        f64::from(n) / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        rss_before,
        rss_after,
        per_binding
    );
    drop(had);
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept {}", dir.display());
    }
}

/// Sends one BU per simulated MR, at most WINDOW unanswered, retrying lost ones; returns the
/// time until every MR had its accepted BA.
async fn simulate(n: u32) -> Duration {
    let sock = mhsock::MhSocket::open().unwrap();
    let ctx = ParseContext::iana();
    let bu = |i: u32, seq: u16| {
        MhPacket {
            src: COA,
            dst: HA,
            home_address: Some(hoa(i)),
            rh2_home: None,
            hop_limit: 64,
            mh: MessageRepr::BindingUpdate {
                seq,
                flags: BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER,
                lifetime: Duration::from_secs(3600),
                options: vec![MobilityOption::MobileNetworkPrefix {
                    prefix: mnp(i),
                    prefix_len: 64,
                }],
            },
        }
        .emit(&ctx)
        .unwrap()
    };
    let index: std::collections::HashMap<Ipv6Addr, u32> = (0..n).map(|i| (hoa(i), i)).collect();
    let mut done: HashSet<u32> = HashSet::new();
    let mut next = 0u32;
    let mut outstanding: HashSet<u32> = HashSet::new();
    let mut seq = 1u16;
    let start = Instant::now();
    while done.len() < n as usize {
        while outstanding.len() < WINDOW && next < n {
            sock.send(&bu(next, seq)).unwrap();
            outstanding.insert(next);
            next += 1;
        }
        match tokio::time::timeout(Duration::from_millis(500), sock.recv()).await {
            Ok(Ok(rx)) => {
                let Ok(p) =
                    MhPacket::parse_payload(rx.first_header, rx.src, rx.dst, 64, &rx.data, &ctx)
                else {
                    continue;
                };
                if let (MessageRepr::BindingAck { status, .. }, Some(h)) =
                    (&p.packet.mh, p.packet.rh2_home)
                {
                    if let Some(&i) = index.get(&h) {
                        assert!(status.is_accepted(), "MR {i} refused: {status}");
                        outstanding.remove(&i);
                        done.insert(i);
                    }
                }
            }
            _ => {
                // Lost in a socket buffer: send the unanswered ones again with a new number.
                seq = seq.wrapping_add(1);
                for &i in &outstanding {
                    sock.send(&bu(i, seq)).unwrap();
                }
            }
        }
    }
    start.elapsed()
}

fn main() {
    println!("had registration load: one had, N simulated mobile routers, window {WINDOW}");
    for n in [1_000, 10_000] {
        run(n);
    }
}
