//! Routes and rules through rtnetlink: [`RouteSpec`]/[`RuleSpec`] to kernel messages and
//! back, dumps filtered by our protocol, add/replace/delete.

use crate::desired::{RouteAction, RouteSpec, RuleSpec, MAIN_TABLE};
use crate::error::{Error, Result};
use crate::ROUTE_PROTOCOL;
use futures::TryStreamExt;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteLwEnCapType, RouteLwTunnelEncap, RouteMessage,
    RouteMetric, RouteProtocol, RouteScope, RouteSeg6IpTunnel, RouteSeg6LocalTunnel, RouteType,
    RouteVia, Seg6Header, Seg6LocalAction, Seg6Mode,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, IpProtocol};
use rtnetlink::{Handle, IpVersion, LinkUnspec};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `SEG6_IPTUN_MODE_ENCAP_RED`: encapsulation with a reduced SRH, which for a single
/// segment is no SRH at all (plain RFC 2473 on the wire). netlink-packet-route has no name
/// for it.
const SEG6_MODE_ENCAP_RED: u32 = 3;
/// `RT_TABLE_COMPAT`: what the one-byte table field says when the table is > 255.
const RT_TABLE_COMPAT: u8 = 252;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;

/// An rtnetlink connection whose I/O task lives on the current tokio runtime.
pub struct Netlink {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn nl_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.into();
    move |source| Error::Netlink { what, source }
}

/// The errno of a netlink NACK.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

impl Netlink {
    /// Opens the socket in the calling thread's network namespace.
    pub fn connect() -> Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::Connect)?;
        let task = tokio::spawn(conn);
        Ok(Self { handle, task })
    }

    pub fn ifindex(name: &str) -> Result<u32> {
        nix::net::if_::if_nametoindex(name).map_err(|_| Error::NoSuchInterface(name.to_string()))
    }

    /// Every route of either family that carries our protocol, with its parsed spec
    /// (`None` when it is not a shape we install: stale by definition).
    pub async fn our_routes(&self) -> Result<Vec<(RouteMessage, Option<RouteSpec>)>> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut query = RouteMessage::default();
            query.header.address_family = family;
            let mut dump = self.handle.route().get(query).execute();
            while let Some(msg) = dump.try_next().await.map_err(nl_err("route dump"))? {
                if u8::from(msg.header.protocol) == ROUTE_PROTOCOL {
                    let spec = parse_route(&msg);
                    out.push((msg, spec));
                }
            }
        }
        Ok(out)
    }

    /// `ip route replace`: atomic for a route with the same key.
    pub async fn replace_route(&self, spec: &RouteSpec) -> Result<()> {
        self.handle
            .route()
            .add(route_message(spec))
            .replace()
            .execute()
            .await
            .map_err(nl_err(format!("replace route {}", describe_route(spec))))
    }

    /// Deletes a route; one that is already gone is not an error.
    pub async fn delete_route(&self, msg: RouteMessage) -> Result<()> {
        match self.handle.route().del(msg).execute().await {
            Err(e) if matches!(errno(&e), Some(ESRCH | ENOENT)) => Ok(()),
            r => r.map_err(nl_err("delete route")),
        }
    }

    /// Every IPv6 rule.
    pub async fn rules6(&self) -> Result<Vec<RuleMessage>> {
        self.handle
            .rule()
            .get(IpVersion::V6)
            .execute()
            .try_collect()
            .await
            .map_err(nl_err("rule dump"))
    }

    pub async fn add_rule(&self, spec: &RuleSpec, protocol: u8) -> Result<()> {
        let mut req = self.handle.rule().add().v6();
        *req.message_mut() = rule_message(spec, protocol);
        match req.execute().await {
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            r => r.map_err(nl_err(format!("add rule {spec:?}"))),
        }
    }

    pub async fn delete_rule(&self, msg: RuleMessage) -> Result<()> {
        match self.handle.rule().del(msg).execute().await {
            Err(e) if matches!(errno(&e), Some(ESRCH | ENOENT)) => Ok(()),
            r => r.map_err(nl_err("delete rule")),
        }
    }

    /// The connection's handle, for the few requests without a helper here.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    pub async fn set_up_with_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).up().build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(nl_err(format!("set link {index} up, mtu {mtu}")))
    }
}

