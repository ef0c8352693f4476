//! What a home agent and a mobile router are configured with.

use ipnet::{Ipv4Net, Ipv6Net};
use mip6::ParseContext;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::Duration;

/// How IPv4 mobile network prefixes travel between MR and HA (the paper's two methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ipv4Encoding {
    /// Configured on both ends, never signalled (the paper's first method).
    ConfigOnly,
    /// IPv4 Home Address option with the P flag, IPv4 Address Acknowledgement (RFC 5555).
    Rfc5555,
    /// draft-shima-nemo-v4prefix options, under the numbers of the [`ParseContext`].
    Draft,
}

/// An MN-HA security association (RFC 4285): SPI and shared key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityAssociation {
    pub spi: u32,
    pub key: Vec<u8>,
}

/// Whether a prefixtable entry is named by the MR in its BU or taken from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrefixMode {
    Explicit,
    Implicit,
}

/// What the home agent knows about one mobile router (keyed by home address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePolicy {
    /// May act as a mobile router (R flag); a node without prefixes is a mobile host.
    pub router: bool,
    pub mnp6: Vec<(Ipv6Net, PrefixMode)>,
    pub mnp4: Vec<(Ipv4Net, PrefixMode)>,
}

/// The home agent's configuration.
#[derive(Debug, Clone)]
pub struct HaPolicy {
    /// Prefixes of the home link; a home address outside them gets status 132.
    pub home_prefixes: Vec<Ipv6Net>,
    /// Cap on the lifetime granted in a BA.
    pub max_lifetime: Duration,
    /// The nodes this HA serves; any other home address gets status 133.
    pub nodes: BTreeMap<Ipv6Addr, NodePolicy>,
    /// Whether IPv4 MNPs are supported at all. Without it IPv4 options are ignored, as the
    /// paper requires of an HA that does not know them.
    pub ipv4_mnp_support: bool,
    /// Option numbering (the draft IPv4 options, when enabled).
    pub dialect: ParseContext,
    /// With `Some`, every BU must be authenticated (RFC 4285) with one of its node's
    /// associations (several during a key rotation; SPIs are unique). `None` is the
    /// operator's explicit `authentication none;`: every accepted BU is logged as
    /// unauthenticated.
    pub auth: Option<BTreeMap<Ipv6Addr, Vec<SecurityAssociation>>>,
    /// The home agent's own addresses: never acceptable as a care-of address (a binding
    /// there would loop the mobile network's traffic back into the home agent).
    pub local_addresses: Vec<Ipv6Addr>,
    /// How far a replay protection timestamp may be from the HA's clock.
    pub replay_window: Duration,
}

/// The mobile router's configuration.
#[derive(Debug, Clone)]
pub struct MrPolicy {
    pub home_address: Ipv6Addr,
    pub home_agent: Ipv6Addr,
    /// IPv6 MNPs; explicit ones are named in MNP options, implicit ones are left to the
    /// HA's prefixtable (RFC 3963 6.1.2).
    pub mnp6: Vec<(Ipv6Net, PrefixMode)>,
    pub mnp4: Vec<Ipv4Net>,
    pub ipv4_encoding: Ipv4Encoding,
    pub dialect: ParseContext,
    /// Lifetime asked for in each BU.
    pub lifetime: Duration,
    pub auth: Option<SecurityAssociation>,
}
