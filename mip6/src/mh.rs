//! The Mobility Header (RFC 6275 6.1): a checked view over bytes and the
//! message representations BRR, BU, BA and BE.
//!
//! Layout of every message: Payload Proto (must be 59), Header Len (8-octet
//! units, not counting the first 8), MH Type, Reserved, Checksum, then the
//! type's fixed fields and the mobility options. The emitter computes Header
//! Len and pads to 8 octets; callers never do.

use std::net::Ipv6Addr;
use std::time::Duration;

use crate::checksum;
use crate::codes::{BaStatus, BeStatus, MhType};
use crate::option::{emit_options, parse_options, MobilityOption, ParseContext};
use crate::wire;
use crate::{lifetime, Error};

/// IPPROTO_NONE: the only Payload Proto allowed in a Mobility Header.
pub const IPPROTO_NONE: u8 = 59;
/// IP protocol number of the Mobility Header.
pub const IPPROTO_MH: u8 = 135;
/// Largest Mobility Header: (255 + 1) * 8 octets.
pub const MAX_LEN: usize = 2048;
/// Offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = 4;
/// Length of the common part (Payload Proto .. Checksum).
pub const COMMON_LEN: usize = 6;

/// Binding Update flags (RFC 6275 6.1.7, RFC 3963 4.1). Unknown bits are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BuFlags(pub u16);

impl BuFlags {
    /// A: acknowledge requested.
    pub const ACK: BuFlags = BuFlags(0x8000);
    /// H: home registration.
    pub const HOME: BuFlags = BuFlags(0x4000);
    /// L: link-local address compatibility.
    pub const LINK_LOCAL: BuFlags = BuFlags(0x2000);
    /// K: key management mobility capability.
    pub const KEY_MGMT: BuFlags = BuFlags(0x1000);
    /// M: MAP registration (HMIPv6).
    pub const MAP: BuFlags = BuFlags(0x0800);
    /// R: mobile router (NEMO, RFC 3963).
    pub const MOBILE_ROUTER: BuFlags = BuFlags(0x0400);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: BuFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for BuFlags {
    type Output = BuFlags;
    fn bitor(self, rhs: BuFlags) -> BuFlags {
        BuFlags(self.0 | rhs.0)
    }
}

/// Binding Acknowledgement flags (RFC 6275 6.1.8, RFC 3963 4.2). Unknown bits are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BaFlags(pub u8);

impl BaFlags {
    /// K: key management mobility capability.
    pub const KEY_MGMT: BaFlags = BaFlags(0x80);
    /// R: mobile router (NEMO).
    pub const MOBILE_ROUTER: BaFlags = BaFlags(0x40);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: BaFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for BaFlags {
    type Output = BaFlags;
    fn bitor(self, rhs: BaFlags) -> BaFlags {
        BaFlags(self.0 | rhs.0)
    }
}

/// A checked view of a Mobility Header: `new_checked` guarantees the buffer
/// holds exactly the length Header Len declares, at least 8 octets, with
/// Payload Proto 59, so the accessors cannot panic.
#[derive(Debug, Clone, Copy)]
pub struct MobilityHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MobilityHeader<T> {
    /// Validates the common header. The buffer must end where the header ends.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        let header_len = wire::u8_at(bytes, 1, "mobility header")?;
        let declared = (usize::from(header_len) + 1) * 8;
        if declared != bytes.len() {
            return Err(Error::BadHeaderLength {
                declared,
                available: bytes.len(),
            });
        }
        if bytes[0] != IPPROTO_NONE {
            return Err(Error::BadPayloadProto(bytes[0]));
        }
        Ok(MobilityHeader { buffer })
    }

    /// The whole header.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Payload Proto (always 59 in a checked view).
    pub fn payload_proto(&self) -> u8 {
        self.as_bytes()[0]
    }

