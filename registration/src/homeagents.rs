//! The home agent's side of discovery: the Home Agents List of its home link (RFC 6275
//! 10.5.1), filled from Router Advertisements with the H bit and the Home Agent Information
//! option, answers to Dynamic Home Agent Address Discovery (10.5, RFC 3963 7) and to Mobile
//! Prefix Solicitations (10.6), and unsolicited Mobile Prefix Advertisements when the home
//! prefixes change (10.6.3). No I/O: packets in, packets out.

use crate::ha::Binding;
use ipnet::Ipv6Net;
use mip6::icmp::{HomeAgentAdvertisement, IcmpRepr, PrefixInformation};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime};

/// One home agent of the home link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeAgentEntry {
    /// Its global address (from a Prefix Information option with the R flag), the one a
    /// DHAAD reply lists.
    pub address: Ipv6Addr,
    /// The link-local source of its advertisements (`None`: this home agent itself).
    pub link_local: Option<Ipv6Addr>,
    pub preference: i16,
    /// The lifetime it advertised (`None`: this home agent, which does not expire).
    pub lifetime: Option<Duration>,
    /// When the entry expires (`None`: never).
    pub expires: Option<Instant>,
    /// Supports mobile routers (RFC 3963 7.3 R flag).
    pub mobile_router: bool,
}

impl HomeAgentEntry {
    /// Whether this is the home agent running this list.
    pub fn is_self(&self) -> bool {
        self.link_local.is_none()
    }

    /// Seconds left (`None`: never expires).
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.expires.map(|e| e.saturating_duration_since(now))
    }
}

/// What learning from one Router Advertisement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// Not a home agent's, or nothing changed that a DHAAD reply would show.
    Nothing,
    /// A home agent appeared or its preference, address or R flag changed.
    Changed,
    /// A home agent said it no longer is one (H clear or lifetime zero).
    Removed(Ipv6Addr),
}

/// The Home Agents List of one home link, this home agent included.
#[derive(Debug, Clone)]
pub struct HomeAgentsList {
    own: Option<HomeAgentEntry>,
    /// Keyed by link-local address (RFC 6275 10.5.1).
    others: BTreeMap<Ipv6Addr, HomeAgentEntry>,
}

impl HomeAgentsList {
    /// `own`: this home agent's global address on the home link and its preference (SHISA's
    /// `preference`); without an address it is not listed (and answers no DHAAD).
    pub fn new(own: Option<Ipv6Addr>, preference: i16) -> Self {
        let mut l = Self {
            own: None,
            others: BTreeMap::new(),
        };
        l.set_own(own, preference);
        l
    }

    /// Sets this home agent's own entry (start, reload).
    pub fn set_own(&mut self, own: Option<Ipv6Addr>, preference: i16) {
        self.own = own.map(|address| HomeAgentEntry {
            address,
            link_local: None,
            preference,
            lifetime: None,
            expires: None,
            mobile_router: true,
        });
    }

    pub fn own_address(&self) -> Option<Ipv6Addr> {
        self.own.as_ref().map(|e| e.address)
    }

    /// RFC 6275 10.5.1: processes a Router Advertisement received on the home link from
    /// `source` (link-local). Advertisements that list one of our own addresses (our own
    /// node's radvd) are ignored: our own entry comes from the configuration.
    pub fn learn(
        &mut self,
        source: Ipv6Addr,
        ra: &HomeAgentAdvertisement,
        own_addresses: &[Ipv6Addr],
        now: Instant,
    ) -> Learned {
        let addresses: Vec<Ipv6Addr> = ra.router_addresses().collect();
        if addresses.iter().any(|a| own_addresses.contains(a)) || own_addresses.contains(&source) {
            return Learned::Nothing;
        }
        let info = match ra.as_home_agent() {
            Some(i) if i.lifetime > 0 => i,
            _ => {
                return match self.others.remove(&source) {
                    Some(e) => Learned::Removed(e.address),
                    None => Learned::Nothing,
                };
            }
        };
        // Without a global address (no R-flagged prefix) the entry cannot be offered in a
        // reply; an address learned earlier is kept.
        let Some(address) = addresses
            .first()
            .copied()
            .or_else(|| self.others.get(&source).map(|e| e.address))
        else {
            return Learned::Nothing;
        };
        let lifetime = Duration::from_secs(u64::from(info.lifetime));
        let entry = HomeAgentEntry {
            address,
            link_local: Some(source),
            preference: info.preference,
            lifetime: Some(lifetime),
            expires: Some(now + lifetime),
            mobile_router: info.mobile_router,
        };
        let changed = match self.others.get(&source) {
            Some(old) => {
                old.address != entry.address
                    || old.preference != entry.preference
                    || old.mobile_router != entry.mobile_router
            }
            None => true,
        };
        self.others.insert(source, entry);
        if changed {
            Learned::Changed
        } else {
            Learned::Nothing
        }
    }

