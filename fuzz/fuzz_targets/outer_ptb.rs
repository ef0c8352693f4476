//! ICMPv6 errors from the access network (untrusted): parsing never panics, what it
//! accepts quotes an IPv4- or IPv6-in-IPv6 packet, and the errors relayed about it are
//! well-formed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(e) = dataplane::OuterError::parse(data) {
        let inner = match &e {
            dataplane::OuterError::TooBig(p) => &p.inner,
            dataplane::OuterError::Unreachable(u) => &u.inner,
        };
        let version = inner.first().map(|b| b >> 4);
        assert!(matches!(version, Some(4) | Some(6)));
    }
});
