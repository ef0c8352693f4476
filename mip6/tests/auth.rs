//! RFC 4285 MN-HA authenticator against an independent computation: the
//! `hmac` crate used directly over bytes assembled here by hand.

use std::net::Ipv6Addr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use mip6::{auth, AuthKey, BuFlags, Error, MessageRepr, MhPacket, MobilityOption, ParseContext};
use sha1::Sha1;

const KEY: &[u8] = b"shared MN-HA secret";

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn signed_bu() -> (MhPacket, Vec<u8>) {
    let packet = MhPacket {
        src: addr("2001:db8:f::10"),
        dst: addr("2001:db8::1"),
        home_address: Some(addr("2001:db8::100")),
        rh2_home: None,
        hop_limit: 64,
        mh: MessageRepr::BindingUpdate {
            seq: 0x1234,
            flags: BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER,
            lifetime: Duration::from_secs(400),
            options: vec![MobilityOption::MobileNetworkPrefix {
                prefix: addr("2001:db8:1::"),
                prefix_len: 64,
            }],
        },
    };
    let bytes = packet
        .emit_signed(
            &ParseContext::iana(),
            AuthKey {
                spi: 0x100,
                key: KEY,
            },
        )
        .unwrap();
    (packet, bytes)
}

#[test]
fn authenticator_matches_hmac_sha1_96_over_hand_assembled_data() {
    let (_, bytes) = signed_bu();
    // IPv6 header 40 + destination options 24: the MH starts at 64.
    let mh = &bytes[64..];
    // MH: BU fixed part 12, MNP at 12..32, PadN to 37 (8n+5, a 4n+1 offset
    // that lets the 19-octet option end the message), auth at 37..56.
    let mut expected_mh = vec![
        59, 6, 5, 0, // proto, header len 6 (56 octets), BU, reserved
        0, 0, // checksum: zero while authenticating
        0x12, 0x34, 0xc4, 0x00, 0x00, 0x64, // seq, flags A|H|R, lifetime 100
        6, 18, 0, 64, // MNP option header
    ];
    expected_mh.extend_from_slice(&addr("2001:db8:1::").octets());
    expected_mh.extend_from_slice(&[1, 3, 0, 0, 0]); // PadN (3 octets): 32 -> 37
    expected_mh.extend_from_slice(&[9, 17, 1, 0, 0, 1, 0]); // auth type, len, MN-HA, SPI 256
    assert_eq!(mh.len(), 56);
    assert_eq!(&mh[..4], &expected_mh[..4]);
    assert_eq!(&mh[6..44], &expected_mh[6..44]);

    // Mobility Data = CoA | HoA | MH data up to and including the SPI.
    let mut mobility_data = Vec::new();
    mobility_data.extend_from_slice(&addr("2001:db8:f::10").octets()); // CoA = IPv6 source
    mobility_data.extend_from_slice(&addr("2001:db8::100").octets()); // HoA = HAO
    mobility_data.extend_from_slice(&expected_mh);
    let mut mac = Hmac::<Sha1>::new_from_slice(KEY).unwrap();
    mac.update(&mobility_data);
    let full = mac.finalize().into_bytes();
    assert_eq!(&mh[44..56], &full[..12], "first 96 bits of HMAC_SHA1");
    // The library's standalone function agrees too.
    assert_eq!(
        auth::authenticator(
            KEY,
            addr("2001:db8:f::10"),
            addr("2001:db8::100"),
            &expected_mh
        ),
        mh[44..56]
    );
}

#[test]
fn verification_accepts_the_key_and_rejects_any_flipped_bit() {
    let (_, bytes) = signed_bu();
    let ctx = ParseContext::iana();
    let rx = MhPacket::parse(&bytes, &ctx).unwrap();
    assert_eq!(rx.verify_auth(KEY), Ok(0x100));
    assert_eq!(rx.verify_auth(b"another key"), Err(Error::AuthFailed));

    let mh = &bytes[64..];
    let (coa, hoa) = (addr("2001:db8:f::10"), addr("2001:db8::100"));
    assert_eq!(auth::verify(mh, KEY, coa, hoa), Ok(0x100));
    // Every bit of the covered data and of the authenticator matters,
    // except the checksum field (zero while authenticating).
    for bit in 0..mh.len() * 8 {
        let byte = bit / 8;
        if (4..6).contains(&byte) {
            continue;
        }
        let mut flipped = mh.to_vec();
        flipped[byte] ^= 1 << (bit % 8);
        assert!(
            auth::verify(&flipped, KEY, coa, hoa).is_err(),
            "flipped bit {bit} still verifies"
        );
    }
    // The checksum field is outside the authenticated data.
    let mut resummed = mh.to_vec();
    resummed[4] ^= 0xff;
    assert_eq!(auth::verify(&resummed, KEY, coa, hoa), Ok(0x100));
    // Wrong addresses fail.
    assert!(auth::verify(mh, KEY, hoa, coa).is_err());
}

#[test]
fn binding_ack_authenticates_with_destination_and_rh2_home() {
    let ctx = ParseContext::iana();
    let packet = MhPacket {
        src: addr("2001:db8::1"),
        dst: addr("2001:db8:f::10"),
        home_address: None,
        rh2_home: Some(addr("2001:db8::100")),
        hop_limit: 64,
        mh: MessageRepr::BindingAck {
            status: mip6::BaStatus::Accepted,
            flags: mip6::BaFlags::MOBILE_ROUTER,
            seq: 1,
            lifetime: Duration::from_secs(400),
            options: vec![],
        },
    };
    assert_eq!(
        packet.auth_addresses(),
        (addr("2001:db8:f::10"), addr("2001:db8::100"))
    );
    let bytes = packet
        .emit_signed(&ctx, AuthKey { spi: 9, key: KEY })
        .unwrap();
    let rx = MhPacket::parse(&bytes, &ctx).unwrap();
    assert_eq!(rx.verify_auth(KEY), Ok(9));
    // Signing twice is refused rather than producing two auth options.
    let mut twice = packet.clone();
    twice.mh.options_mut().push(MobilityOption::Authentication {
        subtype: 1,
        spi: 9,
        authenticator: vec![0; 12],
    });
    assert_eq!(
        twice.emit_signed(&ctx, AuthKey { spi: 9, key: KEY }),
        Err(Error::AlreadySigned)
    );
}

#[test]
fn missing_auth_option_is_reported() {
    let ctx = ParseContext::iana();
    let (mut packet, _) = signed_bu();
    packet.mh.options_mut().clear();
    let bytes = packet.emit_with(&ctx, None).unwrap();
    assert_eq!(bytes, packet.emit(&ctx).unwrap());
    let rx = MhPacket::parse(&bytes, &ctx).unwrap();
    assert_eq!(rx.verify_auth(KEY), Err(Error::NoAuthOption));
    let key = AuthKey { spi: 3, key: KEY };
    assert_eq!(
        packet.emit_with(&ctx, Some(key)).unwrap(),
        packet.emit_signed(&ctx, key).unwrap()
    );
}
