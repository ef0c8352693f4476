//! One outgoing queue and writer task per peer, so that a stuck peer only costs itself.
//!
//! `send` hands each datagram to every peer's bounded queue without waiting. A writer task
//! per peer moves its queue into a socket connected to that peer; on a connected Unix
//! datagram socket the kernel reports "not writable" while the peer's receive queue is
//! full, so the writer waits there without ever blocking the sender. When a queue is full
//! the datagram is dropped for that peer only, and once the queue has drained the writer
//! tells the peer which sequence numbers it lost (a DROPPED notice).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::net::UnixDatagram;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::shared::{LeaveReason, Shared};
use crate::message::{Body, Dropped};
use crate::wire::{Envelope, Sender, VERSION_MAJOR, VERSION_MINOR};

/// A datagram queued for one peer.
pub(crate) struct Outgoing {
    pub seq: u64,
    pub bytes: Arc<[u8]>,
}

/// What the writer task and the sender share about one peer.
pub(crate) struct PeerCore {
    pub sender: Sender,
    pub path: PathBuf,
    /// Sequence numbers dropped for this peer and not yet reported to it.
    unreported: Mutex<Option<(u64, u64)>>,
    /// Highest sequence number sent to or dropped for this peer.
    settled: AtomicU64,
}

impl PeerCore {
    /// Records that message `seq` will not reach this peer.
    fn note_drop(&self, seq: u64) {
        let mut un = lock(&self.unreported);
        *un = Some(match *un {
            Some((first, _)) => (first, seq),
            None => (seq, seq),
        });
        self.settled.fetch_max(seq, Ordering::Relaxed);
    }
}

/// A peer in the member's table; dropping it stops its writer.
pub(crate) struct Peer {
    pub core: Arc<PeerCore>,
    tx: mpsc::Sender<Outgoing>,
    writer: AbortHandle,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

impl Peer {
    /// Starts a writer for `sock` (already connected to the peer). `last_seq` is the last
    /// sequence number the member has used so far: the peer owes nothing before it.
    pub fn start(
        sender: Sender,
        path: PathBuf,
        sock: UnixDatagram,
        capacity: usize,
        last_seq: u64,
        shared: Weak<Shared>,
    ) -> Peer {
        let core = Arc::new(PeerCore {
            sender,
            path,
            unreported: Mutex::new(None),
            settled: AtomicU64::new(last_seq),
        });
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let writer = tokio::spawn(write_loop(core.clone(), sock, rx, shared)).abort_handle();
        Peer { core, tx, writer }
    }

    /// Queues a datagram; a full queue drops it for this peer only.
    pub fn enqueue(&self, seq: u64, bytes: Arc<[u8]>) {
        if self.tx.try_send(Outgoing { seq, bytes }).is_err() {
            self.core.note_drop(seq);
        }
    }

    /// Queues an unsequenced control datagram; lost if the queue is full.
    pub fn enqueue_control(&self, bytes: Arc<[u8]>) {
        let seq = self.core.settled.load(Ordering::Relaxed);
        let _ = self.tx.try_send(Outgoing { seq, bytes });
    }

    /// Whether everything up to `seq` has been sent to (or dropped for) this peer.
    pub fn settled(&self, seq: u64) -> bool {
        self.core.settled.load(Ordering::Relaxed) >= seq
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Errors that mean the peer's socket is closed or gone.
pub(crate) fn means_gone(e: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(
            Errno::ECONNREFUSED
                | Errno::ENOTCONN
                | Errno::ECONNRESET
                | Errno::EPIPE
                | Errno::ENOENT
        )
    )
}

async fn write_loop(
    core: Arc<PeerCore>,
    sock: UnixDatagram,
    mut rx: mpsc::Receiver<Outgoing>,
    shared: Weak<Shared>,
) {
    while let Some(out) = rx.recv().await {
        if let Err(e) = sock.send(&out.bytes).await {
            if means_gone(&e) {
                if let Some(shared) = shared.upgrade() {
                    shared.remove_peer(&core.sender, LeaveReason::Gone, true);
                }
                return;
            }
            tracing::warn!(peer = %core.sender, error = %e, seq = out.seq, "bus send failed");
            // Counted as a drop, so that the peer hears of it.
            core.note_drop(out.seq);
        }
        core.settled.fetch_max(out.seq, Ordering::Relaxed);
        if rx.is_empty() {
            let lost = lock(&core.unreported).take();
            if let Some((first, last)) = lost {
                report_drops(&core, &sock, &shared, first, last).await;
            }
        }
    }
}

/// Tells the peer which of our messages it lost (sent to it alone, not sequenced).
async fn report_drops(
    core: &PeerCore,
    sock: &UnixDatagram,
    shared: &Weak<Shared>,
    first: u64,
    last: u64,
) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    tracing::debug!(peer = %core.sender, first, last, "peer did not keep up; reporting drops");
    let notice = Envelope {
        version: (VERSION_MAJOR, VERSION_MINOR),
        sender: shared.me.clone(),
        seq: last,
        body: Body::Dropped(Dropped { first, last }),
    };
    drop(shared);
    match notice.encode() {
        Ok(bytes) => {
            if let Err(e) = sock.send(&bytes).await {
                tracing::debug!(peer = %core.sender, error = %e, "drop notice not delivered");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode drop notice"),
    }
}
