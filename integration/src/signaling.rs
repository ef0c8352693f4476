//! The smallest network for signaling tests: a home agent and a mobile router joined by an
//! IPv6-only link, the MR away from home.
//!
//! ```text
//!   HA  home0 2001:db8:1::1/64 (the home link)    up0 2001:db8:200::1/64
//!                                                   |
//!   MR                                        eth0 2001:db8:200::5/64, default via ::1
//! ```

use crate::Netns;
use anyhow::Result;

pub const HA: &str = "2001:db8:1::1";
pub const COA: &str = "2001:db8:200::5";

/// Builds the two namespaces (names start with `prefix`).
pub fn ha_and_mr(prefix: &str) -> Result<(Netns, Netns)> {
    let ha = Netns::new(&format!("{prefix}h"))?;
    let mr = Netns::new(&format!("{prefix}m"))?;
    ha.sh(&format!(
        "ip link add home0 type veth peer name home0p && ip link set home0 up && \
         ip link set home0p up && ip -6 addr add {HA}/64 dev home0 nodad"
    ))?;
    ha.veth("up0", &mr, "eth0")?;
    ha.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:200::1/64",
        "dev",
        "up0",
        "nodad",
    ])?;
    ha.sysctl("net.ipv6.conf.all.forwarding=1")?;
    mr.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{COA}/64"),
        "dev",
        "eth0",
        "nodad",
    ])?;
    mr.ip(&["-6", "route", "add", "default", "via", "2001:db8:200::1"])?;
    Ok((ha, mr))
}
