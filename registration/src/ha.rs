//! The home agent's Binding Cache and its processing of Binding Updates (RFC 6275 10.3,
//! RFC 3963 6, RFC 4285, RFC 5555 and draft-shima-nemo-v4prefix for IPv4 MNPs).

use crate::policy::{HaPolicy, NodePolicy};
use crate::{replay, seq, Now};
use ipnet::{Ipv4Net, Ipv6Net};
use mip6::{
    AuthKey, BaFlags, BaStatus, BeStatus, BuFlags, Ipv4AckStatus, MessageRepr, MhPacket,
    MobilityOption, ReceivedPacket,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

/// One Binding Cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub hoa: Ipv6Addr,
    pub coa: Ipv6Addr,
    /// The HA address the BU was sent to (source of our BAs).
    pub ha: Ipv6Addr,
    pub seq: u16,
    pub router: bool,
    /// The BU's L bit: the home address's link-local form is defended too (RFC 6275 10.4.1).
    #[serde(default)]
    pub link_local: bool,
    pub lifetime: Duration,
    pub expires: SystemTime,
    pub mnp6: Vec<Ipv6Net>,
    pub mnp4: Vec<Ipv4Net>,
    /// Last accepted replay protection timestamp (RFC 4285), if authenticated.
    pub last_timestamp: Option<u64>,
}

/// Why a binding left the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    Deregistered,
    /// Deregistered from its home link (care-of address = home address, RFC 6275 11.5.4):
    /// the mobile router is at home.
    ReturnedHome,
    Expired,
}

/// What the daemon must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaAction {
    /// Send this complete IPv6 packet (a BA or a Binding Error) on the raw socket.
    Send(Vec<u8>),
    /// A binding was created (`new`) or refreshed/moved: announce BC_ADD, persist, and
    /// start proxy-ND for its home address when new.
    BindingAdded { binding: Binding, new: bool },
    /// A binding ended: announce BC_REMOVE, persist, stop proxy-ND.
    BindingRemoved {
        binding: Binding,
        reason: RemoveReason,
    },
    /// A BU was refused with this status: log it and announce the failure.
    Rejected {
        hoa: Ipv6Addr,
        coa: Ipv6Addr,
        ha: Ipv6Addr,
        status: BaStatus,
        reason: String,
    },
}

pub struct HomeAgent {
    policy: HaPolicy,
    cache: BTreeMap<Ipv6Addr, Binding>,
    /// The cache ordered by expiry, so the next expiry is found without a scan.
    expiry: BTreeSet<(SystemTime, Ipv6Addr)>,
    binding_errors: ratelimit::PerSecond,
}

/// Binding Errors per second at most: RFC 6275 9.2 asks for them to be rate-limited like
/// ICMPv6 errors, so that unknown messages from a spoofed source cannot make the HA flood.
pub const BINDING_ERRORS_PER_SECOND: u32 = 10;

/// A Mobility Header of a type the HA does not process (RFC 6275 9.2), as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnrecognizedMh {
    pub mh_type: u8,
    /// IPv6 source and destination of the packet.
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Its Home Address option, if it had one.
    pub home_address: Option<Ipv6Addr>,
}

/// A refusal: the status, the sequence number the BA carries, and why.
struct Refusal {
    status: BaStatus,
    reason: String,
}

fn refuse(status: BaStatus, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

/// The BU fields the checks need, taken from the packet once.
struct BindingUpdate<'a> {
    seq: u16,
    flags: BuFlags,
    lifetime: Duration,
    options: &'a [MobilityOption],
    hoa: Ipv6Addr,
    coa: Ipv6Addr,
    ha: Ipv6Addr,
    /// Where the BA goes: the CoA the packet came from, with an RH2 to the home address.
    reply_to: Ipv6Addr,
    rh2: Option<Ipv6Addr>,
    /// The SPI whose key verified the BU, once it has; the BA is signed with it.
    verified_spi: std::cell::Cell<Option<u32>>,
}

