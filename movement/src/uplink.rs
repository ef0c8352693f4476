//! Preparing an uplink for fast movement: the sysctls that make SLAAC work on a forwarding
//! MR and shorten the time to a usable care-of address, and a Router Solicitation sent at
//! link-up instead of waiting for the kernel's (which follows link-local DAD).
//!
//! Everything here acts in the network namespace of the calling thread: `/proc/sys/net` and
//! sockets belong to the namespace of the thread that opens them.

use crate::error::UplinkError;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::IoSlice;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

const IPPROTO_RAW: i32 = 255;
const ICMPV6: u8 = 58;
const ROUTER_SOLICITATION: u8 = 133;
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

fn check_name(ifname: &str) -> Result<(), UplinkError> {
    let ok = !ifname.is_empty()
        && ifname.len() <= 15
        && ifname != "."
        && ifname != ".."
        && !ifname.contains(['/', '\0'])
        && !ifname.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(UplinkError::BadInterfaceName(ifname.to_string()))
    }
}

/// Writes `net.ipv6.conf.<ifname>.<key> = value`.
pub fn set_ipv6_conf(ifname: &str, key: &str, value: &str) -> Result<(), UplinkError> {
    check_name(ifname)?;
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(UplinkError::BadSysctlKey(key.to_string()));
    }
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/{key}");
    std::fs::write(&path, value).map_err(|source| UplinkError::Sysctl { path, source })
}

/// `accept_ra=2`: an MR forwards, and a forwarding interface ignores Router Advertisements
/// (so gets no SLAAC address) unless accept_ra is 2.
pub fn accept_ra_while_forwarding(ifname: &str) -> Result<(), UplinkError> {
    set_ipv6_conf(ifname, "accept_ra", "2")
}

/// `optimistic_dad=1`, `use_optimistic=1` (RFC 4429): new addresses are usable while DAD
/// runs. Linux only makes addresses optimistic while `net.ipv6.conf.all.forwarding` is 0,
/// so with the classic `all.forwarding=1` this is a no-op (harmless). An MR that forwards
/// with `all.forwarding=0` plus `force_forwarding=1` on its interfaces (Linux 6.17+) gets
/// optimistic addresses: measured link-up to CoA 4 ms to 1.0 s instead of 1.0 to 2.0 s.
pub fn enable_optimistic_dad(ifname: &str) -> Result<(), UplinkError> {
    set_ipv6_conf(ifname, "optimistic_dad", "1")?;
    set_ipv6_conf(ifname, "use_optimistic", "1")
}

/// `router_solicitation_delay=0`: no random wait (up to 1 s) before the kernel's first
/// Router Solicitation and before DAD starts.
pub fn solicit_without_delay(ifname: &str) -> Result<(), UplinkError> {
    set_ipv6_conf(ifname, "router_solicitation_delay", "0")
}

/// All of the above: what babymdd calls for each uplink at start.
pub fn prepare_uplink(ifname: &str) -> Result<(), UplinkError> {
    accept_ra_while_forwarding(ifname)?;
    enable_optimistic_dad(ifname)?;
    solicit_without_delay(ifname)
}

/// The interface index of `ifname` in the calling thread's namespace.
pub fn interface_index(ifname: &str) -> Result<u32, UplinkError> {
    check_name(ifname)?;
    nix::net::if_::if_nametoindex(ifname)
        .map_err(|_| UplinkError::NoSuchInterface(ifname.to_string()))
}

/// Sends Router Solicitations from a raw IPv6 socket that includes its own header.
///
/// Why header-included rather than an ICMPv6 socket: right after link-up the link-local
/// address is still tentative, the kernel then has no source address for an ICMPv6 socket,
/// and RFC 4861 section 6.3.7 says to solicit from the unspecified address in that case.
/// Even with the header included the kernel's route lookup wants a source, so each send
/// names one in IPV6_PKTINFO (allowed by IPV6_FREEBIND): it only steers the lookup; the
/// packet keeps the source written in its header.
pub struct RouterSolicitor {
    socket: Socket,
}

