//! The movement decision: from a [`LinkState`] and the MR's configuration to home, foreign
//! (with the care-of address) or disconnected. Pure function, no I/O.

use crate::snapshot::{Address, Interface, LinkState};
use ipnet::Ipv6Net;
use std::net::Ipv6Addr;

/// An interface that may carry the CoA, with its `priority` from the config (lower wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub name: String,
    pub priority: u16,
}

impl Uplink {
    pub fn new(name: &str, priority: u16) -> Self {
        Self {
            name: name.to_string(),
            priority,
        }
    }
}

/// What the detector needs from the MR's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MovementPolicy {
    /// The MR's home prefix(es).
    pub home_prefixes: Vec<Ipv6Net>,
    /// Interfaces to take the CoA from. Ordered by `priority` (lower first), equal priorities
    /// in list order. Empty: every non-loopback interface, by interface index.
    pub uplinks: Vec<Uplink>,
    /// The MR's home address: never a CoA (it may live as a /128 on some interface).
    pub home_address: Option<Ipv6Addr>,
}

/// Where the MR is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Attached to the home link through `ifindex`.
    Home { ifindex: u32 },
    /// Away from home; `coa` on `ifindex` is the care-of address.
    Foreign { coa: Ipv6Addr, ifindex: u32 },
    /// No uplink has carrier and a usable address.
    Disconnected,
}

