//! Neighbor Advertisement (RFC 4861 4.4), as a home agent sends it unsolicited for a home
//! address it starts to defend (RFC 6275 10.4.1) and as a mobile node sends it for itself
//! when it comes home (RFC 6275 11.5.4): to all-nodes, Override set, Solicited clear, with
//! the sender's link-layer address as Target Link-Layer Address option.

use crate::checksum;
use std::net::Ipv6Addr;

/// ICMPv6 next-header number.
pub const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbor Advertisement.
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// Target Link-Layer Address option type.
pub const TARGET_LINK_LAYER_ADDRESS: u8 = 2;
/// The all-nodes multicast address, destination of unsolicited advertisements.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Hop limit every Neighbor Discovery message carries (receivers drop anything else).
pub const ND_HOP_LIMIT: u8 = 255;
/// RFC 4861 section 10: how many unsolicited advertisements a node may send at most.
pub const MAX_NEIGHBOR_ADVERTISEMENT: usize = 3;

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A Neighbor Advertisement with an optional Ethernet Target Link-Layer Address option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborAdvertisement {
    /// R: the sender is a router (a mobile router's home address: set).
    pub router: bool,
    /// S: an answer to a solicitation (unsolicited: clear).
    pub solicited: bool,
    /// O: replace cached link-layer addresses.
    pub override_flag: bool,
    pub target: Ipv6Addr,
    /// Ethernet (48-bit) address for the Target Link-Layer Address option.
    pub target_lladdr: Option<[u8; 6]>,
}

impl NeighborAdvertisement {
    /// The unsolicited advertisement of RFC 6275 10.4.1 / 11.5.4: Override set, Solicited
    /// clear, `lladdr` as target link-layer address.
    pub fn unsolicited(target: Ipv6Addr, router: bool, lladdr: [u8; 6]) -> Self {
        Self {
            router,
            solicited: false,
            override_flag: true,
            target,
            target_lladdr: Some(lladdr),
        }
    }

    /// Length of the ICMPv6 message.
    pub fn len(&self) -> usize {
        24 + if self.target_lladdr.is_some() { 8 } else { 0 }
    }

    /// Never empty; for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The ICMPv6 message, checksum computed over the pseudo-header of `src` -> `dst` (a raw
    /// ICMPv6 socket recomputes it with the source the kernel picks).
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let mut m = vec![0u8; self.len()];
        m[0] = NEIGHBOR_ADVERTISEMENT;
        let mut flags = 0;
        if self.router {
            flags |= FLAG_ROUTER;
        }
        if self.solicited {
            flags |= FLAG_SOLICITED;
        }
        if self.override_flag {
            flags |= FLAG_OVERRIDE;
        }
        m[4] = flags;
        m[8..24].copy_from_slice(&self.target.octets());
        if let Some(mac) = self.target_lladdr {
            m[24] = TARGET_LINK_LAYER_ADDRESS;
            m[25] = 1; // in units of 8 octets
            m[26..32].copy_from_slice(&mac);
        }
        let sum = checksum::compute(src, dst, IPPROTO_ICMPV6, &m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        m
    }

