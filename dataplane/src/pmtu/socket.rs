//! ICMP sockets of the tunnel's error handling: an ICMPv6 raw socket that receives only
//! Packet Too Big, Destination Unreachable and Time Exceeded (for [`super::OuterError`]),
//! and sending the relayed errors.

use super::icmp::{OuterError, ICMPV6_DEST_UNREACH, ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED};
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

/// Receives the ICMPv6 errors addressed to this node that may be about our tunnel.
pub struct OuterIcmpSocket {
    fd: AsyncFd<OwnedFd>,
}

impl OuterIcmpSocket {
    /// Opens the socket in the caller's network namespace; needs a tokio runtime.
    pub fn open() -> io::Result<Self> {
        let fd = raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6)?;
        // A set bit blocks a type: everything but the three errors.
        let mut filter = [u32::MAX; 8];
        for t in [
            ICMPV6_DEST_UNREACH,
            ICMPV6_PACKET_TOO_BIG,
            ICMPV6_TIME_EXCEEDED,
        ] {
            filter[0] &= !(1u32 << t);
        }
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

    /// The next error about an IPv4/IPv6-in-IPv6 packet; others are skipped.
    pub async fn recv(&self) -> io::Result<OuterError> {
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
            match buf.get(..n).and_then(OuterError::parse) {
                Some(e) => return Ok(e),
                None => tracing::debug!(len = n, "ICMPv6 error about something else"),
            }
        }
    }
}

/// Sends an ICMP error (built by [`super::icmp`]) to `dst`; the kernel
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
