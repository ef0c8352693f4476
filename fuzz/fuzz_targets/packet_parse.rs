//! Whole-packet decoder (IPv6 + HAO/RH2 + MH): never panics; a parsed packet
//! re-emits to bytes that parse to the same packet; auth verification never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mip6::{DraftV4Options, Error, MhPacket, ParseContext};

fuzz_target!(|data: &[u8]| {
    let draft =
        ParseContext::with_draft_v4(DraftV4Options::SHISA).expect("SHISA numbers are valid");
    for ctx in [ParseContext::iana(), draft] {
        if let Ok(rx) = MhPacket::parse(data, &ctx) {
            let _ = rx.verify_auth(b"fuzz key");
            // Re-added alignment padding may push a packed message past 2048 octets.
            let bytes = match rx.packet.emit(&ctx) {
                Err(Error::MessageTooLong(_)) => continue,
                other => other.expect("a parsed packet re-emits"),
            };
            let again = MhPacket::parse(&bytes, &ctx).expect("re-emitted packet parses");
            assert_eq!(rx.packet, again.packet);
        }
    }
});
