//! Batched socket I/O of the relay: one sendmmsg(2) for all segments of a TUN read, one
//! recvmmsg(2) for up to 64 encapsulated packets.

use super::offload::{Segment, MAX_HEADERS};
use super::packet::{outer_header, IPV6_HEADER_LEN};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv6Addr;
use std::os::fd::RawFd;

/// The encapsulated packets of one TUN read, sent with one sendmmsg(2) where possible.
#[derive(Default)]
pub struct SendBatch {
    pub segments: Vec<Segment>,
    outers: Vec<[u8; IPV6_HEADER_LEN]>,
    iovs: Vec<[libc::iovec; 3]>,
    msgs: Vec<libc::mmsghdr>,
}

impl SendBatch {
    pub fn clear(&mut self) {
        self.segments.clear();
    }

    /// The whole packet as a single segment without separate headers.
    pub fn whole(&mut self, len: usize) {
        self.segments.push(Segment {
            headers: [0; MAX_HEADERS],
            headers_len: 0,
            payload: (0, len),
        });
    }

    /// Sends every segment to `peer`; returns (sent, failed).
    pub fn send(
        &mut self,
        fd: RawFd,
        local: Ipv6Addr,
        peer: Ipv6Addr,
        next_header: u8,
        hop_limit: u8,
        packet: &[u8],
    ) -> (u64, u64) {
        let mut sa = sockaddr6(peer);
        self.outers.clear();
        for seg in &self.segments {
            let len = seg.headers_len + seg.payload.1 - seg.payload.0;
            self.outers.push(outer_header(
                local,
                peer,
                next_header,
                len as u16,
                hop_limit,
            ));
        }
        // The vectors are complete before any pointer into them is taken.
        self.iovs.clear();
        for (seg, outer) in self.segments.iter().zip(&self.outers) {
            let payload = &packet[seg.payload.0..seg.payload.1];
            self.iovs.push([
                libc::iovec {
                    iov_base: outer.as_ptr() as *mut libc::c_void,
                    iov_len: outer.len(),
                },
                libc::iovec {
                    iov_base: seg.headers.as_ptr() as *mut libc::c_void,
                    iov_len: seg.headers_len,
                },
                libc::iovec {
                    iov_base: payload.as_ptr() as *mut libc::c_void,
                    iov_len: payload.len(),
                },
            ]);
        }
        // The source as IPV6_PKTINFO spares the kernel a source address selection per packet.
        let mut control = pktinfo_control(local);
        self.msgs.clear();
        for iov in &mut self.iovs {
            // SAFETY: plain data, zero is valid.
            let mut m: libc::mmsghdr = unsafe { zeroed() };
            m.msg_hdr.msg_name = &mut sa as *mut libc::sockaddr_in6 as *mut libc::c_void;
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
            m.msg_hdr.msg_iov = iov.as_mut_ptr();
            m.msg_hdr.msg_iovlen = iov.len();
            m.msg_hdr.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
            m.msg_hdr.msg_controllen = control.1;
            self.msgs.push(m);
        }
        let total = self.msgs.len();
        let (mut done, mut failed) = (0usize, 0u64);
        while done < total {
            let rest = &mut self.msgs[done..];
            // SAFETY: every mmsghdr points into vectors that outlive the call.
            let rc = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as u32, 0) };
            if rc <= 0 {
                // Skip the packet the kernel refused (e.g. ENOBUFS) and go on.
                failed += 1;
                done += 1;
            } else {
                done += rc as usize;
            }
        }
        ((total as u64).saturating_sub(failed), failed)
    }
}

fn sockaddr6(addr: Ipv6Addr) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    sa
}

/// A control message buffer carrying IPV6_PKTINFO with source `local`, and its length.
fn pktinfo_control(local: Ipv6Addr) -> ([u64; 8], usize) {
    let mut buf = [0u64; 8];
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations.
    let (space, len) = unsafe {
        (
            libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize,
            libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as usize,
        )
    };
    // SAFETY: a zeroed msghdr whose control buffer (64 bytes) holds one in6_pktinfo
    // message (40 bytes); the libc macros do the layout.
    unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return (buf, 0);
        }
        (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
        (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
        (*cmsg).cmsg_len = len;
        let mut info: libc::in6_pktinfo = zeroed();
        info.ipi6_addr.s6_addr = local.octets();
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in6_pktinfo, info);
    }
    (buf, space)
}

/// Slots for one recvmmsg(2) call.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    names: Vec<libc::sockaddr_in6>,
    controls: Vec<[u64; 8]>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    pub fn new(slots: usize, slot_len: usize) -> Self {
        Self {
            bufs: vec![vec![0u8; slot_len]; slots],
            // SAFETY: plain data, zero is valid.
            names: vec![unsafe { zeroed() }; slots],
            controls: vec![[0u64; 8]; slots],
            iovs: Vec::with_capacity(slots),
            msgs: Vec::with_capacity(slots),
        }
    }

    /// Receives up to `slots` packets without blocking; how many arrived.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.iovs.clear();
        for b in &mut self.bufs {
            self.iovs.push(libc::iovec {
                iov_base: b.as_mut_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            });
        }
        self.msgs.clear();
        for ((iov, name), control) in self
            .iovs
            .iter_mut()
            .zip(&mut self.names)
            .zip(&mut self.controls)
        {
            // SAFETY: plain data, zero is valid.
            let mut m: libc::mmsghdr = unsafe { zeroed() };
            m.msg_hdr.msg_name = name as *mut libc::sockaddr_in6 as *mut libc::c_void;
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_control = control.as_mut_ptr() as *mut libc::c_void;
            m.msg_hdr.msg_controllen = size_of::<[u64; 8]>();
            self.msgs.push(m);
        }
        // SAFETY: every mmsghdr points into vectors that outlive the call.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc as usize)
    }

    /// Packet `i`: (payload, outer source, outer destination); `None` if truncated.
    pub fn packet(&self, i: usize) -> Option<(&[u8], Ipv6Addr, Option<Ipv6Addr>)> {
        let m = &self.msgs[i];
        if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let mut dst = None;
        // SAFETY: walking the control messages the kernel wrote, with the libc macros.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&m.msg_hdr);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::IPPROTO_IPV6
                    && (*cmsg).cmsg_type == libc::IPV6_PKTINFO
                {
                    let info =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::in6_pktinfo);
                    dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
                cmsg = libc::CMSG_NXTHDR(&m.msg_hdr, cmsg);
            }
        }
        let payload = self.bufs[i].get(..m.msg_len as usize)?;
        Some((
            payload,
            Ipv6Addr::from(self.names[i].sin6_addr.s6_addr),
            dst,
        ))
    }
}