    /// Drops expired entries; returns their addresses.
    pub fn expire(&mut self, now: Instant) -> Vec<Ipv6Addr> {
        let gone: Vec<Ipv6Addr> = self
            .others
            .iter()
            .filter(|(_, e)| e.expires.is_some_and(|t| t <= now))
            .map(|(ll, _)| *ll)
            .collect();
        gone.iter()
            .filter_map(|ll| self.others.remove(ll))
            .map(|e| e.address)
            .collect()
    }

    pub fn next_expiry(&self) -> Option<Instant> {
        self.others.values().filter_map(|e| e.expires).min()
    }

    /// Every entry, most preferred first (RFC 6275 10.5.1: equal preferences in any order;
    /// here by address, so that all home agents of a link answer alike).
    pub fn entries(&self) -> Vec<&HomeAgentEntry> {
        let mut v: Vec<&HomeAgentEntry> = self.own.iter().chain(self.others.values()).collect();
        v.sort_by(|a, b| {
            b.preference
                .cmp(&a.preference)
                .then(a.address.cmp(&b.address))
        });
        v.dedup_by_key(|e| e.address);
        v
    }

    /// RFC 6275 10.5 / RFC 3963 7: the reply to a DHAAD request from `requester`: the list in
    /// preference order (only home agents supporting mobile routers when the request has the
    /// R flag), from our own unicast address. `None` when the message is not a request or we
    /// have no address to answer from.
    pub fn answer(&self, request: &IcmpRepr, requester: Ipv6Addr) -> Option<Vec<u8>> {
        let IcmpRepr::DhaadRequest { id, mobile_router } = *request else {
            return None;
        };
        let own = self.own_address()?;
        if requester.is_unspecified() || requester.is_multicast() {
            return None;
        }
        let home_agents = self
            .entries()
            .into_iter()
            .filter(|e| !mobile_router || e.mobile_router)
            .map(|e| e.address)
            .collect();
        let reply = IcmpRepr::DhaadReply {
            id,
            mobile_router,
            home_agents,
        };
        Some(reply.emit_packet(own, requester, 64))
    }
}

/// The Prefix Information options for the home prefixes, valid as long as `binding` is
/// (RFC 6275 10.6.1: an advertised lifetime does not outlast the binding). The binding is
/// refreshed well before it runs out, so this is the granted lifetime unless the binding is
/// older than its lifetime's 80% (then what is left).
fn prefix_options(
    prefixes: &[Ipv6Net],
    binding: &Binding,
    now: SystemTime,
) -> Vec<PrefixInformation> {
    let left = binding
        .expires
        .duration_since(now)
        .unwrap_or_default()
        .max(binding.lifetime.mul_f64(0.2))
        .min(binding.lifetime)
        .as_secs();
    let left = u32::try_from(left).unwrap_or(u32::MAX);
    prefixes
        .iter()
        .map(|p| PrefixInformation {
            prefix: p.network(),
            prefix_len: p.prefix_len(),
            on_link: true,
            autonomous: true,
            router_address: false,
            valid_lifetime: left,
            preferred_lifetime: left,
        })
        .collect()
}

