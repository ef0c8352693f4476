//! Mobility options (RFC 6275 6.2 and the NEMO / DSMIPv6 / RFC 4285 additions).
//!
//! Parsing drops Pad1/PadN and keeps every other option in order; options
//! this library does not know are kept as [`MobilityOption::Unknown`].
//! Emitting inserts Pad1/PadN so that each option starts at its alignment,
//! counted from the first octet of the Mobility Header:
//!
//! | option | alignment | source |
//! |---|---|---|
//! | Binding Refresh Advice | 2n | RFC 6275 6.2.4 |
//! | Alternate Care-of Address | 8n+6 | RFC 6275 6.2.5 |
//! | Mobile Network Prefix | 8n+4 | RFC 3963 4.3 |
//! | Mobile Node Identifier | none | RFC 4283 3 |
//! | Mobility Message Authentication | 4n+1, and here 8n+5 for a 12-octet authenticator so the option ends the message on an 8-octet boundary | RFC 4285 5 |
//! | Mobility Message Replay Protection | 8n+2 | RFC 4285 6 |
//! | IPv4 Home Address, IPv4 Address Ack | 4n | RFC 5555 3.1.1, 3.2.1 |
//! | draft IPv4 MNP / MNP status | 4n | as SHISA emitted them |
//!
//! (The issue text suggested 8n+2 for Binding Refresh Advice and Alternate
//! CoA and 4n+2 for authentication; RFC 6275 and RFC 4285 say otherwise and
//! the RFCs win. Extra padding would still be legal on the wire.)
//!
//! # Draft IPv4 MNP options (draft-shima-nemo-v4prefix)
//!
//! The paper's options had no IANA numbers; SHISA used 11 and 12, and 11 is
//! now IANA's CGA Parameters Request. So their numbers come from
//! [`ParseContext`]: without [`DraftV4Options`] those numbers parse as
//! [`MobilityOption::Unknown`], and emitting a draft option is an error.
//! Layouts (option data after Type and Length, Length = 6 for both):
//!
//! * IPv4 MNP: Reserved (1), Prefix Length (1), IPv4 prefix (4). This is the
//!   `struct ip6_mh_opt_ipv4_prefix` of KAME's `ip6mh.h`, which SHISA sent
//!   with 4n alignment; it mirrors the RFC 3963 MNP option.
//! * IPv4 MNP Registration Status: Status (1), Prefix Length (1), IPv4
//!   prefix (4). The draft text was not retrievable here; this mirrors the
//!   MNP option with the Reserved octet carrying the status, which is what
//!   the paper's figure describes (status code, prefix length, prefix).
//!   Status 0 means success, 128 and above failure, like BA status codes.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::codes::{Ipv4AckStatus, OptionType};
use crate::wire::{self, padding_for, push_padding};
use crate::{lifetime, Error};

/// Option numbers of the draft-shima-nemo-v4prefix options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DraftV4Options {
    /// Type of the IPv4 Mobile Network Prefix option.
    pub mnp_type: u8,
    /// Type of the IPv4 MNP Registration Status option.
    pub status_type: u8,
}

impl DraftV4Options {
    /// The numbers SHISA used (11 collides with IANA's CGA Parameters Request).
    pub const SHISA: DraftV4Options = DraftV4Options {
        mnp_type: 11,
        status_type: 12,
    };
}

/// Option types this library decodes itself; draft numbers may not reuse them.
const DECODED_TYPES: [u8; 10] = [0, 1, 2, 3, 6, 8, 9, 10, 29, 30];

/// The wire dialect: which option numbers mean what. Used for parsing and
/// emitting alike. The default speaks only the IANA/RFC encodings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseContext {
    draft_v4: Option<DraftV4Options>,
}

impl ParseContext {
    /// IANA/RFC encodings only.
    pub const fn iana() -> Self {
        ParseContext { draft_v4: None }
    }

    /// Also speak the draft IPv4 MNP options under the given numbers.
    /// Fails if the numbers are equal or reuse a type this library decodes.
    pub fn with_draft_v4(draft: DraftV4Options) -> Result<Self, Error> {
        for t in [draft.mnp_type, draft.status_type] {
            if DECODED_TYPES.contains(&t) {
                return Err(Error::DraftTypeConflict(t));
            }
        }
        if draft.mnp_type == draft.status_type {
            return Err(Error::DraftTypeConflict(draft.mnp_type));
        }
        Ok(ParseContext {
            draft_v4: Some(draft),
        })
    }

    /// The configured draft option numbers, if any.
    pub fn draft_v4(&self) -> Option<DraftV4Options> {
        self.draft_v4
    }
}

