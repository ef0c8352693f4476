//! had's discovery services on the home link (issue 15): the Home Agents List learnt from
//! Router Advertisements with the H bit (RFC 6275 10.5.1), answers to DHAAD requests sent to
//! the Home-Agents anycast address (10.5, RFC 3963 7) and to Mobile Prefix Solicitations
//! (10.6.2), unsolicited Mobile Prefix Advertisements after a home prefix change (10.6.3).
//! The decisions are `registration::homeagents`'; this module does the socket work.

use anyhow::{Context, Result};
use ipnet::Ipv6Net;
use mhsock::icmp::{IcmpReceived, IcmpSocket};
use mip6::icmp::{
    home_agents_anycast, HomeAgentAdvertisement, IcmpRepr, DHAAD_REQUEST,
    MOBILE_PREFIX_SOLICITATION, ROUTER_ADVERTISEMENT,
};
use mobsock::{HaList, HaListEntry};
use registration::ha::HomeAgent;
use registration::homeagents::{self, HomeAgentsList, Learned};
use std::net::Ipv6Addr;
use std::time::{Instant, SystemTime};

pub struct Discovery {
    pub sock: IcmpSocket,
    list: HomeAgentsList,
    homeif: String,
    ifindex: u32,
    /// The anycast addresses joined (one per home prefix).
    anycast: Vec<Ipv6Addr>,
    preference: i16,
    next_mpa_id: u16,
}

/// The global addresses of `ifname`, and all of its addresses (link-local included).
fn addresses_on(ifname: &str) -> Vec<Ipv6Addr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| a.interface_name == ifname)
        .filter_map(|a| a.address.and_then(|s| s.as_sockaddr_in6().map(|s| s.ip())))
        .collect()
}

/// Our address on the home link in one of the home prefixes (what DHAAD lists for us).
fn own_address(ifname: &str, prefixes: &[Ipv6Net]) -> Option<Ipv6Addr> {
    addresses_on(ifname)
        .into_iter()
        .find(|a| prefixes.iter().any(|p| p.contains(a)))
}

impl Discovery {
    pub fn open(homeif: &str, prefixes: &[Ipv6Net], preference: i16) -> Result<Self> {
        let ifindex = nix::net::if_::if_nametoindex(homeif)
            .with_context(|| format!("home interface {homeif}"))?;
        let sock = IcmpSocket::open(&[
            ROUTER_ADVERTISEMENT,
            DHAAD_REQUEST,
            MOBILE_PREFIX_SOLICITATION,
        ])
        .context("raw ICMPv6 socket for DHAAD and mobile prefix discovery")?;
        let own = own_address(homeif, prefixes);
        if own.is_none() {
            tracing::warn!(
                "{homeif} has no address in the home prefix: DHAAD requests go unanswered"
            );
        }
        let mut d = Self {
            sock,
            list: HomeAgentsList::new(own, preference),
            homeif: homeif.to_string(),
            ifindex,
            anycast: Vec::new(),
            preference,
            next_mpa_id: (std::process::id() as u16).wrapping_mul(7919),
        };
        d.join(prefixes);
        Ok(d)
    }

    fn join(&mut self, prefixes: &[Ipv6Net]) {
        for a in std::mem::take(&mut self.anycast) {
            let _ = self.sock.leave_anycast(a, self.ifindex);
        }
        for p in prefixes {
            let a = home_agents_anycast(p.network(), p.prefix_len());
            match self.sock.join_anycast(a, self.ifindex) {
                Ok(()) => {
                    tracing::info!("Home-Agents anycast address {a} joined on {}", self.homeif);
                    self.anycast.push(a);
                }
                Err(e) => tracing::error!(
                    "cannot join the Home-Agents anycast address {a} on {}: {e}; DHAAD \
                     requests will not reach this home agent",
                    self.homeif
                ),
            }
        }
    }

