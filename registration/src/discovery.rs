//! The mobile router's side of discovery: Dynamic Home Agent Address Discovery with the R
//! flag (RFC 6275 11.4.1, RFC 3963 7), the choice of the next home agent when registration
//! with one fails, and Mobile Prefix Discovery (RFC 6275 11.4.2). No I/O: packets in,
//! packets and decisions out; the daemon hands the chosen home agent to
//! [`crate::mr::MobileRouter::set_home_agent`].
//!
//! Mobile Prefix Solicitations are plain ICMPv6 from the care-of address to the home agent,
//! not from the home address with a Home Address option as RFC 6275 6.7 has it: without
//! kernel MIP6 the home agent's kernel answers a Home Address option with a Parameter
//! Problem (the nftables guard of `mhsock` covers Mobility Headers only) and the reply would
//! need a type 2 routing header the mobile router's kernel refuses likewise. The home agent
//! finds the binding by the care-of address instead (`homeagents::answer_prefix_solicitation`),
//! which proves as much as an unprotected Home Address option would (RFC 6275 wants IPsec
//! for both; neither end has it).

use crate::mr::{DeregReason, MrAction, MAX_BINDACK_TIMEOUT};
use ipnet::Ipv6Net;
use mip6::icmp::{home_agents_anycast, IcmpRepr};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// RFC 6275 12: first wait for a DHAAD reply, doubled at each retransmission.
pub const INITIAL_DHAAD_TIMEOUT: Duration = Duration::from_secs(3);
/// RFC 6275 12: the back-off doubles this many times; later requests keep the last wait.
pub const DHAAD_RETRIES: u32 = 4;
/// RFC 6275 12: first wait for a Mobile Prefix Advertisement.
pub const INITIAL_SOLICIT_TIMER: Duration = Duration::from_secs(3);
/// RFC 6275 12: Mobile Prefix Solicitations back off up to this.
pub const MAX_SOLICIT_TIMER: Duration = MAX_BINDACK_TIMEOUT;
/// The soonest a mobile router asks again after an advertisement: the home agent ties the
/// prefix lifetimes to the binding's, which refreshes anyway; short test lifetimes must not
/// turn this into a stream of solicitations.
pub const MIN_RESOLICIT_INTERVAL: Duration = Duration::from_secs(30);

/// What the daemon must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryAction {
    /// Send this complete IPv6 packet (ICMPv6) on the raw socket.
    Send(Vec<u8>),
    /// Register with this home agent from now on.
    UseHomeAgent(Ipv6Addr),
    /// A DHAAD reply listed these home agents (announce it).
    HomeAgents(Vec<Ipv6Addr>),
    /// Discovery is not getting anywhere (logged and announced; it goes on).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    Asking {
        id: u16,
        timeout: Duration,
        retry_at: Instant,
        sent: u32,
    },
    Using {
        list: Vec<Ipv6Addr>,
        index: usize,
    },
}

/// DHAAD and home agent failover for one home prefix.
#[derive(Debug, Clone)]
pub struct HomeAgentDiscovery {
    home_prefix: Ipv6Net,
    /// Where requests go from: the care-of address away, the home address at home.
    source: Option<Ipv6Addr>,
    state: State,
    next_id: u16,
    /// The home agent registration last failed with. The other home agents keep listing a
    /// dead one until its lifetime in their lists runs out, so a new reply tries it last.
    failed: Option<Ipv6Addr>,
}

impl HomeAgentDiscovery {
    /// `first_id` should differ between runs (the daemon passes something random-ish).
    pub fn new(home_prefix: Ipv6Net, first_id: u16) -> Self {
        Self {
            home_prefix,
            source: None,
            state: State::Idle,
            next_id: first_id,
            failed: None,
        }
    }

    /// The Home-Agents anycast address requests go to.
    pub fn anycast(&self) -> Ipv6Addr {
        home_agents_anycast(self.home_prefix.network(), self.home_prefix.prefix_len())
    }

