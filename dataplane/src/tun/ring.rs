//! Receiving encapsulated packets through a packet socket ring (PACKET_RX_RING, TPACKET_V2)
//! instead of one recvmsg per packet on the raw sockets: the kernel copies each packet into
//! a shared frame and the relay reads frames without a syscall while any are ready, which
//! also spares the per-packet socket queue lock, skb and wakeup of the raw socket path.
//!
//! Two classic BPF filters split the encapsulated packets between the paths: the ring takes
//! IPv6 packets whose next header is directly 4 or 41 and that fit a frame; the raw sockets
//! (which must stay open anyway: a raw socket on 4/41 is what stops the kernel answering
//! every tunnel packet with an ICMPv6 Parameter Problem) drop exactly those and keep the
//! rest (outer extension headers, oversized packets).
//!
//! Unlike the raw sockets, the ring sees packets before netfilter's input hook; the relay's
//! own check (registered peer to our endpoint) is what decides.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

const FRAME_SIZE: usize = 4096;
const FRAMES_PER_BLOCK: usize = 16;
const BLOCKS: usize = 128;
const FRAMES: usize = FRAMES_PER_BLOCK * BLOCKS;
/// Where packet data starts in a frame of a SOCK_DGRAM ring: TPACKET_ALIGN(TPACKET2_HDRLEN)
/// + 16 (the kernel's layout for datagram sockets).
const DATA_OFFSET: usize = 80;
/// Outer payload lengths up to this go through the ring; longer ones would be truncated.
pub const RING_MAX_PAYLOAD: u32 = (FRAME_SIZE - DATA_OFFSET - 40) as u32;

const TPACKET_V2: i32 = 1;
const PACKET_VERSION: i32 = 10;
const PACKET_RX_RING: i32 = 5;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const PACKET_HOST: u8 = 0;
/// Offsets in a frame: struct tpacket2_hdr, then struct sockaddr_ll at TPACKET_ALIGN(32).
const OFF_LEN: usize = 4;
const OFF_SNAPLEN: usize = 8;
const OFF_NET: usize = 14;
const OFF_PKTTYPE: usize = 32 + 10;

#[repr(C)]
struct TpacketReq {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
}

/// cBPF opcodes.
const LDB_ABS: u16 = 0x30;
const LDH_ABS: u16 = 0x28;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const RET_K: u16 = 0x06;
/// Loads relative to the network header of a raw socket's packet (SKF_NET_OFF).
const NET_OFF: u32 = (-0x10_0000i32) as u32;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Accepts (`ret_match`) or refuses (`ret_other`) what the ring should carry: next header
/// 4 or 41 right after the IPv6 header `base` bytes into the packet, payload that fits.
fn split_program(base: u32, ret_match: u32, ret_other: u32) -> [libc::sock_filter; 7] {
    [
        insn(LDB_ABS, 0, 0, base.wrapping_add(6)),
        insn(JEQ_K, 1, 0, 4),
        insn(JEQ_K, 0, 3, 41),
        insn(LDH_ABS, 0, 0, base.wrapping_add(4)),
        insn(JGT_K, 1, 0, RING_MAX_PAYLOAD),
        insn(RET_K, 0, 0, ret_match),
        insn(RET_K, 0, 0, ret_other),
    ]
}

