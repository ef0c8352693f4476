//! Multi-process tests with the real binaries: `mobsock-member` members and `mipsock monitor`.

mod common;

use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;
use serde_json::Value;

const N: u64 = 300;

/// Three members and a monitor: everyone sees every message of every other sender, in
/// per-sender order, without a gap.
#[test]
fn three_members_and_a_monitor_see_everything_in_order() {
    let (_tmp, bus) = bus_dir();
    let mut monitor = Proc::monitor(&bus, true);
    let n = N.to_string();
    let args = ["--count", &n, "--interval-us", "300", "--wait-peers", "3"];
    let mut members: Vec<Proc> = ["m1", "m2", "m3"]
        .iter()
        .map(|name| Proc::member(&bus, name, &args))
        .collect();
    let ids: Vec<(String, u32)> = members.iter().map(|m| (m.name.clone(), m.pid())).collect();
    for m in &members {
        m.wait(
            |p| msgs(&p.lines()).len() as u64 >= 2 * N,
            Duration::from_secs(60),
            "messages of both other members",
        );
    }
    monitor.wait(
        |p| {
            p.lines()
                .iter()
                .filter(|l| l.contains("\"BC_ADD\""))
                .count() as u64
                >= 3 * N
        },
        Duration::from_secs(30),
        "all messages at the monitor",
    );
    for m in members.iter_mut() {
        m.stop();
    }
    monitor.stop();

    for m in &members {
        let lines = m.lines();
        assert!(
            !lines.iter().any(|l| l.starts_with("GAP")),
            "{}: {lines:?}",
            m.name
        );
        for (name, pid) in ids.iter().filter(|(n, _)| *n != m.name) {
            let seqs = seqs_from(&lines, name, *pid);
            assert_eq!(
                seqs.len() as u64,
                N,
                "{} saw {} from {name}",
                m.name,
                seqs.len()
            );
            assert!(
                contiguous(&seqs),
                "{} saw {name} out of order: {seqs:?}",
                m.name
            );
        }
    }
    let events: Vec<Value> = monitor
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    assert!(!events.iter().any(|e| e["type"] == "GAP"));
    for (name, pid) in &ids {
        let seqs: Vec<u64> = events
            .iter()
            .filter(|e| {
                e["type"] == "BC_ADD" && e["from"]["name"] == *name && e["from"]["pid"] == *pid
            })
            .filter_map(|e| e["seq"].as_u64())
            .collect();
        assert_eq!(
            seqs.len() as u64,
            N,
            "monitor saw {} from {name}",
            seqs.len()
        );
        assert!(contiguous(&seqs), "monitor saw {name} out of order");
        assert!(events.iter().any(|e| e["type"] == "JOIN"
            && e["from"]["name"] == *name
            && e["from"]["pid"] == *pid));
        assert!(events
            .iter()
            .any(|e| e["type"] == "LEAVE" && e["from"]["pid"] == *pid && e["reason"] == "left"));
    }
}