    /// The home agent in use, if one was found.
    pub fn current(&self) -> Option<Ipv6Addr> {
        match &self.state {
            State::Using { list, index } => list.get(*index).copied(),
            _ => None,
        }
    }

    /// The list of the last reply.
    pub fn list(&self) -> &[Ipv6Addr] {
        match &self.state {
            State::Using { list, .. } => list,
            _ => &[],
        }
    }

    /// The mobile router has care-of address `coa` (a move). Asks if no home agent is known;
    /// a request under way is sent again at once from the new address.
    pub fn move_to(&mut self, coa: Ipv6Addr, now: Instant) -> Vec<DiscoveryAction> {
        self.ask_from(coa, now)
    }

    /// The mobile router is on its home link with home address `hoa`. A known home agent is
    /// kept (the deregistration goes to it); else it asks from there (RFC 6275 11.4.1 lets a
    /// mobile node ask at any time; the anycast address is on-link at home), so that it
    /// knows the home agent its IPv4 goes to at home before its first registration.
    pub fn at_home(&mut self, hoa: Ipv6Addr, now: Instant) -> Vec<DiscoveryAction> {
        self.ask_from(hoa, now)
    }

    fn ask_from(&mut self, source: Ipv6Addr, now: Instant) -> Vec<DiscoveryAction> {
        let moved = self.source != Some(source);
        self.source = Some(source);
        match self.state {
            State::Using { .. } => Vec::new(),
            State::Asking { .. } if !moved => Vec::new(),
            _ => self.ask(INITIAL_DHAAD_TIMEOUT, 0, now),
        }
    }

