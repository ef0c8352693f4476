//! Router Advertisements as babymdd sees them: a checked parser (no I/O) and a receiver on a
//! raw ICMPv6 socket.
//!
//! Why a raw socket and not only the kernel's `RTM_NEWPREFIX` (measured in namespaces with
//! radvd, Linux 6.18): the kernel does report a prefix with the A flag off as
//! `RTM_NEWPREFIX` (with `accept_ra=2` on a forwarding MR), but one message per prefix, so an
//! RA *without* the home prefix cannot be told from one RA of several; and with
//! `accept_ra=0` (a statically addressed uplink) it reports nothing, while a raw ICMPv6
//! socket still receives every RA. The raw socket gives whole RAs whatever the sysctls.

use crate::snapshot::{PrefixInfo, RouterAdvertisement};
use ipnet::Ipv6Net;
use std::net::Ipv6Addr;

/// ICMPv6 type of a Router Advertisement.
pub const ROUTER_ADVERTISEMENT: u8 = 134;
const PREFIX_INFORMATION: u8 = 3;
/// Lifetimes of all ones mean infinity (RFC 4861 4.6.2).
const INFINITY: u32 = u32::MAX;

/// Why an ICMPv6 message is not a valid Router Advertisement (RFC 4861 6.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaError {
    NotRouterAdvertisement,
    BadCode(u8),
    Truncated,
    /// An option with length 0, or running past the end.
    BadOption,
    /// Hop limit not 255: not from a neighbour.
    HopLimit(u8),
    /// Source not link-local.
    Source(Ipv6Addr),
}

impl std::fmt::Display for RaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RaError::NotRouterAdvertisement => write!(f, "not a router advertisement"),
            RaError::BadCode(c) => write!(f, "code {c}"),
            RaError::Truncated => write!(f, "truncated"),
            RaError::BadOption => write!(f, "malformed option"),
            RaError::HopLimit(h) => write!(f, "hop limit {h}"),
            RaError::Source(s) => write!(f, "source {s} not link-local"),
        }
    }
}

impl std::error::Error for RaError {}

/// Parses the ICMPv6 message `msg` (from its type byte; the checksum already verified by the
/// kernel, which does so for raw ICMPv6 sockets) received from `source` with `hop_limit`.
/// Prefix Information options with a link-local or multicast prefix, a prefix length over
/// 128 or a preferred lifetime over the valid one are skipped (RFC 4862 5.5.3 / 4861 6.3.4);
/// other options are skipped.
pub fn parse_router_advertisement(
    msg: &[u8],
    source: Ipv6Addr,
    hop_limit: u8,
) -> Result<RouterAdvertisement, RaError> {
    let (&kind, rest) = msg.split_first().ok_or(RaError::Truncated)?;
    if kind != ROUTER_ADVERTISEMENT {
        return Err(RaError::NotRouterAdvertisement);
    }
    let code = *rest.first().ok_or(RaError::Truncated)?;
    if code != 0 {
        return Err(RaError::BadCode(code));
    }
    if hop_limit != 255 {
        return Err(RaError::HopLimit(hop_limit));
    }
    if !source.is_unicast_link_local() {
        return Err(RaError::Source(source));
    }
    if msg.len() < 16 {
        return Err(RaError::Truncated);
    }
    let router_lifetime = u16::from_be_bytes([msg[6], msg[7]]);
    let mut prefixes = Vec::new();
    let mut options = &msg[16..];
    while !options.is_empty() {
        if options.len() < 2 {
            return Err(RaError::BadOption);
        }
        let len = usize::from(options[1]) * 8;
        if len == 0 || len > options.len() {
            return Err(RaError::BadOption);
        }
        let (option, next) = options.split_at(len);
        if option[0] == PREFIX_INFORMATION && len == 32 {
            if let Some(p) = prefix_information(option) {
                prefixes.push(p);
            }
        }
        options = next;
    }
    Ok(RouterAdvertisement {
        source,
        router_lifetime,
        prefixes,
    })
}