pub fn describe_route(spec: &RouteSpec) -> String {
    let from = spec.src.map(|s| format!(" from {s}")).unwrap_or_default();
    format!(
        "{}{from} table {} ({:?})",
        spec.dst, spec.table, spec.action
    )
}

fn route_address(addr: IpAddr) -> RouteAddress {
    match addr {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// `RTAX_MTU` as a bit of a route's lock mask (`mtu lock`).
pub const LOCK_MTU: u32 = 1 << 2;

/// The kernel message that installs `spec` with our protocol.
pub fn route_message(spec: &RouteSpec) -> RouteMessage {
    let v4 = matches!(spec.dst, IpNet::V4(_));
    let mut msg = RouteMessage::default();
    let h = &mut msg.header;
    h.address_family = if v4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    h.destination_prefix_length = spec.dst.prefix_len();
    h.source_prefix_length = spec.src.map_or(0, |s| s.prefix_len());
    h.table = u8::try_from(spec.table).unwrap_or(RT_TABLE_COMPAT);
    h.protocol = RouteProtocol::from(ROUTE_PROTOCOL);
    // As `ip route add ... dev X` without a gateway does.
    h.scope = if v4 && !matches!(spec.action, RouteAction::Via { .. }) {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    h.kind = RouteType::Unicast;
    let a = &mut msg.attributes;
    a.push(RouteAttribute::Table(spec.table));
    if spec.dst.prefix_len() > 0 {
        a.push(RouteAttribute::Destination(route_address(spec.dst.addr())));
    }
    if let Some(src) = spec.src {
        a.push(RouteAttribute::Source(RouteAddress::Inet6(src.addr())));
    }
    a.push(RouteAttribute::Oif(spec.oif));
    if let Some(prefsrc) = spec.prefsrc {
        a.push(RouteAttribute::PrefSource(RouteAddress::Inet(prefsrc)));
    }
    a.push(RouteAttribute::Priority(spec.metric));
    if let Some(mtu) = spec.mtu {
        let mut metrics = vec![RouteMetric::Mtu(mtu)];
        if spec.mtu_lock {
            metrics.push(RouteMetric::Lock(LOCK_MTU));
        }
        a.push(RouteAttribute::Metrics(metrics));
    }
    match spec.action {
        RouteAction::Device => {}
        RouteAction::Via { gateway } => {
            // On-link without the kernel's check: the gateway's prefix may come a moment
            // after the route (the home link's Router Advertisement).
            msg.header.flags |= RouteFlags::Onlink;
            msg.attributes.push(if v4 {
                RouteAttribute::Via(RouteVia::Inet6(gateway))
            } else {
                RouteAttribute::Gateway(RouteAddress::Inet6(gateway))
            });
        }
        RouteAction::BpfEncap(prog) => a.extend(crate::bpf::route::encap_attributes(prog)),
        RouteAction::Seg6Encap { peer } => {
            let mut header = Seg6Header::default();
            header.mode = Seg6Mode::Other(SEG6_MODE_ENCAP_RED);
            header.segments = vec![peer];
            a.push(RouteAttribute::EncapType(RouteLwEnCapType::Seg6));
            a.push(RouteAttribute::Encap(vec![RouteLwTunnelEncap::Seg6(
                RouteSeg6IpTunnel::Seg6(header),
            )]));
        }
        RouteAction::DecapIpv4 => {
            a.push(RouteAttribute::EncapType(RouteLwEnCapType::Seg6Local));
            a.push(RouteAttribute::Encap(vec![
                RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Action(
                    Seg6LocalAction::EndDx4,
                )),
                RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Nh4(Ipv4Addr::UNSPECIFIED)),
            ]));
        }
        RouteAction::DecapIpv6 => {
            a.push(RouteAttribute::EncapType(RouteLwEnCapType::Seg6Local));
            a.push(RouteAttribute::Encap(vec![
                RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Action(
                    Seg6LocalAction::EndDt6,
                )),
                RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Table(MAIN_TABLE)),
            ]));
        }
        RouteAction::Local => {
            msg.header.kind = RouteType::Local;
            msg.header.scope = RouteScope::Host;
        }
        RouteAction::Blackhole => {
            msg.header.kind = RouteType::BlackHole;
            msg.header.scope = RouteScope::Universe;
            msg.attributes
                .retain(|a| !matches!(a, RouteAttribute::Oif(_)));
        }
    }
    msg
}

