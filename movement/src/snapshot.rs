//! What the detector knows about the node's links and IPv6 addresses: a snapshot kept up to
//! date by [`LinkEvent`]s (from rtnetlink, or built by hand in tests). No I/O here.

use ipnet::Ipv6Net;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// Address scope as the kernel reports it (`ifa_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Other(u8),
}

/// The `IFA_F_*` flags the decision looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressFlags {
    /// Duplicate Address Detection still running: the address must not be used.
    pub tentative: bool,
    /// Optimistic DAD (RFC 4429): usable while DAD runs.
    pub optimistic: bool,
    /// Preferred lifetime over: keep for existing sessions only.
    pub deprecated: bool,
    /// DAD found a duplicate.
    pub dad_failed: bool,
    /// Configured by hand (no lifetimes); never made stale by a link change.
    pub permanent: bool,
}

/// One IPv6 address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub addr: Ipv6Addr,
    pub prefix_len: u8,
    pub scope: Scope,
    pub flags: AddressFlags,
    /// Seconds; `None` means forever.
    pub preferred_lft: Option<u32>,
    /// Seconds; `None` means forever.
    pub valid_lft: Option<u32>,
    /// Learned on an earlier attachment: the interface lost carrier since, and no Router
    /// Advertisement on the current link has announced its prefix. Linux keeps SLAAC
    /// addresses across a carrier loss (and re-runs DAD on the new link), so without this an
    /// L2 move would keep the previous link's address as care-of address.
    pub stale: bool,
}

impl Address {
    /// A fresh, preferred, permanent-lifetime address (handy for tests and static configs).
    pub fn new(addr: Ipv6Addr, prefix_len: u8) -> Self {
        let scope = if addr.is_unicast_link_local() {
            Scope::Link
        } else if addr.is_loopback() {
            Scope::Host
        } else {
            Scope::Global
        };
        Self {
            addr,
            prefix_len,
            scope,
            flags: AddressFlags::default(),
            preferred_lft: None,
            valid_lft: None,
            stale: false,
        }
    }

    /// Usable as a source right now: not tentative (optimistic counts as usable), not
    /// deprecated, DAD did not fail, not stale.
    pub fn is_usable(&self) -> bool {
        let f = &self.flags;
        (!f.tentative || f.optimistic)
            && !f.deprecated
            && !f.dad_failed
            && self.preferred_lft != Some(0)
            && !self.stale
    }

    /// Global scope and a global-looking unicast address (not link-local, loopback,
    /// multicast or unspecified).
    pub fn is_global(&self) -> bool {
        self.scope == Scope::Global
            && !self.addr.is_unicast_link_local()
            && !self.addr.is_loopback()
            && !self.addr.is_multicast()
            && !self.addr.is_unspecified()
    }
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// Carrier present and operationally up (`IFF_LOWER_UP` and `IFF_RUNNING`).
    pub carrier: bool,
    pub loopback: bool,
    /// Last `IFLA_CARRIER_DOWN_COUNT` seen.
    pub carrier_down_count: Option<u32>,
    /// In the order they became known (stable: a new address never reorders older ones).
    pub addresses: Vec<Address>,
    /// The on-link prefixes of the last Router Advertisement received here that carried
    /// Prefix Information, each until its valid lifetime ends. `None`: no such RA since the
    /// interface last gained carrier (a carrier loss forgets them: the next attachment may be
    /// another link). This is how the MR knows its home link (RFC 6275 11.5.1), with or
    /// without SLAAC there.
    pub advertised: Option<Vec<OnLinkPrefix>>,
}

/// A prefix a Router Advertisement announced as on-link (L flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnLinkPrefix {
    pub prefix: Ipv6Net,
    /// End of the valid lifetime; `None`: infinite.
    pub expires: Option<Instant>,
}

/// One Prefix Information option (RFC 4861 4.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix: Ipv6Net,
    /// L flag.
    pub on_link: bool,
    /// A flag (SLAAC).
    pub autoconf: bool,
    /// Seconds; `None`: infinite (all ones).
    pub valid_lft: Option<u32>,
    /// Seconds; `None`: infinite (all ones).
    pub preferred_lft: Option<u32>,
}

