//! The ICMPv6 side of Mobile IPv6 signaling: a raw ICMPv6 socket that lets only the given
//! types through (Router Advertisements and DHAAD / Mobile Prefix messages, RFC 6275 6.5-6.8),
//! with each message's arrival interface, source, destination and hop limit, and membership
//! of anycast addresses (a home agent's Home-Agents anycast address, RFC 2526).
//!
//! Sending goes through [`crate::MhSocket::send`] (complete IPv6 packets, built by `mip6`),
//! so the source is exactly the care-of or home agent address the packet names.
//!
//! Anycast on Linux: `IPV6_JOIN_ANYCAST` on a socket adds the address to the interface's
//! anycast list for as long as the socket lives; the kernel then accepts packets to it and
//! answers Neighbor Solicitations for it (without the Override flag, as RFC 4861 7.2.7 wants
//! for anycast), so several home agents on one link can all join it. Nothing is left behind
//! when the daemon exits.

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::IoSliceMut;
use std::net::Ipv6Addr;
use std::os::fd::AsRawFd;
use tokio::io::unix::AsyncFd;

const IPPROTO_ICMPV6: i32 = 58;
/// `ICMP6_FILTER` (linux/icmpv6.h), at level IPPROTO_ICMPV6.
const ICMP6_FILTER: i32 = 1;
/// `IPV6_JOIN_ANYCAST` / `IPV6_LEAVE_ANYCAST` (linux/in6.h).
const IPV6_JOIN_ANYCAST: i32 = 27;
const IPV6_LEAVE_ANYCAST: i32 = 28;

/// One received ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpReceived {
    pub ifindex: u32,
    pub src: Ipv6Addr,
    /// The destination the packet was sent to (one of ours, an anycast or a multicast).
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    /// From the ICMPv6 type byte; the kernel verified the checksum.
    pub message: Vec<u8>,
}

/// A raw ICMPv6 socket receiving only some types.
pub struct IcmpSocket {
    fd: AsyncFd<Socket>,
}

impl IcmpSocket {
    /// Opens the socket (needs CAP_NET_RAW) and registers it with the current tokio runtime.
    pub fn open(types: &[u8]) -> std::io::Result<Self> {
        let socket = Socket::new(
            Domain::IPV6,
            Type::RAW,
            Some(Protocol::from(IPPROTO_ICMPV6)),
        )?;
        // Linux's filter: a set bit blocks the type.
        let mut filter = [u32::MAX; 8];
        for &t in types {
            let t = usize::from(t);
            filter[t >> 5] &= !(1u32 << (t & 31));
        }
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

    /// Joins anycast address `addr` on interface `ifindex` for the socket's lifetime.
    pub fn join_anycast(&self, addr: Ipv6Addr, ifindex: u32) -> std::io::Result<()> {
        setsockopt(
            self.fd.get_ref(),
            nix::libc::IPPROTO_IPV6,
            IPV6_JOIN_ANYCAST,
            &mreq(addr, ifindex),
        )
    }

    /// Leaves an anycast address joined before (a changed home prefix).
    pub fn leave_anycast(&self, addr: Ipv6Addr, ifindex: u32) -> std::io::Result<()> {
        setsockopt(
            self.fd.get_ref(),
            nix::libc::IPPROTO_IPV6,
            IPV6_LEAVE_ANYCAST,
            &mreq(addr, ifindex),
        )
    }

    /// The next message of one of the types given to [`Self::open`].
    pub async fn recv(&self) -> std::io::Result<IcmpReceived> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| receive(fd.get_ref())) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

fn mreq(addr: Ipv6Addr, ifindex: u32) -> nix::libc::ipv6_mreq {
    nix::libc::ipv6_mreq {
        ipv6mr_multiaddr: nix::libc::in6_addr {
            s6_addr: addr.octets(),
        },
        ipv6mr_interface: ifindex,
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

fn receive(socket: &Socket) -> std::io::Result<IcmpReceived> {
    let mut buf = vec![0u8; 2048];
    let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo, nix::libc::c_int);
    let (len, ifindex, dst, hop_limit, src) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<SockaddrIn6>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(std::io::Error::from)?;
        let mut ifindex = 0;
        let mut dst = Ipv6Addr::UNSPECIFIED;
        let mut hop_limit = 0u8;
        for c in msg.cmsgs().map_err(std::io::Error::from)? {
            match c {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    ifindex = info.ipi6_ifindex;
                    dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                }
                ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).unwrap_or(0),
                _ => {}
            }
        }
        let src = msg.address.map(|a| a.ip()).unwrap_or(Ipv6Addr::UNSPECIFIED);
        (msg.bytes, ifindex, dst, hop_limit, src)
    };
    buf.truncate(len);
    Ok(IcmpReceived {
        ifindex,
        src,
        dst,
        hop_limit,
        message: buf,
    })
}
