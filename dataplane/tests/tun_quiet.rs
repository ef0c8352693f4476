//! The tun backend makes no noise of its own: no ICMPv6 errors about the tunnel packets its
//! relay takes (a kernel with ip6_tunnel loaded answers them with port unreachable), and
//! nothing of the TUN device's own link chatter goes into the tunnel.

mod common;

use anyhow::{ensure, Result};
use common::*;
use dataplane::Backend;
use integration::backends::run_on;
use std::time::Duration;

/// Sends, from the MR itself, ICMPv6 port unreachables quoting a packet of next header
/// `quoted_nh` (as the kernel's tunnel6 does for tunnel packets no device claims), and
/// tells whether they reached the wire of the uplink.
fn error_reaches_the_wire(t: &Topology, quoted_nh: u8) -> Result<bool> {
    let mut dump = t.r.command("timeout");
    dump.args([
        "3",
        "tcpdump",
        "-n",
        "-l",
        "--immediate-mode",
        "-i",
        "rmr",
        "icmp6 and ip6[40] == 1",
    ]);
    let mut dump = integration::BackgroundProcess::spawn(dump, "tcpdump")?;
    let lines = dump.lines()?;
    std::thread::sleep(Duration::from_millis(700));
    // Through an ICMPv6 raw socket, so the message takes the kernel's own output path
    // (scapy's send() would use a packet socket, past netfilter).
    let script = format!(
        "import socket, time\n\
         from scapy.all import IPv6, Raw, raw\n\
         quoted = raw(IPv6(src='{HA}', dst='{COA1}', nh={quoted_nh})/Raw(b'x' * 40))\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)\n\
         for _ in range(3):\n    \
             try:\n        \
                 s.sendto(bytes([1, 4, 0, 0, 0, 0, 0, 0]) + quoted, ('{HA}', 0))\n    \
             except PermissionError:\n        \
                 pass  # dropped on the way out (netfilter answers EPERM)\n    \
             time.sleep(0.05)\n"
    );
    t.mr.run(&["/usr/bin/python3", "-c", &script])?;
    Ok(lines
        .wait_for(Duration::from_secs(3), |l| l.contains("unreachable"))
        .is_ok())
}

#[test]
fn tun_sends_no_errors_about_tunnel_packets() -> Result<()> {
    run_on(
        Backend::Tun,
        "tun_quiet::tun_sends_no_errors_about_tunnel_packets",
        no_errors,
    )
}

fn no_errors(_: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(Backend::Tun, COA1)?;
    for nh in [4, 41] {
        ensure!(
            !error_reaches_the_wire(&t, nh)?,
            "an ICMPv6 port unreachable about a next header {nh} packet left the MR"
        );
    }
    // Control: the same error about a UDP packet is not ours to drop, and does leave.
    ensure!(
        error_reaches_the_wire(&t, 17)?,
        "control: an ordinary port unreachable did not reach the wire"
    );
    Ok(())
}

#[test]
fn tun_device_keeps_its_link_chatter() -> Result<()> {
    run_on(
        Backend::Tun,
        "tun_quiet::tun_device_keeps_its_link_chatter",
        no_chatter,
    )
}

fn no_chatter(_: Backend) -> Result<()> {
    let t = Topology::new()?;
    // Everything the HA receives through the tunnel, from before the MR's device exists.
    let mut dump = t.ha.command("timeout");
    dump.args([
        "4",
        "tcpdump",
        "-n",
        "-l",
        "--immediate-mode",
        "-i",
        "home0",
        "ip6 proto 41",
    ]);
    let mut dump = integration::BackgroundProcess::spawn(dump, "tcpdump")?;
    let lines = dump.lines()?;
    std::thread::sleep(Duration::from_millis(700));
    t.register(Backend::Tun, COA1)?;
    let addrs = t.mr.ip(&["-6", "addr", "show", "dev", "nemo0"])?;
    ensure!(
        !addrs.contains("fe80"),
        "nemo0 has a link-local address: {addrs}"
    );
    // Give MLD and router solicitations their chance (both go within a second of link up).
    let chatter = lines.wait_for(Duration::from_secs(3), |l| {
        l.contains("fe80") || l.contains("ff02")
    });
    ensure!(
        chatter.is_err(),
        "link chatter went into the tunnel: {chatter:?}"
    );
    // Control: real traffic does go through.
    ping(&t.a, &["-6", "-c", "1", "-W", "2", B6])?;
    Ok(())
}
