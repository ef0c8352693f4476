//! The ICMPv6 side of Mobile IPv6: Dynamic Home Agent Address Discovery (RFC 6275 6.5, 6.6
//! with the R flag of RFC 3963 7), Mobile Prefix Solicitation / Advertisement (RFC 6275 6.7,
//! 6.8), and the Router Advertisement fields a home agent learns its peers from (the H bit,
//! RFC 6275 7.1; the Home Agent Information option, 7.4, with RFC 3963's R flag; Prefix
//! Information options with the Router Address flag, 7.2), plus the Home-Agents anycast
//! address of a home prefix (RFC 2526).
//!
//! Same model as the rest of the crate: [`IcmpRepr::parse`] takes untrusted bytes (from the
//! ICMPv6 type byte) and cannot panic; [`IcmpRepr::emit`] is its inverse.
//!
//! ```
//! use mip6::icmp::{home_agents_anycast, IcmpRepr};
//! let anycast = home_agents_anycast("2001:db8:1::".parse().unwrap(), 64);
//! assert_eq!(anycast, "2001:db8:1:0:fdff:ffff:ffff:fffe".parse::<std::net::Ipv6Addr>().unwrap());
//! let req = IcmpRepr::DhaadRequest { id: 7, mobile_router: true };
//! let coa = "2001:db8:200::5".parse().unwrap();
//! let bytes = req.emit(coa, anycast);
//! assert_eq!(IcmpRepr::parse(&bytes, Some((coa, anycast))).unwrap(), req);
//! ```

use crate::checksum;
use std::net::Ipv6Addr;

/// ICMPv6 next-header number.
pub const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 type: Router Advertisement (RFC 4861).
pub const ROUTER_ADVERTISEMENT: u8 = 134;
/// ICMPv6 type: Home Agent Address Discovery Request (RFC 6275 6.5).
pub const DHAAD_REQUEST: u8 = 144;
/// ICMPv6 type: Home Agent Address Discovery Reply (RFC 6275 6.6).
pub const DHAAD_REPLY: u8 = 145;
/// ICMPv6 type: Mobile Prefix Solicitation (RFC 6275 6.7).
pub const MOBILE_PREFIX_SOLICITATION: u8 = 146;
/// ICMPv6 type: Mobile Prefix Advertisement (RFC 6275 6.8).
pub const MOBILE_PREFIX_ADVERTISEMENT: u8 = 147;
/// Neighbor Discovery option: Prefix Information (RFC 4861 4.6.2, RFC 6275 7.2).
pub const OPT_PREFIX_INFORMATION: u8 = 3;
/// Neighbor Discovery option: Home Agent Information (RFC 6275 7.4).
pub const OPT_HOME_AGENT_INFORMATION: u8 = 8;
/// The most home agent addresses a reply carries: the packet must fit the IPv6 minimum MTU
/// (RFC 6275 10.5: 1280 - 40 IPv6 - 8 ICMPv6 = 1232 bytes of addresses).
pub const MAX_REPLY_ADDRESSES: usize = (1280 - 40 - 8) / 16;

/// RFC 3963 7.1/7.2: Mobile Router Support flag, first bit after the identifier.
const DHAAD_FLAG_R: u8 = 0x80;
const MPA_FLAG_M: u8 = 0x80;
const MPA_FLAG_O: u8 = 0x40;
const RA_FLAG_H: u8 = 0x20;
const PIO_FLAG_L: u8 = 0x80;
const PIO_FLAG_A: u8 = 0x40;
/// RFC 6275 7.2: the prefix field holds the router's complete address.
const PIO_FLAG_R: u8 = 0x20;
/// RFC 3963 7.3: the home agent supports mobile routers.
const HAI_FLAG_R: u8 = 0x80;