impl RouterSolicitor {
    /// Opens the socket in the calling thread's namespace (needs CAP_NET_RAW).
    pub fn new() -> Result<Self, UplinkError> {
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))
            .map_err(UplinkError::Solicit)?;
        socket.set_freebind_v6(true).map_err(UplinkError::Solicit)?;
        Ok(Self { socket })
    }

    /// Sends one Router Solicitation to ff02::2 out of `ifindex`, hop limit 255, from
    /// `source` (a non-tentative link-local address) or from `::` when there is none.
    pub fn send(&self, ifindex: u32, source: Option<Ipv6Addr>) -> Result<(), UplinkError> {
        let packet = router_solicitation(source.unwrap_or(Ipv6Addr::UNSPECIFIED));
        let steer = nix::libc::in6_pktinfo {
            ipi6_addr: nix::libc::in6_addr {
                s6_addr: source.unwrap_or(LOOKUP_SOURCE).octets(),
            },
            ipi6_ifindex: ifindex,
        };
        let to = SockaddrIn6::from(SocketAddrV6::new(ALL_ROUTERS, 0, 0, ifindex));
        sendmsg(
            self.socket.as_raw_fd(),
            &[IoSlice::new(&packet)],
            &[ControlMessage::Ipv6PacketInfo(&steer)],
            MsgFlags::empty(),
            Some(&to),
        )
        .map(drop)
        .map_err(|e| UplinkError::Solicit(e.into()))
    }
}

/// Steers the route lookup of a solicitation from `::` (never appears on the wire).
const LOOKUP_SOURCE: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// One Router Solicitation to ff02::2 from `source`, IPv6 header included, hop limit 255,
/// no options (a Source Link-Layer Address option is not allowed from `::`).
pub fn router_solicitation(source: Ipv6Addr) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x60; // version 6, traffic class 0, flow label 0
    p[4..6].copy_from_slice(&8u16.to_be_bytes()); // payload length
    p[6] = ICMPV6;
    p[7] = 255; // hop limit: receivers drop ND messages with anything else
    p[8..24].copy_from_slice(&source.octets());
    p[24..40].copy_from_slice(&ALL_ROUTERS.octets());
    p[40] = ROUTER_SOLICITATION;
    let sum = icmpv6_checksum(&source, &ALL_ROUTERS, &p[40..]);
    p[42..44].copy_from_slice(&sum.to_be_bytes());
    p
}

/// RFC 4443 section 2.3: one's complement sum over the pseudo-header and the message.
fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for chunk in bytes.chunks(2) {
            let hi = u32::from(chunk[0]) << 8;
            let lo = chunk.get(1).copied().map(u32::from).unwrap_or(0);
            sum += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&len.to_be_bytes());
    add(&[0, 0, 0, ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicitation_bytes() {
        let p = router_solicitation(Ipv6Addr::UNSPECIFIED);
        assert_eq!(&p[0..8], &[0x60, 0, 0, 0, 0, 8, 58, 255]);
        assert_eq!(&p[8..24], &[0u8; 16]);
        assert_eq!(&p[24..40], &ALL_ROUTERS.octets());
        assert_eq!(&p[40..48], &[133, 0, 0x7b, 0xb8, 0, 0, 0, 0]);
    }

    #[test]
    fn checksum_of_message_with_checksum_verifies_to_zero() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let p = router_solicitation(src);
        assert_eq!(icmpv6_checksum(&src, &ALL_ROUTERS, &p[40..]), 0);
        // Flipping a bit must break it.
        let mut bad = p;
        bad[44] ^= 1;
        assert_ne!(icmpv6_checksum(&src, &ALL_ROUTERS, &bad[40..]), 0);
    }

    #[test]
    fn interface_names_cannot_escape_proc() {
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "../all",
            "this-name-is-too-long",
            "a b",
        ] {
            assert!(matches!(
                set_ipv6_conf(bad, "accept_ra", "2"),
                Err(UplinkError::BadInterfaceName(_))
            ));
        }
        assert!(matches!(
            set_ipv6_conf("lo", "../../ipv4/ip_forward", "1"),
            Err(UplinkError::BadSysctlKey(_))
        ));
    }
}