/// Mobile Node Identifier subtype for a Network Access Identifier (RFC 4283).
pub const MN_ID_SUBTYPE_NAI: u8 = 1;
/// Authentication option subtype MN-HA (RFC 4285 5).
pub const AUTH_SUBTYPE_MN_HA: u8 = 1;
/// Authentication option subtype MN-AAA (RFC 4285 5).
pub const AUTH_SUBTYPE_MN_AAA: u8 = 2;
/// Length of the HMAC_SHA1-96 authenticator of the MN-HA option.
pub const AUTHENTICATOR_LEN: usize = 12;

/// One mobility option. Padding is not represented: the emitter adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MobilityOption {
    /// Binding Refresh Advice (2): suggested refresh interval, 4-second units.
    BindingRefreshAdvice { interval: Duration },
    /// Alternate Care-of Address (3).
    AlternateCareOf { address: Ipv6Addr },
    /// Mobile Network Prefix (6, RFC 3963).
    MobileNetworkPrefix { prefix: Ipv6Addr, prefix_len: u8 },
    /// Mobile Node Identifier (8, RFC 4283); subtype 1 is an NAI.
    MobileNodeId { subtype: u8, identifier: Vec<u8> },
    /// Mobility Message Authentication (9, RFC 4285); always the last option.
    Authentication {
        subtype: u8,
        spi: u32,
        authenticator: Vec<u8>,
    },
    /// Mobility Message Replay Protection (10, RFC 4285): 64-bit timestamp.
    ReplayProtection { timestamp: u64 },
    /// IPv4 Home Address (29, RFC 5555); `request_prefix` is the P flag.
    Ipv4HomeAddress {
        address: Ipv4Addr,
        prefix_len: u8,
        request_prefix: bool,
    },
    /// IPv4 Address Acknowledgement (30, RFC 5555).
    Ipv4AddressAck {
        status: Ipv4AckStatus,
        prefix_len: u8,
        address: Ipv4Addr,
    },
    /// draft-shima-nemo-v4prefix IPv4 Mobile Network Prefix.
    DraftIpv4Mnp { prefix: Ipv4Addr, prefix_len: u8 },
    /// draft-shima-nemo-v4prefix IPv4 MNP Registration Status.
    DraftIpv4MnpStatus {
        status: u8,
        prefix_len: u8,
        prefix: Ipv4Addr,
    },
    /// Any other option, kept with its data (type 0 and 1 are never used).
    Unknown { kind: u8, data: Vec<u8> },
}

impl MobilityOption {
    /// A Mobile Node Identifier carrying an NAI.
    pub fn nai(nai: &str) -> Self {
        MobilityOption::MobileNodeId {
            subtype: MN_ID_SUBTYPE_NAI,
            identifier: nai.as_bytes().to_vec(),
        }
    }

    /// The option type number under `ctx`.
    pub fn kind(&self, ctx: &ParseContext) -> Result<u8, Error> {
        let draft = || ctx.draft_v4.ok_or(Error::DraftOptionsNotConfigured);
        Ok(match self {
            MobilityOption::BindingRefreshAdvice { .. } => OptionType::BindingRefreshAdvice.into(),
            MobilityOption::AlternateCareOf { .. } => OptionType::AlternateCareOfAddress.into(),
            MobilityOption::MobileNetworkPrefix { .. } => OptionType::MobileNetworkPrefix.into(),
            MobilityOption::MobileNodeId { .. } => OptionType::MobileNodeIdentifier.into(),
            MobilityOption::Authentication { .. } => OptionType::Authentication.into(),
            MobilityOption::ReplayProtection { .. } => OptionType::ReplayProtection.into(),
            MobilityOption::Ipv4HomeAddress { .. } => OptionType::Ipv4HomeAddress.into(),
            MobilityOption::Ipv4AddressAck { .. } => OptionType::Ipv4AddressAck.into(),
            MobilityOption::DraftIpv4Mnp { .. } => draft()?.mnp_type,
            MobilityOption::DraftIpv4MnpStatus { .. } => draft()?.status_type,
            MobilityOption::Unknown { kind, .. } => *kind,
        })
    }

    /// Alignment `(factor, offset)` relative to the start of the Mobility Header.
    fn alignment(&self) -> (usize, usize) {
        match self {
            MobilityOption::BindingRefreshAdvice { .. } => (2, 0),
            MobilityOption::AlternateCareOf { .. } => (8, 6),
            MobilityOption::MobileNetworkPrefix { .. } => (8, 4),
            MobilityOption::Authentication { authenticator, .. } => {
                // 4n+1 puts the SPI on a 4-octet boundary. When the option
                // length is 3 mod 4 (the usual 12-octet authenticator) the
                // stricter 8n+(-len mod 8) also holds 4n+1 and lets the
                // option end exactly where the message ends.
                let total = 7 + authenticator.len();
                if total % 4 == 3 {
                    (8, (8 - total % 8) % 8)
                } else {
                    (4, 1)
                }
            }
            MobilityOption::ReplayProtection { .. } => (8, 2),
            MobilityOption::Ipv4HomeAddress { .. }
            | MobilityOption::Ipv4AddressAck { .. }
            | MobilityOption::DraftIpv4Mnp { .. }
            | MobilityOption::DraftIpv4MnpStatus { .. } => (4, 0),
            MobilityOption::MobileNodeId { .. } | MobilityOption::Unknown { .. } => (1, 0),
        }
    }

