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
    use crate::snapshot::{Address, LinkEvent, LinkInfo};
    use std::net::Ipv6Addr;

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
}