/// Reads back a dumped route as the spec that would have installed it.
pub fn parse_route(msg: &RouteMessage) -> Option<RouteSpec> {
    let h = &msg.header;
    let v4 = match h.address_family {
        AddressFamily::Inet => true,
        AddressFamily::Inet6 => false,
        _ => return None,
    };
    let mut table = u32::from(h.table);
    let (mut dst_addr, mut src_addr, mut oif, mut prefsrc) = (None, None, None, None);
    let (mut metric, mut mtu, mut action) = (0, None, RouteAction::Device);
    match h.kind {
        RouteType::Unicast => {}
        RouteType::Local => action = RouteAction::Local,
        RouteType::BlackHole => action = RouteAction::Blackhole,
        _ => return None,
    }
    let mut mtu_lock = false;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dst_addr = Some(a.clone()),
            RouteAttribute::Source(a) => src_addr = Some(a.clone()),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::PrefSource(RouteAddress::Inet(a)) => prefsrc = Some(*a),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Metrics(ms) => {
                for m in ms {
                    match m {
                        RouteMetric::Mtu(v) => mtu = Some(*v),
                        RouteMetric::Lock(l) => mtu_lock = l & LOCK_MTU != 0,
                        _ => {}
                    }
                }
            }
            RouteAttribute::Encap(encaps) => action = parse_encap(encaps)?,
            RouteAttribute::Gateway(RouteAddress::Inet6(g)) if !v4 => {
                action = RouteAction::Via { gateway: *g }
            }
            RouteAttribute::Via(RouteVia::Inet6(g)) if v4 => {
                action = RouteAction::Via { gateway: *g }
            }
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) | RouteAttribute::MultiPath(_) => {
                return None
            }
            _ => {}
        }
    }
    let dst = match (v4, dst_addr) {
        (true, None) => {
            IpNet::V4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, h.destination_prefix_length).ok()?)
        }
        (false, None) => {
            IpNet::V6(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, h.destination_prefix_length).ok()?)
        }
        (true, Some(RouteAddress::Inet(a))) => {
            IpNet::V4(Ipv4Net::new(a, h.destination_prefix_length).ok()?)
        }
        (false, Some(RouteAddress::Inet6(a))) => {
            IpNet::V6(Ipv6Net::new(a, h.destination_prefix_length).ok()?)
        }
        _ => return None,
    };
    let src = match src_addr {
        None if h.source_prefix_length == 0 => None,
        Some(RouteAddress::Inet6(a)) if !v4 => Some(Ipv6Net::new(a, h.source_prefix_length).ok()?),
        _ => return None,
    };
    Some(RouteSpec {
        table,
        dst,
        src,
        metric,
        // A blackhole has no device of its own (the kernel reports lo for IPv6).
        oif: if action == RouteAction::Blackhole {
            0
        } else {
            oif?
        },
        prefsrc,
        mtu,
        mtu_lock,
        action,
    })
}

