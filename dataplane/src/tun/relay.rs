//! The relay threads: TUN -> outer IPv6 header -> raw socket, and raw sockets (protocols 4
//! and 41) -> source check -> TUN. Blocking syscalls on dedicated threads: fd readiness is
//! polled only when a non-blocking read runs dry, so a busy tunnel costs one read and one
//! send per packet.

use super::batch::{RecvBatch, SendBatch};
use super::device::TunDevice;
use super::offload::{
    complete_checksum, split_tcp, Coalescer, VnetHdr, F_NEEDS_CSUM, GSO_NONE, VNET_HDR_LEN,
};
use super::packet::{inner_destination, payload_matches};
use super::PeerTable;
use crate::error::{Error, Result};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

const BUF_LEN: usize = 65_536;

/// Packet counters of the relay.
#[derive(Debug, Default)]
struct Counters {
    tun_reads: AtomicU64,
    encapsulated: AtomicU64,
    no_peer: AtomicU64,
    send_errors: AtomicU64,
    decapsulated: AtomicU64,
    tun_writes: AtomicU64,
    rejected: AtomicU64,
}

/// A snapshot of the relay's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Reads from the TUN device (one may carry a TCP super-packet of many segments).
    pub tun_reads: u64,
    /// Packets sent to a peer.
    pub encapsulated: u64,
    /// Packets read from the TUN device with no registered peer (dropped).
    pub no_peer: u64,
    /// Encapsulated packets the raw socket refused.
    pub send_errors: u64,
    /// Packets from a registered peer, decapsulated.
    pub decapsulated: u64,
    /// Writes to the TUN device (coalesced segments count once).
    pub tun_writes: u64,
    /// Encapsulated packets from an unregistered source or to another address (dropped).
    pub rejected: u64,
}

pub struct TunRelay {
    device: Arc<TunDevice>,
    peers: Arc<RwLock<PeerTable>>,
    counters: Arc<Counters>,
    stop: Arc<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
}

