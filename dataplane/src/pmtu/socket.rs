//! ICMP sockets of path MTU handling: an ICMPv6 raw socket that receives only Packet Too
//! Big messages (for [`super::OuterPtb`]), and sending the relayed errors.

use super::icmp::{OuterPtb, ICMPV6_PACKET_TOO_BIG};
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// `ICMP6_FILTER` socket option (linux/icmpv6.h).
const ICMP6_FILTER: libc::c_int = 1;

fn raw_socket(family: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Receives the Packet Too Big messages addressed to this node.
pub struct PtbSocket {
    fd: AsyncFd<OwnedFd>,
}

impl PtbSocket {
    /// Opens the socket in the caller's network namespace; needs a tokio runtime.
    pub fn open() -> io::Result<Self> {
        let fd = raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6)?;
        // A set bit blocks a type: everything but Packet Too Big.
        let mut filter = [u32::MAX; 8];
        filter[0] &= !(1u32 << ICMPV6_PACKET_TOO_BIG);
        // SAFETY: setsockopt with a pointer to the 32-byte icmp6_filter it expects.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_ICMPV6,
                ICMP6_FILTER,
                filter.as_ptr() as *const libc::c_void,
                size_of::<[u32; 8]>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the socket is owned by the AsyncFd and closed only when it is dropped.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    /// The next Packet Too Big about an IPv4/IPv6-in-IPv6 packet; others are skipped.
    pub async fn recv(&self) -> io::Result<OuterPtb> {
        let mut buf = vec![0u8; 2048];
        loop {
            let mut guard = self.fd.readable().await?;
            let n = match guard.try_io(|fd| {
                // SAFETY: reading into a buffer of the stated length.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(r) => r?,
                Err(_would_block) => continue,
            };
            match buf.get(..n).and_then(OuterPtb::parse) {
                Some(ptb) => return Ok(ptb),
                None => tracing::debug!(len = n, "packet too big about something else"),
            }
        }
    }
}

/// Sends an ICMP error (built by [`super::icmp::error_for_inner`]) to `dst`; the kernel
/// picks the source address by its route to `dst`, as for its own errors.
pub fn send_error(dst: IpAddr, msg: &[u8]) -> io::Result<()> {
    let (fd, addr) = match dst {
        IpAddr::V4(a) => (
            raw_socket(libc::AF_INET, libc::IPPROTO_ICMP)?,
            SocketAddr::V4(SocketAddrV4::new(a, 0)),
        ),
        IpAddr::V6(a) => (
            raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6)?,
            SocketAddr::V6(SocketAddrV6::new(a, 0, 0, 0)),
        ),
    };
    let sa = nix::sys::socket::SockaddrStorage::from(addr);
    nix::sys::socket::sendto(
        fd.as_raw_fd(),
        msg,
        &sa,
        nix::sys::socket::MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    Ok(())
}
