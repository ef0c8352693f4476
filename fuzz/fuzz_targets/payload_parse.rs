//! Raw-socket decoder: input = selector (1 octet: socket protocol 60, 43, 135
//! or 0) | source (16) | destination (16) | what follows the IPv6 header.
//! Never panics; a parsed packet re-emits and parses to the same packet, and the Home
//! Address option found for a Binding Error is the one the full parse found.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use mip6::{Error, MhPacket, ParseContext};

fuzz_target!(|data: &[u8]| {
    if data.len() < 33 {
        return;
    }
    let next_header = [60, 43, 135, 0][usize::from(data[0] % 4)];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&data[1..17]);
    dst.copy_from_slice(&data[17..33]);
    let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
    let ctx = ParseContext::iana();
    let hoa = mip6::packet::home_address_option(next_header, &data[33..]);
    if let Ok(rx) = MhPacket::parse_payload(next_header, src, dst, 64, &data[33..], &ctx) {
        assert_eq!(hoa, rx.packet.home_address);
        let _ = rx.verify_auth(b"fuzz key");
        // Re-added alignment padding may push a packed message past 2048 octets.
        let bytes = match rx.packet.emit(&ctx) {
            Err(Error::MessageTooLong(_)) => return,
            other => other.expect("a parsed packet re-emits"),
        };
        let again = MhPacket::parse(&bytes, &ctx).expect("re-emitted packet parses");
        assert_eq!(rx.packet, again.packet);
    }
});
