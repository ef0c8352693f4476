//! The datagram encoding: a versioned header, then the body as opaque bytes.
//!
//! A datagram is the postcard encoding of a frame:
//! `major: u8, minor: u8, sender: {name, pid}, seq: u64, kind: u16, body: bytes`,
//! where `body` is the postcard encoding of the body struct for `kind`.
//!
//! Compatibility rules, so that members of different builds share a bus:
//! - `major` changes only for incompatible header changes; a frame with another major is
//!   rejected ([`WireError::UnsupportedMajor`]) and the receiver logs and skips it.
//! - A newer `minor` may append fields at the end of the frame or of a body struct; older
//!   readers decode what they know and ignore trailing bytes.
//! - An unknown `kind` decodes to [`Body::Unknown`], which consumers skip.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::message::*;

/// Header major version this build speaks.
pub const VERSION_MAJOR: u8 = 1;
/// Header minor version this build writes.
pub const VERSION_MINOR: u8 = 0;
/// Largest datagram a member sends or accepts.
pub const MAX_DATAGRAM: usize = 60 * 1024;

/// Who sent a message: daemon name and process id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sender {
    pub name: String,
    pub pid: u32,
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.name, self.pid)
    }
}

/// A decoded message with its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `(major, minor)` of the sender's encoding.
    pub version: (u8, u8),
    pub sender: Sender,
    /// Per-sender sequence number, starting at 1 with the sender's JOIN.
    pub seq: u64,
    pub body: Body,
}

/// Decoding or encoding failures.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("unsupported header major version {0} (this build speaks {VERSION_MAJOR})")]
    UnsupportedMajor(u8),
    #[error("malformed {kind} body: {source}")]
    MalformedBody {
        kind: &'static str,
        source: postcard::Error,
    },
    #[error("message of {0} bytes exceeds the bus limit of {MAX_DATAGRAM} bytes")]
    TooLarge(usize),
}

#[derive(Serialize, Deserialize)]
struct Frame {
    major: u8,
    minor: u8,
    sender: Sender,
    seq: u64,
    kind: u16,
    body: Vec<u8>,
}

#[derive(Serialize)]
struct Empty {}

fn body_bytes(body: &Body) -> Result<Vec<u8>, postcard::Error> {
    match body {
        Body::NodeTypeInfo(m) => postcard::to_stdvec(m),
        Body::BcAdd(m) => postcard::to_stdvec(m),
        Body::BcRemove(m) => postcard::to_stdvec(m),
        Body::BulAdd(m) => postcard::to_stdvec(m),
        Body::BulRemove(m) => postcard::to_stdvec(m),
        Body::MdInfo(m) => postcard::to_stdvec(m),
        Body::HomeHint(m) => postcard::to_stdvec(m),
        Body::BeHint(m) => postcard::to_stdvec(m),
        Body::Dad(m) => postcard::to_stdvec(m),
        Body::RegistrationFailed(m) => postcard::to_stdvec(m),
        Body::DumpRequest(m) => postcard::to_stdvec(m),
        Body::DumpReply(m) => postcard::to_stdvec(m),
        Body::HaList(m) => postcard::to_stdvec(m),
        Body::HomePrefix(m) => postcard::to_stdvec(m),
        Body::Join(m) => postcard::to_stdvec(m),
        Body::Leave(m) => postcard::to_stdvec(m),
        Body::Dropped(m) => postcard::to_stdvec(m),
        Body::Hello(m) => postcard::to_stdvec(m),
        Body::BcFlush | Body::BulFlush | Body::Unknown { .. } => postcard::to_stdvec(&Empty {}),
    }
}

/// Decodes a body struct, ignoring trailing bytes a newer minor version may have appended.
fn take<'a, T: Deserialize<'a>>(name: &'static str, bytes: &'a [u8]) -> Result<T, WireError> {
    postcard::take_from_bytes(bytes)
        .map(|(v, _rest)| v)
        .map_err(|source| WireError::MalformedBody { kind: name, source })
}

