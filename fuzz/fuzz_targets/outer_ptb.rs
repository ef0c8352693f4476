//! ICMPv6 Packet Too Big messages from the access network (untrusted): parsing never
//! panics, and what it accepts quotes an IPv4- or IPv6-in-IPv6 packet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ptb) = dataplane::OuterPtb::parse(data) {
        let version = ptb.inner.first().map(|b| b >> 4);
        assert!(matches!(version, Some(4) | Some(6)));
    }
});
