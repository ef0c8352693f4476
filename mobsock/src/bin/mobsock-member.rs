//! A generic bus member for multi-process tests and the benchmark.
//!
//! Joins the bus, optionally sends `--count` BC_ADD messages, and prints one line per event
//! on stdout (flushed):
//! `READY <name> <pid>`, `MSG <name> <pid> <seq> <TYPE>`, `GAP <name> <pid> <expected> <got>`,
//! `JOIN <name> <pid>`, `LEFT <name> <pid> <reason>`, `SENT <count> <ms>`,
//! `DUMP <responders> <bc entries> <complete>`.
//! With `--owner` it keeps a Binding Cache of what it sent (100 slots) and answers dumps.
//! On a gap it requests a dump, as a daemon resynchronising would. SIGTERM leaves cleanly.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use mobsock::{BcEntry, Body, Bus, BusOptions, DumpWhat, Event};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{interval, Instant, MissedTickBehavior};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    bus_dir: PathBuf,
    #[arg(long)]
    name: String,
    /// BC_ADD messages to send.
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Pause between sends in microseconds (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    interval_us: u64,
    /// Wait until this many peers are known before sending.
    #[arg(long, default_value_t = 0)]
    wait_peers: usize,
    /// Keep a Binding Cache of what was sent and answer dump requests.
    #[arg(long)]
    owner: bool,
    /// Do not print MSG lines (for large runs).
    #[arg(long)]
    quiet: bool,
    /// The bus group whose members may write.
    #[arg(long)]
    group: Option<String>,
    /// Report gaps but do not request a dump.
    #[arg(long)]
    no_resync: bool,
}

fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn entry(i: u64) -> BcEntry {
    let slot = (i % 100) as u16;
    BcEntry {
        hoa: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, slot),
        coa: Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 1),
        lifetime: i.min(u32::MAX as u64) as u32,
        mnp6: vec![
            ipnet::Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 0x281, slot, 0, 0, 0, 0), 64)
                .unwrap_or_default(),
        ],
        mnp4: vec![],
        ha: None,
        bu_seq: None,
        flags: 0,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOBSOCK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut opts = BusOptions::default();
    if let Some(name) = &args.group {
        let group = nix::unistd::Group::from_name(name)?
            .ok_or_else(|| anyhow::anyhow!("no such group {name}"))?;
        opts.group = Some(group.gid);
    }
    let mut member = Bus::join(&args.bus_dir, &args.name, opts).await?;
    let me = member.me().clone();
    say(format_args!("READY {} {}", me.name, me.pid));
    let mut term = signal(SignalKind::terminate())?;
    let mut table: BTreeMap<Ipv6Addr, BcEntry> = BTreeMap::new();
    let mut tick = interval(Duration::from_micros(args.interval_us.max(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut sent = 0u64;
    let mut started: Option<Instant> = None;
    loop {
        let sending = sent < args.count && member.peers().len() >= args.wait_peers;
        tokio::select! {
            ev = member.recv() => match ev? {
                Event::Message(env) => {
                    if !args.quiet {
                        say(format_args!("MSG {} {} {} {}", env.sender.name, env.sender.pid,
                            env.seq, env.body.type_name()));
                    }
                    if let (true, Body::DumpRequest(req)) = (args.owner, &env.body) {
                        if !req.what.includes(DumpWhat::Bc) {
                            continue;
                        }
                        let bc: Vec<BcEntry> = table.values().cloned().collect();
                        member.answer_dump(req, &bc, &[])?;
                    }
                }
                Event::Gap { sender, expected, got } => {
                    say(format_args!("GAP {} {} {expected} {got}", sender.name, sender.pid));
                    if args.no_resync {
                        continue;
                    }
                    let dump = member.request_dump(DumpWhat::Bc).await?;
                    say(format_args!("DUMP {} {} {}", dump.replies.len(), dump.bc().len(),
                        dump.complete()));
                }
                Event::PeerJoined(s) => say(format_args!("JOIN {} {}", s.name, s.pid)),
                Event::PeerLeft { sender, reason } => {
                    say(format_args!("LEFT {} {} {}", sender.name, sender.pid, reason.as_str()))
                }
            },
            _ = tick.tick(), if sending => {
                let start = *started.get_or_insert_with(Instant::now);
                // Without a pause, send in bursts so that receiving still gets its turn.
                let burst = if args.interval_us == 0 { 64 } else { 1 };
                for _ in 0..burst.min(args.count - sent) {
                    sent += 1;
                    let e = entry(sent);
                    if args.owner {
                        table.insert(e.hoa, e.clone());
                    }
                    member.send(Body::BcAdd(e))?;
                }
                if sent == args.count {
                    say(format_args!("SENT {sent} {}", start.elapsed().as_millis()));
                }
            },
            _ = tokio::time::sleep(Duration::from_millis(20)), if !sending => {}
            _ = term.recv() => break,
        }
    }
    member.leave().await?;
    Ok(())
}