    /// Header Len in 8-octet units, excluding the first 8 octets.
    pub fn header_len(&self) -> u8 {
        self.as_bytes()[1]
    }

    /// MH Type.
    pub fn mh_type(&self) -> MhType {
        MhType::from(self.as_bytes()[2])
    }

    /// Checksum as on the wire.
    pub fn checksum(&self) -> u16 {
        let b = self.as_bytes();
        u16::from_be_bytes([b[4], b[5]])
    }

    /// The type-specific message data (fixed fields and options).
    pub fn message_data(&self) -> &[u8] {
        &self.as_bytes()[COMMON_LEN..]
    }

    /// Whether the checksum verifies for this pseudo-header (`src` is the
    /// home address when a HAO is present, `dst` the final destination).
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::verify(src, dst, IPPROTO_MH, self.as_bytes())
    }
}

/// A Mobility Header message. Options exclude padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRepr {
    /// Binding Refresh Request (type 0).
    BindingRefreshRequest { options: Vec<MobilityOption> },
    /// Binding Update (type 5).
    BindingUpdate {
        seq: u16,
        flags: BuFlags,
        lifetime: Duration,
        options: Vec<MobilityOption>,
    },
    /// Binding Acknowledgement (type 6).
    BindingAck {
        status: BaStatus,
        flags: BaFlags,
        seq: u16,
        lifetime: Duration,
        options: Vec<MobilityOption>,
    },
    /// Binding Error (type 7).
    BindingError {
        status: BeStatus,
        home_address: Ipv6Addr,
        options: Vec<MobilityOption>,
    },
}

impl MessageRepr {
    /// The MH Type of this message.
    pub fn mh_type(&self) -> MhType {
        match self {
            MessageRepr::BindingRefreshRequest { .. } => MhType::BindingRefreshRequest,
            MessageRepr::BindingUpdate { .. } => MhType::BindingUpdate,
            MessageRepr::BindingAck { .. } => MhType::BindingAck,
            MessageRepr::BindingError { .. } => MhType::BindingError,
        }
    }

    /// The options of any message.
    pub fn options(&self) -> &[MobilityOption] {
        match self {
            MessageRepr::BindingRefreshRequest { options }
            | MessageRepr::BindingUpdate { options, .. }
            | MessageRepr::BindingAck { options, .. }
            | MessageRepr::BindingError { options, .. } => options,
        }
    }

    /// Mutable access to the options of any message.
    pub fn options_mut(&mut self) -> &mut Vec<MobilityOption> {
        match self {
            MessageRepr::BindingRefreshRequest { options }
            | MessageRepr::BindingUpdate { options, .. }
            | MessageRepr::BindingAck { options, .. }
            | MessageRepr::BindingError { options, .. } => options,
        }
    }

    /// Length of the fixed part after the common 6 octets.
    fn fixed_len(mh_type: MhType) -> Option<usize> {
        match mh_type {
            MhType::BindingRefreshRequest => Some(2),
            MhType::BindingUpdate | MhType::BindingAck => Some(6),
            MhType::BindingError => Some(18),
            _ => None,
        }
    }