fn decode_body(kind: u16, b: &[u8]) -> Result<Body, WireError> {
    Ok(match Kind(kind) {
        Kind::NODETYPE_INFO => Body::NodeTypeInfo(take("NODETYPE_INFO", b)?),
        Kind::BC_ADD => Body::BcAdd(take("BC_ADD", b)?),
        Kind::BC_REMOVE => Body::BcRemove(take("BC_REMOVE", b)?),
        Kind::BC_FLUSH => Body::BcFlush,
        Kind::BUL_ADD => Body::BulAdd(take("BUL_ADD", b)?),
        Kind::BUL_REMOVE => Body::BulRemove(take("BUL_REMOVE", b)?),
        Kind::BUL_FLUSH => Body::BulFlush,
        Kind::MD_INFO => Body::MdInfo(take("MD_INFO", b)?),
        Kind::HOME_HINT => Body::HomeHint(take("HOME_HINT", b)?),
        Kind::BE_HINT => Body::BeHint(take("BE_HINT", b)?),
        Kind::DAD => Body::Dad(take("DAD", b)?),
        Kind::REG_FAILED => Body::RegistrationFailed(take("REG_FAILED", b)?),
        Kind::DUMP_REQUEST => Body::DumpRequest(take("DUMP_REQUEST", b)?),
        Kind::DUMP_REPLY => Body::DumpReply(take("DUMP_REPLY", b)?),
        Kind::HA_LIST => Body::HaList(take("HA_LIST", b)?),
        Kind::HOME_PREFIX => Body::HomePrefix(take("HOME_PREFIX", b)?),
        Kind::JOIN => Body::Join(take("JOIN", b)?),
        Kind::LEAVE => Body::Leave(take("LEAVE", b)?),
        Kind::DROPPED => Body::Dropped(take("DROPPED", b)?),
        Kind::HELLO => Body::Hello(take("HELLO", b)?),
        Kind(other) => Body::Unknown { kind: other },
    })
}

