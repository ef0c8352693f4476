//! ICMP errors about the tunnel, without I/O (RFC 2473 section 8): what a node of the
//! access network sends about one of our tunnel packets (parsed: Packet Too Big,
//! Destination Unreachable, Time Exceeded), and the errors relayed to the inner sender
//! (built): ICMPv4 Fragmentation Needed (RFC 1191) or Host Unreachable, ICMPv6 Packet Too
//! Big or Address Unreachable (RFC 4443). Every accessor is bounds-checked: any input is
//! safe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const ICMPV6_DEST_UNREACH: u8 = 1;
pub const ICMPV6_PACKET_TOO_BIG: u8 = 2;
pub const ICMPV6_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 Destination Unreachable code 3, address unreachable.
const ICMPV6_ADDR_UNREACH: u8 = 3;
const ICMPV4_DEST_UNREACH: u8 = 3;
/// ICMPv4 Destination Unreachable code 1, host unreachable.
const ICMPV4_HOST_UNREACH: u8 = 1;
const ICMPV4_FRAG_NEEDED: u8 = 4;
/// IPv4 header types that are errors themselves (RFC 1122 3.2.2: never answered).
const ICMPV4_ERRORS: [u8; 5] = [3, 4, 5, 11, 12];
const IPV6_HEADER_LEN: usize = 40;
const IPV4_MIN_HEADER_LEN: usize = 20;
/// IPv4 "don't fragment" bit in the flags/fragment-offset field.
const IPV4_DF: u16 = 0x4000;
/// An ICMPv6 error must fit the IPv6 minimum MTU (RFC 4443 section 2.4 (c)).
const ICMPV6_ERROR_MAX: usize = 1280 - IPV6_HEADER_LEN;
/// ICMPv6 (and ICMPv4) error header: type, code, checksum, 4 bytes of MTU/unused.
const ICMP_ERROR_HEADER_LEN: usize = 8;
/// IPv4 routers quote the header and 8 bytes of data; we quote up to this much (RFC 1812
/// allows more, up to 576 bytes in all).
const ICMPV4_QUOTE_MAX: usize = 576 - IPV4_MIN_HEADER_LEN - ICMP_ERROR_HEADER_LEN;

/// A Packet Too Big about an encapsulated packet, as received on an ICMPv6 socket
/// (the message without the IPv6 header that carried it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuterPtb {
    /// The MTU the link reported.
    pub mtu: u32,
    /// Outer source of the packet that did not fit: our tunnel endpoint, if it was ours.
    pub outer_src: Ipv6Addr,
    /// Outer destination: the tunnel peer.
    pub outer_dst: Ipv6Addr,
    /// The quoted inner packet (IPv4 or IPv6, truncated).
    pub inner: Vec<u8>,
}

impl OuterPtb {
    /// `Some` for a Packet Too Big whose invoking packet is IPv4- or IPv6-in-IPv6 without
    /// extension headers (what both backends send), `None` for anything else.
    pub fn parse(msg: &[u8]) -> Option<Self> {
        if *msg.first()? != ICMPV6_PACKET_TOO_BIG || *msg.get(1)? != 0 {
            return None;
        }
        let mtu = u32::from_be_bytes(msg.get(4..8)?.try_into().ok()?);
        let (outer_src, outer_dst, inner) = quoted_tunnel_packet(msg)?;
        Some(Self {
            mtu,
            outer_src,
            outer_dst,
            inner,
        })
    }
}

/// A Destination Unreachable or Time Exceeded about one of our tunnel packets: the peer
/// cannot be reached (RFC 2473 section 8.1, "unreachable node", "hop limit exceeded").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuterUnreachable {
    pub icmp_type: u8,
    pub code: u8,
    pub outer_src: Ipv6Addr,
    pub outer_dst: Ipv6Addr,
    /// The quoted inner packet (IPv4 or IPv6, truncated).
    pub inner: Vec<u8>,
}

/// An ICMPv6 error from the access network about one of our tunnel packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OuterError {
    TooBig(OuterPtb),
    Unreachable(OuterUnreachable),
}

