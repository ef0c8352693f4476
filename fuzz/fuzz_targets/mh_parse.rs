//! Mobility Header decoder: never panics; whatever parses re-emits and parses equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mip6::{DraftV4Options, Error, MessageRepr, MobilityHeader, ParseContext};

fuzz_target!(|data: &[u8]| {
    let draft =
        ParseContext::with_draft_v4(DraftV4Options::SHISA).expect("SHISA numbers are valid");
    for ctx in [ParseContext::iana(), draft] {
        let Ok(view) = MobilityHeader::new_checked(data) else {
            return;
        };
        let _ = (
            view.header_len(),
            view.mh_type(),
            view.checksum(),
            view.message_data(),
        );
        if let Ok(repr) = MessageRepr::parse(&view, &ctx) {
            // Re-added alignment padding may push a packed message past 2048 octets.
            let bytes = match repr.emit_unchecksummed(&ctx) {
                Err(Error::MessageTooLong(_)) => continue,
                other => other.expect("a parsed message re-emits"),
            };
            let again = MessageRepr::parse_bytes(&bytes, &ctx).expect("re-emitted bytes parse");
            assert_eq!(repr, again);
        }
    }
});
