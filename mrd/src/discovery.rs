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
        let list: Vec<Ipv6Addr> = match &self.dhaad {
            Some(d) => d.list().to_vec(),
            None if !in_use.is_unspecified() => vec![in_use],
            None => Vec::new(),
        };
        HaList {
            request_id,
            ifname: self.mipif.clone(),
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