/// What the detector reads from a Router Advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterAdvertisement {
    /// The router's link-local address.
    pub source: Ipv6Addr,
    /// Router lifetime in seconds (0: not a default router).
    pub router_lifetime: u16,
    pub prefixes: Vec<PrefixInfo>,
}

impl Interface {
    pub fn new(index: u32, name: &str) -> Self {
        Self {
            index,
            name: name.to_string(),
            admin_up: true,
            carrier: true,
            loopback: false,
            carrier_down_count: None,
            addresses: Vec::new(),
            advertised: None,
        }
    }

    /// Up and with carrier: packets can leave through it.
    pub fn is_running(&self) -> bool {
        self.admin_up && self.carrier
    }

    /// First non-tentative link-local address (a valid Router Solicitation source).
    pub fn link_local(&self) -> Option<Ipv6Addr> {
        self.addresses
            .iter()
            .find(|a| a.addr.is_unicast_link_local() && a.is_usable())
            .map(|a| a.addr)
    }
}

/// Link state of an interface as reported in `RTM_NEWLINK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub admin_up: bool,
    pub carrier: bool,
    pub loopback: bool,
    /// `IFLA_CARRIER_DOWN_COUNT`: counts every carrier loss, also those the kernel's link
    /// watch folds into one notification when carrier returns quickly (a fast L2 move).
    pub carrier_down_count: Option<u32>,
}

/// One change to the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// `RTM_NEWLINK`: an interface appeared or its flags changed.
    Link(LinkInfo),
    /// `RTM_DELLINK`.
    LinkRemoved { index: u32 },
    /// `RTM_NEWADDR` (IPv6): an address appeared or its flags/lifetimes changed.
    Address { index: u32, address: Address },
    /// `RTM_DELADDR` (IPv6).
    AddressRemoved { index: u32, addr: Ipv6Addr },
    /// `RTM_NEWPREFIX`: a Router Advertisement on `index` announced `prefix`.
    PrefixAdvertised { index: u32, prefix: Ipv6Net },
    /// A Router Advertisement received on `index` at `at` (from a raw ICMPv6 socket).
    RouterAdvertisement {
        index: u32,
        ra: RouterAdvertisement,
        at: Instant,
    },
    /// The clock reached `now`: prefixes whose valid lifetime ended are forgotten.
    Expire { now: Instant },
}

/// The node's interfaces and their IPv6 addresses, by interface index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    interfaces: BTreeMap<u32, Interface>,
}