    /// A whole IPv6 packet (hop limit 255) carrying [`Self::emit`]: for tests and for an
    /// `IPPROTO_RAW` socket.
    pub fn emit_packet(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let body = self.emit(src, dst);
        let mut p = Vec::with_capacity(40 + body.len());
        p.extend_from_slice(&[0x60, 0, 0, 0]);
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.push(IPPROTO_ICMPV6);
        p.push(ND_HOP_LIMIT);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&body);
        p
    }

    /// Parses an ICMPv6 message (from its type byte). Checks type, code, length, option
    /// lengths and, when `addrs` (source, destination) is given, the checksum. Options other
    /// than an Ethernet Target Link-Layer Address are skipped.
    pub fn parse(m: &[u8], addrs: Option<(Ipv6Addr, Ipv6Addr)>) -> Option<Self> {
        if m.len() < 24 || m[0] != NEIGHBOR_ADVERTISEMENT || m[1] != 0 {
            return None;
        }
        if let Some((src, dst)) = addrs {
            if !checksum::verify(src, dst, IPPROTO_ICMPV6, m) {
                return None;
            }
        }
        let mut target = [0u8; 16];
        target.copy_from_slice(&m[8..24]);
        let mut target_lladdr = None;
        let mut options = &m[24..];
        while !options.is_empty() {
            let len = usize::from(*options.get(1)?) * 8;
            if len == 0 || len > options.len() {
                return None;
            }
            if options[0] == TARGET_LINK_LAYER_ADDRESS && len == 8 {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&options[2..8]);
                target_lladdr = Some(mac);
            }
            options = &options[len..];
        }
        Some(Self {
            router: m[4] & FLAG_ROUTER != 0,
            solicited: m[4] & FLAG_SOLICITED != 0,
            override_flag: m[4] & FLAG_OVERRIDE != 0,
            target: Ipv6Addr::from(target),
            target_lladdr,
        })
    }
}

/// The link-local form of a home address (RFC 6275 10.4.1, BU with the L bit): fe80::/64
/// with the home address's interface identifier.
pub fn link_local_of(addr: Ipv6Addr) -> Ipv6Addr {
    let mut o = addr.octets();
    o[..8].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
    Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn unsolicited_bytes() {
        let na = NeighborAdvertisement::unsolicited(
            ip("2001:db8:1::100"),
            true,
            [0x02, 0, 0, 0, 0, 0x01],
        );
        let src = ip("fe80::1");
        let m = na.emit(src, ALL_NODES);
        assert_eq!(m.len(), 32);
        assert_eq!(&m[0..2], &[136, 0]);
        assert_eq!(&m[4..8], &[0xa0, 0, 0, 0], "R and O set, S clear");
        assert_eq!(&m[8..24], &ip("2001:db8:1::100").octets());
        assert_eq!(&m[24..32], &[2, 1, 0x02, 0, 0, 0, 0, 0x01]);
        assert!(checksum::verify(src, ALL_NODES, IPPROTO_ICMPV6, &m));
        assert_eq!(
            NeighborAdvertisement::parse(&m, Some((src, ALL_NODES))),
            Some(na)
        );
        // A bit flipped: the checksum no longer verifies.
        let mut bad = m.clone();
        bad[9] ^= 1;
        assert_eq!(
            NeighborAdvertisement::parse(&bad, Some((src, ALL_NODES))),
            None
        );
        let p = na.emit_packet(src, ALL_NODES);
        assert_eq!(&p[..8], &[0x60, 0, 0, 0, 0, 32, 58, 255]);
        assert_eq!(&p[40..], &m[..]);
    }

    #[test]
    fn without_option_and_malformed() {
        let na = NeighborAdvertisement {
            router: false,
            solicited: true,
            override_flag: false,
            target: ip("fe80::100"),
            target_lladdr: None,
        };
        let m = na.emit(ip("fe80::1"), ip("fe80::2"));
        assert_eq!(m.len(), 24);
        assert_eq!(m[4], 0x40);
        assert_eq!(NeighborAdvertisement::parse(&m, None), Some(na));
        assert_eq!(NeighborAdvertisement::parse(&m[..23], None), None);
        let mut opt = m.clone();
        opt.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(NeighborAdvertisement::parse(&opt, None), None, "length 0");
        opt[25] = 2;
        assert_eq!(NeighborAdvertisement::parse(&opt, None), None, "too long");
        let mut other = m;
        other[0] = 135;
        assert_eq!(NeighborAdvertisement::parse(&other, None), None);
    }

    #[test]
    fn link_local_form() {
        assert_eq!(link_local_of(ip("2001:db8:1::5:100")), ip("fe80::5:100"));
    }
}