impl MovementPolicy {
    /// Interfaces the decision considers, best first.
    pub fn candidates<'a>(&self, state: &'a LinkState) -> Vec<&'a Interface> {
        if self.uplinks.is_empty() {
            return state.interfaces().filter(|i| !i.loopback).collect();
        }
        let mut order: Vec<(u16, usize, &Uplink)> = self
            .uplinks
            .iter()
            .enumerate()
            .map(|(pos, u)| (u.priority, pos, u))
            .collect();
        order.sort_by_key(|(prio, pos, _)| (*prio, *pos));
        order
            .into_iter()
            .filter_map(|(_, _, u)| state.interface_by_name(&u.name))
            .collect()
    }

    fn in_home_prefix(&self, addr: &Ipv6Addr) -> bool {
        self.home_prefixes.iter().any(|p| p.contains(addr))
    }

    /// An address that shows this interface is on the home link: inside a home prefix with
    /// an on-link prefix length. Not the home address itself: mrd puts it on the uplink
    /// because the MR is home, so after an L2 move it says nothing about the new link (and
    /// a /128 is the home address parked on some interface).
    fn is_home_link_address(&self, a: &Address) -> bool {
        a.is_global()
            && a.is_usable()
            && a.prefix_len < 128
            && self.in_home_prefix(&a.addr)
            && Some(a.addr) != self.home_address
    }

    /// An on-link prefix that shows this is the home link: a home prefix, or a prefix inside
    /// or around one.
    fn is_home_link_prefix(&self, p: &Ipv6Net) -> bool {
        self.home_prefixes
            .iter()
            .any(|h| h.contains(p) || p.contains(h))
    }

    /// Whether `i` is attached to the home link. The first signal is the Router
    /// Advertisement (RFC 6275 11.5.1, as KAME's babymdd): once an RA with Prefix Information
    /// arrived since the last carrier loss, the home prefix among its on-link prefixes
    /// (whatever the A flag: a home link may offer no SLAAC) says home and its absence says
    /// away, even if a hand-made address in the home prefix stays on the interface. Until such
    /// an RA arrives, an address of the home link (SLAAC or static) says home.
    pub fn is_home_link(&self, i: &Interface) -> bool {
        match &i.advertised {
            Some(prefixes) => prefixes.iter().any(|p| self.is_home_link_prefix(&p.prefix)),
            None => i.addresses.iter().any(|a| self.is_home_link_address(a)),
        }
    }

    fn is_care_of_address(&self, a: &Address) -> bool {
        a.is_global()
            && a.is_usable()
            && !self.in_home_prefix(&a.addr)
            && Some(a.addr) != self.home_address
    }

    /// Decides home / foreign / disconnected.
    ///
    /// Home (see [`Self::is_home_link`]) takes precedence over any foreign CoA: an MR that has an interface on its home
    /// link reaches its HA directly and must deregister (RFC 3963 section 5.2 / RFC 6275
    /// 11.5.4), whatever its other uplinks see. Otherwise the CoA is the first usable global
    /// address (in the order the addresses appeared) of the first running candidate.
    pub fn decide(&self, state: &LinkState) -> Decision {
        let running: Vec<&Interface> = self
            .candidates(state)
            .into_iter()
            .filter(|i| i.is_running())
            .collect();
        if let Some(home) = running.iter().find(|i| self.is_home_link(i)) {
            return Decision::Home {
                ifindex: home.index,
            };
        }
        running
            .iter()
            .find_map(|i| {
                i.addresses
                    .iter()
                    .find(|a| self.is_care_of_address(a))
                    .map(|a| Decision::Foreign {
                        coa: a.addr,
                        ifindex: i.index,
                    })
            })
            .unwrap_or(Decision::Disconnected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Address, Interface, LinkState};

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn addr(s: &str, len: u8) -> Address {
        Address::new(ip(s), len)
    }

    fn iface(index: u32, name: &str, addrs: Vec<Address>) -> Interface {
        let mut i = Interface::new(index, name);
        i.addresses = addrs;
        i
    }

    fn policy(uplinks: &[(&str, u16)]) -> MovementPolicy {
        MovementPolicy {
            home_prefixes: vec!["2001:db8:1::/64".parse().unwrap()],
            uplinks: uplinks.iter().map(|(n, p)| Uplink::new(n, *p)).collect(),
            home_address: Some(ip("2001:db8:1::100")),
        }
    }

    fn state(ifaces: Vec<Interface>) -> LinkState {
        let mut s = LinkState::new();
        let mut lo = iface(1, "lo", vec![addr("::1", 128)]);
        lo.loopback = true;
        s.insert(lo);
        for i in ifaces {
            s.insert(i);
        }
        s
    }

    fn foreign(coa: &str, ifindex: u32) -> Decision {
        Decision::Foreign {
            coa: ip(coa),
            ifindex,
        }
    }

    #[test]
    fn nothing_usable_is_disconnected() {
        let p = policy(&[]);
        assert_eq!(p.decide(&LinkState::new()), Decision::Disconnected);
        assert_eq!(p.decide(&state(vec![])), Decision::Disconnected);
        let only_ll = iface(2, "eth0", vec![addr("fe80::1", 64)]);
        assert_eq!(p.decide(&state(vec![only_ll])), Decision::Disconnected);
    }

    #[test]
    fn global_address_on_foreign_link_is_the_coa() {
        let p = policy(&[]);
        let s = state(vec![iface(
            2,
            "eth0",
            vec![addr("fe80::1", 64), addr("2001:db8:200::5", 64)],
        )]);
        assert_eq!(p.decide(&s), foreign("2001:db8:200::5", 2));
    }

    #[test]
    fn unusable_addresses_are_skipped() {
        let p = policy(&[]);
        let mut tentative = addr("2001:db8:200::1", 64);
        tentative.flags.tentative = true;
        let mut deprecated = addr("2001:db8:200::2", 64);
        deprecated.flags.deprecated = true;
        let mut failed = addr("2001:db8:200::3", 64);
        failed.flags.dad_failed = true;
        let mut expired = addr("2001:db8:200::4", 64);
        expired.preferred_lft = Some(0);
        let mut stale = addr("2001:db8:200::5", 64);
        stale.stale = true;
        let all = vec![tentative, deprecated, failed, expired, stale];
        let s = state(vec![iface(2, "eth0", all.clone())]);
        assert_eq!(p.decide(&s), Decision::Disconnected);
        let mut with_good = all;
        with_good.push(addr("2001:db8:200::6", 64));
        let s = state(vec![iface(2, "eth0", with_good)]);
        assert_eq!(p.decide(&s), foreign("2001:db8:200::6", 2));
    }

    #[test]
    fn optimistic_address_is_usable() {
        let p = policy(&[]);
        let mut opt = addr("2001:db8:200::1", 64);
        opt.flags.tentative = true;
        opt.flags.optimistic = true;
        let s = state(vec![iface(2, "eth0", vec![opt])]);
        assert_eq!(p.decide(&s), foreign("2001:db8:200::1", 2));
    }

    #[test]
    fn home_address_and_home_prefix_never_become_coa() {
        let p = policy(&[]);
        // The home address parked as a /128 on a dummy: neither home nor a CoA.
        let parked = iface(5, "hoa0", vec![addr("2001:db8:1::100", 128)]);
        assert_eq!(
            p.decide(&state(vec![parked.clone()])),
            Decision::Disconnected
        );
        let uplink = iface(2, "eth0", vec![addr("2001:db8:200::7", 64)]);
        assert_eq!(
            p.decide(&state(vec![parked, uplink])),
            foreign("2001:db8:200::7", 2)
        );
        // The home address with an on-link length elsewhere is still never a CoA.
        let mut p2 = policy(&[]);
        p2.home_prefixes.clear();
        let s = state(vec![iface(2, "eth0", vec![addr("2001:db8:1::100", 64)])]);
        assert_eq!(p2.decide(&s), Decision::Disconnected);
    }

    #[test]
    fn home_link_wins_over_foreign_uplinks() {
        let p = policy(&[("eth-a", 1), ("eth-b", 2)]);
        let a = iface(2, "eth-a", vec![addr("2001:db8:200::1", 64)]);
        let b = iface(3, "eth-b", vec![addr("2001:db8:1::99", 64)]);
        assert_eq!(p.decide(&state(vec![a, b])), Decision::Home { ifindex: 3 });
    }

    #[test]
    fn home_link_needs_carrier_and_a_usable_address() {
        let p = policy(&[]);
        let mut tentative = addr("2001:db8:1::99", 64);
        tentative.flags.tentative = true;
        let home = iface(2, "eth0", vec![tentative]);
        assert_eq!(p.decide(&state(vec![home])), Decision::Disconnected);
        let mut down = iface(2, "eth0", vec![addr("2001:db8:1::99", 64)]);
        down.carrier = false;
        let up = iface(3, "eth1", vec![addr("2001:db8:300::1", 64)]);
        assert_eq!(
            p.decide(&state(vec![down, up])),
            foreign("2001:db8:300::1", 3)
        );
    }

    #[test]
    fn priority_order_then_list_order() {
        let a = iface(2, "eth-a", vec![addr("2001:db8:200::1", 64)]);
        let b = iface(3, "eth-b", vec![addr("2001:db8:300::1", 64)]);
        let s = state(vec![a, b]);
        assert_eq!(
            policy(&[("eth-a", 1), ("eth-b", 2)]).decide(&s),
            foreign("2001:db8:200::1", 2)
        );
        assert_eq!(
            policy(&[("eth-a", 9), ("eth-b", 2)]).decide(&s),
            foreign("2001:db8:300::1", 3)
        );
        assert_eq!(
            policy(&[("eth-b", 0), ("eth-a", 0)]).decide(&s),
            foreign("2001:db8:300::1", 3)
        );
        // Not listed: never used.
        assert_eq!(policy(&[("eth-c", 0)]).decide(&s), Decision::Disconnected);
        // No list: by ifindex.
        assert_eq!(policy(&[]).decide(&s), foreign("2001:db8:200::1", 2));
    }

    #[test]
    fn carrier_loss_or_admin_down_moves_to_the_next_uplink() {
        let p = policy(&[("eth-a", 1), ("eth-b", 2)]);
        let mut a = iface(2, "eth-a", vec![addr("2001:db8:200::1", 64)]);
        let b = iface(3, "eth-b", vec![addr("2001:db8:300::1", 64)]);
        a.carrier = false;
        let s = state(vec![a.clone(), b.clone()]);
        assert_eq!(p.decide(&s), foreign("2001:db8:300::1", 3));
        a.carrier = true;
        a.admin_up = false;
        let s = state(vec![a, b]);
        assert_eq!(p.decide(&s), foreign("2001:db8:300::1", 3));
    }

    #[test]
    fn first_usable_address_in_arrival_order_wins() {
        let p = policy(&[]);
        let s = state(vec![iface(
            2,
            "eth0",
            vec![addr("2001:db8:200::9", 64), addr("2001:db8:200::1", 64)],
        )]);
        assert_eq!(p.decide(&s), foreign("2001:db8:200::9", 2));
    }

    #[test]
    fn loopback_is_never_a_candidate() {
        let p = policy(&[]);
        let mut lo = iface(1, "lo", vec![addr("2001:db8:500::1", 128)]);
        lo.loopback = true;
        assert_eq!(p.decide(&state(vec![lo])), Decision::Disconnected);
    }
}