impl LinkState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Interfaces ordered by index.
    pub fn interfaces(&self) -> impl Iterator<Item = &Interface> {
        self.interfaces.values()
    }

    pub fn interface(&self, index: u32) -> Option<&Interface> {
        self.interfaces.get(&index)
    }

    pub fn interface_by_name(&self, name: &str) -> Option<&Interface> {
        self.interfaces.values().find(|i| i.name == name)
    }

    /// Adds or replaces a whole interface (tests, and building a snapshot from a dump).
    pub fn insert(&mut self, interface: Interface) {
        self.interfaces.insert(interface.index, interface);
    }

    /// Applies one event; returns whether anything the decision reads changed.
    pub fn apply(&mut self, event: LinkEvent) -> bool {
        match event {
            LinkEvent::Link(info) => self.apply_link(info),
            LinkEvent::LinkRemoved { index } => self.interfaces.remove(&index).is_some(),
            LinkEvent::Address { index, address } => self.apply_address(index, address),
            LinkEvent::AddressRemoved { index, addr } => {
                let Some(iface) = self.interfaces.get_mut(&index) else {
                    return false;
                };
                let before = iface.addresses.len();
                iface.addresses.retain(|a| a.addr != addr);
                iface.addresses.len() != before
            }
            LinkEvent::PrefixAdvertised { index, prefix } => {
                let Some(iface) = self.interfaces.get_mut(&index) else {
                    return false;
                };
                confirm_addresses(iface, &prefix)
            }
            LinkEvent::RouterAdvertisement { index, ra, at } => {
                self.apply_router_advertisement(index, &ra, at)
            }
            LinkEvent::Expire { now } => {
                let mut changed = false;
                for iface in self.interfaces.values_mut() {
                    if let Some(prefixes) = iface.advertised.as_mut() {
                        let before = prefixes.len();
                        prefixes.retain(|p| p.expires.is_none_or(|e| e > now));
                        changed |= prefixes.len() != before;
                    }
                }
                changed
            }
        }
    }

    /// When the next advertised prefix expires (for the watcher's timer).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.interfaces
            .values()
            .filter_map(|i| i.advertised.as_ref())
            .flatten()
            .filter_map(|p| p.expires)
            .min()
    }

    /// An RA with Prefix Information replaces what the interface knows of its link's on-link
    /// prefixes. An RA without any says nothing (RFC 4861 6.2.3 lets routers spread their
    /// prefixes over several RAs and send some with none): it changes nothing. A prefix with
    /// valid lifetime 0 is withdrawn.
    fn apply_router_advertisement(
        &mut self,
        index: u32,
        ra: &RouterAdvertisement,
        at: Instant,
    ) -> bool {
        let Some(iface) = self.interfaces.get_mut(&index) else {
            return false;
        };
        let mut changed = false;
        for p in ra.prefixes.iter().filter(|p| p.valid_lft != Some(0)) {
            changed |= confirm_addresses(iface, &p.prefix);
        }
        if ra.prefixes.is_empty() {
            return changed;
        }
        let fresh: Vec<OnLinkPrefix> = ra
            .prefixes
            .iter()
            .filter(|p| p.on_link && p.valid_lft != Some(0))
            .map(|p| OnLinkPrefix {
                prefix: p.prefix,
                expires: p
                    .valid_lft
                    .map(|secs| at + Duration::from_secs(u64::from(secs))),
            })
            .collect();
        let same_prefixes = iface.advertised.as_ref().is_some_and(|old| {
            old.len() == fresh.len() && old.iter().zip(&fresh).all(|(a, b)| a.prefix == b.prefix)
        });
        iface.advertised = Some(fresh);
        changed || !same_prefixes
    }

    /// Replaces the snapshot with a fresh dump, keeping what a dump cannot tell: the order in
    /// which known addresses appeared and which of them are stale.
    pub fn replace_with_dump(&mut self, links: Vec<LinkInfo>, addresses: Vec<(u32, Address)>) {
        let old = std::mem::take(&mut self.interfaces);
        for info in links {
            let mut iface = Interface::new(info.index, &info.name);
            iface.admin_up = info.admin_up;
            iface.carrier = info.carrier;
            iface.loopback = info.loopback;
            iface.carrier_down_count = info.carrier_down_count;
            // A dump cannot tell what Router Advertisements said.
            iface.advertised = old.get(&info.index).and_then(|o| o.advertised.clone());
            self.interfaces.insert(info.index, iface);
        }
        // Known addresses first, in their old order, then new ones in dump order.
        let mut fresh: BTreeMap<u32, Vec<Address>> = BTreeMap::new();
        for (index, address) in addresses {
            fresh.entry(index).or_default().push(address);
        }
        for (index, iface) in self.interfaces.iter_mut() {
            let mut dumped = fresh.remove(index).unwrap_or_default();
            if let Some(previous) = old.get(index) {
                for known in &previous.addresses {
                    if let Some(pos) = dumped.iter().position(|a| a.addr == known.addr) {
                        let mut a = dumped.remove(pos);
                        a.stale = known.stale;
                        iface.addresses.push(a);
                    }
                }
            }
            iface.addresses.extend(dumped);
        }
    }

    fn apply_link(&mut self, info: LinkInfo) -> bool {
        let iface = self
            .interfaces
            .entry(info.index)
            .or_insert_with(|| Interface::new(info.index, &info.name));
        let was_running = iface.is_running();
        let lost_carrier_unseen = matches!(
            (iface.carrier_down_count, info.carrier_down_count),
            (Some(old), Some(new)) if new != old
        );
        let before = (
            iface.name.clone(),
            iface.admin_up,
            iface.carrier,
            iface.loopback,
        );
        iface.name = info.name;
        iface.admin_up = info.admin_up;
        iface.carrier = info.carrier;
        iface.loopback = info.loopback;
        if info.carrier_down_count.is_some() {
            iface.carrier_down_count = info.carrier_down_count;
        }
        if (was_running && !iface.is_running()) || lost_carrier_unseen {
            // The next attachment may be another link: what SLAAC learned here must be
            // confirmed again by a Router Advertisement there.
            for a in iface.addresses.iter_mut() {
                if !a.flags.permanent && a.is_global() {
                    a.stale = true;
                }
            }
            iface.advertised = None;
        }
        let after = (
            iface.name.clone(),
            iface.admin_up,
            iface.carrier,
            iface.loopback,
        );
        before != after || lost_carrier_unseen
    }

    fn apply_address(&mut self, index: u32, address: Address) -> bool {
        let iface = self
            .interfaces
            .entry(index)
            .or_insert_with(|| Interface::new(index, &format!("if{index}")));
        match iface.addresses.iter_mut().find(|a| a.addr == address.addr) {
            Some(known) => {
                // Lifetimes only count down unless a Router Advertisement (or DHCPv6) on the
                // current link renews them: an extension confirms the address here.
                let renewed = match (known.valid_lft, address.valid_lft) {
                    (Some(old), Some(new)) => new > old,
                    (Some(_), None) => true,
                    _ => false,
                };
                let stale = known.stale && !renewed;
                let updated = Address { stale, ..address };
                let changed = *known != updated;
                *known = updated;
                changed
            }
            None => {
                iface.addresses.push(address);
                true
            }
        }
    }
}

