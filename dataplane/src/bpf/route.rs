//! Routes that run the encapsulation program (`encap bpf xmit`), and the map keys and
//! values of nemo.bpf.c.

use ipnet::{Ipv4Net, Ipv6Net};
use netlink_packet_core::{DefaultNla, Nla};
use netlink_packet_route::route::{RouteAttribute, RouteLwEnCapType, RouteLwTunnelEncap};
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;
use std::os::fd::RawFd;

/// `LWT_BPF_XMIT`, `LWT_BPF_PROG_FD`, `LWT_BPF_PROG_NAME` (include/uapi/linux/lwtunnel.h).
const LWT_BPF_XMIT: u16 = 3;
const LWT_BPF_PROG_FD: u16 = 1;
const LWT_BPF_PROG_NAME: u16 = 2;
/// Routes name the program `nemo_encap-<tag>`: the kernel reports only the name, and the
/// tag (a hash of the code) tells a route that runs another build of the program.
const NAME_PREFIX: &str = "nemo_encap-";
/// An attribute's type without the nested / byte-order flags.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// The encapsulation program of a route: its fd to install one (-1 when read back from
/// the kernel), its tag to compare. Routes are equal when their programs' code is.
#[derive(Debug, Clone, Copy, Eq)]
pub struct BpfProg {
    pub fd: RawFd,
    pub tag: u64,
}

impl PartialEq for BpfProg {
    fn eq(&self, other: &Self) -> bool {
        self.tag == other.tag
    }
}

impl Hash for BpfProg {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.tag.hash(state);
    }
}

impl BpfProg {
    pub fn name(&self) -> String {
        format!("{NAME_PREFIX}{:016x}", self.tag)
    }
}

fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(len.next_multiple_of(4), 0);
    out
}

/// The attributes of `encap bpf xmit <prog>`.
pub fn encap_attributes(prog: BpfProg) -> [RouteAttribute; 2] {
    let mut name = prog.name().into_bytes();
    name.push(0);
    let mut xmit = nla(LWT_BPF_PROG_FD, &(prog.fd as u32).to_ne_bytes());
    xmit.extend(nla(LWT_BPF_PROG_NAME, &name));
    [
        RouteAttribute::EncapType(RouteLwEnCapType::Bpf),
        RouteAttribute::Encap(vec![RouteLwTunnelEncap::Other(DefaultNla::new(
            LWT_BPF_XMIT,
            xmit,
        ))]),
    ]
}

/// The program of a dumped `encap bpf` route of ours; `None` for any other bpf route (one
/// with in/out programs, or a program that is not ours).
pub fn parse_encap(encaps: &[RouteLwTunnelEncap]) -> Option<BpfProg> {
    let mut prog = None;
    for e in encaps {
        let RouteLwTunnelEncap::Other(attr) = e else {
            return None;
        };
        if attr.kind() & NLA_TYPE_MASK != LWT_BPF_XMIT {
            return None;
        }
        let mut value = vec![0; attr.value_len()];
        attr.emit_value(&mut value);
        prog = Some(parse_xmit(&value)?);
    }
    prog
}

fn parse_xmit(mut buf: &[u8]) -> Option<BpfProg> {
    let mut found = None;
    while buf.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        let value = buf.get(4..len)?;
        if kind == LWT_BPF_PROG_NAME {
            let name = std::str::from_utf8(value).ok()?.trim_end_matches('\0');
            let tag = u64::from_str_radix(name.strip_prefix(NAME_PREFIX)?, 16).ok()?;
            found = Some(BpfProg { fd: -1, tag });
        }
        buf = buf.get(len.next_multiple_of(4).min(buf.len())..)?;
    }
    found
}

/// `struct tunnel` (outer source, outer destination).
pub fn tunnel_value(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut v = src.octets().to_vec();
    v.extend_from_slice(&dst.octets());
    v
}

/// `struct prefix4`: prefix length (host order), address (network order).
pub fn prefix4_key(net: &Ipv4Net) -> Vec<u8> {
    let mut k = u32::from(net.prefix_len()).to_ne_bytes().to_vec();
    k.extend_from_slice(&net.trunc().addr().octets());
    k
}

/// `struct prefix6`.
pub fn prefix6_key(net: &Ipv6Net) -> Vec<u8> {
    let mut k = u32::from(net.prefix_len()).to_ne_bytes().to_vec();
    k.extend_from_slice(&net.trunc().addr().octets());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_survives_a_round_trip_by_its_tag() {
        let prog = BpfProg {
            fd: 7,
            tag: 0x0123_4567_89ab_cdef,
        };
        let [_, RouteAttribute::Encap(encaps)] = encap_attributes(prog) else {
            panic!("no encap attribute");
        };
        let back = parse_encap(&encaps).unwrap();
        assert_eq!(back, prog);
        assert_eq!(back.fd, -1);
        assert_eq!(prog.name(), "nemo_encap-0123456789abcdef");
    }

    #[test]
    fn foreign_bpf_routes_are_not_ours() {
        let mut value = nla(LWT_BPF_PROG_FD, &3u32.to_ne_bytes());
        value.extend(nla(LWT_BPF_PROG_NAME, b"someone_else\0"));
        let foreign = [RouteLwTunnelEncap::Other(DefaultNla::new(
            LWT_BPF_XMIT,
            value,
        ))];
        assert_eq!(parse_encap(&foreign), None);
        let input = [RouteLwTunnelEncap::Other(DefaultNla::new(1, vec![]))];
        assert_eq!(parse_encap(&input), None);
    }

    #[test]
    fn map_keys_have_the_c_layout() {
        let k = prefix4_key(&"10.0.0.0/24".parse().unwrap());
        assert_eq!(k.len(), 8);
        assert_eq!(&k[4..], &[10, 0, 0, 0]);
        assert_eq!(prefix6_key(&"2001:db8::/32".parse().unwrap()).len(), 20);
        assert_eq!(
            tunnel_value(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED).len(),
            32
        );
    }
}