fn attach_filter(fd: RawFd, program: &[libc::sock_filter]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: SO_ATTACH_FILTER copies the program the sock_fprog points to.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &prog as *const libc::sock_fprog as *const libc::c_void,
            size_of::<libc::sock_fprog>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes a raw IPv6 socket (protocol 4 or 41) drop what the ring receives.
pub fn leave_ring_packets(raw: RawFd) -> io::Result<()> {
    attach_filter(raw, &split_program(NET_OFF, 0, u32::MAX))
}

fn setsockopt_bytes<T>(fd: RawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: setsockopt reads size_of::<T>() bytes from a valid reference.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            size_of::<T>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A packet socket on all interfaces of the namespace with its receive ring mapped.
pub struct RxRing {
    fd: OwnedFd,
    map: NonNull<u8>,
    next: usize,
}

// SAFETY: the mapping belongs to this value alone and is only touched through &mut self.
unsafe impl Send for RxRing {}

impl RxRing {
    pub fn open() -> io::Result<Self> {
        // Protocol 0: nothing is received before the filter and ring are in place (bind).
        // SAFETY: plain socket(2); the fd is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        attach_filter(raw, &split_program(0, u32::MAX, 0))?;
        setsockopt_bytes(raw, libc::SOL_PACKET, PACKET_VERSION, &TPACKET_V2)?;
        let req = TpacketReq {
            block_size: (FRAME_SIZE * FRAMES_PER_BLOCK) as u32,
            block_nr: BLOCKS as u32,
            frame_size: FRAME_SIZE as u32,
            frame_nr: FRAMES as u32,
        };
        setsockopt_bytes(raw, libc::SOL_PACKET, PACKET_RX_RING, &req)?;
        // SAFETY: mapping the ring the kernel just allocated for this socket.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                FRAME_SIZE * FRAMES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let Some(map) = NonNull::new(map as *mut u8) else {
            return Err(io::Error::other("mmap returned null"));
        };
        let ring = Self { fd, map, next: 0 };
        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = (libc::ETH_P_IPV6 as u16).to_be();
        // SAFETY: bind with a sockaddr_ll of the stated size.
        let rc = unsafe {
            libc::bind(
                raw,
                &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ring)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Hands up to `max` ready packets (outer IPv6 header onwards) to `f`, in order, and
    /// returns the frames to the kernel. Truncated and not-for-this-host frames are skipped
    /// and counted in the second value. Returns (frames consumed, skipped).
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> (usize, u64) {
        let (mut done, mut skipped) = (0, 0);
        while done < max {
            // SAFETY: frame `next` lies inside the mapping (next < FRAMES); its first word is
            // the 4-byte aligned status the kernel and we hand over with acquire/release.
            let frame = unsafe { self.map.as_ptr().add(self.next * FRAME_SIZE) };
            let status = unsafe { AtomicU32::from_ptr(frame as *mut u32) };
            if status.load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: a frame with TP_STATUS_USER is ours until we store TP_STATUS_KERNEL;
            // the kernel does not write it meanwhile.
            let bytes = unsafe { std::slice::from_raw_parts(frame, FRAME_SIZE) };
            match frame_packet(bytes) {
                Some(packet) => f(packet),
                None => skipped += 1,
            }
            status.store(TP_STATUS_KERNEL, Ordering::Release);
            self.next = (self.next + 1) % FRAMES;
            done += 1;
        }
        (done, skipped)
    }
}

/// The packet of a ready frame, if complete and addressed to this host.
fn frame_packet(frame: &[u8]) -> Option<&[u8]> {
    let u32_at = |i: usize| Some(u32::from_ne_bytes(frame.get(i..i + 4)?.try_into().ok()?));
    let len = u32_at(OFF_LEN)? as usize;
    let snaplen = u32_at(OFF_SNAPLEN)? as usize;
    let net = usize::from(u16::from_ne_bytes(
        frame.get(OFF_NET..OFF_NET + 2)?.try_into().ok()?,
    ));
    if len != snaplen || *frame.get(OFF_PKTTYPE)? != PACKET_HOST {
        return None;
    }
    frame.get(net..net.checked_add(len)?)
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in open(), once.
        unsafe { libc::munmap(self.map.as_ptr() as *mut libc::c_void, FRAME_SIZE * FRAMES) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32, snaplen: u32, net: u16, pkttype: u8) -> Vec<u8> {
        let mut f = vec![0u8; FRAME_SIZE];
        f[OFF_LEN..OFF_LEN + 4].copy_from_slice(&len.to_ne_bytes());
        f[OFF_SNAPLEN..OFF_SNAPLEN + 4].copy_from_slice(&snaplen.to_ne_bytes());
        f[OFF_NET..OFF_NET + 2].copy_from_slice(&net.to_ne_bytes());
        f[OFF_PKTTYPE] = pkttype;
        if let Some(b) = f.get_mut(usize::from(net)) {
            *b = 0x60;
        }
        f
    }

    #[test]
    fn frames_are_checked_before_use() {
        let ok = frame(100, 100, DATA_OFFSET as u16, PACKET_HOST);
        assert_eq!(
            frame_packet(&ok).map(|p| (p.len(), p[0])),
            Some((100, 0x60))
        );
        assert!(
            frame_packet(&frame(100, 60, 80, PACKET_HOST)).is_none(),
            "truncated"
        );
        assert!(
            frame_packet(&frame(100, 100, 80, 3)).is_none(),
            "other host"
        );
        assert!(
            frame_packet(&frame(5000, 5000, 80, PACKET_HOST)).is_none(),
            "past frame"
        );
        assert!(frame_packet(&frame(10, 10, u16::MAX, PACKET_HOST)).is_none());
        assert!(frame_packet(&[0u8; 20]).is_none());
    }

    #[test]
    fn filters_are_complements() {
        // Run both programs on a few packet shapes with a tiny cBPF interpreter.
        fn run(prog: &[libc::sock_filter], nh: u8, plen: u16, base: u32) -> u32 {
            let (mut a, mut pc) = (0u32, 0usize);
            let load = |k: u32| k.wrapping_sub(base);
            loop {
                let i = &prog[pc];
                pc += 1;
                match i.code {
                    LDB_ABS => a = if load(i.k) == 6 { u32::from(nh) } else { 0 },
                    LDH_ABS => a = if load(i.k) == 4 { u32::from(plen) } else { 0 },
                    JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                    JGT_K => pc += usize::from(if a > i.k { i.jt } else { i.jf }),
                    RET_K => return i.k,
                    _ => unreachable!(),
                }
            }
        }
        let ring = split_program(0, u32::MAX, 0);
        let raw = split_program(NET_OFF, 0, u32::MAX);
        let big = RING_MAX_PAYLOAD as u16 + 1;
        for (nh, plen, to_ring) in [
            (4, 1460, true),
            (41, 1460, true),
            (60, 1460, false),
            (4, big, false),
        ] {
            assert_eq!(
                run(&ring, nh, plen, 0) != 0,
                to_ring,
                "ring nh {nh} plen {plen}"
            );
            assert_eq!(
                run(&raw, nh, plen, NET_OFF) != 0,
                !to_ring,
                "raw nh {nh} plen {plen}"
            );
        }
    }
}