    fn ask(&mut self, timeout: Duration, sent: u32, now: Instant) -> Vec<DiscoveryAction> {
        let Some(source) = self.source else {
            self.state = State::Idle;
            return Vec::new();
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.state = State::Asking {
            id,
            timeout,
            retry_at: now + timeout,
            sent: sent + 1,
        };
        let req = IcmpRepr::DhaadRequest {
            id,
            mobile_router: true,
        };
        vec![DiscoveryAction::Send(req.emit_packet(
            source,
            self.anycast(),
            64,
        ))]
    }

    pub fn next_timer(&self) -> Option<Instant> {
        match self.state {
            State::Asking { retry_at, .. } => Some(retry_at),
            _ => None,
        }
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<DiscoveryAction> {
        let State::Asking {
            timeout,
            retry_at,
            sent,
            ..
        } = self.state
        else {
            return Vec::new();
        };
        if retry_at > now {
            return Vec::new();
        }
        let mut actions = Vec::new();
        let next = if sent <= DHAAD_RETRIES {
            timeout * 2
        } else {
            timeout
        };
        if sent == DHAAD_RETRIES + 1 {
            actions.push(DiscoveryAction::Failed(format!(
                "no DHAAD reply to {} requests to {}; still asking every {:?}",
                sent,
                self.anycast(),
                next
            )));
        }
        actions.extend(self.ask(next, sent, now));
        actions
    }

    /// A DHAAD reply from `src`. Only the answer to our outstanding request counts, and with
    /// the R flag (we asked for home agents supporting mobile routers); the first address of
    /// the list is used.
    pub fn handle_reply(
        &mut self,
        reply: &IcmpRepr,
        src: Ipv6Addr,
        now: Instant,
    ) -> Vec<DiscoveryAction> {
        let IcmpRepr::DhaadReply {
            id,
            mobile_router,
            home_agents,
        } = reply
        else {
            return Vec::new();
        };
        let State::Asking {
            id: want, timeout, ..
        } = self.state
        else {
            tracing::info!("DHAAD reply from {src} ignored: no request outstanding");
            return Vec::new();
        };
        if *id != want {
            tracing::info!("DHAAD reply from {src} ignored: identifier {id}, expected {want}");
            return Vec::new();
        }
        if !mobile_router {
            tracing::warn!(
                "DHAAD reply from {src} without the R flag ignored: its home agents may not \
                 support mobile routers"
            );
            return Vec::new();
        }
        let mut list: Vec<Ipv6Addr> = home_agents
            .iter()
            .copied()
            .filter(|a| !a.is_unspecified() && !a.is_multicast() && !a.is_loopback())
            .fold(Vec::new(), |mut v, a| {
                if !v.contains(&a) {
                    v.push(a);
                }
                v
            });
        if let Some(f) = self.failed.filter(|f| list.len() > 1 && list[0] == *f) {
            tracing::info!("DHAAD reply from {src} lists {f} first, which just failed: tried last");
            list.retain(|a| *a != f);
            list.push(f);
        }
        let Some(first) = list.first().copied() else {
            // An empty list: ask again after the current wait.
            self.state = State::Asking {
                id: want,
                timeout,
                retry_at: now + timeout,
                sent: 1,
            };
            return vec![DiscoveryAction::Failed(format!(
                "DHAAD reply from {src} lists no home agent"
            ))];
        };
        self.state = State::Using {
            list: list.clone(),
            index: 0,
        };
        vec![
            DiscoveryAction::HomeAgents(list),
            DiscoveryAction::UseHomeAgent(first),
        ]
    }

    /// Registration with the current home agent failed: the next one of the list, or a new
    /// request when the list is exhausted (RFC 6275 11.4.1).
    pub fn failed(&mut self, now: Instant) -> Vec<DiscoveryAction> {
        if let Some(ha) = self.current() {
            self.failed = Some(ha);
        }
        match &mut self.state {
            State::Using { list, index } if *index + 1 < list.len() => {
                *index += 1;
                vec![DiscoveryAction::UseHomeAgent(list[*index])]
            }
            State::Asking { .. } => Vec::new(),
            _ => self.ask(INITIAL_DHAAD_TIMEOUT, 0, now),
        }
    }
}

/// Whether an action of the Binding Update List means "try another home agent": no answer
/// after the retransmissions, a binding that expired without a successful refresh, or a
/// refusal that another home agent of the link may not give (not 132, not home subnet, nor
/// 134, duplicate address: those are the same everywhere on the link).
pub fn calls_for_another_home_agent(action: &MrAction) -> bool {
    match action {
        MrAction::Failed {
            coa: Some(_),
            status: None,
            ..
        } => true,
        MrAction::Failed {
            coa: Some(_),
            status: Some(s),
            ..
        } => !matches!(u8::from(*s), 132 | 134 | 135),
        MrAction::Deregistered {
            reason: DeregReason::Expired,
            ..
        } => true,
        _ => false,
    }
}

/// What one Mobile Prefix Advertisement told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomePrefixes {
    pub prefixes: Vec<Ipv6Net>,
    /// They differ from the ones known before.
    pub changed: bool,
    pub previous: Vec<Ipv6Net>,
    /// The answer to our solicitation (else unsolicited).
    pub solicited: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Solicit {
    id: u16,
    timeout: Duration,
    retry_at: Instant,
}

/// Mobile Prefix Discovery (RFC 6275 11.4.2) with the home agent in use.
#[derive(Debug, Clone)]
pub struct PrefixDiscovery {
    known: Vec<Ipv6Net>,
    /// (home agent, care-of address) while registered.
    peer: Option<(Ipv6Addr, Ipv6Addr)>,
    pending: Option<Solicit>,
    resolicit_at: Option<Instant>,
    next_id: u16,
}

impl PrefixDiscovery {
    /// `configured`: the home prefix from the configuration (or derived from the home
    /// address), what a first advertisement is compared with.
    pub fn new(configured: Vec<Ipv6Net>, first_id: u16) -> Self {
        Self {
            known: configured,
            peer: None,
            pending: None,
            resolicit_at: None,
            next_id: first_id,
        }
    }

    pub fn known(&self) -> &[Ipv6Net] {
        &self.known
    }

    /// A registration with `ha` from `coa` succeeded: solicit if the peer is new.
    pub fn registered(&mut self, ha: Ipv6Addr, coa: Ipv6Addr, now: Instant) -> Option<Vec<u8>> {
        if self.peer == Some((ha, coa)) {
            return None;
        }
        self.peer = Some((ha, coa));
        self.solicit(INITIAL_SOLICIT_TIMER, now)
    }

    /// No registration any more (home, expired): stop soliciting.
    pub fn unregistered(&mut self) {
        self.peer = None;
        self.pending = None;
        self.resolicit_at = None;
    }

    fn solicit(&mut self, timeout: Duration, now: Instant) -> Option<Vec<u8>> {
        let (ha, coa) = self.peer?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.pending = Some(Solicit {
            id,
            timeout,
            retry_at: now + timeout,
        });
        self.resolicit_at = None;
        Some(IcmpRepr::MobilePrefixSolicitation { id }.emit_packet(coa, ha, 64))
    }

    pub fn next_timer(&self) -> Option<Instant> {
        self.pending
            .map(|p| p.retry_at)
            .or(self.resolicit_at)
            .filter(|_| self.peer.is_some())
    }

    pub fn on_timer(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(p) = self.pending.filter(|p| p.retry_at <= now) {
            return self.solicit((p.timeout * 2).min(MAX_SOLICIT_TIMER), now);
        }
        if self.resolicit_at.is_some_and(|t| t <= now) {
            return self.solicit(INITIAL_SOLICIT_TIMER, now);
        }
        None
    }

    /// A Mobile Prefix Advertisement from `src`. Only our home agent's count; solicited ones
    /// must carry our identifier (RFC 6275 11.4.3), unsolicited ones are taken as they come.
    pub fn handle_advertisement(
        &mut self,
        adv: &IcmpRepr,
        src: Ipv6Addr,
        now: Instant,
    ) -> Option<HomePrefixes> {
        let IcmpRepr::MobilePrefixAdvertisement { id, prefixes, .. } = adv else {
            return None;
        };
        let (ha, _) = self.peer?;
        if src != ha {
            tracing::warn!("Mobile Prefix Advertisement from {src} ignored: not our home agent");
            return None;
        }
        let solicited = self.pending.is_some_and(|p| p.id == *id);
        if solicited {
            self.pending = None;
        }
        let mut new: Vec<Ipv6Net> = prefixes
            .iter()
            .filter(|p| p.valid_lifetime > 0 && !p.router_address)
            .filter_map(|p| Ipv6Net::new(p.prefix, p.prefix_len).ok().map(|n| n.trunc()))
            .collect();
        new.sort();
        new.dedup();
        if new.is_empty() {
            return None;
        }
        // Ask again before the shortest lifetime runs out (RFC 6275 11.4.2).
        let shortest = prefixes
            .iter()
            .filter(|p| p.valid_lifetime > 0)
            .map(|p| p.valid_lifetime)
            .min()
            .unwrap_or(0);
        self.resolicit_at = (shortest != u32::MAX && shortest > 0).then(|| {
            now + Duration::from_secs(u64::from(shortest))
                .mul_f64(0.8)
                .max(MIN_RESOLICIT_INTERVAL)
        });
        let mut old = self.known.clone();
        old.sort();
        let changed = old != new;
        let previous = std::mem::replace(&mut self.known, new.clone());
        Some(HomePrefixes {
            prefixes: new,
            changed,
            previous,
            solicited,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mr::BulEntry;
    use mip6::icmp::PrefixInformation;
    use mip6::BaStatus;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn sent(actions: &[DiscoveryAction]) -> Vec<IcmpRepr> {
        actions
            .iter()
            .filter_map(|a| match a {
                DiscoveryAction::Send(p) => Some(IcmpRepr::parse(&p[40..], None).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn request_id(actions: &[DiscoveryAction]) -> u16 {
        match sent(actions)[..] {
            [IcmpRepr::DhaadRequest {
                id,
                mobile_router: true,
            }] => id,
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn asks_backs_off_and_uses_the_first_home_agent() {
        let t0 = Instant::now();
        let coa = ip("2001:db8:200::5");
        let mut d = HomeAgentDiscovery::new("2001:db8:1::/64".parse().unwrap(), 100);
        let a = d.move_to(coa, t0);
        let DiscoveryAction::Send(p) = &a[0] else {
            panic!()
        };
        assert_eq!(&p[8..24], &coa.octets());
        assert_eq!(&p[24..40], &ip("2001:db8:1:0:fdff:ffff:ffff:fffe").octets());
        assert_eq!(request_id(&a), 100);
        assert_eq!(d.next_timer(), Some(t0 + Duration::from_secs(3)));
        // Same address again: nothing new.
        assert!(d.move_to(coa, t0).is_empty());
        // Back-off: 3, 6, 12, 24, 48, then 48 on.
        let mut t = t0;
        let mut waits = Vec::new();
        let mut failures = 0;
        for _ in 0..6 {
            t = d.next_timer().unwrap();
            let a = d.on_timer(t);
            failures += a
                .iter()
                .filter(|x| matches!(x, DiscoveryAction::Failed(_)))
                .count();
            request_id(&a);
            waits.push(d.next_timer().unwrap() - t);
        }
        assert_eq!(
            waits.iter().map(|w| w.as_secs()).collect::<Vec<_>>(),
            vec![6, 12, 24, 48, 48, 48]
        );
        assert_eq!(failures, 1, "reported once");
        let id = match d.state {
            State::Asking { id, .. } => id,
            _ => panic!(),
        };
        let list = vec![ip("2001:db8:1::2"), ip("2001:db8:1::1")];
        let reply = |id, r| IcmpRepr::DhaadReply {
            id,
            mobile_router: r,
            home_agents: list.clone(),
        };
        // Wrong identifier, missing R flag: ignored.
        assert!(d
            .handle_reply(&reply(id.wrapping_add(9), true), ip("2001:db8:1::1"), t)
            .is_empty());
        assert!(d
            .handle_reply(&reply(id, false), ip("2001:db8:1::1"), t)
            .is_empty());
        let a = d.handle_reply(&reply(id, true), ip("2001:db8:1::1"), t);
        assert_eq!(
            a,
            vec![
                DiscoveryAction::HomeAgents(list.clone()),
                DiscoveryAction::UseHomeAgent(ip("2001:db8:1::2"))
            ]
        );
        assert_eq!(d.current(), Some(ip("2001:db8:1::2")));
        assert_eq!(d.next_timer(), None);
        // A late duplicate: ignored.
        assert!(d
            .handle_reply(&reply(id, true), ip("2001:db8:1::1"), t)
            .is_empty());
        // Failover: the next, then a new request.
        assert_eq!(
            d.failed(t),
            vec![DiscoveryAction::UseHomeAgent(ip("2001:db8:1::1"))]
        );
        let a = d.failed(t);
        request_id(&a);
        assert_eq!(d.current(), None);
    }

    #[test]
    fn a_home_agent_that_just_failed_is_tried_last() {
        let t0 = Instant::now();
        let (ha1, ha2) = (ip("2001:db8:1::1"), ip("2001:db8:1::2"));
        let reply = |id, home_agents| IcmpRepr::DhaadReply {
            id,
            mobile_router: true,
            home_agents,
        };
        let mut d = HomeAgentDiscovery::new("2001:db8:1::/64".parse().unwrap(), 1);
        // A list learnt before ha1 knew of ha2 (early, at home): ha1 alone.
        let id = request_id(&d.at_home(ip("2001:db8:1::beef"), t0));
        d.handle_reply(&reply(id, vec![ha1]), ha1, t0);
        d.move_to(ip("2001:db8:200::5"), t0);
        // ha1 dies: the list is exhausted, so ask again; ha2 still lists ha1 first (its
        // entry lives until its lifetime runs out): ha2 is used, ha1 kept as the last one.
        let id = request_id(&d.failed(t0));
        assert_eq!(
            d.handle_reply(&reply(id, vec![ha1, ha2]), ha2, t0),
            vec![
                DiscoveryAction::HomeAgents(vec![ha2, ha1]),
                DiscoveryAction::UseHomeAgent(ha2)
            ]
        );
        assert_eq!(d.failed(t0), vec![DiscoveryAction::UseHomeAgent(ha1)]);
        // ha1 failed again: a reply naming only it is all there is.
        let id = request_id(&d.failed(t0));
        assert_eq!(
            d.handle_reply(&reply(id, vec![ha1]), ha1, t0),
            vec![
                DiscoveryAction::HomeAgents(vec![ha1]),
                DiscoveryAction::UseHomeAgent(ha1)
            ]
        );
    }

    #[test]
    fn empty_reply_asks_again() {
        let t0 = Instant::now();
        let mut d = HomeAgentDiscovery::new("2001:db8:1::/64".parse().unwrap(), 1);
        let id = request_id(&d.move_to(ip("2001:db8:200::5"), t0));
        let a = d.handle_reply(
            &IcmpRepr::DhaadReply {
                id,
                mobile_router: true,
                home_agents: vec![],
            },
            ip("2001:db8:1::1"),
            t0,
        );
        assert!(matches!(&a[..], [DiscoveryAction::Failed(_)]));
        assert_eq!(d.next_timer(), Some(t0 + INITIAL_DHAAD_TIMEOUT));
        assert_eq!(d.current(), None);
    }

    fn source(actions: &[DiscoveryAction]) -> Ipv6Addr {
        match actions {
            [DiscoveryAction::Send(p)] => Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn at_home_asks_from_the_home_address_and_keeps_what_it_found() {
        let t0 = Instant::now();
        let hoa = ip("2001:db8:1::beef");
        let mut d = HomeAgentDiscovery::new("2001:db8:1::/64".parse().unwrap(), 1);
        // At home before any home agent is known: ask from the home address, with the
        // back-off of a request from a care-of address.
        let a = d.at_home(hoa, t0);
        assert_eq!(source(&a), hoa);
        request_id(&a);
        assert_eq!(d.next_timer(), Some(t0 + INITIAL_DHAAD_TIMEOUT));
        assert!(
            d.at_home(hoa, t0).is_empty(),
            "the same report: no new request"
        );
        let t1 = d.next_timer().unwrap();
        let again = d.on_timer(t1);
        assert_eq!(source(&again), hoa);
        assert_eq!(d.next_timer(), Some(t1 + INITIAL_DHAAD_TIMEOUT * 2));
        // Leaving home while asking: at once again from the care-of address.
        let coa = ip("2001:db8:200::5");
        assert_eq!(source(&d.move_to(coa, t1)), coa);
        // Home again: from the home address; the answer there is used.
        let a = d.at_home(hoa, t1);
        let id = request_id(&a);
        let list = vec![ip("2001:db8:1::1"), ip("2001:db8:1::2")];
        let got = d.handle_reply(
            &IcmpRepr::DhaadReply {
                id,
                mobile_router: true,
                home_agents: list.clone(),
            },
            ip("2001:db8:1::1"),
            t1,
        );
        assert_eq!(
            got,
            vec![
                DiscoveryAction::HomeAgents(list),
                DiscoveryAction::UseHomeAgent(ip("2001:db8:1::1"))
            ]
        );
        // Known: neither leaving home nor coming back asks again.
        assert!(d.move_to(coa, t1).is_empty());
        assert!(d.at_home(hoa, t1).is_empty());
        assert_eq!(d.current(), Some(ip("2001:db8:1::1")));
        assert_eq!(d.next_timer(), None);
    }

    fn entry() -> BulEntry {
        BulEntry {
            hoa: ip("2001:db8:1::beef"),
            coa: ip("2001:db8:200::5"),
            ha: ip("2001:db8:1::1"),
            lifetime: Duration::from_secs(8),
            mnp6: vec![],
            mnp4: vec![],
        }
    }

    #[test]
    fn which_failures_move_to_another_home_agent() {
        let failed = |status: Option<u8>| MrAction::Failed {
            coa: Some(ip("2001:db8:200::5")),
            status: status.map(BaStatus::from),
            reason: String::new(),
        };
        assert!(calls_for_another_home_agent(&failed(None)));
        for s in [128, 129, 130, 131, 133, 140, 141, 142, 143, 146] {
            assert!(calls_for_another_home_agent(&failed(Some(s))), "{s}");
        }
        for s in [132, 134, 135] {
            assert!(!calls_for_another_home_agent(&failed(Some(s))), "{s}");
        }
        // Accepted with a zero lifetime is reported with status 0: another HA may do better.
        assert!(calls_for_another_home_agent(&failed(Some(0))));
        // The deregistration from home failing is not a reason.
        assert!(!calls_for_another_home_agent(&MrAction::Failed {
            coa: None,
            status: None,
            reason: String::new()
        }));
        assert!(calls_for_another_home_agent(&MrAction::Deregistered {
            entry: entry(),
            reason: DeregReason::Expired
        }));
        assert!(!calls_for_another_home_agent(&MrAction::Deregistered {
            entry: entry(),
            reason: DeregReason::Home
        }));
        assert!(!calls_for_another_home_agent(
            &MrAction::Registered(entry())
        ));
    }

    fn mpa(id: u16, prefix: &str, valid: u32) -> IcmpRepr {
        IcmpRepr::MobilePrefixAdvertisement {
            id,
            managed: false,
            other: false,
            prefixes: vec![PrefixInformation {
                prefix: ip(prefix),
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                router_address: false,
                valid_lifetime: valid,
                preferred_lifetime: valid,
            }],
        }
    }

    #[test]
    fn prefix_discovery_solicits_and_notices_changes() {
        let t0 = Instant::now();
        let (ha, coa) = (ip("2001:db8:1::1"), ip("2001:db8:200::5"));
        let home: Ipv6Net = "2001:db8:1::/64".parse().unwrap();
        let mut p = PrefixDiscovery::new(vec![home], 50);
        let pkt = p.registered(ha, coa, t0).unwrap();
        assert_eq!(&pkt[8..24], &coa.octets(), "from the care-of address");
        assert_eq!(&pkt[24..40], &ha.octets());
        assert_eq!(
            IcmpRepr::parse(&pkt[40..], Some((coa, ha))).unwrap(),
            IcmpRepr::MobilePrefixSolicitation { id: 50 }
        );
        // A refresh with the same peer: no new solicitation.
        assert!(p.registered(ha, coa, t0).is_none());
        // Retransmission with back-off.
        let t1 = p.next_timer().unwrap();
        assert_eq!(t1 - t0, INITIAL_SOLICIT_TIMER);
        let again = p.on_timer(t1).unwrap();
        assert_eq!(
            IcmpRepr::parse(&again[40..], None).unwrap(),
            IcmpRepr::MobilePrefixSolicitation { id: 51 }
        );
        assert_eq!(p.next_timer().unwrap() - t1, INITIAL_SOLICIT_TIMER * 2);
        // From someone else: ignored.
        assert!(p
            .handle_advertisement(&mpa(51, "2001:db8:1::", 40), ip("2001:db8::66"), t1)
            .is_none());
        let got = p
            .handle_advertisement(&mpa(51, "2001:db8:1::", 40), ha, t1)
            .unwrap();
        assert!(got.solicited && !got.changed);
        assert_eq!(got.prefixes, vec![home]);
        // Re-solicit at 80% of the lifetime, not sooner than the floor.
        assert_eq!(p.next_timer(), Some(t1 + Duration::from_secs(32)));
        p.handle_advertisement(&mpa(7, "2001:db8:1::", 10), ha, t1);
        assert_eq!(p.next_timer(), Some(t1 + MIN_RESOLICIT_INTERVAL));
        // Unsolicited with another prefix: a change.
        let got = p
            .handle_advertisement(&mpa(999, "2001:db8:9::", 40), ha, t1)
            .unwrap();
        assert!(!got.solicited && got.changed);
        assert_eq!(got.previous, vec![home]);
        assert_eq!(p.known(), &["2001:db8:9::/64".parse::<Ipv6Net>().unwrap()]);
        p.unregistered();
        assert_eq!(p.next_timer(), None);
        assert!(p
            .handle_advertisement(&mpa(1, "2001:db8:1::", 40), ha, t1)
            .is_none());
    }
}
