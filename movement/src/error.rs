//! Typed errors of the watcher and the uplink helpers.

use std::io;

/// Why the watcher could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot open the rtnetlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("rtnetlink dump failed: {0}")]
    Dump(#[source] rtnetlink::Error),
    #[error("the rtnetlink connection closed")]
    ConnectionClosed,
    #[error("watch() must be called inside a tokio runtime")]
    NoRuntime,
}

/// Why an uplink could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("{0:?} is not a valid interface name")]
    BadInterfaceName(String),
    #[error("{0:?} is not a valid sysctl name")]
    BadSysctlKey(String),
    #[error("no interface named {0:?}")]
    NoSuchInterface(String),
    #[error("cannot write {path}: {source}")]
    Sysctl {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot send a Router Solicitation: {0}")]
    Solicit(#[source] io::Error),
}
