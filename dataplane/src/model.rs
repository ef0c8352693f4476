//! What the daemon tells the data plane: role configuration and registrations/bindings.

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Settings shared by both roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSettings {
    /// MTU of the path between the tunnel endpoints; the tunnel MTU is 40 bytes less
    /// (RFC 2473 section 6.1).
    pub path_mtu: u32,
    /// Name of the TUN device (tun backend).
    pub tun_name: String,
    /// Name of the nftables `inet` table holding the TCP MSS clamping rules.
    pub nft_table: String,
    /// Where the bpf backend pins its maps and programs (a bpffs; mounted when missing).
    pub bpf_root: std::path::PathBuf,
    /// Hop limit of the outer IPv6 header (RFC 2473 section 6.3: the entry point's own,
    /// not the inner packet's), 1..=255.
    pub hop_limit: u8,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        Self {
            path_mtu: 1500,
            tun_name: "nemo0".into(),
            nft_table: "nemonetd".into(),
            bpf_root: crate::bpf::DEFAULT_ROOT.into(),
            hop_limit: Self::DEFAULT_HOP_LIMIT,
        }
    }
}

impl TunnelSettings {
    /// IPv6 header added by the encapsulation.
    pub const ENCAP_OVERHEAD: u32 = 40;
    /// The outer hop limit unless configured (UMIP's and Linux's ip6tnl default).
    pub const DEFAULT_HOP_LIMIT: u8 = 64;

    /// MTU of the tunnel: the path MTU minus the outer IPv6 header.
    pub fn tunnel_mtu(&self) -> u32 {
        self.path_mtu.saturating_sub(Self::ENCAP_OVERHEAD)
    }

    /// Rejects names that are not plain identifiers: the nft table name ends up in an
    /// nft script, the TUN name in an ifreq.
    pub fn validate(&self) -> Result<(), String> {
        let plain = |s: &str, max: usize| {
            !s.is_empty()
                && s.len() <= max
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !plain(&self.nft_table, 64) {
            return Err(format!(
                "nft table name {:?}: use letters, digits, _ and -",
                self.nft_table
            ));
        }
        if self.hop_limit == 0 {
            return Err("outer hop limit 0: use 1-255".into());
        }
        if !plain(&self.tun_name, 15) {
            return Err(format!(
                "TUN name {:?}: 1-15 letters, digits, _ and -",
                self.tun_name
            ));
        }
        Ok(())
    }
}

/// Mobile router configuration (from the nemonetd config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrConfig {
    /// Uplink (egress) interface: where the tunnel's outer packets leave.
    pub uplink: String,
    /// Mobile network (inside) interface.
    pub inside: String,
    /// The MR's IPv4 address on the mobile network: preferred source of its own IPv4
    /// traffic through the tunnel.
    pub inside_ipv4: Ipv4Addr,
    pub tunnel: TunnelSettings,
}

/// A completed registration (BUL_ADD with status accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrRegistration {
    pub hoa: Ipv6Addr,
    pub coa: Ipv6Addr,
    pub ha: Ipv6Addr,
    pub mnp6: Vec<Ipv6Net>,
    pub mnp4: Vec<Ipv4Net>,
}

/// Home agent configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// The HA's own address: local tunnel endpoint.
    pub ha_addr: Ipv6Addr,
    /// Interface on the home link (where the HA address lives).
    pub home_if: String,
    pub tunnel: TunnelSettings,
    /// `announce-table N`: a plain route per mobile network prefix served, in table N, for
    /// a routing daemon (the tunnel routes carry encapsulation a routing daemon cannot
    /// read: BIRD ignores any route with an lwtunnel encapsulation other than MPLS).
    pub announce_table: Option<u32>,
}

/// One Binding Cache entry with its accepted prefixes (BC_ADD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaBinding {
    pub hoa: Ipv6Addr,
    pub coa: Ipv6Addr,
    pub mnp6: Vec<Ipv6Net>,
    pub mnp4: Vec<Ipv4Net>,
}

/// A mobile router on its home link (it deregistered from home): its prefixes are routed
/// to its home address on the home link, no tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeRouter {
    pub hoa: Ipv6Addr,
    pub mnp6: Vec<Ipv6Net>,
    pub mnp4: Vec<Ipv4Net>,
}

/// Which side of the tunnel this node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Mr(MrConfig),
    Ha(HaConfig),
}

impl Role {
    pub fn tunnel(&self) -> &TunnelSettings {
        match self {
            Role::Mr(c) => &c.tunnel,
            Role::Ha(c) => &c.tunnel,
        }
    }

    pub fn tunnel_mut(&mut self) -> &mut TunnelSettings {
        match self {
            Role::Mr(c) => &mut c.tunnel,
            Role::Ha(c) => &mut c.tunnel,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Role::Mr(_) => "MR",
            Role::Ha(_) => "HA",
        }
    }
}
