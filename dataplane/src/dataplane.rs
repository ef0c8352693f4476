//! [`DataPlane`]: one per daemon, driven by the registration events of its role.

use crate::backend::Tunnel;
use crate::bpf::BpfStats;
use crate::desired::{self, DesiredState, Links, Plan, RouteAction};
use crate::error::{Error, Result};
use crate::hop_limit::{self, HopLimitSpec};
use crate::model::{HaBinding, HomeRouter, MrRegistration, Role, TunnelSettings};
use crate::mss_clamp::{self, ClampSpec};
use crate::netlink::Netlink;
use crate::pmtu::icmp::{self, OuterPtb, OuterUnreachable};
use crate::pmtu::oversize::{self, OversizeSpec};
use crate::pmtu::socket;
use crate::reconcile;
use crate::tun::RelayStats;
use crate::{sysctl, Backend};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;

pub use crate::reconcile::ApplyReport;

/// IPv6 minimum link MTU: a tunnel smaller than this cannot carry IPv6 (RFC 8200).
const MIN_TUNNEL_MTU: u32 = 1280;

/// The last state applied successfully, to apply again when the tunnel MTU changes and to
/// tell our tunnel packets from others.
#[derive(Debug, Clone)]
enum Applied {
    Mr(Option<MrRegistration>),
    /// The MR at home: no tunnel.
    MrHome,
    Ha(Vec<HaBinding>, Vec<HomeRouter>),
}

/// The installed data plane of one MR or HA.
///
/// Every `apply_*` call states the complete desired state and reconciles the kernel to
/// it, so the same call serves start-up after a restart (keeps what is installed), a CoA
/// change (replaces routes in place, adds the new decapsulation before removing the old)
/// and removal. Dropping the value without [`DataPlane::teardown`] is the graceful stop:
/// seg6 routes stay and keep forwarding (the TUN device of the tun backend goes with
/// the process, and its routes with it).
pub struct DataPlane {
    role: Role,
    nl: Netlink,
    links: Links,
    /// The backend: what turns the plan into kernel state and keeps what lives beside
    /// the routes.
    tunnel: Box<dyn Tunnel>,
    /// The clamp last written to nftables; `None` until the first apply.
    clamp: Option<Option<ClampSpec>>,
    /// The oversize path last installed; `None` until the first apply.
    oversize: Option<Option<OversizeSpec>>,
    /// The outer hop limit rule last written (seg6); `None` until the first apply.
    hop_limit: Option<Option<HopLimitSpec>>,
    /// What the kernel was last made equal to: set only when an apply succeeded, so that
    /// after a failure it still says what is installed.
    applied: Option<Applied>,
    /// The configured path MTU (`tunnel-mtu` + 40); `role.tunnel().path_mtu` is the one in
    /// force, lower while a Packet Too Big stands (MR).
    configured_path_mtu: u32,
    /// HA: path MTUs lowered by Packet Too Big, per care-of address (the others use the
    /// configured one). An MR has one peer and lowers its whole tunnel instead.
    peer_path_mtu: BTreeMap<Ipv6Addr, u32>,
    unreachables: ratelimit::PerSecond,
}

/// Relayed unreachables a second at most: the kernel limits its own ICMP errors, but not
/// the ones we send on a raw socket.
pub const UNREACHABLE_PER_SECOND: u32 = 100;

