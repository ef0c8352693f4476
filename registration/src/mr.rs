//! The mobile router's Binding Update List for its home registration (RFC 6275 11.7, 11.8;
//! RFC 3963 5), with the IPv4 MNPs of the dual-stack extension.

use crate::policy::{Ipv4Encoding, MrPolicy, PrefixMode};
use crate::{replay, Now};
use ipnet::{Ipv4Net, Ipv6Net};
use mip6::{
    AuthKey, BaStatus, BuFlags, Ipv4AckStatus, MessageRepr, MhPacket, MobilityOption,
    ReceivedPacket,
};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// RFC 6275 13: first BA timeout for a new home registration.
pub const INITIAL_BINDACK_TIMEOUT_FIRST_REG: Duration = Duration::from_millis(1500);
/// RFC 6275 13: first BA timeout for any other BU.
pub const INITIAL_BINDACK_TIMEOUT: Duration = Duration::from_secs(1);
/// RFC 6275 13: the back-off stops doubling here.
pub const MAX_BINDACK_TIMEOUT: Duration = Duration::from_secs(32);

/// A registration in force: what BUL_ADD announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulEntry {
    pub hoa: Ipv6Addr,
    pub coa: Ipv6Addr,
    pub ha: Ipv6Addr,
    /// Lifetime granted by the home agent.
    pub lifetime: Duration,
    /// The prefixes of each family the home agent accepted.
    pub mnp6: Vec<Ipv6Net>,
    pub mnp4: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeregReason {
    /// The MR is back on its home link.
    Home,
    /// The binding ran out before a refresh succeeded.
    Expired,
    /// mrd is stopping and takes its binding with it.
    Shutdown,
    /// The mobile router moves to another home agent (discovery, failover).
    HomeAgentChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MrAction {
    /// Send this complete IPv6 packet on the raw socket (then persist [`MobileRouter::next_seq`]).
    Send(Vec<u8>),
    /// A registration succeeded: broadcast BUL_ADD.
    Registered(BulEntry),
    /// The registration ended: broadcast BUL_REMOVE.
    Deregistered {
        entry: BulEntry,
        reason: DeregReason,
    },
    /// The home agent refused (status) or never answered (`None`): broadcast the failure.
    Failed {
        /// The care-of address the failed BU was for (`None`: the deregistration from home).
        coa: Option<Ipv6Addr>,
        status: Option<BaStatus>,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Unknown,
    Home,
    Foreign(Ipv6Addr),
}

/// The BU waiting for its BA.
#[derive(Debug, Clone)]
struct Pending {
    /// `None`: deregistration from home.
    coa: Option<Ipv6Addr>,
    /// A deregistration (lifetime zero), from home or from `coa`.
    deregister: bool,
    seq: u16,
    timestamp: Option<u64>,
    timeout: Duration,
    retry_at: Instant,
    /// Whether 145 already made us correct our clock for this BU (do it once).
    resynced: bool,
    /// Whether the failure to get an answer was already reported.
    reported: bool,
}

#[derive(Debug, Clone)]
struct Current {
    entry: BulEntry,
    refresh_at: Instant,
    expires_at: Instant,
}

pub struct MobileRouter {
    policy: MrPolicy,
    next_seq: u16,
    location: Location,
    current: Option<Current>,
    pending: Option<Pending>,
    /// After a refusal, when to try again.
    retry_after_refusal: Option<Instant>,
    /// Correction of our wall clock learnt from a 145 (HA time minus ours), in NTP units.
    clock_offset: i128,
}

impl MobileRouter {
    /// `next_seq` is the persisted sequence number, so a restart never reuses one.
    pub fn new(policy: MrPolicy, next_seq: u16) -> Self {
        Self {
            policy,
            next_seq,
            location: Location::Unknown,
            current: None,
            pending: None,
            retry_after_refusal: None,
            clock_offset: 0,
        }
    }

    pub fn policy(&self) -> &MrPolicy {
        &self.policy
    }

    /// Replaces the policy (config reload); the next BU uses it.
    pub fn set_policy(&mut self, policy: MrPolicy) {
        self.policy = policy;
    }

    /// Registers with `ha` from now on (DHAAD found it, or the previous one failed): the
    /// registration with the old one is given up and, away from home, a new one starts at
    /// once. Until a home agent is set (the unspecified address) no Binding Update is sent.
    pub fn set_home_agent(&mut self, ha: Ipv6Addr, now: Now) -> Vec<MrAction> {
        if ha == self.policy.home_agent {
            return Vec::new();
        }
        self.policy.home_agent = ha;
        self.pending = None;
        self.retry_after_refusal = None;
        let mut actions = Vec::new();
        if let Some(c) = self.current.take() {
            actions.push(MrAction::Deregistered {
                entry: c.entry,
                reason: DeregReason::HomeAgentChanged,
            });
        }
        if let Location::Foreign(coa) = self.location {
            actions.extend(self.start(Some(coa), now));
        }
        actions
    }

    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// The registration in force, if any.
    pub fn current(&self) -> Option<&BulEntry> {
        self.current.as_ref().map(|c| &c.entry)
    }

    /// MD_INFO REREG: the MR is on a foreign link with this care-of address.
    pub fn move_to(&mut self, coa: Ipv6Addr, now: Now) -> Vec<MrAction> {
        let same = self.location == Location::Foreign(coa);
        self.location = Location::Foreign(coa);
        let registered_here = self.current.as_ref().is_some_and(|c| c.entry.coa == coa);
        let pending_here = self.pending.as_ref().is_some_and(|p| p.coa == Some(coa));
        if same && (registered_here || pending_here) {
            return Vec::new();
        }
        self.retry_after_refusal = None;
        self.start(Some(coa), now)
    }

    /// MD_INFO DEREGHOME: the MR is back on its home link.
    pub fn returned_home(&mut self, now: Now) -> Vec<MrAction> {
        if self.location == Location::Home {
            return Vec::new();
        }
        self.location = Location::Home;
        self.retry_after_refusal = None;
        let mut actions = Vec::new();
        // Routes through the tunnel are useless at home: withdraw them now, not at the BA.
        if let Some(c) = self.current.take() {
            actions.push(MrAction::Deregistered {
                entry: c.entry,
                reason: DeregReason::Home,
            });
        }
        actions.extend(self.start(None, now));
        actions
    }

    /// mrd is stopping without a graceful restart: withdraw the registration and send a
    /// deregistration from the current care-of address (the daemon waits briefly for its BA).
    pub fn shutdown(&mut self, now: Now) -> Vec<MrAction> {
        let Location::Foreign(coa) = self.location else {
            return Vec::new();
        };
        if self.current.is_none() && self.pending.is_none() {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if let Some(c) = self.current.take() {
            actions.push(MrAction::Deregistered {
                entry: c.entry,
                reason: DeregReason::Shutdown,
            });
        }
        self.location = Location::Unknown;
        self.retry_after_refusal = None;
        let p = Pending {
            coa: Some(coa),
            deregister: true,
            seq: 0,
            timestamp: None,
            timeout: INITIAL_BINDACK_TIMEOUT,
            retry_at: now.mono,
            resynced: false,
            reported: false,
        };
        actions.extend(self.send_bu(p, now));
        actions
    }

    /// Whether a BU is waiting for its BA.
    pub fn awaiting_ack(&self) -> bool {
        self.pending.is_some()
    }

    /// When [`Self::on_timer`] must run next.
    pub fn next_timer(&self) -> Option<Instant> {
        let pending = self.pending.as_ref().map(|p| p.retry_at);
        let current = self.current.as_ref().map(|c| {
            if self.pending.is_some() {
                c.expires_at
            } else {
                c.refresh_at.min(c.expires_at)
            }
        });
        [pending, current, self.retry_after_refusal]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn on_timer(&mut self, now: Now) -> Vec<MrAction> {
        let mut actions = Vec::new();
        if let Some(c) = self.current.as_ref().filter(|c| c.expires_at <= now.mono) {
            tracing::warn!("binding of {} via {} expired", c.entry.hoa, c.entry.coa);
            let entry = c.entry.clone();
            self.current = None;
            actions.push(MrAction::Deregistered {
                entry,
                reason: DeregReason::Expired,
            });
        }
        if let Some(p) = self.pending.clone().filter(|p| p.retry_at <= now.mono) {
            actions.extend(self.retransmit(p, now));
        } else if self.pending.is_none() {
            if let Location::Foreign(coa) = self.location {
                let refresh_due = self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.refresh_at <= now.mono);
                let retry_due = self.retry_after_refusal.is_some_and(|t| t <= now.mono);
                let lost = self.current.is_none() && self.retry_after_refusal.is_none();
                if refresh_due || retry_due || lost {
                    self.retry_after_refusal = None;
                    actions.extend(self.start(Some(coa), now));
                }
            }
        }
        actions
    }

    fn retransmit(&mut self, mut p: Pending, now: Now) -> Vec<MrAction> {
        let mut actions = Vec::new();
        if p.timeout >= MAX_BINDACK_TIMEOUT {
            if p.deregister {
                tracing::warn!("no BA for the deregistration; giving up");
                self.pending = None;
                return actions;
            }
            if !p.reported {
                p.reported = true;
                actions.push(MrAction::Failed {
                    coa: p.coa,
                    status: None,
                    reason: format!(
                        "no Binding Acknowledgement from {} after backing off to {:?}; still trying",
                        self.policy.home_agent, MAX_BINDACK_TIMEOUT
                    ),
                });
            }
        }
        p.timeout = (p.timeout * 2).min(MAX_BINDACK_TIMEOUT);
        tracing::info!(
            "no BA for sequence {}: retransmitting, next wait {:?}",
            p.seq,
            p.timeout
        );
        actions.extend(self.send_bu(p, now));
        actions
    }

    /// Starts a (de)registration: a fresh BU with the initial timeout.
    fn start(&mut self, coa: Option<Ipv6Addr>, now: Now) -> Vec<MrAction> {
        let first = self.current.is_none() && coa.is_some();
        let timeout = if first {
            INITIAL_BINDACK_TIMEOUT_FIRST_REG
        } else {
            INITIAL_BINDACK_TIMEOUT
        };
        let p = Pending {
            coa,
            deregister: coa.is_none(),
            seq: 0,
            timestamp: None,
            timeout,
            retry_at: now.mono,
            resynced: false,
            reported: false,
        };
        self.send_bu(p, now)
    }

    /// Sends a BU for `p` with a new sequence number (RFC 6275 11.8: every retransmission
    /// gets one) and records it as pending.
    fn send_bu(&mut self, mut p: Pending, now: Now) -> Vec<MrAction> {
        if self.policy.home_agent.is_unspecified() {
            // No home agent yet (discovery under way): nothing to send to.
            self.pending = None;
            return Vec::new();
        }
        p.seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        p.retry_at = now.mono + p.timeout;
        p.timestamp = self.policy.auth.as_ref().map(|_| self.timestamp(now));
        let packet = self.binding_update(&p);
        self.pending = Some(p);
        match packet {
            Ok(bytes) => vec![MrAction::Send(bytes)],
            Err(e) => {
                tracing::error!("cannot build BU: {e}");
                Vec::new()
            }
        }
    }

    fn timestamp(&self, now: Now) -> u64 {
        let ours = i128::from(replay::ntp_timestamp(now.wall));
        u64::try_from(ours + self.clock_offset).unwrap_or(0)
    }

    fn binding_update(&self, p: &Pending) -> Result<Vec<u8>, mip6::Error> {
        let pol = &self.policy;
        let mut options = Vec::new();
        let (src, hao, lifetime) = match p.coa {
            // Deregistration from a foreign link (RFC 6275 11.7.1): lifetime zero, no prefixes.
            Some(coa) if p.deregister => (coa, Some(pol.home_address), Duration::ZERO),
            Some(coa) => {
                options.extend(
                    pol.mnp6
                        .iter()
                        .filter(|(_, mode)| *mode == PrefixMode::Explicit)
                        .map(|(n, _)| MobilityOption::MobileNetworkPrefix {
                            prefix: n.network(),
                            prefix_len: n.prefix_len(),
                        }),
                );
                options.extend(pol.mnp4.iter().filter_map(|n| match pol.ipv4_encoding {
                    Ipv4Encoding::ConfigOnly => None,
                    Ipv4Encoding::Rfc5555 => Some(MobilityOption::Ipv4HomeAddress {
                        address: n.network(),
                        prefix_len: n.prefix_len(),
                        request_prefix: true,
                    }),
                    Ipv4Encoding::Draft => Some(MobilityOption::DraftIpv4Mnp {
                        prefix: n.network(),
                        prefix_len: n.prefix_len(),
                    }),
                }));
                (coa, Some(pol.home_address), pol.lifetime)
            }
            // From home: source is the home address itself, lifetime zero (RFC 6275 11.5.4).
            None => (pol.home_address, None, Duration::ZERO),
        };
        if let Some(timestamp) = p.timestamp {
            options.push(MobilityOption::ReplayProtection { timestamp });
        }
        let packet = MhPacket {
            src,
            dst: pol.home_agent,
            home_address: hao,
            rh2_home: None,
            hop_limit: 64,
            mh: MessageRepr::BindingUpdate {
                seq: p.seq,
                flags: BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER,
                lifetime,
                options,
            },
        };
        match &pol.auth {
            Some(sa) => packet.emit_signed(
                &pol.dialect,
                AuthKey {
                    spi: sa.spi,
                    key: &sa.key,
                },
            ),
            None => packet.emit(&pol.dialect),
        }
    }

    /// Handles a received packet; only a BA for our pending BU matters.
    pub fn handle_packet(&mut self, rx: &ReceivedPacket<'_>, now: Now) -> Vec<MrAction> {
        let p = &rx.packet;
        if let MessageRepr::BindingError {
            status,
            home_address,
            ..
        } = p.mh
        {
            // Logged only: status 2 means the peer does not process what we sent (not a
            // home agent?), status 1 that it has no binding for a Home Address option of
            // ours; either way the BU retransmissions and refreshes go on and decide.
            tracing::warn!(
                "Binding Error from {}: {status} ({}), home address {home_address}",
                p.src,
                u8::from(status)
            );
            return Vec::new();
        }
        let MessageRepr::BindingAck {
            status,
            seq,
            lifetime,
            ref options,
            ..
        } = p.mh
        else {
            return Vec::new();
        };
        if p.src != self.policy.home_agent {
            tracing::warn!("BA from {} ignored: not our home agent", p.src);
            return Vec::new();
        }
        if p.rh2_home.is_some_and(|h| h != self.policy.home_address) {
            tracing::warn!("BA for another home address ignored");
            return Vec::new();
        }
        let Some(pending) = self.pending.clone() else {
            tracing::info!("BA (sequence {seq}) ignored: no Binding Update outstanding");
            return Vec::new();
        };
        // An unsigned 146 is believed (it only makes us back off): the HA could not use our key.
        let unsigned_auth_failure = status == BaStatus::AuthFail
            && !options
                .iter()
                .any(|o| matches!(o, MobilityOption::Authentication { .. }));
        if let Some(sa) = self.policy.auth.as_ref().filter(|_| !unsigned_auth_failure) {
            match rx.verify_auth(&sa.key) {
                Ok(spi) if spi == sa.spi => {}
                Ok(spi) => {
                    tracing::warn!("BA signed with unknown SPI {spi} ignored");
                    return Vec::new();
                }
                Err(e) => {
                    tracing::warn!("BA failed authentication ({e}); ignored");
                    return Vec::new();
                }
            }
        }
        if status == BaStatus::SequenceNumberOutOfWindow {
            // The HA's last accepted number is in the BA: continue after it, at once.
            tracing::info!("home agent expects a sequence after {seq}; resynchronising");
            self.next_seq = seq.wrapping_add(1);
            return self.send_bu(pending, now);
        }
        if seq != pending.seq {
            tracing::info!(
                "BA for sequence {seq} ignored: the outstanding Binding Update has sequence {}",
                pending.seq
            );
            return Vec::new();
        }
        let ha_time = options.iter().find_map(|o| match o {
            MobilityOption::ReplayProtection { timestamp } => Some(*timestamp),
            _ => None,
        });
        if status == BaStatus::MesgIdRequired && !pending.resynced {
            if let Some(ha_time) = ha_time {
                let ours = i128::from(replay::ntp_timestamp(now.wall));
                self.clock_offset = i128::from(ha_time) - ours;
                tracing::warn!(
                    "home agent rejected our timestamp; adopting its clock and retrying"
                );
                let mut retry = pending;
                retry.resynced = true;
                return self.send_bu(retry, now);
            }
        }
        if self.policy.auth.is_some() && status.is_accepted() && ha_time != pending.timestamp {
            tracing::warn!("BA does not echo our replay protection timestamp; ignored");
            return Vec::new();
        }
        self.pending = None;
        if !status.is_accepted() {
            self.retry_after_refusal = Some(now.mono + MAX_BINDACK_TIMEOUT);
            return vec![MrAction::Failed {
                coa: pending.coa,
                status: Some(status),
                reason: format!("home agent {} refused the binding: {status}", p.src),
            }];
        }
        let Some(coa) = pending.coa.filter(|_| !pending.deregister) else {
            tracing::info!("deregistered from home agent {}", p.src);
            return Vec::new();
        };
        if lifetime.is_zero() {
            self.retry_after_refusal = Some(now.mono + MAX_BINDACK_TIMEOUT);
            return vec![MrAction::Failed {
                coa: Some(coa),
                status: Some(status),
                reason: "home agent granted a zero lifetime".into(),
            }];
        }
        let entry = BulEntry {
            hoa: self.policy.home_address,
            coa,
            ha: self.policy.home_agent,
            lifetime,
            mnp6: self.policy.mnp6.iter().map(|(n, _)| *n).collect(),
            mnp4: self.accepted_ipv4(options),
        };
        // Refresh at 80% of the granted lifetime, leaving room for retransmissions.
        self.current = Some(Current {
            entry: entry.clone(),
            refresh_at: now.mono + lifetime.mul_f64(0.8),
            expires_at: now.mono + lifetime,
        });
        vec![MrAction::Registered(entry)]
    }

    /// Which IPv4 MNPs the home agent accepted. Signalled ones need an acknowledgement: a BA
    /// with none means the HA does not support IPv4 MNPs, and the MR gives up IPv4 (the paper).
    fn accepted_ipv4(&self, options: &[MobilityOption]) -> Vec<Ipv4Net> {
        let pol = &self.policy;
        if pol.mnp4.is_empty() || pol.ipv4_encoding == Ipv4Encoding::ConfigOnly {
            return pol.mnp4.clone();
        }
        let acks: Vec<(Ipv4Net, u8)> = options
            .iter()
            .filter_map(|o| match *o {
                MobilityOption::Ipv4AddressAck {
                    status,
                    prefix_len,
                    address,
                } if pol.ipv4_encoding == Ipv4Encoding::Rfc5555 => {
                    Some((address, prefix_len, u8::from(status)))
                }
                MobilityOption::DraftIpv4MnpStatus {
                    status,
                    prefix_len,
                    prefix,
                } if pol.ipv4_encoding == Ipv4Encoding::Draft => Some((prefix, prefix_len, status)),
                _ => None,
            })
            .filter_map(|(a, l, s)| Ipv4Net::new(a, l).ok().map(|n| (n, s)))
            .collect();
        if acks.is_empty() {
            tracing::warn!(
                "home agent {} did not acknowledge the IPv4 MNP option: it does not support IPv4 \
                 mobile network prefixes; giving up IPv4 for {}",
                pol.home_agent,
                pol.mnp4
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            return Vec::new();
        }
        pol.mnp4
            .iter()
            .filter(|n| match acks.iter().find(|(a, _)| a == *n) {
                Some((_, s)) if *s < 128 => true,
                Some((_, s)) => {
                    tracing::warn!(
                        "home agent refused IPv4 MNP {n}: {}; no IPv4 for it",
                        Ipv4AckStatus::from(*s)
                    );
                    false
                }
                None => {
                    tracing::warn!("home agent did not acknowledge IPv4 MNP {n}; no IPv4 for it");
                    false
                }
            })
            .copied()
            .collect()
    }
}
