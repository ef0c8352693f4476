//! The validated configuration: what the daemons read.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv6Net};

/// Lifetime mrd asks for when the file sets no `home-registration-lifetime` (our choice:
/// short enough that a lost deregistration heals in minutes).
pub const DEFAULT_HOME_REGISTRATION_LIFETIME: Duration = Duration::from_secs(120);

/// Tunnel MTU when the file sets no `tunnel-mtu`: a 1500-byte path less the outer IPv6
/// header of the IPv4/IPv6-in-IPv6 encapsulation (RFC 2473 section 6.1).
pub const DEFAULT_TUNNEL_MTU: u32 = 1460;
/// The smallest `tunnel-mtu`: a tunnel narrower than the IPv6 minimum link MTU cannot carry
/// IPv6 (RFC 8200 section 5).
pub const MIN_TUNNEL_MTU: u32 = 1280;
/// The largest `tunnel-mtu`: the largest link MTU Linux devices take (65535) less the
/// 40-byte outer header.
pub const MAX_TUNNEL_MTU: u32 = 65495;
/// Hop limit of the tunnel's outer header when the file sets no `tunnel-hop-limit` (the
/// tunnel entry point's own, RFC 2473 section 6.3; UMIP's and ip6tnl's default).
pub const DEFAULT_TUNNEL_HOP_LIMIT: u8 = 64;

/// How the MR names a prefix in its Binding Update (SHISA's `explicit`/`implicit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixMode {
    /// The MR lists the prefix in a Mobile Network Prefix option of the BU.
    Explicit,
    /// The MR sends no prefix option; the HA takes the prefix from its own table.
    Implicit,
}

/// One `prefixtable` line: a mobile network prefix (IPv6 or IPv4) of a home address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrefixEntry {
    pub home_address: Ipv6Addr,
    pub prefix: IpNet,
    pub mode: PrefixMode,
    /// Binding identifier (RFC 5648) when the entry belongs to one of several bindings.
    pub binding_id: Option<u16>,
}

/// One `static-tunnel` line: a fixed tunnel interface name for a home address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StaticTunnel {
    pub tunnel: String,
    pub home_address: Ipv6Addr,
    pub binding_id: Option<u16>,
}

/// One `ipv4-dummy-tunnel` line (BSD needed addresses on the tunnel; Linux does not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DummyTunnel {
    pub tunnel: String,
    pub mr_address: Ipv4Addr,
    pub ha_address: Ipv4Addr,
}

/// `data-plane`: which nemonetd backend carries the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataPlane {
    /// Kernel seg6 encapsulation (encap.red with one segment) and seg6local decapsulation.
    Seg6,
    /// BPF programs: `encap bpf xmit` routes and a tc ingress decapsulation.
    Bpf,
    /// Linux's IPv6 tunnel devices (`ip -6 tunnel`), one per binding.
    Ip6tnl,
    /// A TUN device and a userspace encapsulation loop.
    Tun,
    /// Probe the kernel at start: seg6, then ip6tnl, then bpf, then tun.
    Auto,
}

/// `ipv4-mnp-encoding`: how IPv4 mobile network prefixes travel between MR and HA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv4MnpEncoding {
    /// IANA numbers: IPv4 Home Address option (29) carrying the prefix, IPv4 Address
    /// Acknowledgement (30) as the answer (RFC 5555 formats). The default.
    Rfc5555,
    /// draft-shima-nemo-v4prefix options with operator-chosen option numbers (SHISA used 11
    /// and 12, which IANA has since given to other options).
    Draft {
        prefix_option: u8,
        status_option: u8,
    },
    /// Nothing on the wire: both ends take the IPv4 MNPs from their prefixtable.
    ConfigOnly,
}

/// `authentication`: whether Binding Updates are authenticated (RFC 4285 MN-HA
/// authentication with the keys of the `auth-database`) or, only when the file says so,
/// not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Authentication {
    /// `authentication rfc4285;` (what a file without the statement means): an
    /// `auth-database` with a key for every mobile router is required.
    Rfc4285,
    /// `authentication none;`: Binding Updates are neither signed nor checked.
    None,
}

