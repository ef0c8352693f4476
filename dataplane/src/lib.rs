//! The nemonetd data plane: IPv4- and IPv6-in-IPv6 tunnels (RFC 2473) between a mobile
//! router (MR) and its home agent (HA), with the routes of RFC 3963 and the paper's IPv4
//! mobile network prefixes.
//!
//! The caller describes the *desired* state (the MR's current registration, or the HA's
//! full binding set) and [`DataPlane`] reconciles the kernel to it: everything it installs
//! carries the route protocol [`ROUTE_PROTOCOL`], so a restarted daemon finds its own
//! routes and rules, keeps what matches, replaces what changed and deletes what is stale.
//! Four backends behind one contract (module `backend`): kernel `seg6` lightweight
//! tunnels, Linux's IPv6 tunnel devices (`ip6tnl`, one per binding), BPF programs (`encap
//! bpf xmit` routes and a tc ingress decapsulation), or a userspace TUN relay (see
//! [`Backend`] and [`probe`]).
//!
//! # Kernel state (all with `proto 168`)
//!
//! MR, registered (HoA, CoA, HA, MNPs), seg6 backend:
//! ```text
//! default encap seg6 mode encap.red segs 1 [ HA ] dev UPLINK src INSIDE_V4 mtu 1460
//! default from MNP6 encap seg6 mode encap.red segs 1 [ HA ] dev UPLINK metric 1024 mtu 1460
//! default from HOA encap seg6 mode encap.red segs 1 [ HA ] dev UPLINK metric 1024 mtu 1460
//! table 16804: COA from HA encap seg6local action End.DX4 nh4 0.0.0.0 dev UPLINK
//! table 16841: COA from HA encap seg6local action End.DT6 table main dev UPLINK
//! main:        local HOA dev lo (End.DT6 sees only the main table)
//! ip -6 rule: 50: to COA ipproto ipencap lookup 16804; 50: to COA ipproto ipv6 lookup 16841
//!             100: lookup local (moved from pref 0, restored on teardown)
//! ip sr tunsrc: COA
//! ```
//! HA, per binding: `MNP4`, `MNP6` and `HOA/128` `encap seg6 ... segs [ COA ] dev HOME_IF
//! mtu 1460`; `HA from COA` End.DX4/End.DT6 in tables 16804/16841; the same rules with
//! `to HA`; `ip sr tunsrc` = HA. The tun backend installs the same main-table routes as
//! plain routes `dev nemo0` (MTU 1460) and no rules: the relay checks the outer source.
//! The bpf backend installs them as `encap bpf xmit nemo_encap-TAG dev UPLINK` (IPv6 with
//! `mtu lock`), no rules; its maps hold the peers (module `bpf`), and its decapsulation
//! program sits at tc ingress of the uplink / home interface. The ip6tnl backend makes one
//! `ip -6 tunnel` device per binding (`nemoN`, mode any, `encaplimit none`, the configured
//! hop limit, MTU = that binding's tunnel MTU, alias `shisa HOA`) and installs the same
//! routes as plain routes into it; the kernel decapsulates what the device's remote sends
//! to its local address and nothing else, so no rules.
//! Every backend: nftables `table inet <nft_table>` clamping the TCP MSS of SYNs from or
//! to the registered prefixes to tunnel MTU - 40 (IPv4) / - 60 (IPv6).
//!
//! Path MTU (RFC 2473 sections 7 and 8; module `pmtu`): the seg6 backend adds a path for
//! packets longer than the tunnel MTU, which the kernel's seg6 encapsulation would drop
//! without a word. While registered:
//! ```text
//! nft table inet <nft_table>_pmtu: prerouting, packets into the tunnel (MR: iif INSIDE;
//!     HA: to the MNPs/home addresses) with tunnel MTU < length <= largest interface MTU
//!     -> meta mark 0xa8 (IPv6: at most 100/s, the kernel does not rate-limit PTBs)
//! ip rule / ip -6 rule: pref 150 fwmark 0xa8 lookup 16880
//! table 16880: default via 169.254.168.2 / fe80::a8:2 dev nemo-pmtu (proto static)
//! veth nemo-pmtu <-> nemo-pmtu-rx, MTU = tunnel MTU
//! ```
//! The kernel forwarding into `nemo-pmtu` sends Fragmentation Needed / Packet Too Big with
//! the tunnel MTU, or fragments IPv4 without DF; what fits comes back on `nemo-pmtu-rx`
//! and takes the seg6 route. The tun backend needs no steering (`nemo0` has the tunnel
//! MTU); it gets only the IPv6 rate bound of the same nftables table.
//! [`DataPlane::outer_packet_too_big`] (fed by a [`PtbSocket`]) lowers the tunnel MTU when
//! the access network reports a narrower path, and [`DataPlane::set_path_mtu`] changes it
//! at run time: route MTUs, `nemo0`, the oversize path and the MSS clamp follow.