impl OuterError {
    /// `Some` for the errors the tunnel entry point acts on, quoting an IPv4- or
    /// IPv6-in-IPv6 packet without extension headers; `None` for anything else.
    pub fn parse(msg: &[u8]) -> Option<Self> {
        match *msg.first()? {
            ICMPV6_PACKET_TOO_BIG => OuterPtb::parse(msg).map(Self::TooBig),
            icmp_type @ (ICMPV6_DEST_UNREACH | ICMPV6_TIME_EXCEEDED) => {
                let (outer_src, outer_dst, inner) = quoted_tunnel_packet(msg)?;
                Some(Self::Unreachable(OuterUnreachable {
                    icmp_type,
                    code: *msg.get(1)?,
                    outer_src,
                    outer_dst,
                    inner,
                }))
            }
            _ => None,
        }
    }

    /// The tunnel packet's (outer source, outer destination).
    pub fn outer(&self) -> (Ipv6Addr, Ipv6Addr) {
        match self {
            Self::TooBig(p) => (p.outer_src, p.outer_dst),
            Self::Unreachable(u) => (u.outer_src, u.outer_dst),
        }
    }
}

/// The quoted packet of an ICMPv6 error, if it is IPv4- or IPv6-in-IPv6: (outer source,
/// outer destination, inner packet).
fn quoted_tunnel_packet(msg: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, Vec<u8>)> {
    let outer = msg.get(ICMP_ERROR_HEADER_LEN..)?;
    if outer.first()? >> 4 != 6 {
        return None;
    }
    let next_header = *outer.get(6)?;
    let outer_src = Ipv6Addr::from(<[u8; 16]>::try_from(outer.get(8..24)?).ok()?);
    let outer_dst = Ipv6Addr::from(<[u8; 16]>::try_from(outer.get(24..40)?).ok()?);
    let inner = outer.get(IPV6_HEADER_LEN..)?;
    let version = inner.first()? >> 4;
    let inner_ok = match (next_header, version) {
        (4, 4) => inner.len() >= IPV4_MIN_HEADER_LEN,
        (41, 6) => inner.len() >= IPV6_HEADER_LEN,
        _ => false,
    };
    inner_ok.then(|| (outer_src, outer_dst, inner.to_vec()))
}

/// Whether an error may be sent about `inner` (RFC 1122 3.2.2, RFC 4443 2.4 (e)): not
/// about an ICMP error, not about a non-first IPv4 fragment, not to a source that cannot
/// receive one (unspecified, multicast, broadcast). The source when it may.
fn answerable_source(inner: &[u8]) -> Option<IpAddr> {
    match inner.first()? >> 4 {
        4 => {
            let ihl = usize::from(inner.first()? & 0x0f) * 4;
            let src = Ipv4Addr::from(<[u8; 4]>::try_from(inner.get(12..16)?).ok()?);
            let frag_offset = u16::from_be_bytes(inner.get(6..8)?.try_into().ok()?) & 0x1fff;
            let icmp_error =
                *inner.get(9)? == 1 && inner.get(ihl).is_some_and(|t| ICMPV4_ERRORS.contains(t));
            let bad_src = src.is_unspecified() || src.is_multicast() || src.is_broadcast();
            (!icmp_error && frag_offset == 0 && !bad_src).then_some(IpAddr::V4(src))
        }
        6 => {
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(inner.get(8..24)?).ok()?);
            // An ICMPv6 error right after the header (types below 128).
            let icmp_error =
                *inner.get(6)? == 58 && inner.get(IPV6_HEADER_LEN).is_some_and(|t| *t < 128);
            let bad_src = src.is_unspecified() || src.is_multicast();
            (!icmp_error && !bad_src).then_some(IpAddr::V6(src))
        }
        _ => None,
    }
}