/// RFC 6275 10.6.2: the answer to a Mobile Prefix Solicitation from `src`, sent to `dst`
/// (one of our addresses). The solicitation comes as plain ICMPv6 from the care-of address
/// (no Home Address option: see `mrd`'s discovery); only a mobile node with a binding here
/// gets an answer, found by its care-of address (or its home address, should a node send
/// from it). The advertisement goes back to the same address, from `dst`.
pub fn answer_prefix_solicitation<'a>(
    request: &IcmpRepr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    mut bindings: impl Iterator<Item = &'a Binding>,
    prefixes: &[Ipv6Net],
    now: SystemTime,
) -> Option<Vec<u8>> {
    let IcmpRepr::MobilePrefixSolicitation { id } = *request else {
        return None;
    };
    let binding = bindings.find(|b| b.coa == src || b.hoa == src)?;
    let adv = IcmpRepr::MobilePrefixAdvertisement {
        id,
        managed: false,
        other: false,
        prefixes: prefix_options(prefixes, binding, now),
    };
    Some(adv.emit_packet(dst, src, 64))
}

/// RFC 6275 10.6.3: unsolicited Mobile Prefix Advertisements to every mobile node with a
/// binding, after the home prefixes changed; `from` is our home agent address (each
/// binding's own, when known).
pub fn unsolicited_advertisements<'a>(
    bindings: impl Iterator<Item = &'a Binding>,
    prefixes: &[Ipv6Net],
    id: u16,
    now: SystemTime,
) -> Vec<Vec<u8>> {
    bindings
        .filter(|b| b.coa != b.hoa)
        .map(|b| {
            IcmpRepr::MobilePrefixAdvertisement {
                id,
                managed: false,
                other: false,
                prefixes: prefix_options(prefixes, b, now),
            }
            .emit_packet(b.ha, b.coa, 64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mip6::icmp::{HomeAgentInformation, PrefixInformation};

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn ra(
        address: &str,
        preference: i16,
        lifetime: u16,
        mobile_router: bool,
    ) -> HomeAgentAdvertisement {
        HomeAgentAdvertisement {
            home_agent: true,
            router_lifetime: 1800,
            info: Some(HomeAgentInformation {
                mobile_router,
                preference,
                lifetime,
            }),
            prefixes: vec![PrefixInformation {
                prefix: ip(address),
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                router_address: true,
                valid_lifetime: 86400,
                preferred_lifetime: 14400,
            }],
        }
    }

    fn reply_list(packet: &[u8]) -> (bool, Vec<Ipv6Addr>) {
        match IcmpRepr::parse(&packet[40..], None).unwrap() {
            IcmpRepr::DhaadReply {
                mobile_router,
                home_agents,
                ..
            } => (mobile_router, home_agents),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_orders_by_preference_and_answers_dhaad() {
        let now = Instant::now();
        let own = ip("2001:db8:1::1");
        let mut l = HomeAgentsList::new(Some(own), 10);
        assert_eq!(
            l.learn(
                ip("fe80::2"),
                &ra("2001:db8:1::2", 20, 30, true),
                &[own],
                now
            ),
            Learned::Changed
        );
        assert_eq!(
            l.learn(
                ip("fe80::3"),
                &ra("2001:db8:1::3", 5, 30, false),
                &[own],
                now
            ),
            Learned::Changed
        );
        // The same again: nothing a reply would show changed.
        assert_eq!(
            l.learn(
                ip("fe80::2"),
                &ra("2001:db8:1::2", 20, 30, true),
                &[own],
                now
            ),
            Learned::Nothing
        );
        let order: Vec<Ipv6Addr> = l.entries().iter().map(|e| e.address).collect();
        assert_eq!(order, vec![ip("2001:db8:1::2"), own, ip("2001:db8:1::3")]);
        let mr = ip("2001:db8:200::5");
        let reply = l
            .answer(
                &IcmpRepr::DhaadRequest {
                    id: 4,
                    mobile_router: false,
                },
                mr,
            )
            .unwrap();
        assert_eq!(&reply[8..24], &own.octets(), "from our unicast address");
        assert_eq!(&reply[24..40], &mr.octets());
        assert_eq!(reply_list(&reply), (false, order));
        // R flag: the home agent without mobile router support is left out.
        let reply = l
            .answer(
                &IcmpRepr::DhaadRequest {
                    id: 5,
                    mobile_router: true,
                },
                mr,
            )
            .unwrap();
        assert_eq!(reply_list(&reply), (true, vec![ip("2001:db8:1::2"), own]));
        // Not a request: no answer.
        assert!(l
            .answer(&IcmpRepr::MobilePrefixSolicitation { id: 1 }, mr)
            .is_none());
    }

    #[test]
    fn entries_expire_and_leave() {
        let now = Instant::now();
        let own = ip("2001:db8:1::1");
        let mut l = HomeAgentsList::new(Some(own), 0);
        l.learn(ip("fe80::2"), &ra("2001:db8:1::2", 1, 3, true), &[own], now);
        l.learn(ip("fe80::3"), &ra("2001:db8:1::3", 1, 9, true), &[own], now);
        assert_eq!(l.next_expiry(), Some(now + Duration::from_secs(3)));
        assert!(l.expire(now + Duration::from_secs(2)).is_empty());
        assert_eq!(
            l.expire(now + Duration::from_secs(3)),
            vec![ip("2001:db8:1::2")]
        );
        assert_eq!(l.entries().len(), 2);
        // Lifetime zero removes at once; so does an RA without the H bit.
        assert_eq!(
            l.learn(ip("fe80::3"), &ra("2001:db8:1::3", 1, 0, true), &[own], now),
            Learned::Removed(ip("2001:db8:1::3"))
        );
        l.learn(ip("fe80::3"), &ra("2001:db8:1::3", 1, 9, true), &[own], now);
        let mut no_h = ra("2001:db8:1::3", 1, 9, true);
        no_h.home_agent = false;
        assert_eq!(
            l.learn(ip("fe80::3"), &no_h, &[own], now),
            Learned::Removed(ip("2001:db8:1::3"))
        );
        // Our own node's advertisement: ignored (our entry comes from the configuration).
        assert_eq!(
            l.learn(
                ip("fe80::1"),
                &ra("2001:db8:1::1", 99, 9, true),
                &[own],
                now
            ),
            Learned::Nothing
        );
        assert_eq!(l.entries().len(), 1);
        assert!(l.entries()[0].is_self());
        // No address of our own: no answers.
        let l = HomeAgentsList::new(None, 0);
        assert!(l
            .answer(
                &IcmpRepr::DhaadRequest {
                    id: 1,
                    mobile_router: true
                },
                ip("2001:db8:200::5")
            )
            .is_none());
    }

    fn binding(hoa: &str, coa: &str, left: u64, now: SystemTime) -> Binding {
        Binding {
            hoa: ip(hoa),
            coa: ip(coa),
            ha: ip("2001:db8:1::1"),
            seq: 1,
            router: true,
            link_local: false,
            lifetime: Duration::from_secs(left),
            expires: now + Duration::from_secs(left),
            mnp6: vec![],
            mnp4: vec![],
            last_timestamp: None,
        }
    }

    #[test]
    fn mobile_prefix_solicitation_needs_a_binding() {
        let now = SystemTime::now();
        let b = vec![binding("2001:db8:1::beef", "2001:db8:200::5", 40, now)];
        let prefixes: Vec<Ipv6Net> = vec!["2001:db8:1::/64".parse().unwrap()];
        let ha = ip("2001:db8:1::1");
        let sol = IcmpRepr::MobilePrefixSolicitation { id: 77 };
        let p =
            answer_prefix_solicitation(&sol, ip("2001:db8:200::5"), ha, b.iter(), &prefixes, now)
                .unwrap();
        assert_eq!(&p[8..24], &ha.octets());
        assert_eq!(&p[24..40], &ip("2001:db8:200::5").octets());
        let IcmpRepr::MobilePrefixAdvertisement {
            id, prefixes: got, ..
        } = IcmpRepr::parse(&p[40..], Some((ha, ip("2001:db8:200::5")))).unwrap()
        else {
            panic!()
        };
        assert_eq!(id, 77);
        assert_eq!(got[0].prefix, ip("2001:db8:1::"));
        assert_eq!(got[0].prefix_len, 64);
        assert_eq!(got[0].valid_lifetime, 40);
        // A stranger: no answer.
        assert!(answer_prefix_solicitation(
            &sol,
            ip("2001:db8:200::9"),
            ha,
            b.iter(),
            &prefixes,
            now
        )
        .is_none());
        // Unsolicited: one per binding away from home.
        let mut all = b.clone();
        all.push(binding("2001:db8:1::cafe", "2001:db8:1::cafe", 40, now));
        let new: Vec<Ipv6Net> = vec!["2001:db8:9::/64".parse().unwrap()];
        let out = unsolicited_advertisements(all.iter(), &new, 3, now);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][24..40], &ip("2001:db8:200::5").octets());
    }
}