impl Envelope {
    /// Encodes this envelope as one datagram (always with this build's version).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let frame = Frame {
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            sender: self.sender.clone(),
            seq: self.seq,
            kind: self.body.kind().0,
            body: body_bytes(&self.body)?,
        };
        let bytes = postcard::to_stdvec(&frame)?;
        if bytes.len() > MAX_DATAGRAM {
            return Err(WireError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Decodes one datagram. Never panics; unknown kinds become [`Body::Unknown`].
    pub fn decode(bytes: &[u8]) -> Result<Envelope, WireError> {
        let ((major, _minor), _) = postcard::take_from_bytes::<(u8, u8)>(bytes)?;
        if major != VERSION_MAJOR {
            return Err(WireError::UnsupportedMajor(major));
        }
        let (frame, _extensions) = postcard::take_from_bytes::<Frame>(bytes)?;
        Ok(Envelope {
            version: (frame.major, frame.minor),
            body: decode_body(frame.kind, &frame.body)?,
            sender: frame.sender,
            seq: frame.seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_bodies() -> Vec<Body> {
        let a: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: std::net::Ipv6Addr = "2001:db8:200::5".parse().unwrap();
        let bc = BcEntry {
            hoa: a,
            coa: b,
            lifetime: 40,
            mnp6: vec!["2001:db8:281::/64".parse().unwrap()],
            mnp4: vec!["10.0.0.0/24".parse().unwrap()],
            ha: Some(a),
            bu_seq: Some(9),
            flags: 0x4c00,
        };
        let bul = BulEntry {
            hoa: a,
            coa: b,
            ha: a,
            lifetime: 40,
            mnp6: bc.mnp6.clone(),
            mnp4: bc.mnp4.clone(),
            flags: 0x4c00,
        };
        vec![
            Body::NodeTypeInfo(NodeTypeInfo {
                node_type: NodeType::MobileRouter,
                enabled: true,
            }),
            Body::BcAdd(bc.clone()),
            Body::BcRemove(BcRemove {
                hoa: a,
                coa: Some(b),
                reason: RemoveReason::Expired,
            }),
            Body::BcFlush,
            Body::BulAdd(bul.clone()),
            Body::BulRemove(BulRemove {
                hoa: a,
                ha: None,
                reason: RemoveReason::Deregistered,
            }),
            Body::BulFlush,
            Body::MdInfo(MdInfo {
                command: MdCommand::DeregForeign,
                hint: Some(MdHint::Address(a)),
                coa: Some(b),
                ifindex: None,
            }),
            Body::HomeHint(HomeHint {
                ifindex: 2,
                prefix: "2001:db8::/64".parse().unwrap(),
            }),
            Body::BeHint(BeHint {
                hoa: a,
                coa: None,
                status: 2,
            }),
            Body::Dad(Dad {
                command: DadCommand::Fail,
                address: b,
                ifindex: Some(4),
            }),
            Body::RegistrationFailed(RegistrationFailed {
                hoa: a,
                coa: b,
                ha: a,
                status: 142,
                reason: "not authorized for prefix".into(),
            }),
            Body::DumpRequest(DumpRequest {
                what: DumpWhat::All,
                id: 7,
            }),
            Body::DumpReply(DumpReply {
                request_id: 7,
                bc: vec![bc],
                bul: vec![bul],
                done: true,
            }),
            Body::Join(MemberJoin {}),
            Body::Leave(MemberLeave {}),
            Body::Dropped(Dropped { first: 3, last: 9 }),
            Body::Hello(MemberHello {}),
            Body::HaList(HaList {
                request_id: Some(3),
                ifname: "home0".into(),
                entries: vec![HaListEntry {
                    address: a,
                    preference: Some(-3),
                    lifetime: None,
                    mobile_router: true,
                    own: true,
                }],
            }),
            Body::HomePrefix(HomePrefix {
                hoa: a,
                ha: b,
                prefixes: vec!["2001:db8:9::/64".parse().unwrap()],
                previous: vec![],
                changed: true,
                solicited: false,
            }),
            Body::DumpRequest(DumpRequest {
                what: DumpWhat::Ha,
                id: 8,
            }),
        ]
    }

    fn env(body: Body) -> Envelope {
        Envelope {
            version: (VERSION_MAJOR, VERSION_MINOR),
            sender: Sender {
                name: "had".into(),
                pid: 1234,
            },
            seq: 7,
            body,
        }
    }

    #[test]
    fn every_body_round_trips() {
        for body in sample_bodies() {
            let e = env(body);
            let bytes = e.encode().unwrap();
            assert_eq!(Envelope::decode(&bytes).unwrap(), e);
        }
    }

    #[test]
    fn unknown_kind_is_delivered_as_unknown() {
        let frame = Frame {
            major: VERSION_MAJOR,
            minor: 3,
            sender: Sender {
                name: "future".into(),
                pid: 1,
            },
            seq: 1,
            kind: 999,
            body: vec![1, 2, 3],
        };
        let bytes = postcard::to_stdvec(&frame).unwrap();
        let e = Envelope::decode(&bytes).unwrap();
        assert_eq!(e.body, Body::Unknown { kind: 999 });
        assert_eq!(e.version, (VERSION_MAJOR, 3));
    }

    #[test]
    fn newer_minor_with_appended_fields_still_decodes() {
        // A newer member appends a field to the BC_REMOVE body and an extension to the frame.
        let known = BcRemove {
            hoa: "2001:db8::1".parse().unwrap(),
            coa: None,
            reason: RemoveReason::Administrative,
        };
        let mut body = postcard::to_stdvec(&known).unwrap();
        body.extend_from_slice(&[0x05, 0xaa]);
        let frame = Frame {
            major: VERSION_MAJOR,
            minor: 9,
            sender: Sender {
                name: "had".into(),
                pid: 5,
            },
            seq: 2,
            kind: Kind::BC_REMOVE.0,
            body,
        };
        let mut bytes = postcard::to_stdvec(&frame).unwrap();
        bytes.extend_from_slice(&[0x01, 0x02, 0x03]);
        let e = Envelope::decode(&bytes).unwrap();
        assert_eq!(e.body, Body::BcRemove(known));
    }

    #[test]
    fn newer_major_is_rejected_not_misread() {
        let mut bytes = env(Body::BcFlush).encode().unwrap();
        bytes[0] = VERSION_MAJOR + 1;
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(WireError::UnsupportedMajor(m)) if m == VERSION_MAJOR + 1
        ));
    }

    #[test]
    fn truncated_frames_are_errors() {
        let bytes = env(sample_bodies().remove(1)).encode().unwrap();
        for n in 0..bytes.len() {
            assert!(Envelope::decode(&bytes[..n]).is_err(), "prefix {n} decoded");
        }
    }

    #[test]
    fn impossible_prefix_length_is_an_error() {
        let home = Body::HomeHint(HomeHint {
            ifindex: 1,
            prefix: "2001:db8::/64".parse().unwrap(),
        });
        let mut bytes = env(home).encode().unwrap();
        // The prefix length is the body's (and the frame's) last byte.
        let last = bytes.len() - 1;
        assert_eq!(bytes[last], 64);
        bytes[last] = 200;
        assert!(matches!(
            Envelope::decode(&bytes),
            Err(WireError::MalformedBody {
                kind: "HOME_HINT",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::decode(&bytes);
        }

        #[test]
        fn bodies_survive_any_header(idx in 0usize..21, seq in any::<u64>(), pid in any::<u32>(),
                                     name in "[a-z0-9-]{1,20}") {
            let body = sample_bodies().remove(idx);
            let e = Envelope { version: (VERSION_MAJOR, VERSION_MINOR),
                               sender: Sender { name, pid }, seq, body };
            prop_assert_eq!(Envelope::decode(&e.encode().unwrap()).unwrap(), e);
        }
    }
}