fn prefix_information(o: &[u8]) -> Option<PrefixInfo> {
    let prefix_len = o[2];
    let flags = o[3];
    let valid = u32::from_be_bytes([o[4], o[5], o[6], o[7]]);
    let preferred = u32::from_be_bytes([o[8], o[9], o[10], o[11]]);
    let mut addr = [0u8; 16];
    addr.copy_from_slice(&o[16..32]);
    let addr = Ipv6Addr::from(addr);
    if addr.is_unicast_link_local() || addr.is_multicast() || preferred > valid {
        return None;
    }
    let prefix = Ipv6Net::new(addr, prefix_len).ok()?.trunc();
    let lifetime = |s: u32| (s != INFINITY).then_some(s);
    Some(PrefixInfo {
        prefix,
        on_link: flags & 0x80 != 0,
        autoconf: flags & 0x40 != 0,
        valid_lft: lifetime(valid),
        preferred_lft: lifetime(preferred),
    })
}

pub use receiver::{RaReceiver, Received};

mod receiver {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn6};
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::IoSliceMut;
    use std::net::Ipv6Addr;
    use std::os::fd::AsRawFd;
    use tokio::io::unix::AsyncFd;

    const IPPROTO_ICMPV6: i32 = 58;
    /// `ICMP6_FILTER` (linux/icmpv6.h), at level IPPROTO_ICMPV6.
    const ICMP6_FILTER: i32 = 1;

    /// One received ICMPv6 message: where it came from and the message itself.
    pub struct Received {
        pub ifindex: u32,
        pub source: Ipv6Addr,
        pub hop_limit: u8,
        pub message: Vec<u8>,
    }

    /// A raw ICMPv6 socket that lets only Router Advertisements through, with the arrival
    /// interface and hop limit of each.
    pub struct RaReceiver {
        fd: AsyncFd<Socket>,
    }

    impl RaReceiver {
        /// Opens the socket in the calling thread's namespace (needs CAP_NET_RAW) and
        /// registers it with the current tokio runtime.
        pub fn new() -> std::io::Result<Self> {
            let socket = Socket::new(
                Domain::IPV6,
                Type::RAW,
                Some(Protocol::from(IPPROTO_ICMPV6)),
            )?;
            // Linux's filter: a set bit blocks the type.
            let mut filter = [u32::MAX; 8];
            let t = usize::from(super::ROUTER_ADVERTISEMENT);
            filter[t >> 5] &= !(1u32 << (t & 31));
            setsockopt(&socket, IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
            let on: nix::libc::c_int = 1;
            setsockopt(
                &socket,
                nix::libc::IPPROTO_IPV6,
                nix::libc::IPV6_RECVPKTINFO,
                &on,
            )?;
            setsockopt(
                &socket,
                nix::libc::IPPROTO_IPV6,
                nix::libc::IPV6_RECVHOPLIMIT,
                &on,
            )?;
            socket.set_nonblocking(true)?;
            // SAFETY: the Socket owns its fd, and nothing closes or replaces it while the
            // AsyncFd holds it (tokio's requirement for registering an fd).
            let fd = unsafe { AsyncFd::register(socket) }.map_err(std::io::Error::from)?;
            Ok(Self { fd })
        }

        /// The next message (only Router Advertisements pass the filter).
        pub async fn recv(&self) -> std::io::Result<Received> {
            loop {
                let mut guard = self.fd.readable().await?;
                match guard.try_io(|fd| receive(fd.get_ref())) {
                    Ok(result) => return result,
                    Err(_would_block) => continue,
                }
            }
        }
    }

    fn setsockopt<T>(socket: &Socket, level: i32, name: i32, value: &T) -> std::io::Result<()> {
        // SAFETY: `value` points to a live `T` of the given size for the whole call.
        let rc = unsafe {
            nix::libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (value as *const T).cast(),
                std::mem::size_of::<T>() as nix::libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    fn receive(socket: &Socket) -> std::io::Result<Received> {
        let mut buf = vec![0u8; 1500];
        let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
        let (len, ifindex, hop_limit, source) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<SockaddrIn6>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::empty(),
            )
            .map_err(std::io::Error::from)?;
            let mut ifindex = 0;
            let mut hop_limit = 0u8;
            for c in msg.cmsgs().map_err(std::io::Error::from)? {
                match c {
                    ControlMessageOwned::Ipv6PacketInfo(info) => ifindex = info.ipi6_ifindex,
                    ControlMessageOwned::Ipv6HopLimit(h) => {
                        hop_limit = u8::try_from(h).unwrap_or(0)
                    }
                    _ => {}
                }
            }
            let source = msg.address.map(|a| a.ip()).unwrap_or(Ipv6Addr::UNSPECIFIED);
            (msg.bytes, ifindex, hop_limit, source)
        };
        buf.truncate(len);
        Ok(Received {
            ifindex,
            source,
            hop_limit,
            message: buf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll() -> Ipv6Addr {
        "fe80::1".parse().unwrap()
    }

    /// radvd's RA for `prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous off; }` with
    /// `AdvIntervalOpt on` (option 7) and a source link-layer address option, as captured.
    fn radvd_ra() -> Vec<u8> {
        let mut m = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        // Prefix Information: /64, L=1 A=0, valid 86400, preferred 14400.
        m.extend_from_slice(&[3, 4, 64, 0x80]);
        m.extend_from_slice(&86400u32.to_be_bytes());
        m.extend_from_slice(&14400u32.to_be_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&"2001:db8:1::".parse::<Ipv6Addr>().unwrap().octets());
        // Source link-layer address.
        m.extend_from_slice(&[1, 1, 0x02, 0, 0, 0, 0, 1]);
        // Advertisement interval (RFC 6275 7.3), 70 ms.
        m.extend_from_slice(&[7, 1, 0, 0, 0, 0, 0, 70]);
        m
    }

    #[test]
    fn prefix_with_autoconf_off_is_parsed() {
        let ra = parse_router_advertisement(&radvd_ra(), ll(), 255).unwrap();
        assert_eq!(ra.router_lifetime, 1800);
        assert_eq!(
            ra.prefixes,
            vec![PrefixInfo {
                prefix: "2001:db8:1::/64".parse().unwrap(),
                on_link: true,
                autoconf: false,
                valid_lft: Some(86400),
                preferred_lft: Some(14400),
            }]
        );
    }

    #[test]
    fn invalid_router_advertisements_are_refused() {
        let m = radvd_ra();
        assert_eq!(
            parse_router_advertisement(&m, ll(), 64),
            Err(RaError::HopLimit(64))
        );
        let global: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            parse_router_advertisement(&m, global, 255),
            Err(RaError::Source(global))
        );
        let mut code = m.clone();
        code[1] = 1;
        assert_eq!(
            parse_router_advertisement(&code, ll(), 255),
            Err(RaError::BadCode(1))
        );
        assert_eq!(
            parse_router_advertisement(&m[..10], ll(), 255),
            Err(RaError::Truncated)
        );
        let mut zero_len = m.clone();
        zero_len[17] = 0;
        assert_eq!(
            parse_router_advertisement(&zero_len, ll(), 255),
            Err(RaError::BadOption)
        );
        assert_eq!(
            parse_router_advertisement(&m[..m.len() - 3], ll(), 255),
            Err(RaError::BadOption)
        );
        assert_eq!(
            parse_router_advertisement(&[133, 0, 0, 0], ll(), 255),
            Err(RaError::NotRouterAdvertisement)
        );
        assert_eq!(
            parse_router_advertisement(&[], ll(), 255),
            Err(RaError::Truncated)
        );
    }

    #[test]
    fn odd_prefixes_are_skipped_and_infinity_is_none() {
        let mut m = radvd_ra();
        // Infinite lifetimes, A flag on.
        m[19] = 0xc0;
        m[20..28].copy_from_slice(&[0xff; 8]);
        let ra = parse_router_advertisement(&m, ll(), 255).unwrap();
        assert!(ra.prefixes[0].autoconf);
        assert_eq!(ra.prefixes[0].valid_lft, None);
        // Link-local prefix: skipped.
        let mut m2 = radvd_ra();
        m2[32..48].copy_from_slice(&ll().octets());
        assert!(parse_router_advertisement(&m2, ll(), 255)
            .unwrap()
            .prefixes
            .is_empty());
        // Preferred longer than valid: skipped.
        let mut m3 = radvd_ra();
        m3[24..28].copy_from_slice(&90000u32.to_be_bytes());
        assert!(parse_router_advertisement(&m3, ll(), 255)
            .unwrap()
            .prefixes
            .is_empty());
        // Prefix length over 128: skipped.
        let mut m4 = radvd_ra();
        m4[18] = 129;
        assert!(parse_router_advertisement(&m4, ll(), 255)
            .unwrap()
            .prefixes
            .is_empty());
    }

    #[test]
    fn fuzzish_inputs_never_panic() {
        let base = radvd_ra();
        for cut in 0..base.len() {
            let _ = parse_router_advertisement(&base[..cut], ll(), 255);
        }
        for i in 0..base.len() {
            let mut m = base.clone();
            m[i] ^= 0xff;
            let _ = parse_router_advertisement(&m, ll(), 255);
        }
    }
}