/// `role` of an interface for babymdd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterfaceRole {
    /// The home link (or the mobile network side of an HA): never a source of care-of addresses.
    Home,
    /// An uplink whose global addresses are candidate care-of addresses.
    Egress,
}

/// Statements that take one value. Every field is `None` unless the file set it;
/// [`Config::settings_for`] merges an interface block over the globals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub debug: Option<u32>,
    pub namelookup: Option<bool>,
    pub command_port: Option<u16>,
    pub home_registration_lifetime: Option<Duration>,
    pub preference: Option<i16>,
    pub key_management: Option<bool>,
    pub ipv4_mnp_support: Option<bool>,
    pub auth_database: Option<PathBuf>,
    pub authentication: Option<Authentication>,
    pub home_agent_address: Option<Ipv6Addr>,
    pub home_prefix: Option<Ipv6Net>,
    pub bus_directory: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// Where nemonetd's bpf backend pins its maps and programs (a bpffs).
    pub bpf_directory: Option<PathBuf>,
    pub data_plane: Option<DataPlane>,
    pub ipv4_mnp_encoding: Option<Ipv4MnpEncoding>,
    pub mobile_network_interface: Option<String>,
    pub ipv4_mnp_address: Option<Ipv4Addr>,
    pub max_binding_lifetime: Option<Duration>,
    pub role: Option<InterfaceRole>,
    pub priority: Option<u16>,
    /// nemonetd: the configured tunnel MTU (the path between MR and HA less 40 bytes).
    pub tunnel_mtu: Option<u32>,
    /// nemonetd: the hop limit of the tunnel's outer header (RFC 2473 section 6.3).
    pub tunnel_hop_limit: Option<u8>,
    /// nemonetd on a home agent: the kernel routing table where it puts a plain route for
    /// each mobile network prefix it serves, for a routing daemon to redistribute.
    pub announce_table: Option<u32>,
}

/// What one level (the file or one `interface` block) contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub settings: Settings,
    pub prefixes: Vec<PrefixEntry>,
    pub static_tunnels: Vec<StaticTunnel>,
    pub dummy_tunnels: Vec<DummyTunnel>,
}

/// An `interface IFNAME { ... };` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub scope: Scope,
}

/// A whole, validated configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file name used in messages.
    pub file: String,
    pub global: Scope,
    /// Interface blocks in file order (names are unique).
    pub interfaces: Vec<Interface>,
}

impl Settings {
    /// `self` with every field that `over` sets replaced by `over`'s value.
    pub fn overlaid_with(&self, over: &Settings) -> Settings {
        macro_rules! pick {
            ($($f:ident),*) => { Settings { $($f: over.$f.clone().or_else(|| self.$f.clone()),)* } };
        }
        pick!(
            debug,
            namelookup,
            command_port,
            home_registration_lifetime,
            preference,
            key_management,
            ipv4_mnp_support,
            auth_database,
            authentication,
            home_agent_address,
            home_prefix,
            bus_directory,
            pid_file,
            bpf_directory,
            data_plane,
            ipv4_mnp_encoding,
            mobile_network_interface,
            ipv4_mnp_address,
            max_binding_lifetime,
            role,
            priority,
            tunnel_mtu,
            tunnel_hop_limit,
            announce_table
        )
    }

    /// The IPv4 MNP encoding, RFC 5555 numbers unless the file chose otherwise.
    pub fn ipv4_mnp_encoding_or_default(&self) -> Ipv4MnpEncoding {
        self.ipv4_mnp_encoding.unwrap_or(Ipv4MnpEncoding::Rfc5555)
    }

    /// Whether IPv4 MNPs are announced/accepted: on unless `ipv4-mnp-support 0;`.
    pub fn ipv4_mnp_support_or_default(&self) -> bool {
        self.ipv4_mnp_support.unwrap_or(true)
    }

