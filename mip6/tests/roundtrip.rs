//! Property tests: generated messages and packets survive emit -> parse
//! unchanged, every option lands on its RFC alignment, and checksums verify.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use mip6::{
    lifetime, BaFlags, BaStatus, BeStatus, BuFlags, DraftV4Options, Ipv4AckStatus, MessageRepr,
    MhPacket, MobilityHeader, MobilityOption, ParseContext,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn ctx() -> ParseContext {
    ParseContext::with_draft_v4(DraftV4Options::SHISA).unwrap()
}

/// Types the library decodes, plus the draft numbers configured in `ctx()`.
const DECODED: [u8; 12] = [0, 1, 2, 3, 6, 8, 9, 10, 11, 12, 29, 30];

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// Durations the wire represents exactly (whole 4-second units).
fn wire_duration() -> impl Strategy<Value = Duration> {
    any::<u16>().prop_map(lifetime::from_units)
}

fn option() -> impl Strategy<Value = MobilityOption> {
    prop_oneof![
        wire_duration().prop_map(|interval| MobilityOption::BindingRefreshAdvice { interval }),
        ipv6().prop_map(|address| MobilityOption::AlternateCareOf { address }),
        (ipv6(), 0u8..=128).prop_map(|(prefix, prefix_len)| {
            MobilityOption::MobileNetworkPrefix { prefix, prefix_len }
        }),
        (any::<u8>(), vec(any::<u8>(), 0..40)).prop_map(|(subtype, identifier)| {
            MobilityOption::MobileNodeId {
                subtype,
                identifier,
            }
        }),
        any::<u64>().prop_map(|timestamp| MobilityOption::ReplayProtection { timestamp }),
        (ipv4(), 0u8..=32, any::<bool>()).prop_map(|(address, prefix_len, request_prefix)| {
            MobilityOption::Ipv4HomeAddress {
                address,
                prefix_len,
                request_prefix,
            }
        }),
        (any::<u8>(), 0u8..=32, ipv4()).prop_map(|(status, prefix_len, address)| {
            MobilityOption::Ipv4AddressAck {
                status: Ipv4AckStatus::from(status),
                prefix_len,
                address,
            }
        }),
        (ipv4(), 0u8..=32)
            .prop_map(|(prefix, prefix_len)| MobilityOption::DraftIpv4Mnp { prefix, prefix_len }),
        (any::<u8>(), 0u8..=32, ipv4()).prop_map(|(status, prefix_len, prefix)| {
            MobilityOption::DraftIpv4MnpStatus {
                status,
                prefix_len,
                prefix,
            }
        }),
        (
            any::<u8>().prop_filter("decoded type", |k| !DECODED.contains(k)),
            vec(any::<u8>(), 0..30)
        )
            .prop_map(|(kind, data)| MobilityOption::Unknown { kind, data }),
    ]
}

fn auth_option() -> impl Strategy<Value = MobilityOption> {
    (any::<u8>(), any::<u32>(), vec(any::<u8>(), 0..24)).prop_map(
        |(subtype, spi, authenticator)| MobilityOption::Authentication {
            subtype,
            spi,
            authenticator,
        },
    )
}

/// Options with an optional authentication option last.
fn options() -> impl Strategy<Value = Vec<MobilityOption>> {
    (vec(option(), 0..8), proptest::option::of(auth_option())).prop_map(|(mut opts, auth)| {
        opts.extend(auth);
        opts
    })
}

fn message() -> impl Strategy<Value = MessageRepr> {
    prop_oneof![
        options().prop_map(|options| MessageRepr::BindingRefreshRequest { options }),
        (any::<u16>(), any::<u16>(), wire_duration(), options()).prop_map(
            |(seq, flags, lifetime, options)| MessageRepr::BindingUpdate {
                seq,
                flags: BuFlags(flags),
                lifetime,
                options,
            }
        ),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            wire_duration(),
            options()
        )
            .prop_map(
                |(status, flags, seq, lifetime, options)| MessageRepr::BindingAck {
                    status: BaStatus::from(status),
                    flags: BaFlags(flags),
                    seq,
                    lifetime,
                    options,
                }
            ),
        (any::<u8>(), ipv6(), options()).prop_map(|(status, home_address, options)| {
            MessageRepr::BindingError {
                status: BeStatus::from(status),
                home_address,
                options,
            }
        }),
    ]
}