/// The error telling the sender of `inner` (a quoted packet) that the tunnel peer cannot
/// be reached: ICMPv4 Host Unreachable or ICMPv6 Address Unreachable (RFC 2473 section
/// 8.1), with its destination (the inner source). `None` when no error may be sent.
pub fn unreachable_for_inner(inner: &[u8]) -> Option<(IpAddr, Vec<u8>)> {
    let dst = answerable_source(inner)?;
    let msg = match dst {
        IpAddr::V4(_) => {
            let ihl = usize::from(inner.first()? & 0x0f) * 4;
            if ihl < IPV4_MIN_HEADER_LEN || inner.len() < ihl {
                return None;
            }
            let quote = &inner[..inner.len().min(ihl + 8).min(ICMPV4_QUOTE_MAX)];
            let mut msg = vec![ICMPV4_DEST_UNREACH, ICMPV4_HOST_UNREACH, 0, 0, 0, 0, 0, 0];
            msg.extend_from_slice(quote);
            let sum = internet_checksum(&msg);
            msg[2..4].copy_from_slice(&sum.to_be_bytes());
            msg
        }
        IpAddr::V6(_) => {
            let quote = &inner[..inner.len().min(ICMPV6_ERROR_MAX - ICMP_ERROR_HEADER_LEN)];
            let mut msg = vec![ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, 0, 0, 0, 0, 0, 0];
            msg.extend_from_slice(quote);
            msg
        }
    };
    Some((dst, msg))
}

/// The error telling the sender of `inner` (a quoted packet) that the tunnel takes at most
/// `tunnel_mtu` bytes: its destination (the inner source) and the ICMP message to send
/// there. `None` when the inner packet asks for no error: IPv4 without DF, or one no error
/// may be sent about (see [`answerable_source`]).
pub fn error_for_inner(inner: &[u8], tunnel_mtu: u32) -> Option<(IpAddr, Vec<u8>)> {
    match answerable_source(inner)? {
        IpAddr::V4(src) => {
            let flags = u16::from_be_bytes(inner.get(6..8)?.try_into().ok()?);
            if flags & IPV4_DF == 0 {
                return None;
            }
            Some((IpAddr::V4(src), frag_needed(inner, tunnel_mtu)?))
        }
        IpAddr::V6(src) => Some((IpAddr::V6(src), packet_too_big(inner, tunnel_mtu))),
    }
}