fn parse_encap(encaps: &[RouteLwTunnelEncap]) -> Option<RouteAction> {
    if let Some(RouteLwTunnelEncap::Other(_)) = encaps.first() {
        return crate::bpf::route::parse_encap(encaps).map(RouteAction::BpfEncap);
    }
    let (mut action, mut peer) = (None, None);
    for e in encaps {
        match e {
            RouteLwTunnelEncap::Seg6(RouteSeg6IpTunnel::Seg6(h)) => {
                if u32::from(h.mode) != SEG6_MODE_ENCAP_RED
                    || h.segments.len() != 1
                    || h.hmac.is_some()
                {
                    return None;
                }
                peer = h.segments.first().copied();
            }
            RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Action(a)) => action = Some(*a),
            RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Nh4(a)) if a.is_unspecified() => {}
            RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Nh6(a)) if a.is_unspecified() => {}
            RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Table(MAIN_TABLE)) => {}
            _ => return None,
        }
    }
    match (action, peer) {
        (None, Some(peer)) => Some(RouteAction::Seg6Encap { peer }),
        (Some(Seg6LocalAction::EndDx4), None) => Some(RouteAction::DecapIpv4),
        (Some(Seg6LocalAction::EndDt6), None) => Some(RouteAction::DecapIpv6),
        _ => None,
    }
}

pub fn rule_message(spec: &RuleSpec, protocol: u8) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = AddressFamily::Inet6;
    msg.header.action = RuleAction::ToTable;
    msg.header.table = u8::try_from(spec.table).unwrap_or(RT_TABLE_COMPAT);
    msg.attributes.push(RuleAttribute::Table(spec.table));
    msg.attributes.push(RuleAttribute::Priority(spec.pref));
    msg.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(protocol)));
    if let Some(p) = spec.ipproto {
        msg.attributes
            .push(RuleAttribute::IpProtocol(IpProtocol::from(i32::from(p))));
    }
    if let Some(dst) = spec.dst {
        msg.header.dst_len = dst.prefix_len();
        msg.attributes
            .push(RuleAttribute::Destination(IpAddr::V6(dst.addr())));
    }
    msg
}

