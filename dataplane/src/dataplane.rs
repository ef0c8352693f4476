//! [`DataPlane`]: one per daemon, driven by the registration events of its role.

use crate::desired::{self, DesiredState, Links};
use crate::error::{Error, Result};
use crate::model::{HaBinding, MrRegistration, Role};
use crate::mss_clamp::{self, ClampSpec};
use crate::netlink::Netlink;
use crate::reconcile;
use crate::seg6_tunsrc;
use crate::tun::{RelayStats, TunRelay};
use crate::{sysctl, Backend};
use std::net::Ipv6Addr;

pub use crate::reconcile::ApplyReport;

/// IPv6 minimum link MTU: a tunnel smaller than this cannot carry IPv6 (RFC 8200).
const MIN_TUNNEL_MTU: u32 = 1280;

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
    backend: Backend,
    nl: Netlink,
    links: Links,
    relay: Option<TunRelay>,
    /// The clamp last written to nftables; `None` until the first apply.
    clamp: Option<Option<ClampSpec>>,
}

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
        let (relay, tun) = match backend {
            Backend::Seg6 => (None, None),
            Backend::Tun => {
                let relay = TunRelay::start(&tunnel.tun_name)?;
                let index = Netlink::ifindex(relay.device_name())?;
                nl.set_up_with_mtu(index, tunnel.tunnel_mtu()).await?;
                (Some(relay), Some(index))
            }
        };
        if let Role::Mr(c) = &role {
            let mut inside = vec![c.inside.as_str()];
            inside.extend(relay.as_ref().map(|r| r.device_name()));
            sysctl::mr_forwarding(Some(&c.uplink), &inside)?;
        }
        tracing::info!(role = role.name(), %backend, tunnel_mtu = tunnel.tunnel_mtu(), "data plane ready");
        Ok(Self {
            role,
            backend,
            nl,
            links: Links { egress, tun },
            relay,
            clamp: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Counters of the userspace relay (tun backend only).
    pub fn relay_stats(&self) -> Option<RelayStats> {
        self.relay.as_ref().map(TunRelay::stats)
    }

    /// MR: `Some` = registered with this binding, `None` = at home / deregistered.
    pub async fn apply_mr(&mut self, registration: Option<&MrRegistration>) -> Result<ApplyReport> {
        let Role::Mr(cfg) = &self.role else {
            return Err(Error::WrongRole { role: "MR" });
        };
        let state = desired::mr_state(cfg, self.backend, self.links, registration);
        self.apply(state).await
    }

    /// HA: the complete set of bindings that should have tunnel routes.
    pub async fn apply_ha(&mut self, bindings: &[HaBinding]) -> Result<ApplyReport> {
        let Role::Ha(cfg) = &self.role else {
            return Err(Error::WrongRole { role: "HA" });
        };
        let state = desired::ha_state(cfg, self.backend, self.links, bindings);
        self.apply(state).await
    }

    /// Removes everything this data plane installed (clean stop), restores the IPv6
    /// `lookup local` rule if it was moved, and closes the TUN device.
    pub async fn teardown(mut self) -> Result<()> {
        self.clamp = None;
        let report = self.apply(DesiredState::default()).await?;
        tracing::info!(?report, "data plane torn down");
        Ok(())
    }

    async fn apply(&mut self, state: DesiredState) -> Result<ApplyReport> {
        // Peers first: a route into the TUN device is only useful once the relay knows
        // where to send what it carries.
        if let Some(relay) = &self.relay {
            relay.set_peers(state.peers.clone());
        }
        // Before the routes: a new CoA is the outer source from the first packet on.
        let want = state.tunsrc.unwrap_or(Ipv6Addr::UNSPECIFIED);
        match self.backend {
            Backend::Seg6 => {
                if seg6_tunsrc::get()? != want {
                    seg6_tunsrc::set(want)?;
                    tracing::info!(tunsrc = %want, "seg6 tunnel source set");
                }
            }
            // Left over from an earlier run on seg6? Kernels without seg6 have nothing
            // to reset (the lookup fails), which is fine.
            Backend::Tun => {
                if seg6_tunsrc::get().is_ok_and(|cur| cur != want) {
                    seg6_tunsrc::set(want)?;
                }
            }
        }
        let report = reconcile::apply(&self.nl, &state.routes, &state.rules).await?;
        if self.clamp.as_ref() != Some(&state.clamp) {
            mss_clamp::apply(&self.role.tunnel().nft_table, state.clamp.as_ref())?;
            self.clamp = Some(state.clamp);
        }
        if report.changed() {
            tracing::info!(role = self.role.name(), ?report, "data plane updated");
        }
        Ok(report)
    }
}