/// ICMPv4 Destination Unreachable, Fragmentation Needed (type 3 code 4) with the next-hop
/// MTU, quoting the header and the start of the data of `inner`; checksum filled in
/// (raw IPv4 sockets do not compute it). `None` for a malformed header.
pub fn frag_needed(inner: &[u8], mtu: u32) -> Option<Vec<u8>> {
    let ihl = usize::from(inner.first()? & 0x0f) * 4;
    if ihl < IPV4_MIN_HEADER_LEN || inner.len() < ihl {
        return None;
    }
    let quote = &inner[..inner.len().min(ihl + 8).min(ICMPV4_QUOTE_MAX)];
    let mut msg = vec![ICMPV4_DEST_UNREACH, ICMPV4_FRAG_NEEDED, 0, 0, 0, 0];
    msg.extend_from_slice(&u16::try_from(mtu).unwrap_or(u16::MAX).to_be_bytes());
    msg.extend_from_slice(quote);
    let sum = internet_checksum(&msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(msg)
}

/// ICMPv6 Packet Too Big (type 2) with `mtu`, quoting as much of `inner` as fits the IPv6
/// minimum MTU. The checksum stays zero: the kernel computes it on ICMPv6 raw sockets.
pub fn packet_too_big(inner: &[u8], mtu: u32) -> Vec<u8> {
    let quote = &inner[..inner.len().min(ICMPV6_ERROR_MAX - ICMP_ERROR_HEADER_LEN)];
    let mut msg = vec![ICMPV6_PACKET_TOO_BIG, 0, 0, 0];
    msg.extend_from_slice(&mtu.to_be_bytes());
    msg.extend_from_slice(quote);
    msg
}

/// RFC 1071 one's complement sum.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .fold(0u32, |acc, w| acc.wrapping_add(w));
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(df: bool, src: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&1500u16.to_be_bytes());
        if df {
            p[6] = 0x40;
        }
        p[9] = 1;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&[198, 51, 100, 2]);
        p[20..28].copy_from_slice(&[8, 0, 1, 2, 3, 4, 5, 6]);
        p
    }

    /// An ICMPv6 echo request of `len` bytes (just the header if 40).
    fn ipv6(src: &str, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x60;
        p[6] = 58;
        if len > 40 {
            p[40] = 128;
        }
        let s: Ipv6Addr = src.parse().unwrap();
        p[8..24].copy_from_slice(&s.octets());
        p
    }

    fn ptb(mtu: u32, next_header: u8, inner: &[u8]) -> Vec<u8> {
        let mut m = vec![2, 0, 0x12, 0x34];
        m.extend_from_slice(&mtu.to_be_bytes());
        let mut outer = ipv6("2001:db8:200::5", 40);
        outer[6] = next_header;
        outer[24..40].copy_from_slice(&"2001:db8:280::1".parse::<Ipv6Addr>().unwrap().octets());
        m.extend_from_slice(&outer);
        m.extend_from_slice(inner);
        m
    }

    #[test]
    fn outer_ptb_about_a_tunnel_packet_parses() {
        let inner = ipv4(true, [10, 0, 0, 2]);
        let p = OuterPtb::parse(&ptb(1400, 4, &inner)).unwrap();
        assert_eq!(p.mtu, 1400);
        assert_eq!(p.outer_src, "2001:db8:200::5".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.outer_dst, "2001:db8:280::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.inner, inner);
        let v6 = ipv6("2001:db8:281::2", 48);
        assert!(OuterPtb::parse(&ptb(1400, 41, &v6)).is_some());
    }

    #[test]
    fn other_messages_are_not_outer_ptbs() {
        let inner = ipv4(true, [10, 0, 0, 2]);
        assert!(
            OuterPtb::parse(&ptb(1400, 41, &inner)).is_none(),
            "nh/version mismatch"
        );
        assert!(OuterPtb::parse(&ptb(1400, 17, &inner)).is_none());
        let mut m = ptb(1400, 4, &inner);
        m[0] = 1;
        assert!(OuterPtb::parse(&m).is_none());
        let m = ptb(1400, 4, &inner);
        for cut in 0..m.len() - 8 {
            assert!(OuterPtb::parse(&m[..cut]).is_none(), "truncated at {cut}");
        }
        assert!(OuterPtb::parse(&[]).is_none());
    }

    #[test]
    fn frag_needed_carries_the_mtu_and_a_valid_checksum() {
        let inner = ipv4(true, [10, 0, 0, 2]);
        let (dst, msg) = error_for_inner(&inner, 1360).unwrap();
        assert_eq!(dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((msg[0], msg[1]), (3, 4));
        assert_eq!(u16::from_be_bytes([msg[6], msg[7]]), 1360);
        assert_eq!(&msg[8..], &inner[..28]);
        assert_eq!(
            internet_checksum(&msg),
            0,
            "checksum over the message is zero"
        );
    }

    #[test]
    fn no_error_for_ipv4_without_df_or_garbage() {
        assert!(error_for_inner(&ipv4(false, [10, 0, 0, 2]), 1360).is_none());
        assert!(error_for_inner(&ipv4(true, [0, 0, 0, 0]), 1360).is_none());
        assert!(error_for_inner(&[0x45, 0, 0], 1360).is_none());
        assert!(error_for_inner(&[0x41; 20], 1360).is_none(), "IHL 1");
        assert!(error_for_inner(&[], 1360).is_none());
    }

    #[test]
    fn packet_too_big_fits_the_minimum_mtu() {
        let inner = ipv6("2001:db8:281::2", 1500);
        let (dst, msg) = error_for_inner(&inner, 1360).unwrap();
        assert_eq!(dst, "2001:db8:281::2".parse::<IpAddr>().unwrap());
        assert_eq!((msg[0], msg[1]), (2, 0));
        assert_eq!(u32::from_be_bytes(msg[4..8].try_into().unwrap()), 1360);
        assert_eq!(msg.len() + 40, 1280);
        assert_eq!(&msg[8..48], &inner[..40]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1600), mtu in 0u32..70_000) {
            let _ = OuterPtb::parse(&bytes);
            let _ = OuterError::parse(&bytes);
            let _ = unreachable_for_inner(&bytes);
            let _ = error_for_inner(&bytes, mtu);
            let _ = frag_needed(&bytes, mtu);
            let _ = packet_too_big(&bytes, mtu);
            let _ = internet_checksum(&bytes);
        }
    }

    #[test]
    fn checksum_of_known_bytes() {
        // RFC 1071 example words: 0x0001 0xf203 0xf4f5 0xf6f7 -> sum 0xddf2, checksum 0x220d.
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(internet_checksum(&[0xff]), 0x00ff);
    }

    fn icmp_error(icmp_type: u8, code: u8, next_header: u8, inner: &[u8]) -> Vec<u8> {
        let mut m = ptb(0, next_header, inner);
        m[0] = icmp_type;
        m[1] = code;
        m
    }

    #[test]
    fn unreachable_and_time_exceeded_about_tunnel_packets_parse() {
        let inner = ipv4(true, [10, 0, 0, 2]);
        for (t, c) in [(1, 3), (1, 0), (3, 0)] {
            match OuterError::parse(&icmp_error(t, c, 4, &inner)) {
                Some(OuterError::Unreachable(u)) => {
                    assert_eq!((u.icmp_type, u.code), (t, c));
                    assert_eq!(u.inner, inner);
                }
                other => panic!("type {t}: {other:?}"),
            }
        }
        assert!(matches!(
            OuterError::parse(&ptb(1400, 4, &inner)),
            Some(OuterError::TooBig(_))
        ));
        assert!(
            OuterError::parse(&icmp_error(4, 0, 4, &inner)).is_none(),
            "parameter problem"
        );
        assert!(OuterError::parse(&icmp_error(128, 0, 4, &inner)).is_none());
        assert!(
            OuterError::parse(&icmp_error(1, 3, 17, &inner)).is_none(),
            "not a tunnel packet"
        );
    }

    #[test]
    fn host_unreachable_goes_to_the_inner_source() {
        let inner = ipv4(false, [10, 0, 0, 2]);
        let (dst, msg) = unreachable_for_inner(&inner).unwrap();
        assert_eq!(dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((msg[0], msg[1]), (3, 1), "host unreachable, DF or not");
        assert_eq!(&msg[8..], &inner[..28]);
        assert_eq!(internet_checksum(&msg), 0);
        let v6 = ipv6("2001:db8:281::2", 1500);
        let (dst, msg) = unreachable_for_inner(&v6).unwrap();
        assert_eq!(dst, "2001:db8:281::2".parse::<IpAddr>().unwrap());
        assert_eq!((msg[0], msg[1]), (1, 3), "address unreachable");
        assert_eq!(msg.len() + 40, 1280);
    }

    #[test]
    fn no_error_about_an_error_or_a_later_fragment() {
        // IPv4 carrying an ICMP Destination Unreachable.
        let mut e4 = ipv4(true, [10, 0, 0, 2]);
        e4[20] = 3;
        assert!(unreachable_for_inner(&e4).is_none());
        assert!(error_for_inner(&e4, 1360).is_none());
        // An echo request is fine.
        assert!(unreachable_for_inner(&ipv4(true, [10, 0, 0, 2])).is_some());
        // Non-first fragment.
        let mut frag = ipv4(false, [10, 0, 0, 2]);
        frag[7] = 10;
        assert!(unreachable_for_inner(&frag).is_none());
        // IPv6 carrying an ICMPv6 error (type 1); an echo request (128) is fine.
        let mut e6 = ipv6("2001:db8:281::2", 48);
        e6[40] = 1;
        assert!(unreachable_for_inner(&e6).is_none());
        e6[40] = 128;
        assert!(unreachable_for_inner(&e6).is_some());
        assert!(unreachable_for_inner(&ipv4(true, [255, 255, 255, 255])).is_none());
    }
}
