//! ICMPv6 side of Mobile IPv6 (`mip6::icmp`): input = source (16) | destination (16) | an
//! ICMPv6 message from its type byte. Never panics; a parsed DHAAD / mobile prefix message
//! re-emits and parses to the same message, with a checksum that verifies; a Router
//! Advertisement with a Home Agent Information option parses again from its own emission.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use mip6::icmp::{HomeAgentAdvertisement, IcmpRepr, MAX_REPLY_ADDRESSES};

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&data[..16]);
    dst.copy_from_slice(&data[16..32]);
    let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
    let msg = &data[32..];
    let _ = IcmpRepr::parse(msg, Some((src, dst)));
    if let Ok(repr) = IcmpRepr::parse(msg, None) {
        if let IcmpRepr::DhaadReply { home_agents, .. } = &repr {
            if home_agents.len() > MAX_REPLY_ADDRESSES {
                return; // emit cuts the list at the minimum MTU
            }
        }
        let bytes = repr.emit(src, dst);
        assert_eq!(IcmpRepr::parse(&bytes, Some((src, dst))), Ok(repr));
    }
    if let Ok(ra) = HomeAgentAdvertisement::parse(msg) {
        let again = HomeAgentAdvertisement::parse(&ra.emit(src, dst)).expect("re-parses");
        assert_eq!(again.as_home_agent(), ra.as_home_agent());
        assert_eq!(again.prefixes, ra.prefixes);
        let _ = ra.router_addresses().count();
    }
});