    /// Decodes a checked Mobility Header. The checksum is not checked here
    /// (it needs the addresses): see [`MobilityHeader::verify_checksum`].
    pub fn parse<T: AsRef<[u8]>>(
        header: &MobilityHeader<T>,
        ctx: &ParseContext,
    ) -> Result<Self, Error> {
        let mh_type = header.mh_type();
        let fixed = Self::fixed_len(mh_type).ok_or(Error::UnsupportedMhType(mh_type.into()))?;
        let data = header.message_data();
        if data.len() < fixed {
            return Err(Error::MessageTooShort {
                mh_type: mh_type.into(),
                need: COMMON_LEN + fixed,
                have: header.as_bytes().len(),
            });
        }
        let options = parse_options(&data[fixed..], ctx)?;
        const W: &str = "mobility header";
        Ok(match mh_type {
            MhType::BindingRefreshRequest => MessageRepr::BindingRefreshRequest { options },
            MhType::BindingUpdate => MessageRepr::BindingUpdate {
                seq: wire::u16_at(data, 0, W)?,
                flags: BuFlags(wire::u16_at(data, 2, W)?),
                lifetime: lifetime::from_units(wire::u16_at(data, 4, W)?),
                options,
            },
            MhType::BindingAck => MessageRepr::BindingAck {
                status: BaStatus::from(data[0]),
                flags: BaFlags(data[1]),
                seq: wire::u16_at(data, 2, W)?,
                lifetime: lifetime::from_units(wire::u16_at(data, 4, W)?),
                options,
            },
            MhType::BindingError => MessageRepr::BindingError {
                status: BeStatus::from(data[0]),
                home_address: wire::ipv6_at(data, 2, W)?,
                options,
            },
            other => return Err(Error::UnsupportedMhType(other.into())),
        })
    }

    /// Parses raw Mobility Header bytes (view + repr in one step).
    pub fn parse_bytes(bytes: &[u8], ctx: &ParseContext) -> Result<Self, Error> {
        Self::parse(&MobilityHeader::new_checked(bytes)?, ctx)
    }

    /// Emits the Mobility Header with the checksum field zero (the
    /// authenticator is computed over this form). Lifetimes are rounded as
    /// described in [`crate::lifetime`].
    pub fn emit_unchecksummed(&self, ctx: &ParseContext) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[IPPROTO_NONE, 0, self.mh_type().into(), 0, 0, 0]);
        match self {
            MessageRepr::BindingRefreshRequest { .. } => out.extend_from_slice(&[0, 0]),
            MessageRepr::BindingUpdate {
                seq,
                flags,
                lifetime,
                ..
            } => {
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&flags.0.to_be_bytes());
                out.extend_from_slice(&lifetime::to_units(*lifetime).to_be_bytes());
            }
            MessageRepr::BindingAck {
                status,
                flags,
                seq,
                lifetime,
                ..
            } => {
                out.extend_from_slice(&[u8::from(*status), flags.0]);
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&lifetime::to_units(*lifetime).to_be_bytes());
            }
            MessageRepr::BindingError {
                status,
                home_address,
                ..
            } => {
                out.extend_from_slice(&[u8::from(*status), 0]);
                out.extend_from_slice(&home_address.octets());
            }
        }
        emit_options(&mut out, 0, self.options(), ctx)?;
        if out.len() > MAX_LEN {
            return Err(Error::MessageTooLong(out.len()));
        }
        // Header Len excludes the first 8 octets; fits: len <= 2048.
        out[1] = u8::try_from(out.len() / 8 - 1).map_err(|_| Error::MessageTooLong(out.len()))?;
        Ok(out)
    }

    /// Emits the Mobility Header with its checksum over the RFC 6275 6.1.1
    /// pseudo-header (`src`: home address if a HAO is sent, else the source;
    /// `dst`: the home address if an RH2 is sent, else the destination).
    pub fn emit(&self, ctx: &ParseContext, src: Ipv6Addr, dst: Ipv6Addr) -> Result<Vec<u8>, Error> {
        let mut out = self.emit_unchecksummed(ctx)?;
        fill_checksum(&mut out, src, dst);
        Ok(out)
    }
}

/// Writes the checksum of a Mobility Header whose checksum field may hold anything.
pub fn fill_checksum(mh: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    if mh.len() < COMMON_LEN {
        return;
    }
    mh[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&[0, 0]);
    let sum = checksum::compute(src, dst, IPPROTO_MH, mh);
    mh[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_be_bytes());
}

/// Offset of the option area for a message type this library models.
pub(crate) fn options_offset(mh_type: MhType) -> Option<usize> {
    MessageRepr::fixed_len(mh_type).map(|fixed| COMMON_LEN + fixed)
}