/// Why bytes are not a valid message of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcmpError {
    #[error("truncated ICMPv6 message: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("ICMPv6 type {0} is not one of 134, 144-147")]
    UnknownType(u8),
    #[error("ICMPv6 type {kind} with code {code} (must be 0)")]
    BadCode { kind: u8, code: u8 },
    #[error("ICMPv6 checksum does not verify")]
    BadChecksum,
    #[error("home agent address list of {0} bytes is not a multiple of 16")]
    BadAddressList(usize),
    #[error("malformed option (type {kind}, length {len})")]
    BadOption { kind: u8, len: usize },
}

/// A Prefix Information option (RFC 4861 4.6.2) with RFC 6275's Router Address flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInformation {
    /// The prefix, or with `router_address` the router's complete address.
    pub prefix: Ipv6Addr,
    pub prefix_len: u8,
    pub on_link: bool,
    pub autonomous: bool,
    /// R (RFC 6275 7.2): `prefix` is the advertising router's global address.
    pub router_address: bool,
    /// Seconds; all ones is infinity.
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
}

impl PrefixInformation {
    fn parse(o: &[u8]) -> Option<Self> {
        if o.len() != 32 {
            return None;
        }
        let mut addr = [0u8; 16];
        addr.copy_from_slice(&o[16..32]);
        Some(Self {
            prefix_len: o[2],
            on_link: o[3] & PIO_FLAG_L != 0,
            autonomous: o[3] & PIO_FLAG_A != 0,
            router_address: o[3] & PIO_FLAG_R != 0,
            valid_lifetime: u32::from_be_bytes([o[4], o[5], o[6], o[7]]),
            preferred_lifetime: u32::from_be_bytes([o[8], o[9], o[10], o[11]]),
            prefix: Ipv6Addr::from(addr),
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.on_link {
            flags |= PIO_FLAG_L;
        }
        if self.autonomous {
            flags |= PIO_FLAG_A;
        }
        if self.router_address {
            flags |= PIO_FLAG_R;
        }
        out.extend_from_slice(&[OPT_PREFIX_INFORMATION, 4, self.prefix_len, flags]);
        out.extend_from_slice(&self.valid_lifetime.to_be_bytes());
        out.extend_from_slice(&self.preferred_lifetime.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.prefix.octets());
    }
}

/// The ICMPv6 messages of Mobile IPv6 (RFC 6275 6.5-6.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcmpRepr {
    /// To the Home-Agents anycast address of the home prefix, from the care-of address.
    DhaadRequest {
        id: u16,
        /// R (RFC 3963 7.1): only home agents that support mobile routers are wanted.
        mobile_router: bool,
    },
    /// From one home agent's unicast address: the home agents in preference order.
    DhaadReply {
        id: u16,
        /// R (RFC 3963 7.2): the list holds only home agents supporting mobile routers.
        mobile_router: bool,
        home_agents: Vec<Ipv6Addr>,
    },
    MobilePrefixSolicitation {
        id: u16,
    },
    MobilePrefixAdvertisement {
        /// The solicitation's identifier; any value when unsolicited.
        id: u16,
        /// M and O: the home link's managed / other configuration flags.
        managed: bool,
        other: bool,
        prefixes: Vec<PrefixInformation>,
    },
}

impl IcmpRepr {
    /// Parses an ICMPv6 message from its type byte. With `addrs` (source, destination) the
    /// checksum is verified; a raw ICMPv6 socket has already done that (pass `None`).
    /// Options of an advertisement other than Prefix Information are skipped.
    pub fn parse(m: &[u8], addrs: Option<(Ipv6Addr, Ipv6Addr)>) -> Result<Self, IcmpError> {
        if m.len() < 8 {
            return Err(IcmpError::Truncated {
                need: 8,
                have: m.len(),
            });
        }
        let (kind, code) = (m[0], m[1]);
        if !(DHAAD_REQUEST..=MOBILE_PREFIX_ADVERTISEMENT).contains(&kind) {
            return Err(IcmpError::UnknownType(kind));
        }
        if code != 0 {
            return Err(IcmpError::BadCode { kind, code });
        }
        if let Some((src, dst)) = addrs {
            if !checksum::verify(src, dst, IPPROTO_ICMPV6, m) {
                return Err(IcmpError::BadChecksum);
            }
        }
        let id = u16::from_be_bytes([m[4], m[5]]);
        Ok(match kind {
            DHAAD_REQUEST => IcmpRepr::DhaadRequest {
                id,
                mobile_router: m[6] & DHAAD_FLAG_R != 0,
            },
            DHAAD_REPLY => {
                let list = &m[8..];
                if !list.len().is_multiple_of(16) {
                    return Err(IcmpError::BadAddressList(list.len()));
                }
                let home_agents = list
                    .chunks_exact(16)
                    .map(|c| {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(c);
                        Ipv6Addr::from(a)
                    })
                    .collect();
                IcmpRepr::DhaadReply {
                    id,
                    mobile_router: m[6] & DHAAD_FLAG_R != 0,
                    home_agents,
                }
            }
            MOBILE_PREFIX_SOLICITATION => IcmpRepr::MobilePrefixSolicitation { id },
            _ => {
                let mut prefixes = Vec::new();
                for (kind, o) in options(&m[8..])? {
                    if kind == OPT_PREFIX_INFORMATION {
                        prefixes.push(
                            PrefixInformation::parse(o)
                                .ok_or(IcmpError::BadOption { kind, len: o.len() })?,
                        );
                    }
                }
                IcmpRepr::MobilePrefixAdvertisement {
                    id,
                    managed: m[6] & MPA_FLAG_M != 0,
                    other: m[6] & MPA_FLAG_O != 0,
                    prefixes,
                }
            }
        })
    }

