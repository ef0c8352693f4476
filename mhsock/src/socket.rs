//! The raw sockets: one `IPPROTO_RAW` sender, receivers on protocols 60, 43 and 135.

use crate::{proto, Error};
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::IoSliceMut;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use tokio::io::unix::AsyncFd;

/// A Mobility Header packet as a raw socket received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// Interface the packet arrived on.
    pub ifindex: u32,
    /// The header `data` starts with: 60 (destination options), 43 (routing) or 135 (MH).
    pub first_header: u8,
    pub data: Vec<u8>,
}

impl Received {
    /// Rebuilds the complete IPv6 packet (a fixed header in front of `data`), so one parser
    /// handles what was received and what is sent. Hop limit is not known here: 64.
    pub fn ipv6_packet(&self) -> Vec<u8> {
        let len = u16::try_from(self.data.len()).unwrap_or(u16::MAX);
        let mut p = Vec::with_capacity(40 + self.data.len());
        p.extend_from_slice(&[0x60, 0, 0, 0]);
        p.extend_from_slice(&len.to_be_bytes());
        p.push(self.first_header);
        p.push(64);
        p.extend_from_slice(&self.src.octets());
        p.extend_from_slice(&self.dst.octets());
        p.extend_from_slice(&self.data[..usize::from(len)]);
        p
    }

    /// Whether the copy leads to a Mobility Header. Raw sockets on 60 and 43 see every packet
    /// with such a header; only the ones whose first extension header is followed by an MH
    /// (and, for 43, is a type 2 routing header) are ours.
    fn carries_mobility_header(&self) -> bool {
        match self.first_header {
            proto::MOBILITY => true,
            proto::DEST_OPTS => self.data.first() == Some(&proto::MOBILITY),
            proto::ROUTING => {
                self.data.first() == Some(&proto::MOBILITY) && self.data.get(2) == Some(&2)
            }
            _ => false,
        }
    }
}

/// The sockets a home agent or a mobile router needs to exchange Mobility Headers.
pub struct MhSocket {
    sender: Socket,
    receivers: [(u8, AsyncFd<Socket>); 3],
}

impl MhSocket {
    /// Opens the sockets in the caller's network namespace (needs CAP_NET_RAW) and registers
    /// them with the current tokio runtime.
    pub fn open() -> Result<Self, Error> {
        let sender = raw_socket(255)?; // IPPROTO_RAW: the caller supplies the IPv6 header.
        let receivers = [proto::DEST_OPTS, proto::ROUTING, proto::MOBILITY].map(|p| {
            let s = raw_socket(p)?;
            setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).map_err(|e| Error::Socket {
                proto: p,
                source: e.into(),
            })?;
            s.set_nonblocking(true).map_err(|e| Error::Socket {
                proto: p,
                source: e,
            })?;
            // SAFETY: the Socket owns its fd, and nothing closes or replaces it while the
            // AsyncFd holds it (tokio's requirement for registering an fd).
            let fd = unsafe { AsyncFd::register(s) };
            fd.map(|fd| (p, fd)).map_err(|e| Error::Socket {
                proto: p,
                source: e.into(),
            })
        });
        let [a, b, c] = receivers;
        Ok(Self {
            sender,
            receivers: [a?, b?, c?],
        })
    }

    /// Sends a complete IPv6 packet (header included) to the destination in its header.
    pub fn send(&self, packet: &[u8]) -> Result<(), Error> {
        let dst = packet
            .get(24..40)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .filter(|_| packet[0] >> 4 == 6)
            .map(Ipv6Addr::from)
            .ok_or(Error::NotIpv6(packet.len()))?;
        let addr = SockAddr::from(SocketAddrV6::new(dst, 0, 0, 0));
        self.sender
            .send_to(packet, &addr)
            .map(drop)
            .map_err(|source| Error::Send { dst, source })
    }

    /// Waits for the next packet that carries a Mobility Header.
    pub async fn recv(&self) -> std::io::Result<Received> {
        loop {
            let [(p0, s0), (p1, s1), (p2, s2)] = &self.receivers;
            let got = tokio::select! {
                r = recv_one(*p0, s0) => r?,
                r = recv_one(*p1, s1) => r?,
                r = recv_one(*p2, s2) => r?,
            };
            if let Some(packet) = got.filter(Received::carries_mobility_header) {
                return Ok(packet);
            }
        }
    }
}

fn raw_socket(proto: u8) -> Result<Socket, Error> {
    Socket::new(
        Domain::IPV6,
        Type::RAW,
        Some(Protocol::from(i32::from(proto))),
    )
    .map_err(|source| Error::Socket { proto, source })
}

/// Reads one datagram when the socket is readable; `None` when it lacked the packet info.
async fn recv_one(proto: u8, fd: &AsyncFd<Socket>) -> std::io::Result<Option<Received>> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|inner| recv_datagram(proto, inner.get_ref())) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

fn recv_datagram(proto: u8, sock: &Socket) -> std::io::Result<Option<Received>> {
    let mut buf = vec![0u8; 65536];
    let mut cmsg = nix::cmsg_space!(nix::libc::in6_pktinfo);
    let (len, src, info) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<SockaddrIn6>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(std::io::Error::from)?;
        let info = msg
            .cmsgs()
            .map_err(std::io::Error::from)?
            .find_map(|c| match c {
                ControlMessageOwned::Ipv6PacketInfo(info) => Some(info),
                _ => None,
            });
        (msg.bytes, msg.address.map(|a| a.ip()), info)
    };
    let (Some(src), Some(info)) = (src, info) else {
        return Ok(None);
    };
    buf.truncate(len);
    Ok(Some(Received {
        src,
        dst: Ipv6Addr::from(info.ipi6_addr.s6_addr),
        ifindex: info.ipi6_ifindex,
        first_header: proto,
        data: buf,
    }))
}
