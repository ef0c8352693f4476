//! Option-area decoder: never panics; parsed options re-emit and parse equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mip6::option::{emit_options, parse_options};
use mip6::{DraftV4Options, ParseContext};

fuzz_target!(|data: &[u8]| {
    let draft =
        ParseContext::with_draft_v4(DraftV4Options::SHISA).expect("SHISA numbers are valid");
    for ctx in [ParseContext::iana(), draft] {
        if let Ok(options) = parse_options(data, &ctx) {
            let mut out = Vec::new();
            // Options longer than one MH can hold still emit as an option area.
            emit_options(&mut out, 0, &options, &ctx).expect("parsed options re-emit");
            assert_eq!(out.len() % 8, 0);
            let again = parse_options(&out, &ctx).expect("re-emitted options parse");
            assert_eq!(options, again);
        }
    }
});