    /// Handles one ICMPv6 message: the packets to send, and whether the list changed.
    pub fn on_icmp(&mut self, rx: &IcmpReceived, core: &HomeAgent) -> (Vec<Vec<u8>>, bool) {
        if rx.message.first() == Some(&ROUTER_ADVERTISEMENT) {
            return (Vec::new(), self.on_router_advertisement(rx));
        }
        let msg = match IcmpRepr::parse(&rx.message, None) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("dropped ICMPv6 message from {}: {e}", rx.src);
                return (Vec::new(), false);
            }
        };
        let reply = match msg {
            IcmpRepr::DhaadRequest { id, mobile_router } => {
                let r = self.list.answer(&msg, rx.src);
                tracing::info!(
                    "DHAAD request {id} from {} to {}{}: {}",
                    rx.src,
                    rx.dst,
                    if mobile_router { " (R)" } else { "" },
                    if r.is_some() {
                        format!("answered with {} home agent(s)", self.list.entries().len())
                    } else {
                        "not answered (no home link address)".into()
                    }
                );
                r
            }
            IcmpRepr::MobilePrefixSolicitation { id } => {
                let r = homeagents::answer_prefix_solicitation(
                    &msg,
                    rx.src,
                    rx.dst,
                    core.bindings(),
                    &core.policy().home_prefixes,
                    SystemTime::now(),
                );
                tracing::info!(
                    "Mobile Prefix Solicitation {id} from {}: {}",
                    rx.src,
                    if r.is_some() {
                        "advertised the home prefixes"
                    } else {
                        "ignored (no binding with that care-of address)"
                    }
                );
                r
            }
            _ => None,
        };
        (reply.into_iter().collect(), false)
    }

    fn on_router_advertisement(&mut self, rx: &IcmpReceived) -> bool {
        if rx.ifindex != self.ifindex || rx.hop_limit != 255 || !rx.src.is_unicast_link_local() {
            return false;
        }
        let ra = match HomeAgentAdvertisement::parse(&rx.message) {
            Ok(ra) => ra,
            Err(e) => {
                tracing::debug!("Router Advertisement from {} ignored: {e}", rx.src);
                return false;
            }
        };
        let own = addresses_on(&self.homeif);
        match self.list.learn(rx.src, &ra, &own, Instant::now()) {
            Learned::Nothing => false,
            Learned::Changed => {
                let info = ra.as_home_agent();
                tracing::info!(
                    "home agent {} ({}) on the home link: preference {}, lifetime {}s{}",
                    ra.router_addresses()
                        .next()
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                    rx.src,
                    info.map(|i| i.preference).unwrap_or(0),
                    info.map(|i| i.lifetime).unwrap_or(0),
                    if info.is_some_and(|i| i.mobile_router) {
                        ", supports mobile routers"
                    } else {
                        ""
                    }
                );
                true
            }
            Learned::Removed(a) => {
                tracing::info!("home agent {a} ({}) left the home link", rx.src);
                true
            }
        }
    }

    pub fn next_expiry(&self) -> Option<tokio::time::Instant> {
        self.list.next_expiry().map(tokio::time::Instant::from_std)
    }

    /// Drops expired home agents; whether any went.
    pub fn expire(&mut self) -> bool {
        let gone = self.list.expire(Instant::now());
        for a in &gone {
            tracing::info!("home agent {a} expired from the home agents list");
        }
        !gone.is_empty()
    }

    /// The list as the bus carries it.
    pub fn bus_list(&self, request_id: Option<u32>) -> HaList {
        let now = Instant::now();
        HaList {
            request_id,
            ifname: self.homeif.clone(),
            entries: self
                .list
                .entries()
                .into_iter()
                .map(|e| HaListEntry {
                    address: e.address,
                    preference: Some(e.preference),
                    lifetime: e
                        .remaining(now)
                        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
                    mobile_router: e.mobile_router,
                    own: e.is_self(),
                })
                .collect(),
        }
    }

    /// The configuration changed: our preference, the home prefixes (anycast addresses,
    /// our listed address). Returns unsolicited Mobile Prefix Advertisements for every
    /// binding when the prefixes changed (RFC 6275 10.6.3), and whether the list changed.
    pub fn reconfigure(
        &mut self,
        old_prefixes: &[Ipv6Net],
        preference: i16,
        core: &HomeAgent,
    ) -> (Vec<Vec<u8>>, bool) {
        let prefixes = &core.policy().home_prefixes;
        let own = own_address(&self.homeif, prefixes);
        let changed = own != self.list.own_address() || preference != self.preference;
        self.preference = preference;
        self.list.set_own(own, preference);
        if prefixes.as_slice() == old_prefixes {
            return (Vec::new(), changed);
        }
        self.join(prefixes);
        let id = self.next_mpa_id;
        self.next_mpa_id = self.next_mpa_id.wrapping_add(1);
        let packets = homeagents::unsolicited_advertisements(
            core.bindings(),
            prefixes,
            id,
            SystemTime::now(),
        );
        tracing::info!(
            "home prefix changed to {}: unsolicited Mobile Prefix Advertisement to {} mobile \
             router(s)",
            prefixes
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            packets.len()
        );
        (packets, true)
    }
}
