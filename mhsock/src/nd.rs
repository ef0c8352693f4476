//! Unsolicited Neighbor Advertisements for a home address (RFC 6275 10.4.1 and 11.5.4): the
//! home agent sends them when it starts defending a home address, the mobile router when it
//! comes home, so hosts on the home link replace the link-layer address they cached at once
//! instead of waiting for Neighbor Unreachability Detection to give up.
//!
//! Sent on a raw ICMPv6 socket: the kernel picks the source (the interface's link-local
//! address, as RFC 4861 7.2.6 wants an address of the sending interface) and computes the
//! ICMPv6 checksum; the socket's hop limits are 255, as every ND message needs.

use mip6::nd::{NeighborAdvertisement, ALL_NODES, MAX_NEIGHBOR_ADVERTISEMENT};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Duration;

/// Spacing of the repeated advertisements. RFC 4861 7.2.6: up to MAX_NEIGHBOR_ADVERTISEMENT
/// (3), at least RetransTimer apart. 1 s is RetransTimer's default (RETRANS_TIMER), the
/// shortest spacing the RFC allows on a link that advertises no other value: the first NA
/// updates the caches at once, the two repeats cover its loss, all within 2 s; longer gaps
/// would only leave a host that missed the first one sending to the old address longer.
pub const NA_SPACING: Duration = Duration::from_secs(1);

/// Sends unsolicited NAs out of one interface with that interface's MAC as target
/// link-layer address.
pub struct NaSender {
    socket: Socket,
    ifindex: u32,
    ifname: String,
    mac: [u8; 6],
}

impl NaSender {
    /// For interface `ifname` of the calling thread's namespace (needs CAP_NET_RAW).
    pub fn new(ifname: &str) -> std::io::Result<Self> {
        let ifindex = nix::net::if_::if_nametoindex(ifname).map_err(std::io::Error::from)?;
        Self::open(ifindex, ifname.to_string())
    }

    /// For the interface with index `ifindex`.
    pub fn for_index(ifindex: u32) -> std::io::Result<Self> {
        let name = nix::net::if_::if_indextoname(ifindex).map_err(std::io::Error::from)?;
        Self::open(ifindex, name.to_string_lossy().into_owned())
    }

    fn open(ifindex: u32, ifname: String) -> std::io::Result<Self> {
        let mac = read_mac(&ifname)?;
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        socket.set_multicast_hops_v6(255)?;
        socket.set_unicast_hops_v6(255)?;
        socket.set_multicast_if_v6(ifindex)?;
        socket.set_multicast_loop_v6(false)?;
        Ok(Self {
            socket,
            ifindex,
            ifname,
            mac,
        })
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// One unsolicited NA for `target` (Override set, Solicited clear, R = `router`) to
    /// all-nodes.
    pub fn send(&self, target: Ipv6Addr, router: bool) -> std::io::Result<()> {
        let na = NeighborAdvertisement::unsolicited(target, router, self.mac);
        // The kernel fills in the checksum for the source it picks.
        let message = na.emit(Ipv6Addr::UNSPECIFIED, ALL_NODES);
        let to = SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex);
        self.socket.send_to(&message, &to.into()).map(drop)
    }

    /// MAX_NEIGHBOR_ADVERTISEMENT rounds, [`NA_SPACING`] apart, each one NA per target.
    /// Errors are logged, not returned: a lost NA costs what it cost before.
    pub async fn announce(&self, targets: &[Ipv6Addr], router: bool) {
        for round in 0..MAX_NEIGHBOR_ADVERTISEMENT {
            if round > 0 {
                tokio::time::sleep(NA_SPACING).await;
            }
            for t in targets {
                match self.send(*t, router) {
                    Ok(()) => {
                        tracing::debug!(target = %t, ifname = %self.ifname, round, "sent unsolicited Neighbor Advertisement")
                    }
                    Err(e) => {
                        tracing::warn!(target = %t, ifname = %self.ifname, "unsolicited Neighbor Advertisement: {e}")
                    }
                }
            }
        }
    }
}

/// The interface's MAC (in the daemon's own namespace: see [`crate::link`]).
fn read_mac(ifname: &str) -> std::io::Result<[u8; 6]> {
    crate::link::link_layer(ifname)?
        .mac()
        .ok_or_else(|| std::io::Error::other(format!("{ifname} has no Ethernet address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_interface_names_have_no_mac() {
        assert!(read_mac("../x").is_err());
        assert!(read_mac("").is_err());
    }
}
