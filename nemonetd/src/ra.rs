//! Router Advertisements on the mobile network interface (MR): the mobile network
//! prefixes on that interface (on-link, autonomous) and the tunnel MTU, so that IPv6 hosts
//! behind the MR size their packets for the tunnel from the start (RFC 4861 section
//! 4.6.4). Sent every [`INTERVAL`], at once when the tunnel MTU changes, and in answer to
//! a Router Solicitation. IPv4 has no such option: see `nemonetd --help`.

use anyhow::{Context, Result};
use ipnet::Ipv6Net;
use std::io;
use std::mem::size_of;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

pub const INTERVAL: Duration = Duration::from_secs(10);
const ROUTER_SOLICITATION: u8 = 133;
const ROUTER_ADVERTISEMENT: u8 = 134;
const ICMP6_FILTER: libc::c_int = 1;
/// Router lifetime: the MR is the default router of its mobile network.
const ROUTER_LIFETIME: u16 = 1800;
const VALID_LIFETIME: u32 = 86_400;
const PREFERRED_LIFETIME: u32 = 14_400;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The Router Advertisement message (checksum left to the kernel).
pub fn router_advertisement(prefixes: &[Ipv6Net], mtu: u32, lladdr: Option<[u8; 6]>) -> Vec<u8> {
    let mut m = vec![ROUTER_ADVERTISEMENT, 0, 0, 0, 64, 0];
    m.extend_from_slice(&ROUTER_LIFETIME.to_be_bytes());
    m.extend_from_slice(&[0; 8]); // reachable time, retransmission timer: unspecified
    if let Some(mac) = lladdr {
        m.extend_from_slice(&[1, 1]);
        m.extend_from_slice(&mac);
    }
    m.extend_from_slice(&[5, 1, 0, 0]);
    m.extend_from_slice(&mtu.to_be_bytes());
    for p in prefixes {
        m.extend_from_slice(&[3, 4, p.prefix_len(), 0xc0]); // L and A flags
        m.extend_from_slice(&VALID_LIFETIME.to_be_bytes());
        m.extend_from_slice(&PREFERRED_LIFETIME.to_be_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(&p.trunc().addr().octets());
    }
    m
}

/// The global IPv6 prefixes configured on `ifname`.
fn prefixes_on(ifname: &str) -> Vec<Ipv6Net> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out: Vec<Ipv6Net> = addrs
        .filter(|a| a.interface_name == ifname)
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in6()?.ip();
            let mask = a.netmask?.as_sockaddr_in6()?.ip();
            let len = u128::from(mask).leading_ones() as u8;
            (!ip.is_unicast_link_local() && !ip.is_loopback() && !ip.is_multicast())
                .then(|| Ipv6Net::new(ip, len).ok().map(|n| n.trunc()))
                .flatten()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn lladdr_of(ifname: &str) -> Option<[u8; 6]> {
    mhsock::link::link_layer(ifname).ok()?.mac()
}

fn set_opt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: setsockopt with a pointer to a value of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends the advertisements of one interface and hears its solicitations.
pub struct Advertiser {
    ifname: String,
    ifindex: u32,
    fd: AsyncFd<OwnedFd>,
}

impl Advertiser {
    pub fn open(ifname: &str) -> Result<Self> {
        let ifindex =
            nix::net::if_::if_nametoindex(ifname).with_context(|| format!("interface {ifname}"))?;
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::IPPROTO_ICMPV6,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("ICMPv6 socket");
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let hops: libc::c_int = 255; // RFC 4861: hop limit 255 or hosts discard it
        set_opt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
        set_opt(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops)?;
        let index = ifindex as libc::c_int;
        set_opt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &index)?;
        let loop_off: libc::c_int = 0;
        set_opt(
            &fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            &loop_off,
        )?;
        nix::sys::socket::setsockopt(
            &fd,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(ifname),
        )?;
        let mut filter = [u32::MAX; 8];
        filter[(ROUTER_SOLICITATION >> 5) as usize] &= !(1u32 << (ROUTER_SOLICITATION & 31));
        set_opt(&fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
        // SAFETY: the AsyncFd owns the socket and closes it only when dropped.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Self {
            ifname: ifname.to_string(),
            ifindex,
            fd,
        })
    }

    /// Multicasts one advertisement to all nodes.
    pub fn send(&self, tunnel_mtu: u32) {
        let prefixes = prefixes_on(&self.ifname);
        let msg = router_advertisement(&prefixes, tunnel_mtu, lladdr_of(&self.ifname));
        let dst =
            nix::sys::socket::SockaddrIn6::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
        match nix::sys::socket::sendto(
            self.fd.as_raw_fd(),
            &msg,
            &dst,
            nix::sys::socket::MsgFlags::empty(),
        ) {
            Ok(_) => {
                tracing::debug!(ifname = %self.ifname, tunnel_mtu, ?prefixes, "router advertisement sent")
            }
            Err(e) => tracing::warn!(ifname = %self.ifname, "router advertisement: {e}"),
        }
    }

    /// Waits for a Router Solicitation on the interface.
    pub async fn solicited(&self) -> io::Result<()> {
        let mut buf = [0u8; 1500];
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| {
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
                Ok(Ok(n)) if n >= 8 && buf[0] == ROUTER_SOLICITATION => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_carries_the_prefix_and_the_tunnel_mtu() {
        let p: Ipv6Net = "2001:240:1:281::1/64".parse().unwrap();
        let m = router_advertisement(&[p], 1460, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!((m[0], m[1], m[4]), (134, 0, 64));
        assert_eq!(u16::from_be_bytes([m[6], m[7]]), 1800);
        // Options after the 16-byte header: SLLA (8), MTU (8), prefix information (32).
        assert_eq!(&m[16..24], &[1, 1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(&m[24..28], &[5, 1, 0, 0]);
        assert_eq!(u32::from_be_bytes(m[28..32].try_into().unwrap()), 1460);
        assert_eq!(&m[32..36], &[3, 4, 64, 0xc0]);
        let prefix: [u8; 16] = m[48..64].try_into().unwrap();
        assert_eq!(
            Ipv6Addr::from(prefix),
            "2001:240:1:281::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(m.len(), 64);
        assert_eq!(router_advertisement(&[], 1360, None).len(), 24);
    }
}