    /// The ICMPv6 message with its checksum for `src` -> `dst` (a raw ICMPv6 socket would
    /// recompute it; an `IPPROTO_RAW` socket sends it as is). A reply longer than
    /// [`MAX_REPLY_ADDRESSES`] is cut there.
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let mut m = vec![0u8; 8];
        let (kind, id, flags) = match self {
            IcmpRepr::DhaadRequest { id, mobile_router } => (
                DHAAD_REQUEST,
                *id,
                if *mobile_router { DHAAD_FLAG_R } else { 0 },
            ),
            IcmpRepr::DhaadReply {
                id,
                mobile_router,
                home_agents,
            } => {
                for a in home_agents.iter().take(MAX_REPLY_ADDRESSES) {
                    m.extend_from_slice(&a.octets());
                }
                (
                    DHAAD_REPLY,
                    *id,
                    if *mobile_router { DHAAD_FLAG_R } else { 0 },
                )
            }
            IcmpRepr::MobilePrefixSolicitation { id } => (MOBILE_PREFIX_SOLICITATION, *id, 0),
            IcmpRepr::MobilePrefixAdvertisement {
                id,
                managed,
                other,
                prefixes,
            } => {
                for p in prefixes {
                    p.emit(&mut m);
                }
                let mut f = 0;
                if *managed {
                    f |= MPA_FLAG_M;
                }
                if *other {
                    f |= MPA_FLAG_O;
                }
                (MOBILE_PREFIX_ADVERTISEMENT, *id, f)
            }
        };
        m[0] = kind;
        m[4..6].copy_from_slice(&id.to_be_bytes());
        m[6] = flags;
        let sum = checksum::compute(src, dst, IPPROTO_ICMPV6, &m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        m
    }

    /// A whole IPv6 packet carrying [`Self::emit`], for an `IPPROTO_RAW` socket.
    pub fn emit_packet(&self, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
        ipv6_packet(src, dst, hop_limit, &self.emit(src, dst))
    }
}

/// An IPv6 header (no extension headers) in front of the ICMPv6 message `body`.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    let mut p = Vec::with_capacity(40 + body.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&len.to_be_bytes());
    p.push(IPPROTO_ICMPV6);
    p.push(hop_limit);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(body);
    p
}

