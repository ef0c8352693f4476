//! The one error type of the crate: every way untrusted bytes or a bad `Repr` can fail.

use thiserror::Error;

/// Why parsing or emitting failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The buffer ends before the structure it should hold.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    /// The Mobility Header's Payload Proto is not 59 (IPPROTO_NONE).
    #[error("mobility header payload proto is {0}, expected 59 (no next header)")]
    BadPayloadProto(u8),
    /// The Header Len field does not match the bytes available.
    #[error(
        "mobility header length {declared} bytes does not match the {available} bytes available"
    )]
    BadHeaderLength { declared: usize, available: usize },
    /// The message is shorter than its type's fixed part.
    #[error("mobility header type {mh_type} needs at least {need} bytes, message has {have}")]
    MessageTooShort {
        mh_type: u8,
        need: usize,
        have: usize,
    },
    /// A Mobility Header type this library does not model (HoTI, CoTI, ...).
    #[error("unsupported mobility header type {0}")]
    UnsupportedMhType(u8),
    /// An option runs past the end of the option area.
    #[error("truncated mobility option type {kind}")]
    TruncatedOption { kind: u8 },
    /// A known option has a length its layout does not allow.
    #[error("mobility option type {kind} has invalid length {len}")]
    BadOptionLength { kind: u8, len: usize },
    /// A prefix length beyond the address size (or the field width).
    #[error("option type {kind}: invalid prefix length {len}")]
    BadPrefixLength { kind: u8, len: u8 },
    /// RFC 4285: the authentication option must be the last option.
    #[error("mobility message authentication option is not the last option")]
    AuthNotLast,
    /// The message carries more than one authentication option.
    #[error("more than one mobility message authentication option")]
    DuplicateAuth,
    /// The emitted Mobility Header would exceed 2048 bytes (Header Len is one octet).
    #[error("mobility header of {0} bytes exceeds the 2048-byte maximum")]
    MessageTooLong(usize),
    /// A draft IPv4 option was emitted, but no option numbers are configured.
    #[error("draft IPv4 MNP options used but no draft option numbers configured")]
    DraftOptionsNotConfigured,
    /// Draft option numbers that collide with each other or with a decoded IANA option.
    #[error("draft option type {0} collides with another option type")]
    DraftTypeConflict(u8),
    /// The checksum does not verify against the RFC 6275 pseudo-header.
    #[error(
        "mobility header checksum mismatch: packet has {found:#06x}, computed {computed:#06x}"
    )]
    BadChecksum { found: u16, computed: u16 },
    /// The IPv6 header's version field is not 6.
    #[error("not an IPv6 packet (version {0})")]
    NotIpv6(u8),
    /// The IPv6 payload length disagrees with the buffer.
    #[error("IPv6 payload length {declared} exceeds the {available} bytes available")]
    BadPayloadLength { declared: usize, available: usize },
    /// The header chain reaches something other than the Mobility Header.
    #[error("next header {0} where a mobility header (135) or an extension header was expected")]
    UnexpectedNextHeader(u8),
    /// A routing header other than a well-formed type 2 one.
    #[error(
        "bad routing header: type {routing_type}, length {len}, segments left {segments_left}"
    )]
    BadRoutingHeader {
        routing_type: u8,
        len: u8,
        segments_left: u8,
    },
    /// A Home Address option with a length other than 16.
    #[error("home address option has length {0}, expected 16")]
    BadHomeAddressOption(u8),
    /// Two Home Address options, or two type 2 routing headers.
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// Authentication was requested but the message has no MN-HA authentication option.
    #[error("no MN-HA mobility message authentication option")]
    NoAuthOption,
    /// The authenticator does not match the key.
    #[error("mobility message authenticator mismatch")]
    AuthFailed,
    /// The caller asked to sign a message that already has an authentication option.
    #[error("message already carries an authentication option")]
    AlreadySigned,
}
