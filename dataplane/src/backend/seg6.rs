//! seg6: the kernel's seg6 lightweight tunnels. `encap seg6 mode encap.red` with one
//! segment is a bare outer IPv6 header (RFC 2473 on the wire); seg6local End.DX4/End.DT6
//! routes decapsulate, selected by `ipproto` rules to our endpoint ahead of the local table.
//! The outer source is the namespace's `ip sr tunsrc`.

use super::{Backend, Decap, Render, Tunnel};
use crate::desired::{
    host6, DesiredState, RouteAction, RouteSpec, RuleSpec, TunnelRoute, IPPROTO_IPIP, IPPROTO_IPV6,
    MAIN_TABLE, METRIC_V6,
};
use crate::error::Result;
use crate::netlink::{route_message, Netlink};
use crate::{seg6_tunsrc, DECAP_IPV4_TABLE, DECAP_IPV6_TABLE, DECAP_RULE_PREF};
use ipnet::IpNet;
use std::net::Ipv6Addr;
use std::path::Path;

/// `lo` is always interface 1.
const LOOPBACK_IFINDEX: u32 = 1;
/// Metric of the local routes End.DT6 finds (IPv6 takes 0 as 1024).
const LOCAL_METRIC: u32 = 1;

pub(crate) struct Seg6Render;

impl Render for Seg6Render {
    fn tunnel_route(&self, route: &TunnelRoute, egress: u32, _configured_mtu: u32) -> RouteSpec {
        route.spec(egress, RouteAction::Seg6Encap { peer: route.peer }, false)
    }

    fn decapsulation(
        &self,
        local: Ipv6Addr,
        peers: &[Ipv6Addr],
        inner_local: &[Ipv6Addr],
        egress: u32,
    ) -> Decap {
        let mut decap = Decap::default();
        // End.DT6 looks the inner destination up in the main table alone: our own
        // addresses in there as local routes, or they would be forwarded (or dropped).
        for addr in inner_local {
            decap.routes.push(RouteSpec {
                table: MAIN_TABLE,
                dst: IpNet::V6(host6(*addr)),
                src: None,
                // Ahead of the kernel's own route to an address on lo (`dev lo metric 256`),
                // which would forward the packet instead of delivering it.
                metric: LOCAL_METRIC,
                oif: LOOPBACK_IFINDEX,
                prefsrc: None,
                mtu: None,
                mtu_lock: false,
                action: RouteAction::Local,
            });
        }
        let local_net = host6(local);
        for peer in peers {
            for (table, action) in [
                (DECAP_IPV4_TABLE, RouteAction::DecapIpv4),
                (DECAP_IPV6_TABLE, RouteAction::DecapIpv6),
            ] {
                decap.routes.push(RouteSpec {
                    table,
                    dst: IpNet::V6(local_net),
                    src: Some(host6(*peer)),
                    metric: METRIC_V6,
                    oif: egress,
                    prefsrc: None,
                    mtu: None,
                    mtu_lock: false,
                    action,
                });
            }
        }
        if !peers.is_empty() {
            for (table, proto) in [
                (DECAP_IPV4_TABLE, IPPROTO_IPIP),
                (DECAP_IPV6_TABLE, IPPROTO_IPV6),
            ] {
                decap.rules.push(RuleSpec {
                    pref: DECAP_RULE_PREF,
                    ipproto: Some(proto),
                    dst: Some(local_net),
                    table,
                });
            }
        }
        decap
    }

    /// The kernel's `pref 0 lookup local` would deliver tunnel packets to our endpoint
    /// before the decapsulation rules see them: it moves behind them for good.
    fn base_rules(&self) -> Vec<RuleSpec> {
        vec![RuleSpec::moved_local()]
    }

    fn tunnel_source(&self, local: Ipv6Addr) -> Option<Ipv6Addr> {
        Some(local)
    }

    /// The seg6 encapsulation drops packets that no longer fit without a word.
    fn steers_oversize(&self) -> bool {
        true
    }

    /// seg6_do_srh_encap copies the inner hop limit (IPv6 inside).
    fn copies_inner_hop_limit(&self) -> bool {
        true
    }
}

pub(crate) struct Seg6Tunnel;

impl Tunnel for Seg6Tunnel {
    fn backend(&self) -> Backend {
        Backend::Seg6
    }

    fn render(&self) -> &dyn Render {
        &Seg6Render
    }

    /// Before the routes: a new CoA is the outer source from the first packet on.
    fn prepare(&mut self, state: &DesiredState) -> Result<()> {
        let want = state.tunsrc.unwrap_or(Ipv6Addr::UNSPECIFIED);
        if seg6_tunsrc::get()? != want {
            seg6_tunsrc::set(want)?;
            tracing::info!(tunsrc = %want, "seg6 tunnel source set");
        }
        Ok(())
    }

    /// The routes, rules and tunnel source went with the last (empty) apply.
    fn teardown(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Resets a seg6 tunnel source left by an earlier run on seg6 (another backend now owns
/// the namespace). Kernels without seg6 have nothing to reset (the lookup fails).
pub(crate) fn reset_leftover_tunnel_source() -> Result<()> {
    if seg6_tunsrc::get().is_ok_and(|cur| !cur.is_unspecified()) {
        seg6_tunsrc::set(Ipv6Addr::UNSPECIFIED)?;
    }
    Ok(())
}

/// Whether seg6 works here: a scratch route of each kind is installed and removed.
pub(crate) async fn works() -> std::result::Result<(), String> {
    if !Path::new("/proc/sys/net/ipv6/conf/all/seg6_enabled").exists() {
        return Err("no /proc/sys/net/ipv6/conf/all/seg6_enabled".into());
    }
    let nl = Netlink::connect().map_err(|e| e.to_string())?;
    let lo = Netlink::ifindex("lo").map_err(|e| e.to_string())?;
    let probe = |dst: &str, action| RouteSpec {
        table: super::PROBE_TABLE,
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
            peer: "100::1".parse().unwrap_or(Ipv6Addr::LOCALHOST),
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
