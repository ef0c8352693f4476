//! The backends and their contract.
//!
//! The desired state is backend-neutral (see [`crate::desired::Plan`]: per binding the
//! tunnel peer, our endpoint, the prefixes of both families with their MTU and source
//! restrictions; the at-home routes). A backend is one module here that turns it into
//! kernel state ([`Render`]: routes and rules, pure), keeps what lives beside the routes
//! ([`Tunnel`]: the seg6 tunnel source, the TUN relay, the BPF maps), finds what an earlier
//! run left (its `open`) and tears it down. Adding a backend: a module with both traits, a
//! variant of [`Backend`] with its availability check, and one line in [`open`].

mod bpf;
mod ip6tnl;
mod seg6;
mod tun;

use crate::desired::{DesiredState, Plan, RouteSpec, RuleSpec, TunnelRoute};
use crate::error::{Error, Result};
use crate::model::Role;
use crate::netlink::Netlink;
use crate::tun::{RelayStats, TunDevice};
use crate::BpfStats;
use futures::future::BoxFuture;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

#[cfg(test)]
pub(crate) use {bpf::BpfRender, ip6tnl::Ip6tnlRender, seg6::Seg6Render, tun::TunRender};

/// How a backend carries the backend-neutral plan in the kernel's routing: pure.
pub(crate) trait Render {
    /// The kernel route for one route into the tunnel; `configured_mtu` is the tunnel MTU
    /// of the configuration (a route's own MTU may be lower towards one peer).
    fn tunnel_route(&self, route: &TunnelRoute, egress: u32, configured_mtu: u32) -> RouteSpec;
    /// Routes and rules that decapsulate what `peers` send to `local`, delivering what is
    /// inside for `inner_local` to this node (seg6: seg6local routes; the others
    /// decapsulate outside the routing tables, before the node's own routing).
    fn decapsulation(
        &self,
        _local: Ipv6Addr,
        _peers: &[Ipv6Addr],
        _inner_local: &[Ipv6Addr],
        _egress: u32,
    ) -> Decap {
        Decap::default()
    }
    /// Rules wanted whatever is registered.
    fn base_rules(&self) -> Vec<RuleSpec> {
        Vec::new()
    }
    /// The namespace-wide outer source address the backend needs (seg6's tunsrc).
    fn tunnel_source(&self, _local: Ipv6Addr) -> Option<Ipv6Addr> {
        None
    }
    /// Whether oversized packets must be steered to the kernel's ICMP errors (the
    /// encapsulation would drop them silently, see `pmtu::oversize`).
    fn steers_oversize(&self) -> bool {
        false
    }
    /// Whether the tunnel routes go when nemonetd stops (they point into a device of the
    /// process): then a blackhole behind each keeps the packets from taking another route
    /// meanwhile (an HA's default route back towards where they came from: a loop).
    fn routes_go_with_the_process(&self) -> bool {
        false
    }
    /// Whether the encapsulation copies the inner hop limit into the outer header, so that
    /// the configured one must be set after it (`crate::hop_limit`).
    fn copies_inner_hop_limit(&self) -> bool {
        false
    }
}

/// Decapsulation routes and rules of a backend.
#[derive(Debug, Default)]
pub(crate) struct Decap {
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
}

/// A running backend: the state beside the routes.
pub(crate) trait Tunnel: Send {
    fn backend(&self) -> Backend;
    fn render(&self) -> &dyn Render;
    /// Makes what the routes of `plan` will go through, before they are rendered (ip6tnl:
    /// a device per binding, made or changed in place); what is no longer wanted stays
    /// until [`Tunnel::after_routes`].
    fn provision<'a>(&'a mut self, _nl: &'a Netlink, _plan: &'a Plan) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Brings the state beside the routes to `state` (the tunnel source, the relay's peers,
    /// the maps); runs before the routes change, so that a new route finds its peer.
    fn prepare(&mut self, state: &DesiredState) -> Result<()>;
    /// Removes, once the routes changed, what the last plan no longer wants (ip6tnl: the
    /// devices of bindings that went).
    fn after_routes<'a>(&'a mut self, _nl: &'a Netlink) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// A device whose MTU is the tunnel MTU (tun).
    fn device(&self) -> Option<(u32, &str)> {
        None
    }
    fn relay_stats(&self) -> Option<RelayStats> {
        None
    }
    fn bpf_stats(&self) -> Option<Result<BpfStats>> {
        None
    }
    /// Removes what the backend made beside the routes (after the routes are gone).
    fn teardown(self: Box<Self>) -> Result<()>;
}

