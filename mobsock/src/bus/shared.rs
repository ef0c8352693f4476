//! State shared by the member handle, its receiver task and its peer writers.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;

use super::dir::socket_path;
use super::peers::Peer;
use super::BusOptions;
use crate::message::Body;
use crate::wire::{Envelope, Sender, WireError, VERSION_MAJOR, VERSION_MINOR};

/// Why a peer left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// It said goodbye (LEAVE).
    Left,
    /// Its socket closed without a goodbye (crash, kill).
    Gone,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Gone => "gone",
        }
    }
}

/// What the receiver task (and loopback) hands to the member handle.
pub(crate) enum Incoming {
    Envelope(Envelope),
    Left(Sender, LeaveReason),
    /// Messages from `sender` dropped locally because the application did not read.
    LocalDropped {
        sender: Sender,
        first: u64,
        last: u64,
    },
}

struct Table {
    last_seq: u64,
    peers: HashMap<Sender, Peer>,
}

pub(crate) struct Shared {
    pub me: Sender,
    pub dir: PathBuf,
    pub own_path: PathBuf,
    pub opts: BusOptions,
    table: Mutex<Table>,
    events: mpsc::UnboundedSender<Incoming>,
    /// Messages in `events` not yet taken by the application.
    pub queued: AtomicUsize,
    /// Datagrams refused because the sender's credentials are not allowed.
    pub rejected: AtomicU64,
}

/// Outcome of connecting to a socket found in the directory.
pub(crate) enum Connect {
    Ok(UnixDatagram),
    /// Nobody is bound there any more: a crashed member's leftover.
    Stale,
    /// The socket file vanished between the directory scan and the connect.
    Gone,
    Failed(io::Error),
}

pub(crate) fn connect(path: &Path) -> Connect {
    let attempt = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s));
    match attempt {
        Ok(s) => Connect::Ok(s),
        Err(e) if e.raw_os_error() == Some(Errno::ECONNREFUSED as i32) => Connect::Stale,
        // Listed a moment ago, unlinked since: a member that just left (its socket goes
        // on a clean stop). Nothing to connect to and nothing to clean up.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Connect::Gone,
        Err(e) => Connect::Failed(e),
    }
}

impl Shared {
    pub fn new(
        me: Sender,
        dir: PathBuf,
        own_path: PathBuf,
        opts: BusOptions,
        events: mpsc::UnboundedSender<Incoming>,
    ) -> Shared {
        Shared {
            me,
            dir,
            own_path,
            opts,
            table: Mutex::new(Table {
                last_seq: 0,
                peers: HashMap::new(),
            }),
            events,
            queued: AtomicUsize::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Assigns the next sequence number and queues the message for every peer.
    /// Sequence assignment and queueing happen under one lock so that every peer sees
    /// one member's messages in sequence order even when several tasks send.
    pub fn broadcast(&self, body: Body) -> Result<Envelope, WireError> {
        let mut table = self.table();
        let env = Envelope {
            version: (VERSION_MAJOR, VERSION_MINOR),
            sender: self.me.clone(),
            seq: table.last_seq + 1,
            body,
        };
        let bytes: Arc<[u8]> = env.encode()?.into();
        table.last_seq = env.seq;
        for peer in table.peers.values() {
            peer.enqueue(env.seq, bytes.clone());
        }
        Ok(env)
    }

    /// Answers a JOIN: tells that peer (alone) our last sequence number, in order with
    /// everything we send it from now on.
    pub fn greet(&self, sender: &Sender) {
        let table = self.table();
        let Some(peer) = table.peers.get(sender) else {
            return;
        };
        let hello = Envelope {
            version: (VERSION_MAJOR, VERSION_MINOR),
            sender: self.me.clone(),
            seq: table.last_seq,
            body: Body::Hello(crate::message::MemberHello {}),
        };
        match hello.encode() {
            Ok(bytes) => peer.enqueue_control(bytes.into()),
            Err(e) => tracing::warn!(error = %e, "cannot encode HELLO"),
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.table().last_seq
    }

    pub fn knows(&self, sender: &Sender) -> bool {
        self.table().peers.contains_key(sender)
    }

    pub fn peers(&self) -> Vec<Sender> {
        let mut v: Vec<Sender> = self.table().peers.keys().cloned().collect();
        v.sort();
        v
    }

    /// Sockets of the current peers.
    pub fn peer_paths(&self) -> Vec<(Sender, PathBuf)> {
        self.table()
            .peers
            .values()
            .map(|p| (p.core.sender.clone(), p.core.path.clone()))
            .collect()
    }

    /// Whether every peer has been handed (or has dropped) everything up to `seq`.
    pub fn settled(&self, seq: u64) -> bool {
        self.table().peers.values().all(|p| p.settled(seq))
    }

    /// Adds a peer already connected at `path`, unless it is known.
    pub fn add_connected(self: &Arc<Self>, sender: Sender, path: PathBuf, sock: UnixDatagram) {
        let mut table = self.table();
        if sender == self.me || table.peers.contains_key(&sender) {
            return;
        }
        tracing::debug!(peer = %sender, "bus peer added");
        let peer = Peer::start(
            sender.clone(),
            path,
            sock,
            self.opts.peer_queue,
            table.last_seq,
            Arc::downgrade(self),
        );
        table.peers.insert(sender, peer);
    }

    /// Connects to `sender`'s socket and adds it, unless it is known.
    pub fn ensure_peer(self: &Arc<Self>, sender: &Sender) {
        if *sender == self.me || self.knows(sender) {
            return;
        }
        let path = socket_path(&self.dir, sender);
        match connect(&path) {
            Connect::Ok(sock) => self.add_connected(sender.clone(), path, sock),
            Connect::Stale => remove_stale(&path),
            Connect::Gone => {}
            Connect::Failed(e) => {
                tracing::debug!(peer = %sender, error = %e, "cannot connect to bus peer")
            }
        }
    }

    /// Drops a peer and tells the application, once. `unlink` removes its leftover socket.
    pub fn remove_peer(&self, sender: &Sender, reason: LeaveReason, unlink: bool) {
        let removed = self.table().peers.remove(sender);
        if let Some(peer) = removed {
            if unlink {
                remove_stale(&peer.core.path);
            }
            tracing::debug!(peer = %sender, reason = reason.as_str(), "bus peer removed");
            self.push_control(Incoming::Left(sender.clone(), reason));
        }
    }

    pub fn clear_peers(&self) {
        self.table().peers.clear();
    }

    /// Queues an item for the application regardless of the queue bound (control events).
    pub fn push_control(&self, item: Incoming) {
        if self.events.send(item).is_ok() {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the application's queue has room for another message.
    pub fn has_room(&self) -> bool {
        self.queued.load(Ordering::Relaxed) < self.opts.event_queue
    }
}

/// Removes a socket nobody is bound to any more.
pub(crate) fn remove_stale(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::debug!(path = %path.display(), "removed stale bus socket"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::debug!(path = %path.display(), error = %e, "cannot remove stale socket"),
    }
}

#[cfg(test)]
mod connect_tests {
    use super::*;

    #[tokio::test]
    async fn a_socket_gone_since_the_scan_is_a_departure_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("had.4194.sock");
        assert!(matches!(connect(&path), Connect::Gone));
        // A leftover nobody is bound to is stale (removed by the caller).
        drop(std::os::unix::net::UnixDatagram::bind(&path).unwrap());
        assert!(matches!(connect(&path), Connect::Stale));
    }
}
