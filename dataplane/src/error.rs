//! Typed errors of the data plane.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("netlink connection: {0}")]
    Connect(#[source] io::Error),
    #[error("netlink {what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("interface {0} not found")]
    NoSuchInterface(String),
    /// Why each backend tried is unavailable on this kernel.
    #[error("no usable data-plane backend on this kernel: {0}")]
    BackendUnavailable(String),
    #[error("{role} operation called on a data plane of the other role")]
    WrongRole { role: &'static str },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("sysctl {path}: {source}")]
    Sysctl {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("nft: {0}")]
    Nft(String),
    #[error("TUN device {name}: {source}")]
    Tun {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("generic netlink (seg6 tunsrc): {0}")]
    Genetlink(String),
    #[error("bpf backend: {0}")]
    Bpf(String),
    #[error("raw socket: {0}")]
    RawSocket(#[source] io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
