//! Byte vectors written out by hand from the RFC layouts, checked in both
//! directions: bytes -> Repr and Repr -> bytes. Checksums are left zero here
//! (`emit_unchecksummed`); packet-level vectors with checksums are at the end.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use mip6::{
    BaFlags, BaStatus, BeStatus, BuFlags, DraftV4Options, Error, Ipv4AckStatus, MessageRepr,
    MhPacket, MobilityOption, ParseContext,
};

const HA: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];
const HOA: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
];
const COA: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
const MNP6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn iana() -> ParseContext {
    ParseContext::iana()
}

fn shisa() -> ParseContext {
    ParseContext::with_draft_v4(DraftV4Options::SHISA).unwrap()
}

/// Both directions for one message.
fn check(ctx: &ParseContext, bytes: &[u8], repr: &MessageRepr) {
    assert_eq!(bytes.len() % 8, 0, "vector itself must be 8-octet aligned");
    let parsed = MessageRepr::parse_bytes(bytes, ctx).expect("vector parses");
    assert_eq!(&parsed, repr, "bytes -> repr");
    let emitted = repr.emit_unchecksummed(ctx).expect("repr emits");
    assert_eq!(emitted, bytes, "repr -> bytes");
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// BU header (12 octets) with seq 0x1234, flags A|H|R, lifetime 100 units.
fn bu_head(header_len: u8) -> Vec<u8> {
    vec![
        59, header_len, 5, 0, // payload proto NONE, header len, MH type BU, reserved
        0, 0, // checksum (zero: not computed in these vectors)
        0x12, 0x34, // sequence number 4660
        0xc4, 0x00, // flags A (0x8000) | H (0x4000) | R (0x0400)
        0x00, 0x64, // lifetime 100 units = 400 s
    ]
}

fn bu(options: Vec<MobilityOption>) -> MessageRepr {
    MessageRepr::BindingUpdate {
        seq: 0x1234,
        flags: BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER,
        lifetime: Duration::from_secs(400),
        options,
    }
}

/// BA header (12 octets): status, flags R, seq 0x1234, lifetime 100 units.
fn ba_head(header_len: u8, status: u8) -> Vec<u8> {
    vec![
        59, header_len, 6, 0, // payload proto, header len, MH type BA, reserved
        0, 0, // checksum
        status, 0x40, // status, flags R (0x40)
        0x12, 0x34, // sequence number
        0x00, 0x64, // lifetime 100 units
    ]
}

fn ba(status: BaStatus, options: Vec<MobilityOption>) -> MessageRepr {
    MessageRepr::BindingAck {
        status,
        flags: BaFlags::MOBILE_ROUTER,
        seq: 0x1234,
        lifetime: Duration::from_secs(400),
        options,
    }
}

#[test]
fn binding_refresh_request() {
    let bytes = [
        59, 0, 0, 0, // proto NONE, header len 0 (8 octets), type BRR, reserved
        0, 0, // checksum
        0, 0, // reserved
    ];
    check(
        &iana(),
        &bytes,
        &MessageRepr::BindingRefreshRequest { options: vec![] },
    );
}

#[test]
fn binding_update_without_options_pads_to_16() {
    let bytes = cat(&[
        &bu_head(1),   // header len 1: 16 octets
        &[1, 2, 0, 0], // PadN, 2 octets of data: 12 -> 16
    ]);
    check(&iana(), &bytes, &bu(vec![]));
}

#[test]
fn binding_ack_plain_and_status_names() {
    let bytes = cat(&[&ba_head(1, 135), &[1, 2, 0, 0]]);
    check(
        &iana(),
        &bytes,
        &ba(BaStatus::SequenceNumberOutOfWindow, vec![]),
    );
    let bytes = cat(&[&ba_head(1, 1), &[1, 2, 0, 0]]);
    check(
        &iana(),
        &bytes,
        &ba(BaStatus::AcceptedPrefixDiscoveryNecessary, vec![]),
    );
}

#[test]
fn binding_error() {
    let bytes = cat(&[
        &[59, 2, 7, 0], // proto, header len 2 (24 octets), type BE, reserved
        &[0, 0],        // checksum
        &[1, 0],        // status 1 (unknown binding for HAO), reserved
        &HOA,           // home address
    ]);
    let repr = MessageRepr::BindingError {
        status: BeStatus::UnknownBindingForHomeAddressOption,
        home_address: Ipv6Addr::from(HOA),
        options: vec![],
    };
    check(&iana(), &bytes, &repr);
}

#[test]
fn option_mobile_network_prefix_at_8n_plus_4() {
    let bytes = cat(&[
        &bu_head(3), // 32 octets
        // offset 12 = 8n+4: no padding
        &[6, 18, 0, 64], // type 6, length 18, reserved, prefix length 64
        &MNP6,           // 2001:db8:1::
    ]);
    let repr = bu(vec![MobilityOption::MobileNetworkPrefix {
        prefix: Ipv6Addr::from(MNP6),
        prefix_len: 64,
    }]);
    check(&iana(), &bytes, &repr);
}

#[test]
fn option_alternate_care_of_at_8n_plus_6() {
    let bytes = cat(&[
        &bu_head(3),
        &[1, 0],  // PadN with no data: 12 -> 14 = 8n+6
        &[3, 16], // type 3, length 16
        &COA,
    ]);
    let repr = bu(vec![MobilityOption::AlternateCareOf {
        address: Ipv6Addr::from(COA),
    }]);
    check(&iana(), &bytes, &repr);
}

#[test]
fn option_binding_refresh_advice_at_2n() {
    let bytes = cat(&[
        &ba_head(1, 0),
        &[2, 2, 0x00, 0x4b], // type 2, length 2, interval 75 units = 300 s
    ]);
    let repr = ba(
        BaStatus::Accepted,
        vec![MobilityOption::BindingRefreshAdvice {
            interval: Duration::from_secs(300),
        }],
    );
    check(&iana(), &bytes, &repr);
}

#[test]
fn option_mobile_node_identifier_nai() {
    let nai = b"mr@example.net"; // 14 octets
    let bytes = cat(&[
        &bu_head(3),
        &[8, 15, 1], // type 8, length 1 + 14, subtype 1 (NAI); no alignment
        nai,
        &[1, 1, 0], // PadN with one octet: 29 -> 32
    ]);
    check(
        &iana(),
        &bytes,
        &bu(vec![MobilityOption::nai("mr@example.net")]),
    );
}

#[test]
fn option_authentication_last_at_4n_plus_1() {
    let bytes = cat(&[
        &bu_head(3),
        &[0],                // Pad1: 12 -> 13 (8n+5, which is 4n+1)
        &[9, 17, 1],         // type 9, length 17, subtype 1 (MN-HA)
        &[0, 0, 0x01, 0x00], // mobility SPI 256
        &[0xaa; 12],         // authenticator (arbitrary here)
    ]);
    let repr = bu(vec![MobilityOption::Authentication {
        subtype: 1,
        spi: 256,
        authenticator: vec![0xaa; 12],
    }]);
    check(&iana(), &bytes, &repr);
}

#[test]
fn option_replay_protection_at_8n_plus_2() {
    let bytes = cat(&[
        &bu_head(3),
        &[1, 4, 0, 0, 0, 0], // PadN, 4 octets: 12 -> 18 = 8n+2
        &[10, 8],            // type 10, length 8
        &[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08], // timestamp
        &[1, 2, 0, 0],       // PadN: 28 -> 32
    ]);
    let repr = bu(vec![MobilityOption::ReplayProtection {
        timestamp: 0x0102_0304_0506_0708,
    }]);
    check(&iana(), &bytes, &repr);
}

#[test]
fn option_ipv4_home_address_rfc5555() {
    let bytes = cat(&[
        &bu_head(2),
        &[29, 6],               // type 29, length 6 (offset 12 = 4n)
        &[(24 << 2) | 0b10, 0], // prefix-len 24 (6 bits), P flag, reserved
        &[192, 0, 0, 10],       // IPv4 home address
        &[1, 2, 0, 0],          // PadN: 20 -> 24
    ]);
    let repr = bu(vec![MobilityOption::Ipv4HomeAddress {
        address: Ipv4Addr::new(192, 0, 0, 10),
        prefix_len: 24,
        request_prefix: true,
    }]);
    check(&iana(), &bytes, &repr);
}

#[test]
fn option_ipv4_address_ack_rfc5555() {
    let bytes = cat(&[
        &ba_head(2, 0),
        &[30, 6],         // type 30, length 6
        &[128, 24 << 2],  // status 128, prefix-len 24 (6 bits) + 2 reserved bits
        &[192, 0, 0, 10], // IPv4 home address
        &[1, 2, 0, 0],    // PadN
    ]);
    let repr = ba(
        BaStatus::Accepted,
        vec![MobilityOption::Ipv4AddressAck {
            status: Ipv4AckStatus::FailureReasonUnspecified,
            prefix_len: 24,
            address: Ipv4Addr::new(192, 0, 0, 10),
        }],
    );
    check(&iana(), &bytes, &repr);
}

#[test]
fn draft_ipv4_mnp_only_with_configured_numbers() {
    let bytes = cat(&[
        &bu_head(2),
        &[11, 6, 0, 24], // SHISA type 11, length 6, reserved, prefix length 24
        &[192, 0, 1, 0], // IPv4 MNP 192.0.1.0
        &[1, 2, 0, 0],   // PadN
    ]);
    let draft = bu(vec![MobilityOption::DraftIpv4Mnp {
        prefix: Ipv4Addr::new(192, 0, 1, 0),
        prefix_len: 24,
    }]);
    check(&shisa(), &bytes, &draft);
    // Without the draft numbers, 11 is just an option we do not decode.
    let unknown = bu(vec![MobilityOption::Unknown {
        kind: 11,
        data: vec![0, 24, 192, 0, 1, 0],
    }]);
    check(&iana(), &bytes, &unknown);
    // And the draft option cannot be emitted without its numbers.
    assert_eq!(
        draft.emit_unchecksummed(&iana()),
        Err(Error::DraftOptionsNotConfigured)
    );
}

#[test]
fn draft_ipv4_mnp_status() {
    let bytes = cat(&[
        &ba_head(2, 0),
        &[12, 6, 0, 24], // SHISA type 12, length 6, status 0 (success), prefix length 24
        &[192, 0, 1, 0], // IPv4 MNP
        &[1, 2, 0, 0],   // PadN
    ]);
    let repr = ba(
        BaStatus::Accepted,
        vec![MobilityOption::DraftIpv4MnpStatus {
            status: 0,
            prefix_len: 24,
            prefix: Ipv4Addr::new(192, 0, 1, 0),
        }],
    );
    check(&shisa(), &bytes, &repr);
    // Other numbers can be configured, e.g. from the experimental range.
    let other = ParseContext::with_draft_v4(DraftV4Options {
        mnp_type: 250,
        status_type: 251,
    })
    .unwrap();
    let mut renumbered = bytes.clone();
    renumbered[12] = 251;
    check(&other, &renumbered, &repr);
}

#[test]
fn pad1_padn_and_unknown_options_on_input() {
    let bytes = cat(&[
        &bu_head(2),
        &[0],                  // Pad1 at 12
        &[1, 1, 0],            // PadN (1 octet) at 13
        &[200, 2, 0xab, 0xcd], // unknown type 200, 2 octets: kept
        &[1, 2, 0, 0],         // PadN
    ]);
    let parsed = MessageRepr::parse_bytes(&bytes, &iana()).unwrap();
    let unknown = MobilityOption::Unknown {
        kind: 200,
        data: vec![0xab, 0xcd],
    };
    assert_eq!(parsed, bu(vec![unknown.clone()]));
    // Emitting the same option needs no padding at all: 12 + 4 = 16.
    let emitted = bu(vec![unknown]).emit_unchecksummed(&iana()).unwrap();
    assert_eq!(emitted, cat(&[&bu_head(1), &[200, 2, 0xab, 0xcd]]));
}

#[test]
fn several_options_each_aligned() {
    // MNP at 12 (8n+4) ends 32; IPv4 HoA at 32 (4n) ends 40; PadN to 46;
    // Alt-CoA at 46 (8n+6) ends 64; Pad1 + auth at 69 (8n+5) ends 88.
    let bytes = cat(&[
        &bu_head(10), // 88 octets
        &[6, 18, 0, 64],
        &MNP6,
        &[29, 6, 24 << 2, 0, 192, 0, 0, 10],
        &[1, 4, 0, 0, 0, 0],
        &[3, 16],
        &COA,
        &[1, 3, 0, 0, 0], // PadN 5 octets: 64 -> 69
        &[9, 17, 1, 0, 0, 0, 7],
        &[0x55; 12],
    ]);
    let repr = bu(vec![
        MobilityOption::MobileNetworkPrefix {
            prefix: Ipv6Addr::from(MNP6),
            prefix_len: 64,
        },
        MobilityOption::Ipv4HomeAddress {
            address: Ipv4Addr::new(192, 0, 0, 10),
            prefix_len: 24,
            request_prefix: false,
        },
        MobilityOption::AlternateCareOf {
            address: Ipv6Addr::from(COA),
        },
        MobilityOption::Authentication {
            subtype: 1,
            spi: 7,
            authenticator: vec![0x55; 12],
        },
    ]);
    check(&iana(), &bytes, &repr);
}

/// Straightforward one's-complement sum, written independently of the library.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for pair in bytes.chunks(2) {
        let hi = u64::from(pair[0]) << 8;
        let lo = pair.get(1).copied().map_or(0, u64::from);
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header(src: &[u8; 16], dst: &[u8; 16], len: u32) -> Vec<u8> {
    cat(&[src, dst, &len.to_be_bytes(), &[0, 0, 0, 135]])
}

#[test]
fn packet_binding_update_with_home_address_option() {
    let mh = cat(&[&bu_head(1), &[1, 2, 0, 0]]);
    // Pseudo-header source is the home address (HAO present).
    let sum = internet_checksum(&cat(&[&pseudo_header(&HOA, &HA, 16), &mh]));
    let mut mh_with_sum = mh.clone();
    mh_with_sum[4..6].copy_from_slice(&sum.to_be_bytes());
    let bytes = cat(&[
        &[0x60, 0, 0, 0], // version 6, traffic class 0, flow label 0
        &[0, 40, 60, 64], // payload length 40, next header DSTOPTS, hop limit 64
        &COA,             // source: care-of address
        &HA,              // destination: home agent
        &[135, 2],        // next header MH, header len 2 (24 octets)
        &[1, 2, 0, 0],    // PadN: home address option at 8n+6
        &[0xc9, 16],      // Home Address option, length 16
        &HOA,
        &mh_with_sum,
    ]);
    let packet = MhPacket {
        src: Ipv6Addr::from(COA),
        dst: Ipv6Addr::from(HA),
        home_address: Some(Ipv6Addr::from(HOA)),
        rh2_home: None,
        hop_limit: 64,
        mh: bu(vec![]),
    };
    assert_eq!(packet.emit(&iana()).unwrap(), bytes, "repr -> bytes");
    let rx = MhPacket::parse(&bytes, &iana()).unwrap();
    assert_eq!(rx.packet, packet, "bytes -> repr");
    assert_eq!(rx.mh_bytes, &mh_with_sum[..]);
    // Raw socket on protocol 60: the kernel hands over what follows the IPv6 header.
    let raw = MhPacket::parse_payload(60, packet.src, packet.dst, 64, &bytes[40..], &iana());
    assert_eq!(raw.unwrap().packet, packet);
}

#[test]
fn packet_binding_ack_with_type2_routing_header() {
    let mh = cat(&[&ba_head(1, 0), &[1, 2, 0, 0]]);
    // Pseudo-header destination is the final address from the RH2.
    let sum = internet_checksum(&cat(&[&pseudo_header(&HA, &HOA, 16), &mh]));
    let mut mh_with_sum = mh.clone();
    mh_with_sum[4..6].copy_from_slice(&sum.to_be_bytes());
    let bytes = cat(&[
        &[0x60, 0, 0, 0],
        &[0, 40, 43, 255], // payload length 40, next header ROUTING, hop limit 255
        &HA,
        &COA,
        &[135, 2, 2, 1], // next header MH, header len 2, routing type 2, segments left 1
        &[0, 0, 0, 0],   // reserved
        &HOA,            // home address
        &mh_with_sum,
    ]);
    let packet = MhPacket {
        src: Ipv6Addr::from(HA),
        dst: Ipv6Addr::from(COA),
        home_address: None,
        rh2_home: Some(Ipv6Addr::from(HOA)),
        hop_limit: 255,
        mh: ba(BaStatus::Accepted, vec![]),
    };
    assert_eq!(packet.emit(&iana()).unwrap(), bytes, "repr -> bytes");
    assert_eq!(MhPacket::parse(&bytes, &iana()).unwrap().packet, packet);
}

#[test]
fn packet_plain_mobility_header_protocol_135() {
    let mh = cat(&[&[59, 0, 0, 0], &[0, 0], &[0, 0]]); // BRR
    let sum = internet_checksum(&cat(&[&pseudo_header(&HA, &HOA, 8), &mh]));
    let mut mh_with_sum = mh.clone();
    mh_with_sum[4..6].copy_from_slice(&sum.to_be_bytes());
    let packet = MhPacket::parse_payload(
        135,
        Ipv6Addr::from(HA),
        Ipv6Addr::from(HOA),
        64,
        &mh_with_sum,
        &iana(),
    )
    .unwrap()
    .packet;
    assert_eq!(
        packet.mh,
        MessageRepr::BindingRefreshRequest { options: vec![] }
    );
    assert_eq!((packet.home_address, packet.rh2_home), (None, None));
}