/// Splits a Neighbor Discovery option area into (type, whole option) pairs.
fn options(mut area: &[u8]) -> Result<Vec<(u8, &[u8])>, IcmpError> {
    let mut out = Vec::new();
    while !area.is_empty() {
        let kind = area[0];
        let len = usize::from(*area.get(1).ok_or(IcmpError::BadOption { kind, len: 1 })?) * 8;
        if len == 0 || len > area.len() {
            return Err(IcmpError::BadOption { kind, len });
        }
        let (o, rest) = area.split_at(len);
        out.push((kind, o));
        area = rest;
    }
    Ok(out)
}

/// The Home Agent Information option (RFC 6275 7.4, RFC 3963 7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomeAgentInformation {
    /// R: the home agent supports mobile routers.
    pub mobile_router: bool,
    /// Higher is better; 0 when the option is absent.
    pub preference: i16,
    /// Seconds; 0 means "no longer a home agent".
    pub lifetime: u16,
}

/// What a home agent reads from a Router Advertisement on its home link (RFC 6275 10.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeAgentAdvertisement {
    /// H: the sender is a home agent.
    pub home_agent: bool,
    pub router_lifetime: u16,
    pub info: Option<HomeAgentInformation>,
    pub prefixes: Vec<PrefixInformation>,
}

impl HomeAgentAdvertisement {
    /// Parses a Router Advertisement (from its type byte; the kernel verified the checksum
    /// of what a raw socket hands over). Unknown options are skipped; a malformed option
    /// (length 0 or past the end) refuses the whole message, as RFC 4861 6.1.2 wants.
    pub fn parse(m: &[u8]) -> Result<Self, IcmpError> {
        if m.len() < 16 {
            return Err(IcmpError::Truncated {
                need: 16,
                have: m.len(),
            });
        }
        if m[0] != ROUTER_ADVERTISEMENT {
            return Err(IcmpError::UnknownType(m[0]));
        }
        if m[1] != 0 {
            return Err(IcmpError::BadCode {
                kind: m[0],
                code: m[1],
            });
        }
        let mut info = None;
        let mut prefixes = Vec::new();
        for (kind, o) in options(&m[16..])? {
            match kind {
                OPT_PREFIX_INFORMATION => prefixes.push(
                    PrefixInformation::parse(o)
                        .ok_or(IcmpError::BadOption { kind, len: o.len() })?,
                ),
                OPT_HOME_AGENT_INFORMATION if o.len() == 8 => {
                    info = Some(HomeAgentInformation {
                        mobile_router: o[2] & HAI_FLAG_R != 0,
                        preference: i16::from_be_bytes([o[4], o[5]]),
                        lifetime: u16::from_be_bytes([o[6], o[7]]),
                    })
                }
                OPT_HOME_AGENT_INFORMATION => {
                    return Err(IcmpError::BadOption { kind, len: o.len() })
                }
                _ => {}
            }
        }
        Ok(Self {
            home_agent: m[5] & RA_FLAG_H != 0,
            router_lifetime: u16::from_be_bytes([m[6], m[7]]),
            info,
            prefixes,
        })
    }

    /// RFC 6275 10.5.1: the preference (0 without the option) and lifetime (the router
    /// lifetime without the option) this advertisement gives its sender as a home agent,
    /// and whether it supports mobile routers; `None` without the H bit.
    pub fn as_home_agent(&self) -> Option<HomeAgentInformation> {
        if !self.home_agent {
            return None;
        }
        Some(self.info.unwrap_or(HomeAgentInformation {
            mobile_router: false,
            preference: 0,
            lifetime: self.router_lifetime,
        }))
    }

    /// The sender's global addresses: the Prefix Information options with the R flag.
    pub fn router_addresses(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.prefixes
            .iter()
            .filter(|p| p.router_address)
            .map(|p| p.prefix)
            .filter(|a| !a.is_unspecified() && !a.is_multicast() && !a.is_unicast_link_local())
    }

