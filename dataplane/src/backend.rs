//! Backend choice: kernel seg6 lightweight tunnels, or the userspace TUN relay.

use crate::desired::{RouteAction, RouteSpec, METRIC_V6};
use crate::error::{Error, Result};
use crate::netlink::{route_message, Netlink};
use crate::tun::TunDevice;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Scratch table for the seg6 probe routes (removed right after).
const PROBE_TABLE: u32 = 16899;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Kernel `seg6` encapsulation and `seg6local` End.DX4/End.DX6 decapsulation routes.
    Seg6,
    /// A TUN device and a userspace relay on raw sockets.
    Tun,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Backend::Seg6 => "seg6",
            Backend::Tun => "tun",
        })
    }
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "seg6" => Ok(Backend::Seg6),
            "tun" => Ok(Backend::Tun),
            other => Err(Error::Config(format!(
                "unknown backend {other:?} (seg6 or tun)"
            ))),
        }
    }
}

impl Backend {
    /// Whether this kernel supports the backend (seg6: by installing and removing a
    /// scratch route of each kind; tun: by opening /dev/net/tun).
    pub async fn available(self) -> bool {
        match self {
            Backend::Seg6 => seg6_works().await,
            Backend::Tun => TunDevice::available(),
        }
    }
}

/// The backend to use: `forced` if given and available, else seg6 where the kernel has
/// it, else tun. Logs the choice.
pub async fn probe(forced: Option<Backend>) -> Result<Backend> {
    let candidates: &[Backend] = match &forced {
        Some(b) => std::slice::from_ref(b),
        None => &[Backend::Seg6, Backend::Tun],
    };
    for &b in candidates {
        if b.available().await {
            tracing::info!(backend = %b, forced = forced.is_some(), "data plane backend");
            return Ok(b);
        }
        tracing::info!(backend = %b, "backend not available");
    }
    Err(Error::BackendUnavailable(match forced {
        Some(Backend::Seg6) => "seg6",
        Some(Backend::Tun) => "tun",
        None => "seg6 or tun",
    }))
}

async fn seg6_works() -> bool {
    if !Path::new("/proc/sys/net/ipv6/conf/all/seg6_enabled").exists() {
        return false;
    }
    let (Ok(nl), Ok(lo)) = (Netlink::connect(), Netlink::ifindex("lo")) else {
        return false;
    };
    let probe = |dst: &str, action| RouteSpec {
        table: PROBE_TABLE,
        dst: dst.parse().unwrap_or_default(),
        src: None,
        metric: METRIC_V6,
        oif: lo,
        prefsrc: None,
        mtu: None,
        mtu_lock: false,
        action,
    };
    // 100::/64 is the discard-only prefix (RFC 6666): harmless even if a probe leaks.
    let encap = probe(
        "100::/128",
        RouteAction::Seg6Encap {
            peer: "100::1".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST),
        },
    );
    let decap = probe("100::2/128", RouteAction::DecapIpv4);
    let mut ok = true;
    for spec in [&encap, &decap] {
        if let Err(e) = nl.replace_route(spec).await {
            tracing::debug!(error = %e, "seg6 probe route refused");
            ok = false;
        }
        let _ = nl.delete_route(route_message(spec)).await;
    }
    ok
}