    /// The home registration lifetime, [`DEFAULT_HOME_REGISTRATION_LIFETIME`] unless set.
    pub fn home_registration_lifetime_or_default(&self) -> Duration {
        self.home_registration_lifetime
            .unwrap_or(DEFAULT_HOME_REGISTRATION_LIFETIME)
    }

    /// The configured tunnel MTU, [`DEFAULT_TUNNEL_MTU`] unless the file set one.
    pub fn tunnel_mtu_or_default(&self) -> u32 {
        self.tunnel_mtu.unwrap_or(DEFAULT_TUNNEL_MTU)
    }

    /// The outer hop limit, [`DEFAULT_TUNNEL_HOP_LIMIT`] unless the file set one.
    pub fn tunnel_hop_limit_or_default(&self) -> u8 {
        self.tunnel_hop_limit.unwrap_or(DEFAULT_TUNNEL_HOP_LIMIT)
    }

    /// The data plane backend, `auto` unless the file chose one.
    pub fn data_plane_or_default(&self) -> DataPlane {
        self.data_plane.unwrap_or(DataPlane::Auto)
    }
}

impl Config {
    /// The interface block called `name`, if any.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// Settings in force for `ifname`: its block's statements over the global ones.
    pub fn settings_for(&self, ifname: &str) -> Settings {
        match self.interface(ifname) {
            Some(i) => self.global.settings.overlaid_with(&i.scope.settings),
            None => self.global.settings.clone(),
        }
    }

    fn scopes(&self) -> impl Iterator<Item = &Scope> {
        std::iter::once(&self.global).chain(self.interfaces.iter().map(|i| &i.scope))
    }

    /// Every prefixtable entry of the file, global ones first.
    pub fn prefix_entries(&self) -> impl Iterator<Item = &PrefixEntry> {
        self.scopes().flat_map(|s| s.prefixes.iter())
    }

    /// The prefixtable entries of one home address.
    pub fn prefixes_of(&self, home_address: Ipv6Addr) -> Vec<&PrefixEntry> {
        self.prefix_entries()
            .filter(|e| e.home_address == home_address)
            .collect()
    }

    /// Distinct home addresses of the prefixtable, in file order.
    pub fn home_addresses(&self) -> Vec<Ipv6Addr> {
        let mut seen = Vec::new();
        for e in self.prefix_entries() {
            if !seen.contains(&e.home_address) {
                seen.push(e.home_address);
            }
        }
        seen
    }

    /// Every static-tunnel line of the file.
    pub fn static_tunnels(&self) -> impl Iterator<Item = &StaticTunnel> {
        self.scopes().flat_map(|s| s.static_tunnels.iter())
    }

    /// Every ipv4-dummy-tunnel line of the file.
    pub fn dummy_tunnels(&self) -> impl Iterator<Item = &DummyTunnel> {
        self.scopes().flat_map(|s| s.dummy_tunnels.iter())
    }
}

impl std::fmt::Display for DataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataPlane::Seg6 => "seg6",
            DataPlane::Bpf => "bpf",
            DataPlane::Ip6tnl => "ip6tnl",
            DataPlane::Tun => "tun",
            DataPlane::Auto => "auto",
        })
    }
}

impl std::fmt::Display for Ipv4MnpEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ipv4MnpEncoding::Rfc5555 => f.write_str("rfc5555"),
            Ipv4MnpEncoding::ConfigOnly => f.write_str("config-only"),
            Ipv4MnpEncoding::Draft {
                prefix_option,
                status_option,
            } => write!(f, "draft (options {prefix_option} {status_option})"),
        }
    }
}

impl std::fmt::Display for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Authentication::Rfc4285 => "rfc4285",
            Authentication::None => "none",
        })
    }
}

impl std::fmt::Display for InterfaceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InterfaceRole::Home => "home",
            InterfaceRole::Egress => "egress",
        })
    }
}
