//! Translating rtnetlink messages into [`LinkEvent`]s. No I/O: the watcher feeds it.

use crate::snapshot::{Address, AddressFlags, LinkEvent, LinkInfo, Scope};
use ipnet::Ipv6Net;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags as NlAddressFlags, AddressHeaderFlags, AddressMessage,
    AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::prefix::{PrefixAttribute, PrefixMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

const AF_INET6: u8 = 10;
/// `ifa_cacheinfo` lifetimes use all ones for "forever".
const INFINITY_LIFE_TIME: u32 = u32::MAX;

/// The event a multicast message stands for; `None` for messages the detector ignores.
pub fn event_from_message(msg: &RouteNetlinkMessage) -> Option<LinkEvent> {
    match msg {
        RouteNetlinkMessage::NewLink(m) => Some(LinkEvent::Link(link_info(m))),
        RouteNetlinkMessage::DelLink(m) => Some(LinkEvent::LinkRemoved {
            index: m.header.index,
        }),
        RouteNetlinkMessage::NewAddress(m) => {
            address(m).map(|(index, address)| LinkEvent::Address { index, address })
        }
        RouteNetlinkMessage::DelAddress(m) => {
            address(m).map(|(index, a)| LinkEvent::AddressRemoved {
                index,
                addr: a.addr,
            })
        }
        RouteNetlinkMessage::NewPrefix(m) => prefix(m),
        _ => None,
    }
}

/// Name and flags of a link.
pub fn link_info(m: &LinkMessage) -> LinkInfo {
    let name = m
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("if{}", m.header.index));
    let carrier_down_count = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::CarrierDownCount(n) => Some(*n),
        _ => None,
    });
    let flags = m.header.flags;
    LinkInfo {
        index: m.header.index,
        name,
        admin_up: flags.contains(LinkFlags::Up),
        // IFF_RUNNING (operationally up) follows IFF_LOWER_UP once the kernel's link watch
        // has processed the change, and only then does IPv6 start on the link.
        carrier: flags.contains(LinkFlags::LowerUp) && flags.contains(LinkFlags::Running),
        loopback: flags.contains(LinkFlags::Loopback),
        carrier_down_count,
    }
}

/// An IPv6 address message as (interface index, address); `None` for other families or a
/// message without an address.
pub fn address(m: &AddressMessage) -> Option<(u32, Address)> {
    if m.header.family != AddressFamily::Inet6 && u8::from(m.header.family) != AF_INET6 {
        return None;
    }
    let mut addr = None;
    let mut local = None;
    let mut flags = None;
    let mut lifetimes = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Address(IpAddr::V6(x)) => addr = Some(*x),
            AddressAttribute::Local(IpAddr::V6(x)) => local = Some(*x),
            AddressAttribute::Flags(f) => flags = Some(*f),
            AddressAttribute::CacheInfo(c) => lifetimes = Some((c.ifa_preferred, c.ifa_valid)),
            _ => {}
        }
    }
    // With a peer (point-to-point), IFA_LOCAL is ours and IFA_ADDRESS the peer's.
    let addr = local.or(addr)?;
    // IFA_FLAGS carries all 32 bits; the header only the low 8.
    let flags = flags.unwrap_or_else(|| header_flags(m.header.flags));
    let lifetime = |secs: u32| (secs != INFINITY_LIFE_TIME).then_some(secs);
    let (preferred, valid) = lifetimes.unwrap_or((INFINITY_LIFE_TIME, INFINITY_LIFE_TIME));
    Some((
        m.header.index,
        Address {
            addr,
            prefix_len: m.header.prefix_len,
            scope: scope(m.header.scope),
            flags: AddressFlags {
                tentative: flags.contains(NlAddressFlags::Tentative),
                optimistic: flags.contains(NlAddressFlags::Optimistic),
                deprecated: flags.contains(NlAddressFlags::Deprecated),
                dad_failed: flags.contains(NlAddressFlags::Dadfailed),
                permanent: flags.contains(NlAddressFlags::Permanent),
            },
            preferred_lft: lifetime(preferred),
            valid_lft: lifetime(valid),
            stale: false,
        },
    ))
}