impl HomeAgent {
    pub fn new(policy: HaPolicy) -> Self {
        Self {
            policy,
            cache: BTreeMap::new(),
            expiry: BTreeSet::new(),
            binding_errors: ratelimit::PerSecond::default(),
        }
    }

    /// A Mobility Header of an unknown type: a Binding Error with status 2 to its source
    /// (RFC 6275 9.2), without a Home Address option or routing header, carrying the home
    /// address the offending packet named (or `::`). None to a multicast or unspecified
    /// source, nor for a packet sent to a multicast address, nor beyond the rate limit.
    pub fn unrecognized_mh_type(&mut self, rx: &UnrecognizedMh, now: Now) -> Vec<HaAction> {
        let unanswerable = |a: Ipv6Addr| a.is_multicast() || a.is_unspecified();
        if unanswerable(rx.src) || rx.dst.is_multicast() {
            return Vec::new();
        }
        if !self
            .binding_errors
            .allow(now.mono, BINDING_ERRORS_PER_SECOND)
        {
            return Vec::new();
        }
        let packet = MhPacket {
            src: rx.dst,
            dst: rx.src,
            home_address: None,
            rh2_home: None,
            hop_limit: 64,
            mh: MessageRepr::BindingError {
                status: BeStatus::UnrecognizedMhType,
                home_address: rx.home_address.unwrap_or(Ipv6Addr::UNSPECIFIED),
                options: Vec::new(),
            },
        };
        match packet.emit(&self.policy.dialect) {
            Ok(bytes) => vec![HaAction::Send(bytes)],
            Err(e) => {
                tracing::error!("building a Binding Error: {e}");
                Vec::new()
            }
        }
    }

    /// Inserts or replaces a binding; true when it is new.
    fn insert_binding(&mut self, b: Binding) -> bool {
        self.expiry.insert((b.expires, b.hoa));
        match self.cache.insert(b.hoa, b) {
            Some(old) => {
                self.expiry.remove(&(old.expires, old.hoa));
                false
            }
            None => true,
        }
    }

    fn remove_binding(&mut self, hoa: &Ipv6Addr) -> Option<Binding> {
        let b = self.cache.remove(hoa)?;
        self.expiry.remove(&(b.expires, b.hoa));
        Some(b)
    }

    /// Rebuilds the cache from persisted bindings, dropping expired ones and those the
    /// policy no longer serves; every kept binding is announced again.
    pub fn restore(policy: HaPolicy, saved: Vec<Binding>, now: Now) -> (Self, Vec<HaAction>) {
        let mut ha = Self::new(policy);
        let mut actions = Vec::new();
        for b in saved {
            if b.expires > now.wall && ha.policy.nodes.contains_key(&b.hoa) {
                actions.push(HaAction::BindingAdded {
                    binding: b.clone(),
                    new: true,
                });
                ha.insert_binding(b);
            }
        }
        (ha, actions)
    }

    /// Replaces the policy (config reload); bindings stay until they expire or re-register.
    pub fn set_policy(&mut self, policy: HaPolicy) {
        self.policy = policy;
    }

