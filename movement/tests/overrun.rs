//! A netlink overrun (ENOBUFS) must not lose state: the watcher dumps again.

mod common;

use anyhow::{ensure, Result};
use common::*;
use movement::{Decision, MovementPolicy, Uplink};
use std::io::Write;
use std::time::Duration;

#[test]
fn overrun_triggers_a_dump_and_the_decision_stays_right() -> Result<()> {
    let mr = mobile_router()?;
    // No dummy driver in this kernel: veth pairs with both ends in the MR.
    for ifname in ["up0", "noise0"] {
        let peer = format!("{ifname}p");
        mr.ip(&["link", "add", ifname, "type", "veth", "peer", "name", &peer])?;
        mr.ip(&["link", "set", &peer, "up"])?;
        mr.ip(&["link", "set", ifname, "up"])?;
    }
    let up0 = ifindex(&mr, "up0")?;
    let policy = MovementPolicy {
        home_prefixes: vec![net(HOME)],
        uplinks: vec![Uplink::new("up0", 0)],
        home_address: None,
    };
    // The smallest buffer the kernel allows: a few notifications.
    let watcher = WatchThread::start_with(&mr, policy, false, Some(1))?;
    let (_, first) = watcher.wait_for(Duration::from_secs(5), "initial decision", |_| true)?;
    ensure!(first.current == Decision::Disconnected, "{first:?}");

    // While the watcher cannot read, 400 notifications about other addresses, then the one
    // that matters, then 400 more.
    watcher.stall(Duration::from_millis(1500))?;
    std::thread::sleep(Duration::from_millis(100));
    let mut batch = tempfile::NamedTempFile::new()?;
    for i in 1..=400 {
        writeln!(batch, "addr add 2001:db8:400::{i:x}/64 dev noise0 nodad")?;
    }
    writeln!(batch, "addr add 2001:db8:200::1/64 dev up0 nodad")?;
    for i in 1..=400 {
        writeln!(batch, "addr del 2001:db8:400::{i:x}/64 dev noise0")?;
    }
    batch.flush()?;
    mr.ip(&["-batch", &batch.path().to_string_lossy()])?;

    let (_, change) = watcher.wait_for(
        Duration::from_secs(5),
        "CoA after the burst",
        foreign_in(FOREIGN_A, Some(up0)),
    )?;
    ensure!(
        change.current
            == Decision::Foreign {
                coa: "2001:db8:200::1".parse()?,
                ifindex: up0
            }
    );
    let overruns = watcher.overruns()?;
    eprintln!("overruns recovered: {overruns}");
    ensure!(overruns >= 1, "the burst did not overrun the socket");
    // Nothing else to announce afterwards.
    ensure!(watcher.collect(Duration::from_millis(300))?.is_empty());
    Ok(())
}
