//! Backend choice: kernel seg6 lightweight tunnels, BPF programs, or the userspace TUN relay.

use crate::desired::{RouteAction, RouteSpec, METRIC_V6};
use crate::error::{Error, Result};
use crate::netlink::{route_message, Netlink};
use crate::tun::TunDevice;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Scratch table for the probe routes (removed right after).
pub(crate) const PROBE_TABLE: u32 = 16899;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Kernel `seg6` encapsulation and `seg6local` End.DX4/End.DX6 decapsulation routes.
    Seg6,
    /// `encap bpf xmit` routes running our encapsulation program, and a tc ingress
    /// program on the uplink that decapsulates what registered peers send.
    Bpf,
    /// A TUN device and a userspace relay on raw sockets.
    Tun,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| Error::Config(format!("unknown backend {s:?} (seg6, bpf or tun)")))
    }
}

impl Backend {
    /// Every backend, in the order `data-plane auto` tries them: kernel forwarding first
    /// (seg6 needs no program of ours), the userspace relay last.
    pub const ALL: [Backend; 3] = [Backend::Seg6, Backend::Bpf, Backend::Tun];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Seg6 => "seg6",
            Backend::Bpf => "bpf",
            Backend::Tun => "tun",
        }
    }

    /// The kernel configuration the backend needs, as an operator would look it up.
    pub fn requirement(self) -> &'static str {
        match self {
            Backend::Seg6 => "CONFIG_IPV6_SEG6_LWTUNNEL",
            Backend::Bpf => "CONFIG_LWTUNNEL_BPF, CONFIG_NET_CLS_BPF and CONFIG_BPF_SYSCALL",
            Backend::Tun => "CONFIG_TUN",
        }
    }

    /// Whether this kernel supports the backend (seg6: by installing and removing a
    /// scratch route of each kind; bpf: by loading the programs and installing a scratch
    /// route that runs one; tun: by opening /dev/net/tun).
    pub async fn available(self) -> bool {
        self.unavailable_because().await.is_none()
    }

    /// `None` when the backend works here, else why not (for the log).
    pub async fn unavailable_because(self) -> Option<String> {
        match self {
            Backend::Seg6 => seg6_works().await.err(),
            Backend::Bpf => crate::bpf::works().await.err(),
            Backend::Tun => (!TunDevice::available()).then(|| "cannot open /dev/net/tun".into()),
        }
        .map(|why| format!("{why} (needs {})", self.requirement()))
    }
}

/// The backend to use: `forced` if given and available, else the first of
/// [`Backend::ALL`] that works here. Logs the choice and why each skipped one was skipped.
pub async fn probe(forced: Option<Backend>) -> Result<Backend> {
    let candidates: &[Backend] = match &forced {
        Some(b) => std::slice::from_ref(b),
        None => &Backend::ALL,
    };
    let mut reasons = Vec::new();
    for &b in candidates {
        match b.unavailable_because().await {
            None => {
                tracing::info!(backend = %b, forced = forced.is_some(), "data plane backend");
                return Ok(b);
            }
            Some(why) => {
                tracing::info!(backend = %b, reason = %why, "backend not available");
                reasons.push(format!("{b}: {why}"));
            }
        }
    }
    Err(Error::BackendUnavailable(reasons.join("; ")))
}

async fn seg6_works() -> std::result::Result<(), String> {
    if !Path::new("/proc/sys/net/ipv6/conf/all/seg6_enabled").exists() {
        return Err("no /proc/sys/net/ipv6/conf/all/seg6_enabled".into());
    }
    let nl = Netlink::connect().map_err(|e| e.to_string())?;
    let lo = Netlink::ifindex("lo").map_err(|e| e.to_string())?;
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
    let mut result = Ok(());
    for spec in [&encap, &decap] {
        if let Err(e) = nl.replace_route(spec).await {
            tracing::debug!(error = %e, "seg6 probe route refused");
            result = Err(format!("the kernel refused a seg6 route: {e}"));
        }
        let _ = nl.delete_route(route_message(spec)).await;
    }
    result
}