fn header_flags(h: AddressHeaderFlags) -> NlAddressFlags {
    NlAddressFlags::from_bits_retain(u32::from(h.bits()))
}

fn scope(s: AddressScope) -> Scope {
    match s {
        AddressScope::Universe => Scope::Global,
        AddressScope::Site => Scope::Site,
        AddressScope::Link => Scope::Link,
        AddressScope::Host => Scope::Host,
        other => Scope::Other(u8::from(other)),
    }
}

fn prefix(m: &PrefixMessage) -> Option<LinkEvent> {
    if m.header.prefix_family != AF_INET6 {
        return None;
    }
    let index = u32::try_from(m.header.ifindex).ok()?;
    let addr = m.attributes.iter().find_map(|a| match a {
        PrefixAttribute::Address(x) => Some(*x),
        _ => None,
    })?;
    let prefix = Ipv6Net::new(addr, m.header.prefix_len).ok()?.trunc();
    Some(LinkEvent::PrefixAdvertised { index, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::CacheInfo;
    use std::net::Ipv6Addr;

    fn v6_message(addr: &str, flags: NlAddressFlags) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = 64;
        m.header.index = 4;
        m.header.scope = AddressScope::Universe;
        m.attributes
            .push(AddressAttribute::Address(addr.parse().unwrap()));
        m.attributes.push(AddressAttribute::Flags(flags));
        let mut ci = CacheInfo::default();
        ci.ifa_preferred = 0;
        ci.ifa_valid = 7200;
        m.attributes.push(AddressAttribute::CacheInfo(ci));
        m
    }

    #[test]
    fn ipv6_address_with_flags_and_lifetimes() {
        let m = v6_message(
            "2001:db8::1",
            NlAddressFlags::Tentative | NlAddressFlags::Optimistic | NlAddressFlags::Deprecated,
        );
        let (index, a) = address(&m).unwrap();
        assert_eq!(index, 4);
        assert_eq!(a.addr, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(a.prefix_len, 64);
        assert_eq!(a.scope, Scope::Global);
        assert!(a.flags.tentative && a.flags.optimistic && a.flags.deprecated);
        assert!(!a.flags.dad_failed && !a.flags.permanent);
        assert_eq!(a.preferred_lft, Some(0));
        assert_eq!(a.valid_lft, Some(7200));
        let del = RouteNetlinkMessage::DelAddress(m);
        assert!(matches!(
            event_from_message(&del),
            Some(LinkEvent::AddressRemoved { index: 4, .. })
        ));
    }

    #[test]
    fn ipv4_and_empty_messages_are_ignored() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.attributes
            .push(AddressAttribute::Address("192.0.2.1".parse().unwrap()));
        assert!(address(&m).is_none());
        let mut empty = AddressMessage::default();
        empty.header.family = AddressFamily::Inet6;
        assert!(address(&empty).is_none());
    }

    #[test]
    fn link_flags() {
        let mut m = LinkMessage::default();
        m.header.index = 7;
        m.header.flags = LinkFlags::Up | LinkFlags::Running;
        m.attributes.push(LinkAttribute::IfName("up0".into()));
        let info = link_info(&m);
        assert_eq!(info.name, "up0");
        assert!(info.admin_up && !info.carrier && !info.loopback);
        m.header.flags |= LinkFlags::LowerUp;
        assert!(link_info(&m).carrier);
        m.header.flags.remove(LinkFlags::Running);
        assert!(
            !link_info(&m).carrier,
            "carrier not yet processed by link watch"
        );
    }

    #[test]
    fn prefix_message() {
        let mut m = PrefixMessage::default();
        m.header.prefix_family = AF_INET6;
        m.header.ifindex = 3;
        m.header.prefix_len = 64;
        m.attributes
            .push(PrefixAttribute::Address("2001:db8:200::".parse().unwrap()));
        assert_eq!(
            prefix(&m),
            Some(LinkEvent::PrefixAdvertised {
                index: 3,
                prefix: "2001:db8:200::/64".parse().unwrap()
            })
        );
        m.header.ifindex = -1;
        assert_eq!(prefix(&m), None);
    }
}
