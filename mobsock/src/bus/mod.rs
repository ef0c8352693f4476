//! The bus transport and the member handle daemons use.

mod creds;
pub mod dir;
mod member;
mod peers;
mod receiver;
mod seqtrack;
mod shared;

use std::path::PathBuf;
use std::time::Duration;

use nix::unistd::Gid;

pub use member::{Bus, BusMember, DumpResult, DumpWait, Event};
pub use seqtrack::{Seen, SeqTracker};
pub use shared::LeaveReason;

/// How a member joins the bus.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// The bus group: its members may write on the bus. The directory becomes
    /// `root:GROUP 0770` and sockets `0660`; without a group they are `0750`/`0600`.
    pub group: Option<Gid>,
    /// Also deliver this member's own messages to itself (AF_MOBILITY's loopback).
    pub loopback: bool,
    /// Datagrams queued per peer before that peer starts losing messages.
    pub peer_queue: usize,
    /// Messages queued for the application before it starts losing messages.
    pub event_queue: usize,
    /// How long `join` waits for the members it found to acknowledge it (HELLO).
    pub join_timeout: Duration,
    /// How often to rescan the directory and probe peers for liveness.
    pub maintenance_interval: Duration,
}

impl Default for BusOptions {
    fn default() -> Self {
        BusOptions {
            group: None,
            loopback: false,
            peer_queue: 1024,
            event_queue: 4096,
            join_timeout: Duration::from_millis(300),
            maintenance_interval: Duration::from_millis(250),
        }
    }
}

/// Bus failures.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid member name {0:?}: use 1 to 32 characters of [A-Za-z0-9_-]")]
    InvalidName(String),
    #[error(
        "permission denied: cannot {op} {path}: writing on the bus needs root or the bus group"
    )]
    PermissionDenied { op: &'static str, path: PathBuf },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),
    #[error("the bus member has shut down")]
    Closed,
}

impl BusError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            BusError::PermissionDenied { op, path }
        } else {
            BusError::Io { op, path, source }
        }
    }
}