    /// The Router Advertisement (checksum for `src` -> `dst`), for tests and tools.
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let mut m = vec![0u8; 16];
        m[0] = ROUTER_ADVERTISEMENT;
        m[4] = 64;
        if self.home_agent {
            m[5] |= RA_FLAG_H;
        }
        m[6..8].copy_from_slice(&self.router_lifetime.to_be_bytes());
        for p in &self.prefixes {
            p.emit(&mut m);
        }
        if let Some(i) = self.info {
            m.extend_from_slice(&[
                OPT_HOME_AGENT_INFORMATION,
                1,
                if i.mobile_router { HAI_FLAG_R } else { 0 },
                0,
            ]);
            m.extend_from_slice(&i.preference.to_be_bytes());
            m.extend_from_slice(&i.lifetime.to_be_bytes());
        }
        let sum = checksum::compute(src, dst, IPPROTO_ICMPV6, &m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        m
    }
}

/// The Home-Agents anycast address of a home prefix (RFC 2526, RFC 6275 10.5): for a /64
/// (EUI-64 interface identifiers) the identifier `fdff:ffff:ffff:fffe`; for other lengths
/// all host bits one except the 7-bit anycast identifier 126 in the last bits.
pub fn home_agents_anycast(prefix: Ipv6Addr, prefix_len: u8) -> Ipv6Addr {
    let len = u32::from(prefix_len.min(121));
    let p = u128::from(prefix);
    let net = if len == 0 {
        0
    } else {
        p & (u128::MAX << (128 - len))
    };
    let host = if len == 64 {
        0xfdff_ffff_ffff_fffe_u128
    } else {
        (u128::MAX >> len) & !0x7f | 0x7e
    };
    Ipv6Addr::from(net | host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn anycast_addresses() {
        assert_eq!(
            home_agents_anycast(ip("2001:db8:1::"), 64),
            ip("2001:db8:1:0:fdff:ffff:ffff:fffe")
        );
        // Host bits of the given address are ignored.
        assert_eq!(
            home_agents_anycast(ip("2001:db8:1::1"), 64),
            ip("2001:db8:1:0:fdff:ffff:ffff:fffe")
        );
        assert_eq!(
            home_agents_anycast(ip("2001:db8:1::"), 48),
            ip("2001:db8:1:ffff:ffff:ffff:ffff:fffe")
        );
        assert_eq!(
            home_agents_anycast(ip("2001:db8:1::"), 120),
            ip("2001:db8:1::fe")
        );
    }

    #[test]
    fn dhaad_request_bytes() {
        let (src, dst) = (
            ip("2001:db8:200::5"),
            ip("2001:db8:1:0:fdff:ffff:ffff:fffe"),
        );
        let req = IcmpRepr::DhaadRequest {
            id: 0x1234,
            mobile_router: true,
        };
        let m = req.emit(src, dst);
        assert_eq!(m.len(), 8);
        assert_eq!(&m[..2], &[144, 0]);
        assert_eq!(&m[4..8], &[0x12, 0x34, 0x80, 0]);
        assert!(checksum::verify(src, dst, IPPROTO_ICMPV6, &m));
        assert_eq!(IcmpRepr::parse(&m, Some((src, dst))), Ok(req));
        let mut bad = m.clone();
        bad[5] ^= 1;
        assert_eq!(
            IcmpRepr::parse(&bad, Some((src, dst))),
            Err(IcmpError::BadChecksum)
        );
        let p = IcmpRepr::DhaadRequest {
            id: 1,
            mobile_router: false,
        }
        .emit_packet(src, dst, 64);
        assert_eq!(&p[..8], &[0x60, 0, 0, 0, 0, 8, 58, 64]);
        assert_eq!(p[46], 0, "no R flag");
    }

    #[test]
    fn dhaad_reply_bytes() {
        let (src, dst) = (ip("2001:db8:1::1"), ip("2001:db8:200::5"));
        let reply = IcmpRepr::DhaadReply {
            id: 0xbeef,
            mobile_router: true,
            home_agents: vec![ip("2001:db8:1::2"), ip("2001:db8:1::1")],
        };
        let m = reply.emit(src, dst);
        assert_eq!(m.len(), 8 + 32);
        assert_eq!(&m[..2], &[145, 0]);
        assert_eq!(&m[4..8], &[0xbe, 0xef, 0x80, 0]);
        assert_eq!(&m[8..24], &ip("2001:db8:1::2").octets());
        assert_eq!(IcmpRepr::parse(&m, Some((src, dst))), Ok(reply));
        assert_eq!(
            IcmpRepr::parse(&m[..30], None),
            Err(IcmpError::BadAddressList(22))
        );
        // Cut at the minimum MTU.
        let many = IcmpRepr::DhaadReply {
            id: 1,
            mobile_router: false,
            home_agents: (0..100u16)
                .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
                .collect(),
        };
        assert_eq!(many.emit_packet(src, dst, 64).len(), 40 + 8 + 77 * 16);
    }

    #[test]
    fn mobile_prefix_bytes() {
        let (src, dst) = (ip("2001:db8:200::5"), ip("2001:db8:1::1"));
        let sol = IcmpRepr::MobilePrefixSolicitation { id: 9 };
        let m = sol.emit(src, dst);
        assert_eq!(&m[..2], &[146, 0]);
        assert_eq!(&m[4..8], &[0, 9, 0, 0]);
        assert_eq!(IcmpRepr::parse(&m, Some((src, dst))), Ok(sol));
        let adv = IcmpRepr::MobilePrefixAdvertisement {
            id: 9,
            managed: false,
            other: true,
            prefixes: vec![PrefixInformation {
                prefix: ip("2001:db8:1::"),
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                router_address: false,
                valid_lifetime: 600,
                preferred_lifetime: 300,
            }],
        };
        let m = adv.emit(dst, src);
        assert_eq!(m.len(), 8 + 32);
        assert_eq!(&m[..2], &[147, 0]);
        assert_eq!(&m[4..8], &[0, 9, 0x40, 0]);
        assert_eq!(&m[8..12], &[3, 4, 64, 0xc0]);
        assert_eq!(&m[12..16], &600u32.to_be_bytes());
        assert_eq!(&m[16..20], &300u32.to_be_bytes());
        assert_eq!(&m[24..40], &ip("2001:db8:1::").octets());
        assert_eq!(IcmpRepr::parse(&m, Some((dst, src))), Ok(adv.clone()));
        // An unknown option is skipped (checksum not checked here).
        let mut other = m.clone();
        other.extend_from_slice(&[200, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(IcmpRepr::parse(&other, None), Ok(adv));
        let mut zero = m;
        zero[9] = 0;
        assert!(matches!(
            IcmpRepr::parse(&zero, None),
            Err(IcmpError::BadOption { kind: 3, len: 0 })
        ));
    }

    #[test]
    fn other_types_and_codes_are_refused() {
        assert_eq!(
            IcmpRepr::parse(&[128, 0, 0, 0, 0, 0, 0, 0], None),
            Err(IcmpError::UnknownType(128))
        );
        assert_eq!(
            IcmpRepr::parse(&[144, 1, 0, 0, 0, 0, 0, 0], None),
            Err(IcmpError::BadCode { kind: 144, code: 1 })
        );
        assert!(matches!(
            IcmpRepr::parse(&[144, 0, 0], None),
            Err(IcmpError::Truncated { .. })
        ));
    }

    /// radvd's RA for `AdvHomeAgentFlag on; AdvHomeAgentInfo on; AdvMobRtrSupportFlag on;
    /// HomeAgentPreference 20; HomeAgentLifetime 30;` and `prefix 2001:db8:1::2/64
    /// { AdvRouterAddr on; }`, with a source link-layer address option.
    fn radvd_ha_ra() -> Vec<u8> {
        let mut m = vec![134, 0, 0, 0, 64, 0x20, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 2]);
        m.extend_from_slice(&[3, 4, 64, 0xe0]);
        m.extend_from_slice(&86400u32.to_be_bytes());
        m.extend_from_slice(&14400u32.to_be_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&ip("2001:db8:1::2").octets());
        m.extend_from_slice(&[8, 1, 0x80, 0, 0, 20, 0, 30]);
        m
    }

    #[test]
    fn router_advertisement_with_home_agent_information() {
        let ra = HomeAgentAdvertisement::parse(&radvd_ha_ra()).unwrap();
        assert!(ra.home_agent);
        assert_eq!(ra.router_lifetime, 1800);
        assert_eq!(
            ra.as_home_agent(),
            Some(HomeAgentInformation {
                mobile_router: true,
                preference: 20,
                lifetime: 30
            })
        );
        assert_eq!(
            ra.router_addresses().collect::<Vec<_>>(),
            vec![ip("2001:db8:1::2")]
        );
        // Round trip through emit (option order differs; the content does not).
        let again = HomeAgentAdvertisement::parse(&ra.emit(ip("fe80::2"), ip("ff02::1"))).unwrap();
        assert_eq!(again, ra);
        // Without the option: preference 0, router lifetime, no mobile router support.
        let mut plain = radvd_ha_ra();
        plain.truncate(plain.len() - 8);
        let ra = HomeAgentAdvertisement::parse(&plain).unwrap();
        assert_eq!(
            ra.as_home_agent(),
            Some(HomeAgentInformation {
                mobile_router: false,
                preference: 0,
                lifetime: 1800
            })
        );
        // Without H: not a home agent, whatever the options say.
        let mut no_h = radvd_ha_ra();
        no_h[5] = 0;
        assert_eq!(
            HomeAgentAdvertisement::parse(&no_h)
                .unwrap()
                .as_home_agent(),
            None
        );
        // A negative preference.
        let mut neg = radvd_ha_ra();
        let at = neg.len() - 4;
        neg[at..at + 2].copy_from_slice(&(-5i16).to_be_bytes());
        assert_eq!(
            HomeAgentAdvertisement::parse(&neg)
                .unwrap()
                .as_home_agent()
                .unwrap()
                .preference,
            -5
        );
    }

    #[test]
    fn malformed_router_advertisements() {
        let m = radvd_ha_ra();
        assert!(HomeAgentAdvertisement::parse(&m[..15]).is_err());
        let mut bad_len = m.clone();
        let at = bad_len.len() - 7;
        bad_len[at] = 2; // HA info option claiming 16 bytes: runs past the end
        assert!(HomeAgentAdvertisement::parse(&bad_len).is_err());
        let mut code = m;
        code[1] = 3;
        assert!(HomeAgentAdvertisement::parse(&code).is_err());
    }

    #[test]
    fn never_panics_on_cut_or_flipped_bytes() {
        let (src, dst) = (ip("2001:db8:1::1"), ip("2001:db8:200::5"));
        let samples = [
            radvd_ha_ra(),
            IcmpRepr::DhaadReply {
                id: 3,
                mobile_router: true,
                home_agents: vec![src, dst],
            }
            .emit(src, dst),
        ];
        for base in samples {
            for cut in 0..base.len() {
                let _ = IcmpRepr::parse(&base[..cut], None);
                let _ = HomeAgentAdvertisement::parse(&base[..cut]);
            }
            for i in 0..base.len() {
                let mut m = base.clone();
                m[i] ^= 0xff;
                let _ = IcmpRepr::parse(&m, Some((src, dst)));
                let _ = HomeAgentAdvertisement::parse(&m);
            }
        }
    }
}
