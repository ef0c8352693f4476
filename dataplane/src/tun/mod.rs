//! The userspace tunnel (tun backend): a TUN device whose packets are wrapped in an outer
//! IPv6 header and sent on an `IPPROTO_RAW` socket; raw sockets on protocols 4 and 41
//! receive what the peer sends, and what comes from a registered peer is written back to
//! the TUN device.

mod batch;
mod device;
mod offload;
mod packet;
mod relay;

pub use device::TunDevice;
pub use relay::{RelayStats, TunRelay};

use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr};

/// Tunnel endpoints: our local address and, per inner destination prefix, the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerTable {
    /// Local tunnel endpoint (MR: CoA, HA: HA address); `None` while unregistered.
    pub local: Option<Ipv6Addr>,
    /// Inner destination prefix -> remote endpoint (MR: everything -> HA; HA: each MNP
    /// and home address -> that MR's CoA).
    pub routes: Vec<(IpNet, Ipv6Addr)>,
}

impl PeerTable {
    /// The peer for a packet to `dst`: longest prefix match.
    pub fn peer_for(&self, dst: IpAddr) -> Option<Ipv6Addr> {
        self.routes
            .iter()
            .filter(|(net, _)| net.contains(&dst))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(_, peer)| *peer)
    }

    /// Whether an encapsulated packet from `src` to `dst` comes from a registered peer.
    pub fn accepts(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.local == Some(dst) && self.routes.iter().any(|(_, peer)| *peer == src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_only_registered_peers_are_accepted() {
        let coa1: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let coa2: Ipv6Addr = "2001:db8:2::1".parse().unwrap();
        let ha: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let t = PeerTable {
            local: Some(ha),
            routes: vec![
                ("10.0.0.0/16".parse().unwrap(), coa1),
                ("10.0.5.0/24".parse().unwrap(), coa2),
            ],
        };
        assert_eq!(t.peer_for("10.0.5.9".parse().unwrap()), Some(coa2));
        assert_eq!(t.peer_for("10.0.6.9".parse().unwrap()), Some(coa1));
        assert_eq!(t.peer_for("10.1.0.1".parse().unwrap()), None);
        assert!(t.accepts(coa1, ha));
        assert!(!t.accepts("2001:db8:3::1".parse().unwrap(), ha));
        assert!(!t.accepts(coa1, coa2), "wrong local endpoint");
    }
}