/// Addresses inside `prefix` were learnt on this link: not stale any more.
fn confirm_addresses(iface: &mut Interface, prefix: &Ipv6Net) -> bool {
    let mut changed = false;
    for a in iface.addresses.iter_mut() {
        if a.stale && prefix.contains(&a.addr) {
            a.stale = false;
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
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

    fn slaac(addr: &str) -> Address {
        let mut x = Address::new(a(addr), 64);
        x.preferred_lft = Some(14400);
        x.valid_lft = Some(86400);
        x
    }

    #[test]
    fn carrier_loss_makes_slaac_addresses_stale_until_their_prefix_is_advertised() {
        let mut s = LinkState::new();
        s.apply(link(2, "up0", true));
        s.apply(LinkEvent::Address {
            index: 2,
            address: slaac("2001:db8:200::1"),
        });
        let mut fixed = Address::new(a("2001:db8:9::1"), 64);
        fixed.flags.permanent = true;
        s.apply(LinkEvent::Address {
            index: 2,
            address: fixed,
        });
        assert!(s.apply(link(2, "up0", false)));
        assert!(s.apply(link(2, "up0", true)));
        let iface = s.interface(2).unwrap();
        assert!(iface.addresses[0].stale);
        assert!(!iface.addresses[1].stale, "hand-made addresses stay");
        // DAD re-run on the new link updates the address but does not confirm it.
        assert!(!s.apply(LinkEvent::Address {
            index: 2,
            address: slaac("2001:db8:200::1"),
        }));
        assert!(s.interface(2).unwrap().addresses[0].stale);
        assert!(!s.apply(LinkEvent::PrefixAdvertised {
            index: 2,
            prefix: "2001:db8:300::/64".parse().unwrap(),
        }));
        assert!(s.apply(LinkEvent::PrefixAdvertised {
            index: 2,
            prefix: "2001:db8:200::/64".parse().unwrap(),
        }));
        assert!(!s.interface(2).unwrap().addresses[0].stale);
    }

    #[test]
    fn carrier_loss_hidden_by_link_watch_is_seen_in_the_down_count() {
        let counted = |down: u32| {
            LinkEvent::Link(LinkInfo {
                index: 2,
                name: "up0".into(),
                admin_up: true,
                carrier: true,
                loopback: false,
                carrier_down_count: Some(down),
            })
        };
        let mut s = LinkState::new();
        s.apply(counted(1));
        s.apply(LinkEvent::Address {
            index: 2,
            address: slaac("2001:db8:200::1"),
        });
        assert!(!s.apply(counted(1)), "same count, nothing happened");
        assert!(!s.interface(2).unwrap().addresses[0].stale);
        // Carrier went down and up between two notifications.
        assert!(s.apply(counted(2)));
        assert!(s.interface(2).unwrap().addresses[0].stale);
    }

    #[test]
    fn renewed_lifetime_confirms_a_stale_address() {
        let mut s = LinkState::new();
        s.apply(link(2, "up0", true));
        s.apply(LinkEvent::Address {
            index: 2,
            address: slaac("2001:db8:200::1"),
        });
        s.apply(link(2, "up0", false));
        s.apply(link(2, "up0", true));
        // Counting down (DAD re-run on some link): still stale.
        let mut older = slaac("2001:db8:200::1");
        older.valid_lft = Some(86000);
        s.apply(LinkEvent::Address {
            index: 2,
            address: older,
        });
        assert!(s.interface(2).unwrap().addresses[0].stale);
        // Renewed by an RA or DHCPv6 here.
        assert!(s.apply(LinkEvent::Address {
            index: 2,
            address: slaac("2001:db8:200::1"),
        }));
        assert!(!s.interface(2).unwrap().addresses[0].stale);
    }

    #[test]
    fn address_updates_keep_order_and_removal_works() {
        let mut s = LinkState::new();
        s.apply(link(3, "up1", true));
        for x in ["2001:db8::1", "2001:db8::2"] {
            s.apply(LinkEvent::Address {
                index: 3,
                address: slaac(x),
            });
        }
        let mut dep = slaac("2001:db8::1");
        dep.flags.deprecated = true;
        assert!(s.apply(LinkEvent::Address {
            index: 3,
            address: dep
        }));
        let order: Vec<_> = s
            .interface(3)
            .unwrap()
            .addresses
            .iter()
            .map(|x| x.addr)
            .collect();
        assert_eq!(order, vec![a("2001:db8::1"), a("2001:db8::2")]);
        assert!(s.apply(LinkEvent::AddressRemoved {
            index: 3,
            addr: a("2001:db8::1")
        }));
        assert!(!s.apply(LinkEvent::AddressRemoved {
            index: 3,
            addr: a("2001:db8::1")
        }));
        assert!(!s.apply(LinkEvent::AddressRemoved {
            index: 99,
            addr: a("2001:db8::1")
        }));
        assert!(s.apply(LinkEvent::LinkRemoved { index: 3 }));
        assert!(s.interface(3).is_none());
    }

    #[test]
    fn dump_keeps_known_order_and_staleness() {
        let mut s = LinkState::new();
        s.apply(link(2, "up0", true));
        s.apply(LinkEvent::Address {
            index: 2,
            address: slaac("2001:db8:1::1"),
        });
        s.apply(link(2, "up0", false));
        s.apply(link(2, "up0", true));
        let links = vec![LinkInfo {
            index: 2,
            name: "up0".into(),
            admin_up: true,
            carrier: true,
            loopback: false,
            carrier_down_count: None,
        }];
        // The kernel dumps newest first.
        let addrs = vec![(2, slaac("2001:db8:2::1")), (2, slaac("2001:db8:1::1"))];
        s.replace_with_dump(links, addrs);
        let iface = s.interface(2).unwrap();
        assert_eq!(iface.addresses[0].addr, a("2001:db8:1::1"));
        assert!(iface.addresses[0].stale);
        assert_eq!(iface.addresses[1].addr, a("2001:db8:2::1"));
        assert!(!iface.addresses[1].stale);
    }

    #[test]
    fn usability_rules() {
        let mut x = slaac("2001:db8::1");
        assert!(x.is_usable());
        x.flags.tentative = true;
        assert!(!x.is_usable());
        x.flags.optimistic = true;
        assert!(x.is_usable(), "optimistic addresses are usable");
        x.flags = AddressFlags::default();
        x.preferred_lft = Some(0);
        assert!(!x.is_usable());
        x.preferred_lft = None;
        x.flags.dad_failed = true;
        assert!(!x.is_usable());
        assert!(!Address::new(a("fe80::1"), 64).is_global());
        assert!(Address::new(a("2001:db8::1"), 64).is_global());
    }
}
