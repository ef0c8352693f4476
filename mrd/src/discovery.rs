//! mrd's discovery (issue 15): Dynamic Home Agent Address Discovery when no home agent is
//! configured, the move to the next home agent when registration fails, and Mobile Prefix
//! Discovery with the home agent in use. The decisions are `registration::discovery`'s;
//! this module holds the socket and turns results into log lines and bus messages.

use anyhow::{Context, Result};
use ipnet::Ipv6Net;
use mhsock::icmp::{IcmpReceived, IcmpSocket};
use mip6::icmp::{IcmpRepr, DHAAD_REPLY, MOBILE_PREFIX_ADVERTISEMENT};
use mobsock::{HaList, HaListEntry, HomePrefix};
use registration::discovery::{DiscoveryAction, HomeAgentDiscovery, HomePrefixes, PrefixDiscovery};
use std::net::Ipv6Addr;
use std::time::Instant;

pub struct Discovery {
    pub sock: IcmpSocket,
    /// `None`: the home agent is configured (-a or home-agent-address); no DHAAD, no failover.
    pub dhaad: Option<HomeAgentDiscovery>,
    pub prefixes: PrefixDiscovery,
    mipif: String,
}

/// What one ICMPv6 message asks of the owner loop.
pub enum Outcome {
    Dhaad(Vec<DiscoveryAction>),
    Prefixes(HomePrefixes),
    Nothing,
}

impl Discovery {
    pub fn open(mipif: &str, home_prefix: Ipv6Net, configured_ha: bool) -> Result<Self> {
        let sock = IcmpSocket::open(&[DHAAD_REPLY, MOBILE_PREFIX_ADVERTISEMENT])
            .context("raw ICMPv6 socket for DHAAD and mobile prefix discovery")?;
        // Identifiers differ between runs, so a late reply to an earlier instance is ignored.
        let seed = (std::process::id() as u16)
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u16)
                .unwrap_or(0));
        let dhaad = (!configured_ha).then(|| HomeAgentDiscovery::new(home_prefix, seed));
        if let Some(d) = &dhaad {
            tracing::info!(
                "no home agent configured: Dynamic Home Agent Address Discovery to {}",
                d.anycast()
            );
        }
        Ok(Self {
            sock,
            dhaad,
            prefixes: PrefixDiscovery::new(vec![home_prefix], seed.wrapping_add(0x8000)),
            mipif: mipif.to_string(),
        })
    }

    pub fn next_timer(&self) -> Option<tokio::time::Instant> {
        [
            self.dhaad.as_ref().and_then(|d| d.next_timer()),
            self.prefixes.next_timer(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(tokio::time::Instant::from_std)
    }

    /// Timers: DHAAD retransmissions (actions) and Mobile Prefix Solicitations (a packet).
    pub fn on_timer(&mut self, now: Instant) -> (Vec<DiscoveryAction>, Option<Vec<u8>>) {
        let actions = self
            .dhaad
            .as_mut()
            .map(|d| d.on_timer(now))
            .unwrap_or_default();
        (actions, self.prefixes.on_timer(now))
    }

    pub fn on_icmp(&mut self, rx: &IcmpReceived) -> Outcome {
        let msg = match IcmpRepr::parse(&rx.message, None) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("dropped ICMPv6 message from {}: {e}", rx.src);
                return Outcome::Nothing;
            }
        };
        match msg {
            IcmpRepr::DhaadReply {
                ref home_agents, ..
            } => match self.dhaad.as_mut() {
                Some(d) => {
                    tracing::info!(
                        "DHAAD reply from {}: home agents [{}]",
                        rx.src,
                        home_agents
                            .iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                    Outcome::Dhaad(d.handle_reply(&msg, rx.src, Instant::now()))
                }
                None => Outcome::Nothing,
            },
            IcmpRepr::MobilePrefixAdvertisement { .. } => {
                match self
                    .prefixes
                    .handle_advertisement(&msg, rx.src, Instant::now())
                {
                    Some(p) => Outcome::Prefixes(p),
                    None => Outcome::Nothing,
                }
            }
            _ => Outcome::Nothing,
        }
    }

    /// The DHAAD list as the bus carries it (the home agent in use marked `own`).
    pub fn bus_list(&self, request_id: Option<u32>, in_use: Ipv6Addr) -> HaList {
        let found = self.dhaad.as_ref().map(|d| d.list()).unwrap_or_default();
        ha_list(&self.mipif, request_id, found, in_use)
    }
}

/// HA_LIST for the home agents DHAAD `found` (none: the home agent is configured), with
/// `in_use` (unspecified: none yet) marked `own`, listed also when DHAAD did not name it.
fn ha_list(mipif: &str, request_id: Option<u32>, found: &[Ipv6Addr], in_use: Ipv6Addr) -> HaList {
    let mut list = found.to_vec();
    if !in_use.is_unspecified() && !list.contains(&in_use) {
        list.insert(0, in_use);
    }
    HaList {
        request_id,
        ifname: mipif.to_string(),
        entries: list
            .into_iter()
            .map(|address| HaListEntry {
                address,
                preference: None,
                lifetime: None,
                mobile_router: true,
                own: address == in_use,
            })
            .collect(),
    }
}

/// HOME_PREFIX for what an advertisement told us, with its log line.
pub fn home_prefix_body(hoa: Ipv6Addr, ha: Ipv6Addr, p: HomePrefixes) -> HomePrefix {
    let list = |v: &[Ipv6Net]| {
        v.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let how = if p.solicited {
        "solicited"
    } else {
        "unsolicited"
    };
    if p.changed {
        tracing::warn!(
            "home prefix changed: {} (was {}), {how} Mobile Prefix Advertisement from {ha}",
            list(&p.prefixes),
            list(&p.previous)
        );
    } else {
        tracing::info!(
            "home prefix {} confirmed by {how} Mobile Prefix Advertisement from {ha}",
            list(&p.prefixes)
        );
    }
    HomePrefix {
        hoa,
        ha,
        prefixes: p.prefixes,
        previous: p.previous,
        changed: p.changed,
        solicited: p.solicited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn listed(l: &HaList) -> Vec<(Ipv6Addr, bool)> {
        l.entries.iter().map(|e| (e.address, e.own)).collect()
    }

    #[test]
    fn the_bus_list_marks_the_home_agent_in_use() {
        let (ha1, ha2) = (ip("2001:db8:1::1"), ip("2001:db8:1::2"));
        // DHAAD's list in its order, the one in use (after a failover: the second) marked.
        let l = ha_list("mip0", Some(7), &[ha1, ha2], ha2);
        assert_eq!(listed(&l), vec![(ha1, false), (ha2, true)]);
        assert_eq!((l.request_id, l.ifname.as_str()), (Some(7), "mip0"));
        // Found but not chosen yet: none marked.
        assert_eq!(
            listed(&ha_list("mip0", None, &[ha1], Ipv6Addr::UNSPECIFIED)),
            vec![(ha1, false)]
        );
        // Configured (no DHAAD): the configured one alone; nothing known: empty.
        assert_eq!(listed(&ha_list("mip0", None, &[], ha1)), vec![(ha1, true)]);
        assert!(ha_list("mip0", None, &[], Ipv6Addr::UNSPECIFIED)
            .entries
            .is_empty());
    }
}
