//! Malformed input is rejected with the right typed error, and the named
//! numbers convert and print as documented.

use std::net::Ipv6Addr;
use std::time::Duration;

use mip6::{
    BaStatus, BeStatus, BuFlags, DraftV4Options, Error, Ipv4AckStatus, MessageRepr, MhPacket,
    MhType, MobilityOption, OptionType, ParseContext,
};

fn iana() -> ParseContext {
    ParseContext::iana()
}

fn parse(bytes: &[u8]) -> Result<MessageRepr, Error> {
    MessageRepr::parse_bytes(bytes, &iana())
}

/// A 16-octet BU whose 4 option octets are given.
fn bu_with(options: [u8; 4]) -> Vec<u8> {
    let mut v = vec![59, 1, 5, 0, 0, 0, 0, 1, 0xc4, 0, 0, 1];
    v.extend_from_slice(&options);
    v
}

#[test]
fn common_header_errors() {
    assert!(matches!(parse(&[59]), Err(Error::Truncated { .. })));
    assert_eq!(
        parse(&[6, 0, 0, 0, 0, 0, 0, 0]),
        Err(Error::BadPayloadProto(6))
    );
    assert_eq!(
        parse(&[59, 1, 0, 0, 0, 0, 0, 0]),
        Err(Error::BadHeaderLength {
            declared: 16,
            available: 8
        })
    );
    assert_eq!(
        parse(&[59, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(Error::BadHeaderLength {
            declared: 8,
            available: 9
        })
    );
    assert_eq!(
        parse(&[59, 0, 5, 0, 0, 0, 0, 0]),
        Err(Error::MessageTooShort {
            mh_type: 5,
            need: 12,
            have: 8
        })
    );
    assert_eq!(
        parse(&[59, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(Error::MessageTooShort {
            mh_type: 7,
            need: 24,
            have: 16
        })
    );
    assert_eq!(
        parse(&[59, 0, 1, 0, 0, 0, 0, 0]),
        Err(Error::UnsupportedMhType(1))
    );
}

#[test]
fn option_errors() {
    // PadN claiming 3 octets where 2 remain.
    assert_eq!(
        parse(&bu_with([0, 1, 3, 0])),
        Err(Error::TruncatedOption { kind: 1 })
    );
    // A type octet with no length octet.
    assert_eq!(
        parse(&bu_with([0, 0, 0, 2])),
        Err(Error::TruncatedOption { kind: 2 })
    );
    // Binding Refresh Advice must have length 2.
    assert_eq!(
        parse(&bu_with([2, 1, 0, 0])),
        Err(Error::BadOptionLength { kind: 2, len: 1 })
    );
    // Authentication followed by anything but padding.
    let mut v = vec![59, 3, 5, 0, 0, 0, 0, 1, 0xc4, 0, 0, 1];
    v.extend_from_slice(&[9, 5, 1, 0, 0, 0, 1]); // auth, no authenticator (12..19)
    v.extend_from_slice(&[200, 0]); // unknown option after it (19..21)
    v.extend_from_slice(&[1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // PadN to 32
    assert_eq!(parse(&v), Err(Error::AuthNotLast));
    v[19] = 9;
    v[20] = 5;
    v.splice(21..26, [1, 0, 0, 0, 2]);
    assert_eq!(parse(&v), Err(Error::DuplicateAuth));
    // A prefix length beyond 128 in an MNP option.
    let mut mnp = vec![59, 3, 5, 0, 0, 0, 0, 1, 0xc4, 0, 0, 1, 6, 18, 0, 129];
    mnp.extend_from_slice(&[0; 16]);
    assert_eq!(
        parse(&mnp),
        Err(Error::BadPrefixLength { kind: 6, len: 129 })
    );
}

#[test]
fn emit_errors() {
    let auth = MobilityOption::Authentication {
        subtype: 1,
        spi: 1,
        authenticator: vec![0; 12],
    };
    let bu = |options| MessageRepr::BindingUpdate {
        seq: 1,
        flags: BuFlags::HOME,
        lifetime: Duration::from_secs(4),
        options,
    };
    let not_last = bu(vec![auth, MobilityOption::nai("x")]);
    assert_eq!(
        not_last.emit_unchecksummed(&iana()),
        Err(Error::AuthNotLast)
    );
    let bad_prefix = bu(vec![MobilityOption::Ipv4HomeAddress {
        address: "192.0.2.1".parse().unwrap(),
        prefix_len: 33,
        request_prefix: false,
    }]);
    assert_eq!(
        bad_prefix.emit_unchecksummed(&iana()),
        Err(Error::BadPrefixLength { kind: 29, len: 33 })
    );
    let huge = bu(vec![
        MobilityOption::Unknown {
            kind: 200,
            data: vec![0; 255]
        };
        8
    ]);
    assert!(matches!(
        huge.emit_unchecksummed(&iana()),
        Err(Error::MessageTooLong(_))
    ));
    let oversized = bu(vec![MobilityOption::Unknown {
        kind: 200,
        data: vec![0; 256],
    }]);
    assert_eq!(
        oversized.emit_unchecksummed(&iana()),
        Err(Error::BadOptionLength {
            kind: 200,
            len: 256
        })
    );
    let pad_as_unknown = bu(vec![MobilityOption::Unknown {
        kind: 0,
        data: vec![],
    }]);
    assert!(pad_as_unknown.emit_unchecksummed(&iana()).is_err());
}

#[test]
fn draft_numbers_are_validated() {
    for (mnp_type, status_type) in [(6, 12), (11, 29), (13, 13), (0, 12)] {
        assert!(matches!(
            ParseContext::with_draft_v4(DraftV4Options {
                mnp_type,
                status_type
            }),
            Err(Error::DraftTypeConflict(_))
        ));
    }
    assert!(ParseContext::with_draft_v4(DraftV4Options::SHISA).is_ok());
    assert_eq!(iana().draft_v4(), None);
}

fn packet() -> MhPacket {
    MhPacket {
        src: "2001:db8:f::10".parse().unwrap(),
        dst: "2001:db8::1".parse().unwrap(),
        home_address: Some("2001:db8::100".parse().unwrap()),
        rh2_home: None,
        hop_limit: 64,
        mh: MessageRepr::BindingRefreshRequest { options: vec![] },
    }
}

#[test]
fn packet_errors() {
    let ctx = iana();
    let good = packet().emit(&ctx).unwrap();
    assert!(MhPacket::parse(&good, &ctx).is_ok());

    let mut v4 = good.clone();
    v4[0] = 0x45;
    assert_eq!(MhPacket::parse(&v4, &ctx), Err(Error::NotIpv6(4)));

    let mut long = good.clone();
    long[5] += 8;
    assert!(matches!(
        MhPacket::parse(&long, &ctx),
        Err(Error::BadPayloadLength { .. })
    ));

    let mut tcp = good.clone();
    tcp[6] = 6;
    assert_eq!(
        MhPacket::parse(&tcp, &ctx),
        Err(Error::UnexpectedNextHeader(6))
    );

    let mut bad_sum = good.clone();
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 0x01; // a reserved octet of the BRR
    assert!(matches!(
        MhPacket::parse(&bad_sum, &ctx),
        Err(Error::BadChecksum { .. })
    ));

    // The same packet checksummed without the HAO substitution fails too.
    let mut wrong_pseudo = packet();
    wrong_pseudo.home_address = None;
    let mut bytes = wrong_pseudo.emit(&ctx).unwrap();
    let mh = bytes.split_off(40);
    let with_hao = [&good[..64], &mh[..]].concat();
    assert!(matches!(
        MhPacket::parse(&with_hao, &ctx),
        Err(Error::BadChecksum { .. })
    ));

    // Routing header type 0 is not ours.
    let mut ba = packet();
    ba.home_address = None;
    ba.rh2_home = Some(Ipv6Addr::LOCALHOST);
    let mut rh = ba.emit(&ctx).unwrap();
    rh[42] = 0;
    assert_eq!(
        MhPacket::parse(&rh, &ctx),
        Err(Error::BadRoutingHeader {
            routing_type: 0,
            len: 2,
            segments_left: 1
        })
    );

    // Two HAOs: a second destination options header in front.
    let mut twice = good[..40].to_vec();
    twice[5] += 24;
    twice.extend_from_slice(&good[40..64]);
    twice[40] = 60; // its next header: the original destination options
    twice.extend_from_slice(&good[40..]);
    assert_eq!(
        MhPacket::parse(&twice, &ctx),
        Err(Error::Duplicate("home address option"))
    );

    // Trailing octets after the MH inside the IPv6 payload.
    let mut trailing = good.clone();
    trailing[5] += 8;
    trailing.extend_from_slice(&[0; 8]);
    assert!(matches!(
        MhPacket::parse(&trailing, &ctx),
        Err(Error::BadHeaderLength { .. })
    ));
    // Octets beyond the IPv6 payload length are ignored (e.g. link padding).
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xee; 6]);
    assert_eq!(MhPacket::parse(&padded, &ctx).unwrap().packet, packet());
}

#[test]
fn named_numbers_round_trip_and_display() {
    for n in 0..=255u8 {
        assert_eq!(u8::from(MhType::from(n)), n);
        assert_eq!(u8::from(OptionType::from(n)), n);
        assert_eq!(u8::from(BaStatus::from(n)), n);
        assert_eq!(u8::from(BeStatus::from(n)), n);
        assert_eq!(u8::from(Ipv4AckStatus::from(n)), n);
        assert_eq!(BaStatus::from(n).is_accepted(), n < 128);
    }
    assert_eq!(
        BaStatus::from(135).to_string(),
        "sequence number out of window (135)"
    );
    assert_eq!(
        BaStatus::from(140),
        BaStatus::MobileRouterOperationNotPermitted
    );
    assert_eq!(BaStatus::from(143), BaStatus::ForwardingSetupFailed);
    assert_eq!(BaStatus::from(146).to_string(), "MIPV6-AUTH-FAIL (146)");
    assert_eq!(BaStatus::from(200).to_string(), "unknown (200)");
    assert_eq!(BeStatus::from(2), BeStatus::UnrecognizedMhType);
    assert_eq!(
        Ipv4AckStatus::from(133),
        Ipv4AckStatus::PrefixAllocationUnauthorized
    );
    assert_eq!(OptionType::from(6).to_string(), "mobile network prefix (6)");
    assert_eq!(MhType::from(5), MhType::BindingUpdate);
}