/// Starts `backend` for `role` in the caller's namespace, adopting what an earlier run
/// left. `egress` is the uplink (MR) or home interface (HA).
pub(crate) async fn open(
    backend: Backend,
    role: &Role,
    nl: &Netlink,
    egress: (u32, &str),
) -> Result<Box<dyn Tunnel>> {
    if backend != Backend::Bpf {
        crate::bpf::sweep(&role.tunnel().bpf_root, egress.0);
    }
    if backend != Backend::Ip6tnl {
        // Before the TUN device, which may want the name of one of them.
        ip6tnl::sweep(nl).await?;
    }
    Ok(match backend {
        Backend::Seg6 => Box::new(seg6::Seg6Tunnel),
        Backend::Bpf => Box::new(bpf::BpfTunnel::open(role, egress)?),
        Backend::Ip6tnl => Box::new(ip6tnl::Ip6tnlTunnel::open(role, nl, egress.0).await?),
        Backend::Tun => Box::new(tun::TunTunnel::open(role, nl).await?),
    })
}

/// Scratch table for the probe routes (removed right after).
pub(crate) const PROBE_TABLE: u32 = 16899;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Kernel `seg6` encapsulation and `seg6local` End.DX4/End.DT6 decapsulation routes.
    Seg6,
    /// `encap bpf xmit` routes running our encapsulation program, and a tc ingress
    /// program on the uplink that decapsulates what registered peers send.
    Bpf,
    /// Linux's IPv6 tunnel devices (`ip -6 tunnel`, mode any), one per binding, with
    /// plain routes into them: encapsulation, decapsulation and the peer check in the
    /// kernel.
    Ip6tnl,
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
            .ok_or_else(|| {
                Error::Config(format!("unknown backend {s:?} (seg6, ip6tnl, bpf or tun)"))
            })
    }
}

impl Backend {
    /// Every backend, in the order `data-plane auto` tries them: kernel forwarding first,
    /// the userspace relay last. seg6 first: it needs no module loaded and no device per
    /// binding (probing ip6tnl loads ip6_tunnel, which puts an `ip6tnl0` in every namespace
    /// and makes the kernel answer stray tunnel packets). ip6tnl next, ahead of bpf: the
    /// kernel's own tunnel with no program of ours, on kernels bpf refuses (before 6.3).
    /// Measured in the stock-kernel VM (Debian 12, 6.1, TCG): seg6 and ip6tnl both pass
    /// every namespace test and the lab, lose nothing across a restart, 1-3 of 300 pings
    /// across a CoA change, and carry bulk TCP at the same rate within the emulation's noise.
    pub const ALL: [Backend; 4] = [Backend::Seg6, Backend::Ip6tnl, Backend::Bpf, Backend::Tun];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Seg6 => "seg6",
            Backend::Bpf => "bpf",
            Backend::Ip6tnl => "ip6tnl",
            Backend::Tun => "tun",
        }
    }

    /// Whether the backend uses the namespace's seg6 tunnel source, which is worth
    /// setting ahead of a registration (see [`crate::preset_tunnel_source`]).
    pub fn has_tunnel_source(self) -> bool {
        self == Backend::Seg6
    }

    /// The kernel configuration the backend needs, as an operator would look it up.
    pub fn requirement(self) -> &'static str {
        match self {
            Backend::Seg6 => "CONFIG_IPV6_SEG6_LWTUNNEL",
            Backend::Bpf => {
                "CONFIG_LWTUNNEL_BPF, CONFIG_NET_CLS_BPF, CONFIG_BPF_SYSCALL and Linux 6.3 or later"
            }
            Backend::Ip6tnl => "CONFIG_IPV6_TUNNEL",
            Backend::Tun => "CONFIG_TUN",
        }
    }

    /// Whether this kernel supports the backend (seg6: by installing and removing a
    /// scratch route of each kind; bpf: by loading the programs and installing a scratch
    /// route that runs one; ip6tnl: by making and deleting a scratch device; tun: by
    /// opening /dev/net/tun).
    pub async fn available(self) -> bool {
        self.unavailable_because().await.is_none()
    }

    /// `None` when the backend works here, else why not (for the log).
    pub async fn unavailable_because(self) -> Option<String> {
        match self {
            Backend::Seg6 => seg6::works().await.err(),
            Backend::Bpf => crate::bpf::works().await.err(),
            Backend::Ip6tnl => ip6tnl::works().await.err(),
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