mod backend;
mod bpf;
mod dataplane;
mod desired;
mod error;
mod hop_limit;
mod model;
mod mss_clamp;
mod netlink;
mod pmtu;
mod reconcile;
mod seg6_tunsrc;
mod sysctl;
mod tun;
mod tunnel_errors;

pub use backend::{probe, Backend};
pub use bpf::BpfStats;

/// The bpf backend's decapsulation programs at ingress of an interface (tcx or clsact), by
/// name: for tests and diagnostics.
pub fn bpf_ingress_programs(ifname: &str) -> Result<Vec<String>, Error> {
    Ok(bpf::ingress_programs(netlink::Netlink::ifindex(ifname)?))
}
pub use dataplane::{ApplyReport, DataPlane};
pub use error::Error;
pub use model::{HaBinding, HaConfig, HomeRouter, MrConfig, MrRegistration, Role, TunnelSettings};
pub use pmtu::icmp::{OuterError, OuterPtb, OuterUnreachable};
pub use pmtu::oversize::{LINK as OVERSIZE_LINK, MARK as OVERSIZE_MARK, TABLE as OVERSIZE_TABLE};
pub use pmtu::socket::OuterIcmpSocket;
pub use tun::RelayStats;

/// Sets the seg6 tunnel source ahead of the registration that will need it (an MR that
/// just got a new care-of address). Blocks for an RCU grace period: the kernel swaps the
/// address first and then waits for readers, so call it off the owner task; the apply
/// that follows finds it already set.
pub fn preset_tunnel_source(addr: std::net::Ipv6Addr) -> Result<(), Error> {
    if seg6_tunsrc::get()? != addr {
        seg6_tunsrc::set(addr)?;
    }
    Ok(())
}

/// Prepares a mobile router's forwarding before its first registration (see
/// [`DataPlane::new`]): the mobile network interface routes, the uplinks stay hosts.
pub fn prepare_mobile_router(inside: &str) -> Result<(), Error> {
    sysctl::mr_forwarding(None, &[inside])
}

/// Route protocol number on every route and rule the data plane installs
/// (`ip route show proto 168`). 168 (0xA8) is not listed in iproute2's `rt_protos`.
pub const ROUTE_PROTOCOL: u8 = 168;

/// Routing table of the IPv4-in-IPv6 decapsulation routes (seg6 backend).
pub const DECAP_IPV4_TABLE: u32 = 16804;
/// Routing table of the IPv6-in-IPv6 decapsulation routes (seg6 backend).
pub const DECAP_IPV6_TABLE: u32 = 16841;
/// Preference of the `ipproto ipencap|ipv6 to <endpoint>` rules; must be below
/// [`LOCAL_RULE_PREF`] so they are consulted before the local table.
pub const DECAP_RULE_PREF: u32 = 50;
/// Where the IPv6 `lookup local` rule moves from preference 0 (seg6 backend).
pub const LOCAL_RULE_PREF: u32 = 100;
