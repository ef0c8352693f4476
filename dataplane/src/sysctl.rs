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
