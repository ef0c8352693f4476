//! Forwarding sysctls, written under /proc/sys (in the caller's network namespace).

use crate::error::{Error, Result};

fn path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

fn read(name: &str) -> Result<String> {
    let p = path(name);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|source| Error::Sysctl { path: p, source })
}

fn write(name: &str, value: &str) -> Result<()> {
    if read(name)? == value {
        return Ok(());
    }
    let p = path(name);
    std::fs::write(&p, value).map_err(|source| Error::Sysctl { path: p, source })?;
    tracing::info!(sysctl = name, value, "set");
    Ok(())
}

/// Turns on IPv4 and IPv6 forwarding. A forwarding node ignores Router Advertisements
/// unless `accept_ra` is 2, so an `accept_ra` of 1 on `keep_ra_on` (the MR's uplink,
/// which learns its CoA from RAs) becomes 2 first.
pub fn enable_forwarding(keep_ra_on: Option<&str>) -> Result<()> {
    if let Some(ifname) = keep_ra_on {
        let accept_ra = format!("net.ipv6.conf.{ifname}.accept_ra");
        if read(&accept_ra)? == "1" {
            write(&accept_ra, "2")?;
        }
    }
    write("net.ipv4.ip_forward", "1")?;
    write("net.ipv6.conf.all.forwarding", "1")
}

fn conf(ifname: &str, key: &str) -> String {
    format!("net.ipv6.conf.{ifname}.{key}")
}

/// Whether this kernel forwards IPv6 per interface (`force_forwarding`, Linux 6.17).
pub fn per_interface_forwarding() -> bool {
    std::path::Path::new(&path("net.ipv6.conf.all.force_forwarding")).exists()
}

/// A mobile router forwards IPv6 per interface where the kernel allows it: the uplink
/// stays a *host* interface (`forwarding` 0) that still forwards (`force_forwarding` 1), so
/// it takes Router Advertisements and, above all, gets optimistic addresses (RFC 4429) —
/// Linux grants optimistic DAD only to non-forwarding interfaces, and without it every new
/// care-of address waits a second for DAD. The mobile network side (and the TUN device)
/// are router interfaces. Older kernels get global forwarding, as [`enable_forwarding`].
///
/// Setting `all.forwarding` to 0 resets every `force_forwarding`, so that happens only when
/// it is still 1; call this again for an uplink that appears later.
pub fn mr_forwarding(uplink: Option<&str>, inside: &[&str]) -> Result<()> {
    if !per_interface_forwarding() {
        tracing::info!("no per-interface IPv6 forwarding here: global forwarding, no optimistic DAD on the uplink");
        return enable_forwarding(uplink);
    }
    write("net.ipv4.ip_forward", "1")?;
    write("net.ipv6.conf.all.forwarding", "0")?;
    for ifname in inside {
        write(&conf(ifname, "forwarding"), "1")?;
        write(&conf(ifname, "force_forwarding"), "1")?;
    }
    if let Some(ifname) = uplink {
        write(&conf(ifname, "forwarding"), "0")?;
        write(&conf(ifname, "force_forwarding"), "1")?;
    }
    Ok(())
}

/// A home agent decapsulates on its home interface and usually forwards the inner packet
/// out of the same interface, which Linux takes as a reason to send an ICMP Redirect to the
/// inner source, a node behind the MR that can do nothing with it. No redirects from there.
pub fn no_redirects(ifname: &str) -> Result<()> {
    write("net.ipv4.conf.all.send_redirects", "0")?;
    write(&format!("net.ipv4.conf.{ifname}.send_redirects"), "0")
}

/// No IPv6 link-local address on `ifname` (set before it goes up): the TUN device would
/// otherwise get a random one and send MLD reports and router solicitations from it.
pub fn no_ipv6_link_local(ifname: &str) -> Result<()> {
    write(&conf(ifname, "addr_gen_mode"), "1")
}

/// A tunnel device of the ip6tnl backend, before it goes up: no IPv6 link-local address
/// (nothing of its own into the tunnel), and on a mobile router that forwards per interface
/// a router interface, as the mobile network side (what it decapsulates is forwarded).
pub fn tunnel_device(ifname: &str, mobile_router: bool) -> Result<()> {
    no_ipv6_link_local(ifname)?;
    if mobile_router && per_interface_forwarding() {
        write(&conf(ifname, "forwarding"), "1")?;
        write(&conf(ifname, "force_forwarding"), "1")?;
    }
    Ok(())
}

/// The veth pair of the oversize path (seg6 backend): no DAD and no Router Advertisements
/// on either end; the return end forwards and does no reverse-path filtering (what comes
/// back has the source of a host elsewhere).
pub fn oversize_link(link: &str, return_link: &str) -> Result<()> {
    for ifname in [link, return_link] {
        write(&conf(ifname, "accept_dad"), "0")?;
        write(&conf(ifname, "accept_ra"), "0")?;
    }
    write(&format!("net.ipv4.conf.{return_link}.rp_filter"), "0")?;
    if read("net.ipv4.conf.all.rp_filter")? == "1" {
        tracing::warn!("net.ipv4.conf.all.rp_filter is 1 (strict): oversized IPv4 packets coming back from the oversize path will be dropped");
    }
    write(&conf(return_link, "forwarding"), "1")?;
    if per_interface_forwarding() {
        write(&conf(return_link, "force_forwarding"), "1")?;
    }
    Ok(())
}