    /// Decodes one option from its type and data (the bytes after Length).
    pub fn parse(kind: u8, data: &[u8], ctx: &ParseContext) -> Result<Self, Error> {
        let fixed = |want: usize| {
            if data.len() == want {
                Ok(())
            } else {
                Err(Error::BadOptionLength {
                    kind,
                    len: data.len(),
                })
            }
        };
        let prefix_ok = |len: u8, max: u8| {
            if len <= max {
                Ok(len)
            } else {
                Err(Error::BadPrefixLength { kind, len })
            }
        };
        const W: &str = "mobility option";
        if let Some(draft) = ctx.draft_v4 {
            if kind == draft.mnp_type {
                fixed(6)?;
                return Ok(MobilityOption::DraftIpv4Mnp {
                    prefix_len: prefix_ok(data[1], 32)?,
                    prefix: wire::ipv4_at(data, 2, W)?,
                });
            }
            if kind == draft.status_type {
                fixed(6)?;
                return Ok(MobilityOption::DraftIpv4MnpStatus {
                    status: data[0],
                    prefix_len: prefix_ok(data[1], 32)?,
                    prefix: wire::ipv4_at(data, 2, W)?,
                });
            }
        }
        Ok(match OptionType::from(kind) {
            OptionType::BindingRefreshAdvice => {
                fixed(2)?;
                MobilityOption::BindingRefreshAdvice {
                    interval: lifetime::from_units(wire::u16_at(data, 0, W)?),
                }
            }
            OptionType::AlternateCareOfAddress => {
                fixed(16)?;
                MobilityOption::AlternateCareOf {
                    address: wire::ipv6_at(data, 0, W)?,
                }
            }
            OptionType::MobileNetworkPrefix => {
                fixed(18)?;
                MobilityOption::MobileNetworkPrefix {
                    prefix_len: prefix_ok(data[1], 128)?,
                    prefix: wire::ipv6_at(data, 2, W)?,
                }
            }
            OptionType::MobileNodeIdentifier => {
                let (&subtype, identifier) = data.split_first().ok_or(Error::BadOptionLength {
                    kind,
                    len: data.len(),
                })?;
                MobilityOption::MobileNodeId {
                    subtype,
                    identifier: identifier.to_vec(),
                }
            }
            OptionType::Authentication => {
                if data.len() < 5 {
                    return Err(Error::BadOptionLength {
                        kind,
                        len: data.len(),
                    });
                }
                MobilityOption::Authentication {
                    subtype: data[0],
                    spi: wire::u32_at(data, 1, W)?,
                    authenticator: data[5..].to_vec(),
                }
            }
            OptionType::ReplayProtection => {
                fixed(8)?;
                MobilityOption::ReplayProtection {
                    timestamp: wire::u64_at(data, 0, W)?,
                }
            }
            OptionType::Ipv4HomeAddress => {
                fixed(6)?;
                MobilityOption::Ipv4HomeAddress {
                    prefix_len: prefix_ok(data[0] >> 2, 32)?,
                    request_prefix: data[0] & 0x02 != 0,
                    address: wire::ipv4_at(data, 2, W)?,
                }
            }
            OptionType::Ipv4AddressAck => {
                fixed(6)?;
                MobilityOption::Ipv4AddressAck {
                    status: Ipv4AckStatus::from(data[0]),
                    prefix_len: prefix_ok(data[1] >> 2, 32)?,
                    address: wire::ipv4_at(data, 2, W)?,
                }
            }
            _ => MobilityOption::Unknown {
                kind,
                data: data.to_vec(),
            },
        })
    }