impl DataPlane {
    /// Prepares the data plane in the caller's network namespace: forwarding on, the TUN
    /// device and relay for the tun backend. Installs no routes until the first apply.
    ///
    /// Must run inside a tokio runtime (the netlink connection task is spawned on it).
    /// The calls are meant for one owner task: they also do short blocking work (sysctl
    /// writes, one `nft -f -` when the clamp changes). After an error, applying the same
    /// state again converges (every apply is a full reconciliation).
    pub async fn new(role: Role, backend: Backend) -> Result<Self> {
        let tunnel = role.tunnel().clone();
        tunnel.validate().map_err(Error::Config)?;
        if tunnel.tunnel_mtu() < MIN_TUNNEL_MTU {
            return Err(Error::Config(format!(
                "path MTU {} leaves a tunnel MTU below {MIN_TUNNEL_MTU}",
                tunnel.path_mtu
            )));
        }
        let nl = Netlink::connect()?;
        let egress_name = match &role {
            Role::Mr(c) => c.uplink.as_str(),
            Role::Ha(c) => c.home_if.as_str(),
        };
        let egress = Netlink::ifindex(egress_name)?;
        if let Role::Mr(c) = &role {
            // Fail at start, not at the first registration, on a misspelt interface.
            Netlink::ifindex(&c.inside)?;
        }
        if let Role::Ha(c) = &role {
            sysctl::enable_forwarding(None)?;
            sysctl::no_redirects(&c.home_if)?;
        }
        let tunnel_backend =
            crate::backend::open(backend, &role, &nl, (egress, egress_name)).await?;
        crate::tunnel_errors::install(&crate::tunnel_errors::table(&tunnel.nft_table))?;
        if let Role::Mr(c) = &role {
            let mut inside = vec![c.inside.as_str()];
            inside.extend(tunnel_backend.device().map(|(_, name)| name));
            sysctl::mr_forwarding(Some(&c.uplink), &inside)?;
        }
        tracing::info!(role = role.name(), %backend, tunnel_mtu = tunnel.tunnel_mtu(), "data plane ready");
        Ok(Self {
            role,
            nl,
            links: Links { egress },
            tunnel: tunnel_backend,
            clamp: None,
            oversize: None,
            hop_limit: None,
            applied: None,
            configured_path_mtu: tunnel.path_mtu,
            peer_path_mtu: BTreeMap::new(),
            unreachables: ratelimit::PerSecond::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.tunnel.backend()
    }

    /// Counters of the userspace relay (tun backend only).
    pub fn relay_stats(&self) -> Option<RelayStats> {
        self.tunnel.relay_stats()
    }

    /// Counters of the bpf programs (bpf backend only).
    pub fn bpf_stats(&self) -> Option<Result<BpfStats>> {
        self.tunnel.bpf_stats()
    }

    /// The kernel state of `plan` on this backend, once what its routes go through exists
    /// (the ip6tnl devices).
    async fn render(&mut self, plan: &Plan) -> Result<DesiredState> {
        self.tunnel.provision(&self.nl, plan).await?;
        Ok(desired::render(
            plan,
            self.tunnel.render(),
            self.links,
            self.role.tunnel().tunnel_mtu(),
        ))
    }

    /// MR: `Some` = registered with this binding, `None` = at home / deregistered.
    pub async fn apply_mr(&mut self, registration: Option<&MrRegistration>) -> Result<ApplyReport> {
        if !matches!(self.role, Role::Mr(_)) {
            return Err(Error::WrongRole { role: "MR" });
        }
        let new_path = registration.is_some_and(
            |r| !matches!(&self.applied, Some(Applied::Mr(Some(a))) if a.coa == r.coa),
        );
        if new_path && self.role.tunnel().path_mtu != self.configured_path_mtu {
            // Another care-of address is another path: it starts from the configured MTU
            // (a narrow link on it will say so).
            self.role.tunnel_mut().path_mtu = self.configured_path_mtu;
            tracing::info!(
                path_mtu = self.configured_path_mtu,
                "new care-of address: the configured path MTU again"
            );
            if let Some((device, _)) = self.tunnel.device() {
                self.nl.set_up_with_mtu(device, self.tunnel_mtu()).await?;
            }
        }
        let Role::Mr(cfg) = &self.role else {
            unreachable!("checked above");
        };
        let plan = desired::mr_plan(cfg, registration);
        let state = self.render(&plan).await?;
        let report = self.apply(state).await?;
        self.applied = Some(Applied::Mr(registration.cloned()));
        Ok(report)
    }

    /// MR on its home link: the tunnel goes; IPv4 goes to the home agent `ha` on the home
    /// link (an IPv6 next hop), replacing the tunnel's IPv4 default route in place.
    pub async fn apply_mr_home(&mut self, ha: Ipv6Addr) -> Result<ApplyReport> {
        let Role::Mr(cfg) = &self.role else {
            return Err(Error::WrongRole { role: "MR" });
        };
        let plan = desired::mr_home_plan(cfg, self.links, ha);
        let state = self.render(&plan).await?;
        let report = self.apply(state).await?;
        self.applied = Some(Applied::MrHome);
        Ok(report)
    }

    /// HA: the complete set of bindings that should have tunnel routes.
    pub async fn apply_ha(&mut self, bindings: &[HaBinding]) -> Result<ApplyReport> {
        self.apply_ha_with_home(bindings, &[]).await
    }

    /// HA: the bindings, and the mobile routers at home whose prefixes are routed to their
    /// home addresses on the home link.
    pub async fn apply_ha_with_home(
        &mut self,
        bindings: &[HaBinding],
        at_home: &[HomeRouter],
    ) -> Result<ApplyReport> {
        let Role::Ha(cfg) = &self.role else {
            return Err(Error::WrongRole { role: "HA" });
        };
        // A care-of address that is gone takes its path MTU with it: a new one is another
        // path, which starts from the configured MTU.
        self.peer_path_mtu
            .retain(|coa, _| bindings.iter().any(|b| b.coa == *coa));
        let plan = desired::ha_plan(cfg, self.links, bindings, at_home, &self.peer_path_mtu);
        let state = self.render(&plan).await?;
        let report = self.apply(state).await?;
        self.applied = Some(Applied::Ha(bindings.to_vec(), at_home.to_vec()));
        Ok(report)
    }

    /// HA: the mobile routers at home according to the kernel (our routes to a home
    /// address on the home link), so that a restarted nemonetd keeps routing them.
    pub async fn home_routers_installed(&self) -> Result<Vec<HomeRouter>> {
        let mut found: BTreeMap<Ipv6Addr, HomeRouter> = BTreeMap::new();
        for (_, spec) in self.nl.our_routes().await? {
            let Some(spec) = spec else { continue };
            let RouteAction::Via { gateway } = spec.action else {
                continue;
            };
            if spec.table != desired::MAIN_TABLE || spec.oif != self.links.egress {
                continue;
            }
            let entry = found.entry(gateway).or_insert_with(|| HomeRouter {
                hoa: gateway,
                mnp6: Vec::new(),
                mnp4: Vec::new(),
            });
            match spec.dst {
                ipnet::IpNet::V4(p) => entry.mnp4.push(p),
                ipnet::IpNet::V6(p) => entry.mnp6.push(p),
            }
        }
        Ok(found.into_values().collect())
    }

    /// The current tunnel MTU (path MTU minus the outer header).
    pub fn tunnel_mtu(&self) -> u32 {
        self.role.tunnel().tunnel_mtu()
    }

    /// The configured path MTU (what [`TunnelSettings::path_mtu`] was at start), which a
    /// Packet Too Big lowers for a while and [`DataPlane::restore_path_mtu`] restores.
    pub fn configured_path_mtu(&self) -> u32 {
        self.configured_path_mtu
    }

    /// Back to the configured path MTU: the whole tunnel on an MR, the tunnel towards the
    /// mobile router at `coa` on an HA. False when nothing changed (not lowered, or the
    /// binding moved on).
    pub async fn restore_path_mtu(&mut self, coa: Option<Ipv6Addr>) -> Result<bool> {
        match (&self.role, coa) {
            (Role::Ha(_), Some(coa)) => self.set_peer_path_mtu(coa, None).await,
            (Role::Ha(_), None) => Ok(false),
            (Role::Mr(_), _) => self.set_path_mtu(self.configured_path_mtu).await,
        }
    }

    /// Changes the path MTU between the tunnel endpoints at run time: route MTUs, the TUN
    /// device or the oversize path, the MSS clamp follow. False when nothing changed.
    pub async fn set_path_mtu(&mut self, path_mtu: u32) -> Result<bool> {
        if path_mtu.saturating_sub(TunnelSettings::ENCAP_OVERHEAD) < MIN_TUNNEL_MTU {
            return Err(Error::Config(format!(
                "path MTU {path_mtu} leaves a tunnel MTU below {MIN_TUNNEL_MTU}"
            )));
        }
        if self.role.tunnel().path_mtu == path_mtu {
            return Ok(false);
        }
        self.role.tunnel_mut().path_mtu = path_mtu;
        let mtu = self.tunnel_mtu();
        tracing::info!(path_mtu, tunnel_mtu = mtu, "tunnel MTU changed");
        if let Some((device, _)) = self.tunnel.device() {
            self.nl.set_up_with_mtu(device, mtu).await?;
        }
        match self.applied.clone() {
            Some(Applied::Mr(reg)) => {
                self.apply_mr(reg.as_ref()).await?;
            }
            Some(Applied::Ha(bindings, at_home)) => {
                self.apply_ha_with_home(&bindings, &at_home).await?;
            }
            Some(Applied::MrHome) | None => {}
        }
        Ok(true)
    }

    /// An ICMPv6 Packet Too Big from the access network (RFC 2473 section 8): when it is
    /// about a packet of our tunnel (outer source our endpoint, destination a registered
    /// peer) the path MTU drops to the reported value (but never leaves a tunnel MTU below
    /// 1280) and the inner sender is told the new tunnel MTU. Returns the tunnel MTU then
    /// in force, `None` for a message about something else.
    pub async fn outer_packet_too_big(&mut self, ptb: &OuterPtb) -> Result<Option<u32>> {
        if !self.is_our_tunnel(ptb.outer_src, ptb.outer_dst) {
            tracing::debug!(src = %ptb.outer_src, dst = %ptb.outer_dst, "packet too big about no tunnel of ours");
            return Ok(None);
        }
        let floor = MIN_TUNNEL_MTU + TunnelSettings::ENCAP_OVERHEAD;
        let mtu = match self.role {
            Role::Mr(_) => {
                let path_mtu = ptb.mtu.clamp(floor, self.role.tunnel().path_mtu);
                self.log_ptb(ptb, path_mtu);
                self.set_path_mtu(path_mtu).await?;
                self.tunnel_mtu()
            }
            // Only the tunnel to that mobile router narrows: the others' paths are theirs.
            Role::Ha(_) => {
                let current = self.peer_path_mtu(ptb.outer_dst);
                let path_mtu = ptb.mtu.clamp(floor, current);
                self.log_ptb(ptb, path_mtu);
                self.set_peer_path_mtu(ptb.outer_dst, Some(path_mtu))
                    .await?;
                self.peer_tunnel_mtu(ptb.outer_dst)
            }
        };
        if let Some((dst, msg)) = icmp::error_for_inner(&ptb.inner, mtu) {
            match socket::send_error(dst, &msg) {
                Ok(()) => {
                    tracing::info!(to = %dst, tunnel_mtu = mtu, "relayed the packet too big to the inner sender")
                }
                Err(e) => tracing::warn!(to = %dst, error = %e, "relaying the packet too big"),
            }
        }
        Ok(Some(mtu))
    }

    /// Whether a packet from `outer_src` to `outer_dst` is one of our tunnel packets: from
    /// our endpoint to a registered peer.
    fn is_our_tunnel(&self, outer_src: Ipv6Addr, outer_dst: Ipv6Addr) -> bool {
        match (&self.applied, &self.role) {
            (Some(Applied::Mr(Some(reg))), _) => outer_src == reg.coa && outer_dst == reg.ha,
            (Some(Applied::Ha(bindings, _)), Role::Ha(cfg)) => {
                outer_src == cfg.ha_addr && bindings.iter().any(|b| b.coa == outer_dst)
            }
            _ => false,
        }
    }

    /// A Destination Unreachable or Time Exceeded from the access network about one of our
    /// tunnel packets (RFC 2473 section 8.1): the inner sender is told its destination is
    /// unreachable (ICMPv4 host / ICMPv6 address unreachable), at most
    /// [`UNREACHABLE_PER_SECOND`] a second (`now`: when the message came). True when
    /// relayed. The binding stays: the registration's own refreshes decide whether the peer
    /// is gone.
    pub fn outer_unreachable(&mut self, e: &OuterUnreachable, now: std::time::Instant) -> bool {
        if !self.is_our_tunnel(e.outer_src, e.outer_dst) {
            tracing::debug!(src = %e.outer_src, dst = %e.outer_dst, "unreachable about no tunnel of ours");
            return false;
        }
        let Some((dst, msg)) = icmp::unreachable_for_inner(&e.inner) else {
            return false;
        };
        if !self.unreachables.allow(now, UNREACHABLE_PER_SECOND) {
            return false;
        }
        match socket::send_error(dst, &msg) {
            Ok(()) => {
                tracing::info!(
                    peer = %e.outer_dst,
                    to = %dst,
                    icmp_type = e.icmp_type,
                    code = e.code,
                    "tunnel peer unreachable: told the inner sender"
                );
                true
            }
            Err(err) => {
                tracing::warn!(to = %dst, error = %err, "relaying an unreachable");
                false
            }
        }
    }

    fn log_ptb(&self, ptb: &OuterPtb, path_mtu: u32) {
        tracing::info!(
            reported = ptb.mtu,
            peer = %ptb.outer_dst,
            path_mtu,
            "packet too big from inside the tunnel"
        );
    }

    /// HA: the path MTU towards the mobile router at `coa` (the configured one unless a
    /// Packet Too Big lowered it).
    pub fn peer_path_mtu(&self, coa: Ipv6Addr) -> u32 {
        let configured = self.role.tunnel().path_mtu;
        self.peer_path_mtu
            .get(&coa)
            .map_or(configured, |m| (*m).min(configured))
    }

    /// HA: the tunnel MTU towards the mobile router at `coa`.
    pub fn peer_tunnel_mtu(&self, coa: Ipv6Addr) -> u32 {
        desired::tunnel_mtu_towards(self.role.tunnel(), &self.peer_path_mtu, coa)
    }

    /// HA: sets (`None`: back to the configured one) the path MTU towards the mobile router
    /// at `coa`: its routes, clamp and oversize rules follow; the other bindings keep
    /// theirs. False when nothing changed.
    pub async fn set_peer_path_mtu(
        &mut self,
        coa: Ipv6Addr,
        path_mtu: Option<u32>,
    ) -> Result<bool> {
        let Role::Ha(_) = self.role else {
            return Err(Error::WrongRole { role: "HA" });
        };
        if let Some(m) = path_mtu {
            if m.saturating_sub(TunnelSettings::ENCAP_OVERHEAD) < MIN_TUNNEL_MTU {
                return Err(Error::Config(format!(
                    "path MTU {m} leaves a tunnel MTU below {MIN_TUNNEL_MTU}"
                )));
            }
        }
        let before = self.peer_path_mtu(coa);
        match path_mtu {
            Some(m) if m < self.role.tunnel().path_mtu => {
                self.peer_path_mtu.insert(coa, m);
            }
            _ => {
                self.peer_path_mtu.remove(&coa);
            }
        }
        if self.peer_path_mtu(coa) == before {
            return Ok(false);
        }
        tracing::info!(
            peer = %coa,
            path_mtu = self.peer_path_mtu(coa),
            tunnel_mtu = self.peer_tunnel_mtu(coa),
            "tunnel MTU towards one mobile router changed"
        );
        if let Some(Applied::Ha(bindings, at_home)) = self.applied.clone() {
            self.apply_ha_with_home(&bindings, &at_home).await?;
        }
        Ok(true)
    }

    /// Removes everything this data plane installed (clean stop), restores the IPv6
    /// `lookup local` rule if it was moved, and closes the TUN device.
    pub async fn teardown(mut self) -> Result<()> {
        self.clamp = None;
        self.oversize = None;
        self.hop_limit = None;
        self.tunnel.provision(&self.nl, &Plan::default()).await?;
        let report = self.apply(DesiredState::default()).await?;
        // After the routes: they may hold what the backend made (a bpf program).
        self.tunnel.teardown()?;
        crate::tunnel_errors::remove(&crate::tunnel_errors::table(&self.role.tunnel().nft_table))?;
        tracing::info!(?report, "data plane torn down");
        Ok(())
    }

    async fn apply(&mut self, state: DesiredState) -> Result<ApplyReport> {
        self.tunnel.prepare(&state)?;
        let report = reconcile::apply(&self.nl, &state.routes, &state.rules).await?;
        self.tunnel.after_routes(&self.nl).await?;
        if self.clamp.as_ref() != Some(&state.clamp) {
            mss_clamp::apply(&self.role.tunnel().nft_table, state.clamp.as_ref())?;
            self.clamp = Some(state.clamp);
        }
        if self.oversize.as_ref() != Some(&state.oversize) {
            let table = oversize::nft_table(&self.role.tunnel().nft_table);
            match &state.oversize {
                Some(spec) => oversize::install(&self.nl, spec, &table).await?,
                None => oversize::remove(&self.nl, &table).await?,
            }
            self.oversize = Some(state.oversize);
        }
        let hop_limit = self
            .tunnel
            .render()
            .copies_inner_hop_limit()
            .then_some(state.peers.local)
            .flatten()
            .map(|local| HopLimitSpec {
                local,
                hop_limit: self.role.tunnel().hop_limit,
            });
        if self.hop_limit.as_ref() != Some(&hop_limit) {
            let table = hop_limit::nft_table(&self.role.tunnel().nft_table);
            hop_limit::apply(&table, hop_limit.as_ref())?;
            self.hop_limit = Some(hop_limit);
        }
        if report.changed() {
            tracing::info!(role = self.role.name(), ?report, "data plane updated");
        }
        Ok(report)
    }
}
