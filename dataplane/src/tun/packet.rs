//! The little packet parsing and building the relay needs: inner destination, outer header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const IPV6_HEADER_LEN: usize = 40;

/// Destination of an IPv4 or IPv6 packet, and the next-header value of its encapsulation
/// (4 or 41). `None` for anything too short or of another version.
pub fn inner_destination(packet: &[u8]) -> Option<(IpAddr, u8)> {
    match packet.first()? >> 4 {
        4 => {
            let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some((IpAddr::V4(Ipv4Addr::from(d)), 4))
        }
        6 => {
            let s: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            let (s, d) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
            // The device's own link chatter (MLD reports, router solicitations, anything
            // between link-local addresses) stays off the tunnel: only one link hears it.
            if link_scope(s) || link_scope(d) {
                return None;
            }
            Some((IpAddr::V6(d), 41))
        }
        _ => None,
    }
}

/// Link-local unicast, or multicast of interface- or link-local scope.
fn link_scope(a: Ipv6Addr) -> bool {
    a.is_unicast_link_local() || (a.is_multicast() && a.segments()[0] & 0x000f <= 2)
}

/// Whether `payload` is the kind of packet protocol `next_header` announces.
pub fn payload_matches(next_header: u8, payload: &[u8]) -> bool {
    match (next_header, payload.first().map(|b| b >> 4)) {
        (4, Some(4)) => payload.len() >= 20,
        (41, Some(6)) => payload.len() >= IPV6_HEADER_LEN,
        _ => false,
    }
}

/// The outer IPv6 header of RFC 2473 (no extension headers, traffic class and flow label 0),
/// with the entry point's own `hop_limit` (section 6.3).
pub fn outer_header(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    payload_len: u16,
    hop_limit: u8,
) -> [u8; IPV6_HEADER_LEN] {
    let mut h = [0u8; IPV6_HEADER_LEN];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h[6] = next_header;
    h[7] = hop_limit;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_destination_of_both_families_and_garbage() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(
            inner_destination(&v4),
            Some(("10.0.0.2".parse().unwrap(), 4))
        );
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[39] = 1;
        assert_eq!(inner_destination(&v6), Some(("::1".parse().unwrap(), 41)));
        assert_eq!(inner_destination(&v4[..10]), None);
        // An MLD report from the device's link-local address, and a solicitation to
        // all-routers: link chatter, not for the tunnel.
        let mut mld = [0u8; 40];
        mld[0] = 0x60;
        mld[8..24].copy_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        mld[24..40].copy_from_slice(&"ff02::16".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(inner_destination(&mld), None);
        mld[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        mld[24..40].copy_from_slice(&"ff02::2".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(inner_destination(&mld), None);
        mld[24..40].copy_from_slice(&"ff0e::1".parse::<Ipv6Addr>().unwrap().octets());
        assert!(
            inner_destination(&mld).is_some(),
            "global multicast may be tunnelled"
        );
        assert_eq!(inner_destination(&[]), None);
        assert_eq!(inner_destination(&[0x50; 40]), None);
        assert!(payload_matches(4, &v4));
        assert!(!payload_matches(41, &v4));
    }

    #[test]
    fn outer_header_fields() {
        let h = outer_header(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            4,
            1400,
            42,
        );
        assert_eq!(h[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 1400);
        assert_eq!((h[6], h[7]), (4, 42));
        assert_eq!(h[39], 2);
    }
}