    /// Appends Type, Length and data (no padding).
    fn emit_body(&self, out: &mut Vec<u8>, ctx: &ParseContext) -> Result<(), Error> {
        let kind = self.kind(ctx)?;
        let start = out.len();
        out.push(kind);
        out.push(0); // length, patched below
        match self {
            MobilityOption::BindingRefreshAdvice { interval } => {
                out.extend_from_slice(&lifetime::to_units(*interval).to_be_bytes());
            }
            MobilityOption::AlternateCareOf { address } => out.extend_from_slice(&address.octets()),
            MobilityOption::MobileNetworkPrefix { prefix, prefix_len } => {
                check_prefix(kind, *prefix_len, 128)?;
                out.extend_from_slice(&[0, *prefix_len]);
                out.extend_from_slice(&prefix.octets());
            }
            MobilityOption::MobileNodeId {
                subtype,
                identifier,
            } => {
                out.push(*subtype);
                out.extend_from_slice(identifier);
            }
            MobilityOption::Authentication {
                subtype,
                spi,
                authenticator,
            } => {
                out.push(*subtype);
                out.extend_from_slice(&spi.to_be_bytes());
                out.extend_from_slice(authenticator);
            }
            MobilityOption::ReplayProtection { timestamp } => {
                out.extend_from_slice(&timestamp.to_be_bytes())
            }
            MobilityOption::Ipv4HomeAddress {
                address,
                prefix_len,
                request_prefix,
            } => {
                check_prefix(kind, *prefix_len, 32)?;
                out.extend_from_slice(&[prefix_len << 2 | u8::from(*request_prefix) << 1, 0]);
                out.extend_from_slice(&address.octets());
            }
            MobilityOption::Ipv4AddressAck {
                status,
                prefix_len,
                address,
            } => {
                check_prefix(kind, *prefix_len, 32)?;
                out.extend_from_slice(&[u8::from(*status), prefix_len << 2]);
                out.extend_from_slice(&address.octets());
            }
            MobilityOption::DraftIpv4Mnp { prefix, prefix_len } => {
                check_prefix(kind, *prefix_len, 32)?;
                out.extend_from_slice(&[0, *prefix_len]);
                out.extend_from_slice(&prefix.octets());
            }
            MobilityOption::DraftIpv4MnpStatus {
                status,
                prefix_len,
                prefix,
            } => {
                check_prefix(kind, *prefix_len, 32)?;
                out.extend_from_slice(&[*status, *prefix_len]);
                out.extend_from_slice(&prefix.octets());
            }
            MobilityOption::Unknown { kind, data } => {
                if *kind <= 1 {
                    // Pad1 has no length octet and PadN is padding: neither
                    // can be carried as data without breaking the framing.
                    return Err(Error::BadOptionLength {
                        kind: *kind,
                        len: data.len(),
                    });
                }
                out.extend_from_slice(data);
            }
        }
        let len = out.len() - start - 2;
        out[start + 1] = u8::try_from(len).map_err(|_| Error::BadOptionLength { kind, len })?;
        Ok(())
    }
}

fn check_prefix(kind: u8, len: u8, max: u8) -> Result<(), Error> {
    if len <= max {
        Ok(())
    } else {
        Err(Error::BadPrefixLength { kind, len })
    }
}

/// Parses an option area: skips Pad1/PadN, keeps unknown options, rejects
/// truncated options and anything after the authentication option.
pub fn parse_options(data: &[u8], ctx: &ParseContext) -> Result<Vec<MobilityOption>, Error> {
    let mut options = Vec::new();
    let mut seen_auth = false;
    let mut at = 0;
    while let Some(&kind) = data.get(at) {
        if kind == u8::from(OptionType::Pad1) {
            at += 1;
            continue;
        }
        let len = usize::from(*data.get(at + 1).ok_or(Error::TruncatedOption { kind })?);
        let body = data
            .get(at + 2..at + 2 + len)
            .ok_or(Error::TruncatedOption { kind })?;
        at += 2 + len;
        if kind == u8::from(OptionType::PadN) {
            continue;
        }
        if seen_auth {
            return Err(if kind == u8::from(OptionType::Authentication) {
                Error::DuplicateAuth
            } else {
                Error::AuthNotLast
            });
        }
        let option = MobilityOption::parse(kind, body, ctx)?;
        seen_auth = matches!(option, MobilityOption::Authentication { .. });
        options.push(option);
    }
    Ok(options)
}

/// Appends `options` to `out`, where the Mobility Header began at `mh_start`,
/// with alignment padding before each option and padding after the last so
/// the Mobility Header ends on an 8-octet boundary.
pub fn emit_options(
    out: &mut Vec<u8>,
    mh_start: usize,
    options: &[MobilityOption],
    ctx: &ParseContext,
) -> Result<(), Error> {
    for (i, option) in options.iter().enumerate() {
        if matches!(option, MobilityOption::Authentication { .. }) && i + 1 != options.len() {
            return Err(Error::AuthNotLast);
        }
        let (factor, offset) = option.alignment();
        push_padding(out, padding_for(out.len() - mh_start, factor, offset));
        option.emit_body(out, ctx)?;
    }
    push_padding(out, padding_for(out.len() - mh_start, 8, 0));
    Ok(())
}
