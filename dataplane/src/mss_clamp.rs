//! TCP MSS clamping for connections through the tunnel, with nftables (`nft -f -`).
//!
//! The seg6 path sends no ICMP when a forwarded packet no longer fits after encapsulation
//! (DESIGN.md section 2), so SYNs are clamped to the tunnel MTU minus the IPv4 (40) or
//! IPv6 (60) plus TCP headers. Rules match the registered prefixes as source or
//! destination, which covers both directions on both MR and HA.

use crate::error::{Error, Result};
use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt::Write as _;

/// IPv4 + TCP headers without options.
const V4_HEADERS: u32 = 40;
/// IPv6 + TCP headers without options.
const V6_HEADERS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClampSpec {
    pub mss4: u16,
    pub mss6: u16,
    pub prefixes4: Vec<Ipv4Net>,
    pub prefixes6: Vec<Ipv6Net>,
}

impl ClampSpec {
    /// `None` when there is nothing to clamp.
    pub fn new(
        tunnel_mtu: u32,
        mut prefixes4: Vec<Ipv4Net>,
        mut prefixes6: Vec<Ipv6Net>,
    ) -> Option<Self> {
        prefixes4.sort();
        prefixes4.dedup();
        prefixes6.sort();
        prefixes6.dedup();
        if prefixes4.is_empty() && prefixes6.is_empty() {
            return None;
        }
        let mss =
            |headers: u32| u16::try_from(tunnel_mtu.saturating_sub(headers)).unwrap_or(u16::MAX);
        Some(Self {
            mss4: mss(V4_HEADERS),
            mss6: mss(V6_HEADERS),
            prefixes4,
            prefixes6,
        })
    }

    /// The complete `inet <table>` definition.
    pub fn ruleset(&self, table: &str) -> String {
        // Every forwarded packet passes the base chain: it decides with one rule on the SYN
        // flag; the prefix sets are looked up for connection openings only.
        let mut s = format!(
            "table inet {table} {{\n  chain forward {{\n    type filter hook forward priority mangle; policy accept;\n    tcp flags & syn == syn jump opening\n  }}\n  chain opening {{\n"
        );
        let mut family = |proto: &str, set: String, mss: u16| {
            if set.is_empty() {
                return;
            }
            for dir in ["saddr", "daddr"] {
                let _ = writeln!(
                    s,
                    "    {proto} {dir} {{ {set} }} tcp option maxseg size > {mss} tcp option maxseg size set {mss}"
                );
            }
        };
        family("ip", join(&self.prefixes4), self.mss4);
        family("ip6", join(&self.prefixes6), self.mss6);
        s.push_str("  }\n}\n");
        s
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Makes the table exactly `spec` (or absent for `None`) in one nft transaction.
pub fn apply(table: &str, spec: Option<&ClampSpec>) -> Result<()> {
    let mut script = nftscript::fresh_table("inet", table);
    if let Some(spec) = spec {
        script.push_str(&spec.ruleset(table));
    }
    run_nft(&script)
}

pub(crate) fn run_nft(script: &str) -> Result<()> {
    nftscript::apply(script).map_err(|e| Error::Nft(e.to_string()))
}