/// A dumped IPv6 rule as (spec, protocol); `None` for shapes we never install.
pub fn parse_rule(msg: &RuleMessage) -> Option<(RuleSpec, u8)> {
    if msg.header.action != RuleAction::ToTable || msg.header.src_len != 0 || msg.header.tos != 0 {
        return None;
    }
    let mut spec = RuleSpec {
        pref: 0,
        ipproto: None,
        dst: None,
        table: u32::from(msg.header.table),
    };
    let mut protocol = 0;
    for attr in &msg.attributes {
        match attr {
            RuleAttribute::Table(t) => spec.table = *t,
            RuleAttribute::Priority(p) => spec.pref = *p,
            RuleAttribute::Protocol(p) => protocol = u8::from(*p),
            RuleAttribute::IpProtocol(p) => spec.ipproto = Some(u8::try_from(i32::from(*p)).ok()?),
            RuleAttribute::Destination(IpAddr::V6(a)) => {
                spec.dst = Some(Ipv6Net::new(*a, msg.header.dst_len).ok()?)
            }
            RuleAttribute::Source(_)
            | RuleAttribute::Iifname(_)
            | RuleAttribute::Oifname(_)
            | RuleAttribute::FwMark(_)
            | RuleAttribute::Goto(_)
            | RuleAttribute::UidRange(_)
            | RuleAttribute::SourcePortRange(_)
            | RuleAttribute::DestinationPortRange(_) => return None,
            _ => {}
        }
    }
    Some((spec, protocol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{MAIN_TABLE, METRIC_V4, METRIC_V6};

    fn round_trip(spec: RouteSpec) {
        assert_eq!(parse_route(&route_message(&spec)), Some(spec));
    }

    #[test]
    fn route_specs_survive_message_round_trip() {
        round_trip(RouteSpec {
            table: MAIN_TABLE,
            dst: "0.0.0.0/0".parse().unwrap(),
            src: None,
            metric: METRIC_V4,
            oif: 3,
            prefsrc: Some("10.0.0.1".parse().unwrap()),
            mtu: Some(1460),
            mtu_lock: false,
            action: RouteAction::Seg6Encap {
                peer: "2001:db8::1".parse().unwrap(),
            },
        });
        round_trip(RouteSpec {
            table: crate::DECAP_IPV6_TABLE,
            dst: "2001:db8::5/128".parse().unwrap(),
            src: Some("2001:db8::1/128".parse().unwrap()),
            metric: METRIC_V6,
            oif: 3,
            prefsrc: None,
            mtu: None,
            mtu_lock: false,
            action: RouteAction::DecapIpv6,
        });
        for dst in ["10.0.0.0/24", "2001:db8:281::/64"] {
            round_trip(RouteSpec {
                table: MAIN_TABLE,
                dst: dst.parse().unwrap(),
                src: None,
                metric: METRIC_V6,
                oif: 7,
                prefsrc: None,
                mtu: None,
                mtu_lock: false,
                action: RouteAction::Via {
                    gateway: "2001:db8:280::beef".parse().unwrap(),
                },
            });
        }
        round_trip(RouteSpec {
            table: MAIN_TABLE,
            dst: "2001:db8:281::/64".parse().unwrap(),
            src: None,
            metric: METRIC_V6,
            oif: 7,
            prefsrc: None,
            mtu: Some(1360),
            mtu_lock: true,
            action: RouteAction::Device,
        });
    }

    #[test]
    fn local_routes_survive_message_round_trip() {
        let spec = RouteSpec {
            table: MAIN_TABLE,
            dst: "2001:db8:280::beef/128".parse().unwrap(),
            src: None,
            metric: METRIC_V6,
            oif: 1,
            prefsrc: None,
            mtu: None,
            mtu_lock: false,
            action: RouteAction::Local,
        };
        assert_eq!(route_message(&spec).header.kind, RouteType::Local);
        round_trip(spec);
    }

    #[test]
    fn blackholes_survive_message_round_trip_whatever_device_the_kernel_reports() {
        let spec = RouteSpec {
            table: MAIN_TABLE,
            dst: "10.0.0.0/24".parse().unwrap(),
            src: None,
            metric: 1,
            oif: 0,
            prefsrc: None,
            mtu: None,
            mtu_lock: false,
            action: RouteAction::Blackhole,
        };
        round_trip(spec.clone());
        let mut msg = route_message(&spec);
        assert!(!msg
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Oif(_))));
        msg.attributes.push(RouteAttribute::Oif(1));
        assert_eq!(parse_route(&msg), Some(spec));
    }

    #[test]
    fn rule_specs_survive_message_round_trip() {
        let spec = RuleSpec {
            pref: 50,
            ipproto: Some(4),
            dst: Some("2001:db8::5/128".parse().unwrap()),
            table: crate::DECAP_IPV4_TABLE,
        };
        assert_eq!(
            parse_rule(&rule_message(&spec, ROUTE_PROTOCOL)),
            Some((spec, ROUTE_PROTOCOL))
        );
    }

    #[test]
    fn foreign_encap_is_not_ours() {
        let mut msg = route_message(&RouteSpec {
            table: MAIN_TABLE,
            dst: "::/0".parse().unwrap(),
            src: None,
            metric: METRIC_V6,
            oif: 3,
            prefsrc: None,
            mtu: None,
            mtu_lock: false,
            action: RouteAction::Seg6Encap {
                peer: "2001:db8::1".parse().unwrap(),
            },
        });
        for attr in &mut msg.attributes {
            if let RouteAttribute::Encap(e) = attr {
                let mut header = Seg6Header::default();
                header.mode = Seg6Mode::Encap;
                header.segments = vec!["2001:db8::1".parse().unwrap()];
                *e = vec![RouteLwTunnelEncap::Seg6(RouteSeg6IpTunnel::Seg6(header))];
            }
        }
        assert_eq!(parse_route(&msg), None);
    }
}