    pub fn policy(&self) -> &HaPolicy {
        &self.policy
    }

    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.cache.values()
    }

    /// When the next binding expires.
    pub fn next_expiry(&self) -> Option<SystemTime> {
        self.expiry.first().map(|(t, _)| *t)
    }

    /// Removes the bindings whose lifetime has run out.
    pub fn expire(&mut self, now: Now) -> Vec<HaAction> {
        let gone: Vec<Ipv6Addr> = self
            .expiry
            .iter()
            .take_while(|(t, _)| *t <= now.wall)
            .map(|(_, hoa)| *hoa)
            .collect();
        gone.into_iter()
            .filter_map(|hoa| self.remove_binding(&hoa))
            .map(|binding| HaAction::BindingRemoved {
                binding,
                reason: RemoveReason::Expired,
            })
            .collect()
    }

    /// Handles a received Mobility Header packet. Only Binding Updates concern a home agent;
    /// anything else is ignored (the daemon logs and counts it).
    pub fn handle_packet(&mut self, rx: &ReceivedPacket<'_>, now: Now) -> Vec<HaAction> {
        let p = &rx.packet;
        let MessageRepr::BindingUpdate {
            seq,
            flags,
            lifetime,
            ref options,
        } = p.mh
        else {
            return Vec::new();
        };
        let hoa = p.home_address.unwrap_or(p.src);
        let coa = options
            .iter()
            .find_map(|o| match o {
                MobilityOption::AlternateCareOf { address } => Some(*address),
                _ => None,
            })
            .unwrap_or(p.src);
        let bu = BindingUpdate {
            seq,
            flags,
            lifetime,
            options,
            hoa,
            coa,
            ha: p.dst,
            reply_to: p.src,
            rh2: p.home_address,
            verified_spi: std::cell::Cell::new(None),
        };
        let mut actions = Vec::new();
        let outcome = self.process(&bu, rx, now, &mut actions);
        let (status, ba_seq, granted, ba_options) = match outcome {
            Ok((granted, ba_options)) => {
                if self.policy.auth.is_none() {
                    tracing::warn!(
                        "unauthenticated Binding Update accepted (authentication none): \
                         home address {}, care-of address {}, source {}, seq {}, lifetime {}s",
                        bu.hoa,
                        bu.coa,
                        bu.reply_to,
                        bu.seq,
                        granted.as_secs()
                    );
                }
                (BaStatus::Accepted, bu.seq, granted, ba_options)
            }
            Err((refusal, ba_seq, ba_options)) => {
                tracing::warn!(
                    "BU from {} for {} refused: {} ({}); care-of address {}",
                    bu.reply_to,
                    bu.hoa,
                    refusal.status,
                    refusal.reason,
                    bu.coa
                );
                actions.push(HaAction::Rejected {
                    hoa: bu.hoa,
                    coa: bu.coa,
                    ha: bu.ha,
                    status: refusal.status,
                    reason: refusal.reason,
                });
                (refusal.status, ba_seq, Duration::ZERO, ba_options)
            }
        };
        // RFC 6275 10.3.1: a BA when asked for, and always for a refusal.
        if bu.flags.contains(BuFlags::ACK) || !status.is_accepted() {
            match self.binding_ack(&bu, status, ba_seq, granted, ba_options) {
                Ok(packet) => actions.push(HaAction::Send(packet)),
                Err(e) => tracing::error!("cannot build BA for {}: {e}", bu.hoa),
            }
        }
        actions
    }

    /// Checks a BU and updates the cache. `Ok` carries the granted lifetime and the BA's
    /// options; `Err` the refusal, the sequence number for the BA and its options.
    #[allow(clippy::type_complexity)]
    fn process(
        &mut self,
        bu: &BindingUpdate<'_>,
        rx: &ReceivedPacket<'_>,
        now: Now,
        actions: &mut Vec<HaAction>,
    ) -> Result<(Duration, Vec<MobilityOption>), (Refusal, u16, Vec<MobilityOption>)> {
        let fail = |r: Refusal| (r, bu.seq, Vec::new());
        if !bu.flags.contains(BuFlags::HOME) {
            return Err(fail(refuse(
                BaStatus::AdministrativelyProhibited,
                "correspondent registrations (H flag clear) are not served here",
            )));
        }
        if !self
            .policy
            .home_prefixes
            .iter()
            .any(|p| p.contains(&bu.hoa))
        {
            return Err(fail(refuse(
                BaStatus::NotHomeSubnet,
                format!("home address {} is not on the home link", bu.hoa),
            )));
        }
        let Some(node) = self.policy.nodes.get(&bu.hoa).cloned() else {
            return Err(fail(refuse(
                BaStatus::NotHomeAgentForThisMobileNode,
                format!("no prefixtable entry for home address {}", bu.hoa),
            )));
        };
        let timestamp = self.authenticate(bu, rx, now)?;
        let existing = self.cache.get(&bu.hoa);
        if let Some(b) = existing {
            if !seq::is_newer(bu.seq, b.seq) {
                return Err((
                    refuse(
                        BaStatus::SequenceNumberOutOfWindow,
                        format!("sequence {} is not newer than {}", bu.seq, b.seq),
                    ),
                    b.seq,
                    echo_timestamp(timestamp),
                ));
            }
        }
        if bu.lifetime.is_zero() || bu.coa == bu.hoa {
            if let Some(binding) = self.remove_binding(&bu.hoa) {
                actions.push(HaAction::BindingRemoved {
                    binding,
                    reason: if bu.coa == bu.hoa {
                        RemoveReason::ReturnedHome
                    } else {
                        RemoveReason::Deregistered
                    },
                });
            }
            return Ok((Duration::ZERO, echo_timestamp(timestamp)));
        }
        if !is_usable_care_of(bu.coa) {
            return Err(fail(refuse(
                BaStatus::AdministrativelyProhibited,
                format!("care-of address {} is not a global unicast address", bu.coa),
            )));
        }
        if bu.coa == bu.ha || self.policy.local_addresses.contains(&bu.coa) {
            return Err(fail(refuse(
                BaStatus::AdministrativelyProhibited,
                format!(
                    "care-of address {} is an address of this home agent",
                    bu.coa
                ),
            )));
        }
        let router = bu.flags.contains(BuFlags::MOBILE_ROUTER);
        let mnp6 = if router {
            if !node.router {
                return Err(fail(refuse(
                    BaStatus::MobileRouterOperationNotPermitted,
                    format!("{} may not act as a mobile router", bu.hoa),
                )));
            }
            self.accept_ipv6_prefixes(bu, &node).map_err(fail)?
        } else {
            Vec::new()
        };
        let (mnp4, mut ba_options) = if router {
            self.accept_ipv4_prefixes(bu, &node)
        } else {
            (Vec::new(), Vec::new())
        };
        ba_options.extend(echo_timestamp(timestamp));
        let granted = bu.lifetime.min(self.policy.max_lifetime);
        let binding = Binding {
            hoa: bu.hoa,
            coa: bu.coa,
            ha: bu.ha,
            seq: bu.seq,
            router,
            link_local: bu.flags.contains(BuFlags::LINK_LOCAL),
            lifetime: granted,
            expires: now.wall + granted,
            mnp6,
            mnp4,
            last_timestamp: timestamp,
        };
        let new = self.insert_binding(binding.clone());
        actions.push(HaAction::BindingAdded { binding, new });
        Ok((granted, ba_options))
    }

    /// RFC 4285: with an auth database, the BU must carry a valid MN-HA option (else 146)
    /// and a fresh replay protection timestamp (else 145). Returns the timestamp.
    #[allow(clippy::type_complexity)]
    fn authenticate(
        &self,
        bu: &BindingUpdate<'_>,
        rx: &ReceivedPacket<'_>,
        now: Now,
    ) -> Result<Option<u64>, (Refusal, u16, Vec<MobilityOption>)> {
        let Some(db) = &self.policy.auth else {
            return Ok(None);
        };
        let fail = |r: Refusal, opts| (r, bu.seq, opts);
        let sas = db.get(&bu.hoa).map(Vec::as_slice).unwrap_or_default();
        if sas.is_empty() {
            return Err(fail(
                refuse(
                    BaStatus::AuthFail,
                    "no security association for this home address",
                ),
                Vec::new(),
            ));
        }
        let auth_fail = |m: String| fail(refuse(BaStatus::AuthFail, m), Vec::new());
        let spi = rx
            .auth_spi()
            .map_err(|e| auth_fail(format!("authentication failed: {e}")))?;
        let Some(sa) = sas.iter().find(|sa| sa.spi == spi) else {
            let valid: Vec<String> = sas.iter().map(|sa| sa.spi.to_string()).collect();
            return Err(auth_fail(format!(
                "unknown SPI {spi} (valid for this home address: {})",
                valid.join(" ")
            )));
        };
        match rx.verify_auth(&sa.key) {
            Ok(_) => bu.verified_spi.set(Some(spi)),
            Err(e) => {
                return Err(auth_fail(format!(
                    "authentication failed with SPI {spi}: {e}"
                )))
            }
        }
        let ours = replay::ntp_timestamp(now.wall);
        let theirs = bu.options.iter().find_map(|o| match o {
            MobilityOption::ReplayProtection { timestamp } => Some(*timestamp),
            _ => None,
        });
        // On 145 the BA carries the HA's own time so the MR can correct its clock.
        let resync = vec![MobilityOption::ReplayProtection { timestamp: ours }];
        let Some(ts) = theirs else {
            return Err(fail(
                refuse(BaStatus::MesgIdRequired, "no replay protection option"),
                resync,
            ));
        };
        let skew = replay::distance(ts, ours);
        if skew > self.policy.replay_window {
            return Err(fail(
                refuse(
                    BaStatus::MesgIdRequired,
                    format!("timestamp {skew:?} away from our clock"),
                ),
                resync,
            ));
        }
        let last = self.cache.get(&bu.hoa).and_then(|b| b.last_timestamp);
        if last.is_some_and(|last| ts <= last) {
            return Err(fail(
                refuse(
                    BaStatus::MesgIdRequired,
                    "timestamp not newer than the last accepted (replay)",
                ),
                resync,
            ));
        }
        Ok(Some(ts))
    }

    /// RFC 3963 6.1/6.2: explicit mode checks each MNP option against the table (141 for a
    /// malformed prefix, 142 for one not assigned to this MR); implicit mode takes the table.
    fn accept_ipv6_prefixes(
        &self,
        bu: &BindingUpdate<'_>,
        node: &NodePolicy,
    ) -> Result<Vec<Ipv6Net>, Refusal> {
        let signalled: Vec<(Ipv6Addr, u8)> = bu
            .options
            .iter()
            .filter_map(|o| match o {
                MobilityOption::MobileNetworkPrefix { prefix, prefix_len } => {
                    Some((*prefix, *prefix_len))
                }
                _ => None,
            })
            .collect();
        if signalled.is_empty() {
            return Ok(node.mnp6.iter().map(|(p, _)| *p).collect());
        }
        let mut accepted = Vec::new();
        for (addr, len) in signalled {
            let net = Ipv6Net::new(addr, len)
                .ok()
                .filter(|n| n.network() == addr && len > 0 && is_global_unicast(addr))
                .ok_or_else(|| {
                    refuse(
                        BaStatus::InvalidPrefix,
                        format!("invalid prefix {addr}/{len}"),
                    )
                })?;
            if !node.mnp6.iter().any(|(p, _)| *p == net) {
                return Err(refuse(
                    BaStatus::NotAuthorizedForPrefix,
                    format!("{net} is not a mobile network prefix of {}", bu.hoa),
                ));
            }
            if !accepted.contains(&net) {
                accepted.push(net);
            }
        }
        Ok(accepted)
    }

    /// The paper's IPv4 MNPs. Signalled ones (RFC 5555 or draft options) are each answered
    /// with an acknowledgement in the same encoding; without any, the table's IPv4 entries
    /// apply (configuration on both ends). An HA without IPv4 support ignores the options.
    fn accept_ipv4_prefixes(
        &self,
        bu: &BindingUpdate<'_>,
        node: &NodePolicy,
    ) -> (Vec<Ipv4Net>, Vec<MobilityOption>) {
        if !self.policy.ipv4_mnp_support {
            return (Vec::new(), Vec::new());
        }
        let mut accepted = Vec::new();
        let mut acks = Vec::new();
        let mut signalled = false;
        for o in bu.options {
            let (addr, len, draft) = match *o {
                MobilityOption::Ipv4HomeAddress {
                    address,
                    prefix_len,
                    request_prefix,
                } => {
                    signalled = true;
                    if !request_prefix {
                        // An IPv4 home address for a host (DSMIPv6) is not offered here.
                        acks.push(MobilityOption::Ipv4AddressAck {
                            status: Ipv4AckStatus::AdministrativelyProhibited,
                            prefix_len,
                            address,
                        });
                        continue;
                    }
                    (address, prefix_len, false)
                }
                MobilityOption::DraftIpv4Mnp { prefix, prefix_len } => {
                    signalled = true;
                    (prefix, prefix_len, true)
                }
                _ => continue,
            };
            let status = match Ipv4Net::new(addr, len) {
                Ok(net) if net.network() == addr && len > 0 => {
                    if node.mnp4.iter().any(|(p, _)| *p == net) {
                        if !accepted.contains(&net) {
                            accepted.push(net);
                        }
                        Ipv4AckStatus::Success
                    } else {
                        tracing::warn!("{}: IPv4 MNP {net} not in the prefixtable", bu.hoa);
                        Ipv4AckStatus::PrefixAllocationUnauthorized
                    }
                }
                _ => Ipv4AckStatus::InvalidIpv4Address,
            };
            acks.push(ack_option(draft, status, addr, len));
        }
        if !signalled {
            // Configured on both ends: the table's IPv4 entries, whatever their mode.
            accepted = node.mnp4.iter().map(|(p, _)| *p).collect();
        }
        (accepted, acks)
    }

    fn binding_ack(
        &self,
        bu: &BindingUpdate<'_>,
        status: BaStatus,
        seq: u16,
        lifetime: Duration,
        options: Vec<MobilityOption>,
    ) -> Result<Vec<u8>, mip6::Error> {
        let flags = if bu.flags.contains(BuFlags::MOBILE_ROUTER) {
            BaFlags::MOBILE_ROUTER
        } else {
            BaFlags(0)
        };
        let packet = MhPacket {
            src: bu.ha,
            dst: bu.reply_to,
            home_address: None,
            rh2_home: bu.rh2,
            hop_limit: 64,
            mh: MessageRepr::BindingAck {
                status,
                flags,
                seq,
                lifetime,
                options,
            },
        };
        // A 146 goes unsigned: the MR's key did not work, so a signature it cannot check
        // would only hide the reason. Otherwise the BA is signed with the SPI that verified
        // the BU, or (a refusal before the check) with the one the MR signs with.
        let sas = self
            .policy
            .auth
            .as_ref()
            .and_then(|db| db.get(&bu.hoa))
            .filter(|_| status != BaStatus::AuthFail);
        let sa = sas.and_then(|sas| match bu.verified_spi.get() {
            Some(spi) => sas.iter().find(|sa| sa.spi == spi),
            None => sas.last(),
        });
        match sa {
            Some(sa) => packet.emit_signed(
                &self.policy.dialect,
                AuthKey {
                    spi: sa.spi,
                    key: &sa.key,
                },
            ),
            None => packet.emit(&self.policy.dialect),
        }
    }
}

fn echo_timestamp(ts: Option<u64>) -> Vec<MobilityOption> {
    ts.map(|timestamp| MobilityOption::ReplayProtection { timestamp })
        .into_iter()
        .collect()
}

fn ack_option(draft: bool, status: Ipv4AckStatus, addr: Ipv4Addr, len: u8) -> MobilityOption {
    if draft {
        MobilityOption::DraftIpv4MnpStatus {
            status: u8::from(status),
            prefix_len: len,
            prefix: addr,
        }
    } else {
        MobilityOption::Ipv4AddressAck {
            status,
            prefix_len: len,
            address: addr,
        }
    }
}

fn is_global_unicast(a: Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_unicast_link_local())
}

fn is_usable_care_of(a: Ipv6Addr) -> bool {
    is_global_unicast(a)
}
