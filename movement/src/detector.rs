//! Turns successive snapshots into announcements: one per change of the decision, none for
//! the same state twice, and the current one again on request (SIGHUP).

use crate::policy::{Decision, MovementPolicy};
use crate::snapshot::LinkState;

/// Why a [`Change`] is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The first decision after start.
    Initial,
    /// The decision differs from the last one announced.
    Moved,
    /// Asked for again ([`Detector::reannounce`], SIGHUP): same decision as before.
    Reannounce,
}

/// One announcement for babymdd to turn into MD_INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// The last decision announced before this one (`None` on the first).
    pub previous: Option<Decision>,
    pub current: Decision,
}

/// Keeps the last decision and reports only changes.
#[derive(Debug, Clone)]
pub struct Detector {
    policy: MovementPolicy,
    last: Option<Decision>,
}

impl Detector {
    pub fn new(policy: MovementPolicy) -> Self {
        Self { policy, last: None }
    }

    pub fn policy(&self) -> &MovementPolicy {
        &self.policy
    }

    /// The last decision announced.
    pub fn current(&self) -> Option<&Decision> {
        self.last.as_ref()
    }

    /// Decides on `state`; `Some` only when the decision differs from the last one.
    pub fn update(&mut self, state: &LinkState) -> Option<Change> {
        let current = self.policy.decide(state);
        if self.last.as_ref() == Some(&current) {
            return None;
        }
        let kind = if self.last.is_none() {
            ChangeKind::Initial
        } else {
            ChangeKind::Moved
        };
        let previous = self.last.replace(current.clone());
        Some(Change {
            kind,
            previous,
            current,
        })
    }

    /// Replaces the policy (configuration reload) and decides again on `state`.
    pub fn set_policy(&mut self, policy: MovementPolicy, state: &LinkState) -> Option<Change> {
        self.policy = policy;
        self.update(state)
    }

