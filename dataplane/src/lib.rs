//! The nemonetd data plane: IPv4- and IPv6-in-IPv6 tunnels (RFC 2473) between a mobile
//! router (MR) and its home agent (HA), with the routes of RFC 3963 and the paper's IPv4
//! mobile network prefixes.
//!
//! The caller describes the *desired* state (the MR's current registration, or the HA's
//! full binding set) and [`DataPlane`] reconciles the kernel to it: everything it installs
//! carries the route protocol [`ROUTE_PROTOCOL`], so a restarted daemon finds its own
//! routes and rules, keeps what matches, replaces what changed and deletes what is stale.
//! Two backends: kernel `seg6` lightweight tunnels, or a userspace TUN relay
//! (see [`Backend`] and [`probe`]).

mod backend;
mod dataplane;
mod desired;
mod error;
mod model;
mod mss_clamp;
mod netlink;
mod reconcile;
mod seg6_tunsrc;
mod sysctl;
mod tun;

pub use backend::{probe, Backend};
pub use dataplane::{ApplyReport, DataPlane};
pub use desired::{RouteAction, RouteSpec, RuleSpec};
pub use error::Error;
pub use model::{HaBinding, HaConfig, MrConfig, MrRegistration, Role, TunnelSettings};
pub use tun::RelayStats;

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