fn raw_socket(protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_opt(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: setsockopt with a pointer to an int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            size_of::<i32>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(Error::RawSocket)
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until one of `fds` is readable; false when `stop` is.
fn wait_readable(fds: &[RawFd], stop: RawFd) -> bool {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .chain(std::iter::once(&stop))
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: pfds is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if rc >= 0 {
            return pfds.last().is_none_or(|p| p.revents == 0);
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return false;
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl TunRelay {
    /// Opens the TUN device and the sockets (in the caller's network namespace) and
    /// starts the relay threads; outer headers carry `hop_limit`.
    pub fn start(tun_name: &str, hop_limit: u8) -> Result<Self> {
        let device = TunDevice::open(tun_name).map_err(|source| Error::Tun {
            name: tun_name.to_string(),
            source,
        })?;
        let device = Arc::new(device);
        let send = raw_socket(libc::IPPROTO_RAW).map_err(Error::RawSocket)?;
        let mut receivers = Vec::new();
        for proto in [4, 41] {
            let sock = raw_socket(proto).map_err(Error::RawSocket)?;
            set_int_opt(
                sock.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_RECVPKTINFO,
                1,
            )
            .map_err(Error::RawSocket)?;
            set_int_opt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20)
                .map_err(Error::RawSocket)?;
            set_nonblocking(sock.as_raw_fd()).map_err(Error::RawSocket)?;
            receivers.push((sock, proto as u8));
        }
        // SAFETY: eventfd(2); the descriptor is owned right away.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(Error::RawSocket(io::Error::last_os_error()));
        }
        // SAFETY: efd is fresh.
        let stop = Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
        let peers = Arc::new(RwLock::new(PeerTable::default()));
        let counters = Arc::new(Counters::default());

        let mut threads = Vec::new();
        {
            let (device, peers, counters, stop) = (
                device.clone(),
                peers.clone(),
                counters.clone(),
                stop.clone(),
            );
            threads.push(spawn_named("nemo-encap", move || {
                encap_loop(
                    &device,
                    &send,
                    &peers,
                    &counters,
                    hop_limit,
                    stop.as_raw_fd(),
                )
            })?);
        }
        {
            let (device, peers, counters, stop) = (
                device.clone(),
                peers.clone(),
                counters.clone(),
                stop.clone(),
            );
            threads.push(spawn_named("nemo-decap", move || {
                decap_loop(&device, &receivers, &peers, &counters, stop.as_raw_fd())
            })?);
        }
        tracing::info!(device = tun_name, "userspace tunnel relay started");
        Ok(Self {
            device,
            peers,
            counters,
            stop,
            threads,
        })
    }

    pub fn device_name(&self) -> &str {
        self.device.name()
    }

    pub fn set_peers(&self, table: PeerTable) {
        match self.peers.write() {
            Ok(mut guard) => *guard = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }

    pub fn stats(&self) -> RelayStats {
        let c = &self.counters;
        RelayStats {
            tun_reads: c.tun_reads.load(Ordering::Relaxed),
            encapsulated: c.encapsulated.load(Ordering::Relaxed),
            no_peer: c.no_peer.load(Ordering::Relaxed),
            send_errors: c.send_errors.load(Ordering::Relaxed),
            decapsulated: c.decapsulated.load(Ordering::Relaxed),
            tun_writes: c.tun_writes.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
        }
    }
}

impl Drop for TunRelay {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to an eventfd we own.
        unsafe {
            libc::write(
                self.stop.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn read_peers(peers: &RwLock<PeerTable>) -> std::sync::RwLockReadGuard<'_, PeerTable> {
    peers.read().unwrap_or_else(|p| p.into_inner())
}

fn encap_loop(
    device: &TunDevice,
    send: &OwnedFd,
    peers: &RwLock<PeerTable>,
    counters: &Counters,
    hop_limit: u8,
    stop: RawFd,
) {
    let mut buf = vec![0u8; BUF_LEN];
    let mut batch = SendBatch::default();
    loop {
        // SAFETY: reading into a buffer of the stated length.
        let n = unsafe {
            libc::read(
                device.fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if would_block(&e) {
                if !wait_readable(&[device.fd()], stop) {
                    return;
                }
                continue;
            }
            tracing::warn!(error = %e, "reading the TUN device failed; relay stops");
            return;
        }
        counters.tun_reads.fetch_add(1, Ordering::Relaxed);
        let Some(hdr) = VnetHdr::parse(&buf[..n as usize]) else {
            continue;
        };
        let packet = &mut buf[VNET_HDR_LEN..n as usize];
        let route = {
            let table = read_peers(peers);
            inner_destination(packet)
                .and_then(|(dst, nh)| Some((table.local?, table.peer_for(dst)?, nh)))
        };
        let Some((local, peer, next_header)) = route else {
            counters.no_peer.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        batch.clear();
        if hdr.gso_type == GSO_NONE {
            if hdr.flags & F_NEEDS_CSUM != 0 && !complete_checksum(&hdr, packet) {
                counters.send_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            batch.whole(packet.len());
        } else if !split_tcp(&hdr, packet, &mut batch.segments) {
            counters.send_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let (sent, failed) = batch.send(
            send.as_raw_fd(),
            local,
            peer,
            next_header,
            hop_limit,
            packet,
        );
        counters.encapsulated.fetch_add(sent, Ordering::Relaxed);
        counters.send_errors.fetch_add(failed, Ordering::Relaxed);
    }
}

fn write_tun(fd: RawFd, hdr: &VnetHdr, packet: &[u8]) -> bool {
    let h = hdr.emit();
    let iov = [
        libc::iovec {
            iov_base: h.as_ptr() as *mut libc::c_void,
            iov_len: h.len(),
        },
        libc::iovec {
            iov_base: packet.as_ptr() as *mut libc::c_void,
            iov_len: packet.len(),
        },
    ];
    // SAFETY: both buffers are valid for the call.
    unsafe { libc::writev(fd, iov.as_ptr(), 2) >= 0 }
}

const RECV_SLOTS: usize = 64;

fn decap_loop(
    device: &TunDevice,
    receivers: &[(OwnedFd, u8)],
    peers: &RwLock<PeerTable>,
    counters: &Counters,
    stop: RawFd,
) {
    let mut batch = RecvBatch::new(RECV_SLOTS, BUF_LEN);
    let mut coalescer = Coalescer::default();
    let fds: Vec<RawFd> = receivers.iter().map(|(s, _)| s.as_raw_fd()).collect();
    let mut emit = |hdr: &VnetHdr, p: &[u8]| {
        if write_tun(device.fd(), hdr, p) {
            counters.tun_writes.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    loop {
        let mut idle = true;
        for (sock, proto) in receivers {
            let n = match batch.recv(sock.as_raw_fd()) {
                Ok(n) => n,
                Err(e) if would_block(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "raw socket receive failed");
                    continue;
                }
            };
            idle = idle && n == 0;
            let table = read_peers(peers);
            for i in 0..n {
                let accepted = batch.packet(i).filter(|(payload, src, dst)| {
                    dst.is_some_and(|dst| table.accepts(*src, dst))
                        && payload_matches(*proto, payload)
                });
                match accepted {
                    Some((payload, _, _)) => {
                        counters.decapsulated.fetch_add(1, Ordering::Relaxed);
                        coalescer.push(payload, &mut emit)
                    }
                    None => {
                        counters.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        // A run may continue in the next batch; it is written out once the sockets are
        // drained, before sleeping.
        if idle {
            coalescer.flush(&mut emit);
            if !wait_readable(&fds, stop) {
                return;
            }
        }
    }
}
