//! Router Solicitations on the wire: what `RouterSolicitor` sends, and that the watcher
//! sends one when an uplink's carrier comes up.

mod common;

use anyhow::{bail, Context, Result};
use common::*;
use integration::Netns;
use movement::{MovementPolicy, RouterSolicitor, Uplink};
use socket2::{Domain, Protocol, Socket, Type};
use std::mem::MaybeUninit;
use std::net::Ipv6Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn enter(ns: &str) -> Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// Listens in `ns` for ICMPv6 Router Solicitations from `::`; returns the first one's
/// message bytes. The kernel's own solicitations come from the link-local address.
fn listen_for_unspecified_rs(
    ns: &Netns,
    timeout: Duration,
) -> Result<mpsc::Receiver<Result<Vec<u8>>>> {
    let name = ns.name().to_string();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let run = || -> Result<Vec<u8>> {
            enter(&name)?;
            let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
            s.set_read_timeout(Some(Duration::from_millis(100)))?;
            let _ = ready_tx.send(());
            let deadline = Instant::now() + timeout;
            let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
            while Instant::now() < deadline {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    continue;
                };
                // SAFETY: recv_from initialised the first n bytes.
                let bytes: Vec<u8> = buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                let from = from.as_socket_ipv6().map(|a| *a.ip());
                if bytes.first() == Some(&133) && from == Some(Ipv6Addr::UNSPECIFIED) {
                    return Ok(bytes);
                }
            }
            bail!("no Router Solicitation from :: within {timeout:?}")
        };
        let _ = tx.send(run());
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .context("listener did not start")?;
    Ok(rx)
}

#[test]
fn solicitor_sends_an_rs_from_the_unspecified_address() -> Result<()> {
    let mr = mobile_router()?;
    let router = Netns::new("rt")?;
    // Only routers join ff02::2.
    router.sysctl("net.ipv6.conf.all.forwarding=1")?;
    mr.veth("up0", &router, "down0")?;
    let index = ifindex(&mr, "up0")?;
    // IPv6 starts on an interface once the kernel reports it running: on both ends.
    for (ns, ifname) in [(&mr, "up0"), (&router, "down0")] {
        ns.sh(&format!(
            "for i in $(seq 100); do ip link show {ifname} | grep -q 'state UP' && exit 0; \
             sleep 0.02; done; exit 1"
        ))?;
    }
    let rx = listen_for_unspecified_rs(&router, Duration::from_secs(3))?;
    let name = mr.name().to_string();
    std::thread::spawn(move || -> Result<()> {
        enter(&name)?;
        RouterSolicitor::new()?.send(index, None)?;
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    let rs = rx.recv_timeout(Duration::from_secs(5))??;
    // The kernel accepted our checksum (raw ICMPv6 sockets drop bad ones) and the hop
    // limit is checked in the unit test of the bytes.
    assert_eq!(rs, vec![133, 0, 0x7b, 0xb8, 0, 0, 0, 0]);
    Ok(())
}

#[test]
fn watcher_solicits_when_the_uplink_carrier_comes_up() -> Result<()> {
    let mr = mobile_router()?;
    let router = Netns::new("rt")?;
    // Only routers join ff02::2.
    router.sysctl("net.ipv6.conf.all.forwarding=1")?;
    uplink(&mr, "up0", &router, "down0")?;
    let policy = MovementPolicy {
        home_prefixes: vec![net(HOME)],
        uplinks: vec![Uplink::new("up0", 0)],
        home_address: None,
    };
    let watcher = WatchThread::start(&mr, policy, true)?;
    watcher.wait_for(Duration::from_secs(5), "initial decision", |_| true)?;
    let rx = listen_for_unspecified_rs(&router, Duration::from_secs(2))?;
    let up = Instant::now();
    mr.ip(&["link", "set", "up0", "up"])?;
    rx.recv_timeout(Duration::from_secs(5))??;
    // Only ours comes from `::`: the kernel's own waits for link-local DAD and then uses
    // the link-local address. Ours goes when the kernel reports the link running, which its
    // link watch may hold back up to a second after other link changes on the machine.
    let took = up.elapsed();
    eprintln!("link-up to our Router Solicitation: {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    Ok(())
}
