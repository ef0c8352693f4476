//! Mobility Header packets on and off the wire, without kernel Mobile IPv6.
//!
//! Linux without `CONFIG_IPV6_MIP6` (DESIGN.md section 2) still lets a daemon speak MIPv6:
//! - sending: an `IPPROTO_RAW` socket takes a complete IPv6 packet built by the daemon,
//!   Home Address option and type 2 routing header included; the kernel checks neither.
//! - receiving: the kernel hands raw sockets a copy of a packet at every extension header it
//!   walks, so a socket on protocol 60 sees a BU carrying a HAO, one on 43 a BA carrying an
//!   RH2, and one on 135 a bare Mobility Header. The copy starts at that header; the addresses
//!   come from `recvmsg` (source) and `IPV6_PKTINFO` (destination).
//! - the kernel then rejects the HAO/RH2 packet with an ICMPv6 Parameter Problem that must not
//!   reach the peer: [`ParamProblemFilter`] drops exactly those errors in the output hook.
//! - [`icmp`]: a raw ICMPv6 receiver for Router Advertisements, DHAAD and Mobile Prefix
//!   messages, and anycast membership (the Home-Agents anycast address).
//! - [`link`]: an interface's link layer (type, MAC) in the daemon's own namespace.
//! - [`nd`]: the unsolicited Neighbor Advertisements for a home address that go with a
//!   binding's start (HA) and the return home (MR).

mod filter;
pub mod icmp;
pub mod link;
pub mod nd;
mod socket;

pub use filter::ParamProblemFilter;
pub use socket::{MhSocket, Received};

/// IPv6 next-header numbers this crate listens on.
pub mod proto {
    pub const DEST_OPTS: u8 = 60;
    pub const ROUTING: u8 = 43;
    pub const MOBILITY: u8 = 135;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("raw socket for protocol {proto}: {source}")]
    Socket {
        proto: u8,
        #[source]
        source: std::io::Error,
    },
    #[error("packet of {0} bytes is not a complete IPv6 packet")]
    NotIpv6(usize),
    #[error("sending to {dst}: {source}")]
    Send {
        dst: std::net::Ipv6Addr,
        #[source]
        source: std::io::Error,
    },
    #[error("nft: {0}")]
    Nft(String),
}