/// SIGKILL one member while the others send, restart it: the others see its departure and
/// its return, and nothing else (no gap, no error).
#[test]
fn a_killed_member_restarts_and_the_others_only_see_leave_and_join() {
    let (_tmp, bus) = bus_dir();
    let mut monitor = Proc::monitor(&bus, false);
    let args = [
        "--count",
        "1500",
        "--interval-us",
        "2000",
        "--wait-peers",
        "3",
    ];
    let mut m1 = Proc::member(&bus, "m1", &args);
    let mut m2 = Proc::member(&bus, "m2", &args);
    let victim = Proc::member(&bus, "victim", &args);
    let old_pid = victim.pid();
    m1.wait(
        |p| msgs(&p.lines()).len() > 200,
        Duration::from_secs(30),
        "traffic",
    );
    victim.signal(Signal::SIGKILL);
    drop(victim);
    std::thread::sleep(Duration::from_millis(400));
    let mut reborn = Proc::member(&bus, "victim", &["--count", "200", "--interval-us", "2000"]);
    let new_pid = reborn.pid();
    for m in [&m1, &m2] {
        m.wait(
            |p| p.lines().iter().any(|l| l.starts_with("SENT")),
            Duration::from_secs(60),
            "SENT",
        );
    }
    reborn.wait(
        |p| p.lines().iter().any(|l| l.starts_with("SENT")),
        Duration::from_secs(30),
        "SENT",
    );
    std::thread::sleep(Duration::from_millis(300));
    m1.stop();
    m2.stop();
    reborn.stop();
    monitor.stop();

    for m in [&m1, &m2] {
        let lines = m.lines();
        let other = if m.name == "m1" { &m2 } else { &m1 };
        assert!(
            !lines.iter().any(|l| l.starts_with("GAP")),
            "{}: gap",
            m.name
        );
        // Clean goodbyes at the end of the test aside, the only departure is the victim's.
        let left: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("LEFT") && !l.ends_with(" left"))
            .collect();
        assert_eq!(left, [&format!("LEFT victim {old_pid} gone")], "{}", m.name);
        assert!(
            lines.contains(&format!("JOIN victim {new_pid}")),
            "{}: no rejoin",
            m.name
        );
        let seqs = seqs_from(&lines, &other.name, other.pid());
        assert_eq!(seqs.len(), 1500, "{} from {}", m.name, other.name);
        assert!(contiguous(&seqs));
        assert!(contiguous(&seqs_from(&lines, "victim", old_pid)));
        let reborn_seqs = seqs_from(&lines, "victim", new_pid);
        assert_eq!(
            reborn_seqs.len(),
            200,
            "{} from the restarted member",
            m.name
        );
        assert!(contiguous(&reborn_seqs));
        assert!(
            m.err_lines().iter().all(|l| !l.contains("ERROR")),
            "{}",
            m.name
        );
    }
    let mon = monitor.lines();
    assert!(mon
        .iter()
        .any(|l| l.ends_with(&format!("LEAVE from victim[{old_pid}] reason gone"))));
    assert!(mon
        .iter()
        .any(|l| l.ends_with(&format!("JOIN from victim[{new_pid}]"))));
    assert!(
        !mon.iter().any(|l| l.contains(" GAP ")),
        "monitor saw a gap"
    );
    // The restarted member hears the survivors from its return on, in order.
    let lines = reborn.lines();
    assert!(!lines.iter().any(|l| l.starts_with("GAP")));
    assert!(contiguous(&seqs_from(&lines, "m1", m1.pid())));
    assert!(std::fs::read_dir(&bus).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(&old_pid.to_string())));
}

/// How long the owner takes to send `count` messages with a reader and, optionally, a
/// member that is stopped (SIGSTOP). Returns (ms, the owner, the stuck member).
fn run_with_optional_stuck_member(stuck: bool, count: u64) -> (u64, Proc, Option<Proc>) {
    let (tmp, bus) = bus_dir();
    let reader = Proc::member(&bus, "reader", &["--quiet", "--no-resync"]);
    let stuck_member = stuck.then(|| Proc::member(&bus, "stuck", &["--quiet"]));
    if let Some(s) = &stuck_member {
        s.signal(Signal::SIGSTOP);
    }
    let peers = if stuck { "2" } else { "1" };
    let owner = Proc::member(
        &bus,
        "owner",
        &[
            "--owner",
            "--quiet",
            "--count",
            &count.to_string(),
            "--wait-peers",
            peers,
        ],
    );
    let line = owner.wait_line(|l| l.starts_with("SENT "), Duration::from_secs(120));
    let ms: u64 = line
        .split(' ')
        .nth(2)
        .and_then(|s| s.parse().ok())
        .expect("SENT ms");
    drop(reader);
    // Keep the directory alive as long as the processes are.
    std::mem::forget(tmp);
    (ms, owner, stuck_member)
}

/// A member that stops reading does not slow the others; once it resumes it reports the
/// gap and recovers with a dump from the owner of the state.
#[test]
fn a_stuck_member_does_not_slow_the_sender_and_recovers_by_dump() {
    const COUNT: u64 = 20_000;
    let (baseline_ms, _o, _) = run_with_optional_stuck_member(false, COUNT);
    let (stuck_ms, owner, stuck) = run_with_optional_stuck_member(true, COUNT);
    let stuck = stuck.expect("stuck member");
    eprintln!("owner sent {COUNT} in {baseline_ms} ms alone, {stuck_ms} ms with a stuck member");
    assert!(
        stuck_ms <= 5 * baseline_ms + 3000,
        "sender slowed by a stuck member: {stuck_ms} ms vs {baseline_ms} ms"
    );
    stuck.signal(Signal::SIGCONT);
    let gap = stuck.wait_line(|l| l.starts_with("GAP owner"), Duration::from_secs(20));
    let fields: Vec<u64> = gap
        .split(' ')
        .skip(2)
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(fields[0], owner.pid() as u64);
    assert!(fields[2] > fields[1], "gap {gap}");
    // The owner holds 100 bindings; the dump brings all of them back.
    let dump = stuck.wait_line(|l| l.starts_with("DUMP "), Duration::from_secs(20));
    assert_eq!(dump, "DUMP 1 100 true");
}