/// Alignment `(factor, offset)` each RFC requires, written independently of the library.
fn rfc_alignment(kind: u8) -> (usize, usize) {
    match kind {
        2 => (2, 0),       // RFC 6275 6.2.4
        3 => (8, 6),       // RFC 6275 6.2.5
        6 => (8, 4),       // RFC 3963 4.3
        9 => (4, 1),       // RFC 4285 5
        10 => (8, 2),      // RFC 4285 6
        29 | 30 => (4, 0), // RFC 5555 3.1.1, 3.2.1
        11 | 12 => (4, 0), // draft options as SHISA sent them
        _ => (1, 0),
    }
}

/// Walks the emitted option area and checks every option's offset.
fn assert_aligned(bytes: &[u8], first_option: usize) {
    let mut at = first_option;
    while at < bytes.len() {
        let kind = bytes[at];
        if kind == 0 {
            at += 1;
            continue;
        }
        let (factor, offset) = rfc_alignment(kind);
        assert_eq!(
            at % factor,
            offset,
            "option {kind} at {at} breaks {factor}n+{offset}"
        );
        at += 2 + usize::from(bytes[at + 1]);
    }
    assert_eq!(at, bytes.len());
}

fn first_option_offset(message: &MessageRepr) -> usize {
    match message {
        MessageRepr::BindingRefreshRequest { .. } => 8,
        MessageRepr::BindingUpdate { .. } | MessageRepr::BindingAck { .. } => 12,
        MessageRepr::BindingError { .. } => 24,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn message_round_trip(message in message()) {
        let bytes = message.emit_unchecksummed(&ctx()).unwrap();
        prop_assert_eq!(bytes.len() % 8, 0);
        prop_assert_eq!(usize::from(bytes[1]), bytes.len() / 8 - 1);
        assert_aligned(&bytes, first_option_offset(&message));
        prop_assert_eq!(MessageRepr::parse_bytes(&bytes, &ctx()).unwrap(), message);
    }

    #[test]
    fn checksum_verifies_and_detects_a_flipped_bit(
        message in message(), src in ipv6(), dst in ipv6(), bit in 0usize..64
    ) {
        let bytes = message.emit(&ctx(), src, dst).unwrap();
        let view = MobilityHeader::new_checked(&bytes[..]).unwrap();
        prop_assert!(view.verify_checksum(src, dst));
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        if let Ok(view) = MobilityHeader::new_checked(&flipped[..]) {
            prop_assert!(!view.verify_checksum(src, dst));
        }
    }

    #[test]
    fn packet_round_trip(
        message in message(),
        src in ipv6(),
        dst in ipv6(),
        home_address in proptest::option::of(ipv6()),
        rh2_home in proptest::option::of(ipv6()),
        hop_limit in any::<u8>(),
    ) {
        let packet = MhPacket { src, dst, home_address, rh2_home, hop_limit, mh: message };
        let bytes = packet.emit(&ctx()).unwrap();
        let rx = MhPacket::parse(&bytes, &ctx()).unwrap();
        prop_assert_eq!(&rx.packet, &packet);
        // The same packet through a raw socket of the first header's protocol.
        let raw = MhPacket::parse_payload(bytes[6], src, dst, hop_limit, &bytes[40..], &ctx());
        prop_assert_eq!(raw.unwrap().packet, packet);
    }

    #[test]
    fn signed_packet_verifies(
        seq in any::<u16>(),
        opts in vec(option(), 0..6),
        key in vec(any::<u8>(), 1..64),
        spi in any::<u32>(),
        coa in ipv6(),
        hoa in ipv6(),
    ) {
        let packet = MhPacket {
            src: coa,
            dst: "2001:db8::1".parse().unwrap(),
            home_address: Some(hoa),
            rh2_home: None,
            hop_limit: 64,
            mh: MessageRepr::BindingUpdate {
                seq,
                flags: BuFlags::ACK | BuFlags::HOME,
                lifetime: Duration::from_secs(60),
                options: opts,
            },
        };
        let bytes = packet.emit_signed(&ctx(), mip6::AuthKey { spi, key: &key }).unwrap();
        let rx = MhPacket::parse(&bytes, &ctx()).unwrap();
        prop_assert_eq!(rx.verify_auth(&key), Ok(spi));
        let mut wrong = key.clone();
        wrong[0] ^= 1;
        prop_assert!(rx.verify_auth(&wrong).is_err());
    }

    #[test]
    fn lifetime_units_round_trip(units in any::<u16>()) {
        prop_assert_eq!(lifetime::to_units(lifetime::from_units(units)), units);
    }

    #[test]
    fn lifetime_never_exceeds_request_except_minimum(secs in 1u64..1_000_000) {
        let units = lifetime::to_units(Duration::from_secs(secs));
        prop_assert!(units >= 1);
        let back = lifetime::from_units(units).as_secs();
        prop_assert!(back <= secs.max(4));
    }
}
