//! Issue 14's two data-plane bugs (both fixed: the seg6 home address through the tunnel,
//! no port unreachables from the tun backend with ip6_tunnel loaded), kept as regression
//! checks with a control on a backend that works. They need what these machines' kernels
//! lack (seg6; the `ip6_tunnel` module), so they are `#[ignore]`d here and run inside the
//! stock kernel VM by `scripts/kernel-matrix`, which fails when one of them fails.
//!
//! They use the data-plane namespace topology of `dataplane/tests/common` (host A - MR -
//! router R - HA - host B; the MR's home address on its `lo`).

#[path = "../../dataplane/tests/common/mod.rs"]
mod common;

use anyhow::{ensure, Context, Result};
use common::*;
use dataplane::Backend;
use integration::capture::Capture;

/// From node B, `ping -6 <HoA>`, and the MR's own IPv6 from its home address: both go
/// through the tunnel.
fn home_address_reachable(backend: Backend) -> Result<()> {
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    // The tunnel itself works (the mobile network's traffic).
    ping(&t.b, &[A6]).context("B -> A (mobile network) does not work: not the known bug")?;
    ping(&t.b, &[HOA]).with_context(|| {
        format!("{backend}: B cannot reach the MR's home address {HOA} through the tunnel")
    })?;
    ping(&t.mr, &["-I", HOA, B6]).with_context(|| {
        format!("{backend}: the MR's own IPv6 from its home address {HOA} does not reach B")
    })?;
    Ok(())
}

#[test]
#[ignore = "issue 14 (a), fixed: a regression check that needs seg6; run by scripts/kernel-matrix"]
fn issue14_seg6_home_address_reachable() -> Result<()> {
    home_address_reachable(Backend::Seg6)
}

#[test]
#[ignore = "control for issue 14 (a); run by scripts/kernel-matrix"]
fn issue14_control_tun_home_address_reachable() -> Result<()> {
    home_address_reachable(Backend::Tun)
}

/// Loads `ip6_tunnel` (its fallback device `ip6tnl0` then exists in every new namespace),
/// registers on `backend`, pings A <-> B through the tunnel and counts the ICMPv6
/// Destination Unreachable messages that cross router R between the tunnel's ends.
fn no_unreachables_with_ip6_tunnel(backend: Backend) -> Result<()> {
    let out = std::process::Command::new("modprobe")
        .arg("ip6_tunnel")
        .output()
        .context("modprobe")?;
    ensure!(
        out.status.success(),
        "modprobe ip6_tunnel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = Topology::new()?;
    t.register(backend, COA1)?;
    let dir = std::env::temp_dir().join(format!("issue14-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let pcap = dir.join("r.pcap");
    let capture = Capture::start(&t.r, "any", &pcap)?;
    for _ in 0..2 {
        ping(&t.a, &[B6])?;
        ping(&t.a, &[B4])?;
        ping(&t.b, &[A6])?;
    }
    let file = capture.finish()?;
    // ICMPv6 type 1 (Destination Unreachable) between the CoA and the HA.
    let out = t.r.run(&[
        "tcpdump",
        "-nn",
        "-r",
        file.to_str().context("path")?,
        "icmp6 and ip6[40] == 1",
    ])?;
    let _ = std::fs::remove_dir_all(&dir);
    let n = out.lines().filter(|l| !l.trim().is_empty()).count();
    ensure!(
        n == 0,
        "{backend} with ip6_tunnel loaded: {n} ICMPv6 Destination Unreachable between the \
         tunnel's ends (12 tunnelled echo exchanges):\n{out}"
    );
    Ok(())
}

#[test]
#[ignore = "issue 14 (b): fixed: a regression check that needs the ip6_tunnel module; run by scripts/kernel-matrix"]
fn issue14_tun_no_unreachables_with_ip6_tunnel() -> Result<()> {
    no_unreachables_with_ip6_tunnel(Backend::Tun)
}