    /// The current decision once more, for SIGHUP; `None` before the first decision.
    pub fn reannounce(&self) -> Option<Change> {
        self.last.as_ref().map(|d| Change {
            kind: ChangeKind::Reannounce,
            previous: Some(d.clone()),
            current: d.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Uplink;
    use crate::snapshot::{Address, LinkEvent, LinkInfo, PrefixInfo, RouterAdvertisement};
    use std::net::Ipv6Addr;
    use std::time::{Duration, Instant};

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn link(index: u32, name: &str, carrier: bool) -> LinkEvent {
        LinkEvent::Link(LinkInfo {
            index,
            name: name.into(),
            admin_up: true,
            carrier,
            loopback: false,
            carrier_down_count: None,
        })
    }

    fn add(index: u32, a: &str) -> LinkEvent {
        LinkEvent::Address {
            index,
            address: Address::new(ip(a), 64),
        }
    }

    fn detector() -> Detector {
        Detector::new(MovementPolicy {
            home_prefixes: vec!["2001:db8:1::/64".parse().unwrap()],
            uplinks: vec![Uplink::new("eth-a", 1), Uplink::new("eth-b", 2)],
            home_address: None,
        })
    }

    #[test]
    fn announces_each_state_once() {
        let mut d = detector();
        let mut s = LinkState::new();
        assert!(d.reannounce().is_none());
        let first = d.update(&s).unwrap();
        assert_eq!(first.kind, ChangeKind::Initial);
        assert_eq!(first.current, Decision::Disconnected);
        assert!(d.update(&s).is_none());

        s.apply(link(2, "eth-a", true));
        s.apply(link(3, "eth-b", true));
        assert!(d.update(&s).is_none(), "no address yet: still disconnected");
        s.apply(add(3, "2001:db8:300::1"));
        let c = d.update(&s).unwrap();
        assert_eq!(c.kind, ChangeKind::Moved);
        assert_eq!(
            c.current,
            Decision::Foreign {
                coa: ip("2001:db8:300::1"),
                ifindex: 3
            }
        );
        s.apply(add(2, "2001:db8:200::1"));
        let c = d.update(&s).unwrap();
        assert_eq!(
            c.previous,
            Some(Decision::Foreign {
                coa: ip("2001:db8:300::1"),
                ifindex: 3
            })
        );
        assert_eq!(
            c.current,
            Decision::Foreign {
                coa: ip("2001:db8:200::1"),
                ifindex: 2
            }
        );
        // Unrelated events: nothing to announce.
        s.apply(add(3, "2001:db8:300::2"));
        s.apply(add(2, "2001:db8:200::2"));
        assert!(d.update(&s).is_none());

        s.apply(link(2, "eth-a", false));
        let c = d.update(&s).unwrap();
        assert_eq!(
            c.current,
            Decision::Foreign {
                coa: ip("2001:db8:300::1"),
                ifindex: 3
            }
        );
        s.apply(add(3, "2001:db8:1::5"));
        assert_eq!(d.update(&s).unwrap().current, Decision::Home { ifindex: 3 });
        assert!(d.update(&s).is_none());
    }

    #[test]
    fn reannounce_repeats_the_current_decision() {
        let mut d = detector();
        let mut s = LinkState::new();
        s.apply(link(2, "eth-a", true));
        s.apply(add(2, "2001:db8:200::1"));
        let first = d.update(&s).unwrap();
        let again = d.reannounce().unwrap();
        assert_eq!(again.kind, ChangeKind::Reannounce);
        assert_eq!(again.current, first.current);
        assert!(d.update(&s).is_none(), "reannouncing changes nothing");
    }

    #[test]
    fn policy_reload_decides_again() {
        let mut d = detector();
        let mut s = LinkState::new();
        s.apply(link(2, "eth-a", true));
        s.apply(link(3, "eth-b", true));
        s.apply(add(2, "2001:db8:200::1"));
        s.apply(add(3, "2001:db8:300::1"));
        d.update(&s).unwrap();
        let mut p = d.policy().clone();
        assert!(d.set_policy(p.clone(), &s).is_none());
        p.uplinks = vec![Uplink::new("eth-b", 1)];
        let c = d.set_policy(p, &s).unwrap();
        assert_eq!(
            c.current,
            Decision::Foreign {
                coa: ip("2001:db8:300::1"),
                ifindex: 3
            }
        );
    }

    /// An RA on `index` at `at` with `(prefix, L, A, valid lifetime)` options.
    fn ra(index: u32, at: Instant, prefixes: &[(&str, bool, bool, Option<u32>)]) -> LinkEvent {
        LinkEvent::RouterAdvertisement {
            index,
            at,
            ra: RouterAdvertisement {
                source: ip("fe80::1"),
                router_lifetime: 1800,
                prefixes: prefixes
                    .iter()
                    .map(|(p, l, a, valid)| PrefixInfo {
                        prefix: p.parse().unwrap(),
                        on_link: *l,
                        autoconf: *a,
                        valid_lft: *valid,
                        preferred_lft: *valid,
                    })
                    .collect(),
            },
        }
    }

    fn home_ra(index: u32, at: Instant) -> LinkEvent {
        ra(index, at, &[("2001:db8:1::/64", true, false, Some(1800))])
    }

    fn static_address(index: u32, a: &str) -> LinkEvent {
        let mut address = Address::new(ip(a), 64);
        address.flags.permanent = true;
        LinkEvent::Address { index, address }
    }

    const HOME_A: Decision = Decision::Home { ifindex: 2 };

    #[test]
    fn start_on_a_home_link_without_slaac_is_home_by_the_ra() {
        let mut d = detector();
        let mut s = LinkState::new();
        s.apply(link(2, "eth-a", true));
        s.apply(add(2, "fe80::5"));
        // No global address at all: the address rule alone says nothing.
        let first = d.update(&s).unwrap();
        assert_eq!(first.current, Decision::Disconnected);
        // The home link's router advertises the home prefix with A=0.
        assert!(s.apply(home_ra(2, Instant::now())));
        let c = d.update(&s).unwrap();
        assert_eq!(c.current, HOME_A);
        // The same RA again: nothing new to announce.
        assert!(!s.apply(home_ra(2, Instant::now())));
        assert!(d.update(&s).is_none());
    }

    #[test]
    fn initial_decision_on_a_home_link_is_home() {
        let mut d = detector();
        let mut s = LinkState::new();
        s.apply(link(2, "eth-a", true));
        s.apply(home_ra(2, Instant::now()));
        let first = d.update(&s).unwrap();
        assert_eq!(first.kind, ChangeKind::Initial);
        assert_eq!(first.current, HOME_A);
    }

    #[test]
    fn home_by_address_alone_when_no_ra_was_seen() {
        let mut d = detector();
        let mut s = LinkState::new();
        s.apply(link(2, "eth-a", true));
        s.apply(static_address(2, "2001:db8:1::99"));
        assert_eq!(d.update(&s).unwrap().current, HOME_A);
    }

    #[test]
    fn ra_without_the_home_prefix_leaves_home_even_with_a_static_home_address() {
        let mut d = detector();
        let mut s = LinkState::new();
        let t = Instant::now();
        s.apply(link(2, "eth-a", true));
        s.apply(static_address(2, "2001:db8:1::99"));
        s.apply(home_ra(2, t));
        assert_eq!(d.update(&s).unwrap().current, HOME_A);
        // Another router's RA (no carrier loss): only a foreign prefix on-link.
        s.apply(ra(2, t, &[("2001:db8:200::/64", true, true, Some(1800))]));
        s.apply(add(2, "2001:db8:200::1"));
        assert_eq!(
            d.update(&s).unwrap().current,
            Decision::Foreign {
                coa: ip("2001:db8:200::1"),
                ifindex: 2
            }
        );
        // The home prefix advertised without the L flag is not on-link: still away.
        s.apply(ra(2, t, &[("2001:db8:1::/64", false, true, Some(1800))]));
        assert!(matches!(d.current(), Some(Decision::Foreign { .. })));
        assert!(d.update(&s).is_none());
        // An RA without Prefix Information says nothing either way.
        s.apply(home_ra(2, t));
        assert_eq!(d.update(&s).unwrap().current, HOME_A);
        assert!(!s.apply(ra(2, t, &[])));
        assert!(d.update(&s).is_none());
        // The home prefix withdrawn (valid lifetime 0): away.
        s.apply(ra(2, t, &[("2001:db8:1::/64", true, false, Some(0))]));
        assert!(matches!(
            d.update(&s).unwrap().current,
            Decision::Foreign { .. }
        ));
    }

    #[test]
    fn carrier_loss_forgets_the_home_link_until_the_next_ra() {
        let mut d = detector();
        let mut s = LinkState::new();
        let t = Instant::now();
        s.apply(link(2, "eth-a", true));
        s.apply(home_ra(2, t));
        assert_eq!(d.update(&s).unwrap().current, HOME_A);
        s.apply(link(2, "eth-a", false));
        assert_eq!(d.update(&s).unwrap().current, Decision::Disconnected);
        s.apply(link(2, "eth-a", true));
        assert!(s.interface(2).unwrap().advertised.is_none());
        assert!(d.update(&s).is_none(), "carrier back, no RA yet: not home");
        // Moved to a foreign link.
        s.apply(ra(2, t, &[("2001:db8:200::/64", true, true, Some(1800))]));
        s.apply(add(2, "2001:db8:200::1"));
        assert!(matches!(
            d.update(&s).unwrap().current,
            Decision::Foreign { ifindex: 2, .. }
        ));
        // And back home (the foreign SLAAC address, now stale, stays on the interface).
        s.apply(link(2, "eth-a", false));
        s.apply(link(2, "eth-a", true));
        assert_eq!(d.update(&s).unwrap().current, Decision::Disconnected);
        s.apply(home_ra(2, t));
        assert_eq!(d.update(&s).unwrap().current, HOME_A);
    }

    #[test]
    fn expired_home_prefix_is_no_longer_home() {
        let mut d = detector();
        let mut s = LinkState::new();
        let t = Instant::now();
        s.apply(link(2, "eth-a", true));
        s.apply(ra(2, t, &[("2001:db8:1::/64", true, false, Some(30))]));
        s.apply(ra(
            2,
            t,
            &[
                ("2001:db8:1::/64", true, false, Some(30)),
                ("2001:db8:9::/64", true, false, None),
            ],
        ));
        assert_eq!(d.update(&s).unwrap().current, HOME_A);
        assert_eq!(s.next_expiry(), Some(t + Duration::from_secs(30)));
        assert!(!s.apply(LinkEvent::Expire {
            now: t + Duration::from_secs(29)
        }));
        assert!(s.apply(LinkEvent::Expire {
            now: t + Duration::from_secs(30)
        }));
        assert_eq!(s.next_expiry(), None, "the infinite one stays");
        assert_eq!(d.update(&s).unwrap().current, Decision::Disconnected);
    }

    #[test]
    fn home_by_ra_on_a_lower_priority_uplink_wins_over_a_foreign_one() {
        let mut d = detector();
        let mut s = LinkState::new();
        s.apply(link(2, "eth-a", true));
        s.apply(link(3, "eth-b", true));
        s.apply(add(2, "2001:db8:200::1"));
        s.apply(home_ra(3, Instant::now()));
        assert_eq!(d.update(&s).unwrap().current, Decision::Home { ifindex: 3 });
    }
}
