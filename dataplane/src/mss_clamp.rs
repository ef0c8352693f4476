//! TCP MSS clamping for connections through the tunnel, with nftables (`nft -f -`).
//!
//! The seg6 path sends no ICMP when a forwarded packet no longer fits after encapsulation
//! (DESIGN.md section 2), so SYNs are clamped to the tunnel MTU minus the IPv4 (40) or
//! IPv6 (60) plus TCP headers. Rules match the registered prefixes as source or
//! destination, which covers both directions on both MR and HA.

use crate::error::{Error, Result};
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// IPv4 + TCP headers without options.
const V4_HEADERS: u32 = 40;
/// IPv6 + TCP headers without options.
const V6_HEADERS: u32 = 60;

/// The clamp of every tunnel: one group per tunnel MTU (an HA may have lowered the MTU
/// towards some mobile routers only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClampSpec {
    pub groups: Vec<ClampGroup>,
}

/// Prefixes behind tunnels of one MTU and the MSS their connections get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClampGroup {
    pub mss4: u16,
    pub mss6: u16,
    pub prefixes4: Vec<Ipv4Net>,
    pub prefixes6: Vec<Ipv6Net>,
}

impl ClampSpec {
    /// One tunnel MTU for all prefixes; `None` when there is nothing to clamp.
    pub fn new(tunnel_mtu: u32, prefixes4: Vec<Ipv4Net>, prefixes6: Vec<Ipv6Net>) -> Option<Self> {
        Self::grouped([(tunnel_mtu, prefixes4, prefixes6)])
    }

    /// Prefixes per tunnel MTU (entries of the same MTU merge); `None` when there is
    /// nothing to clamp.
    pub fn grouped(
        entries: impl IntoIterator<Item = (u32, Vec<Ipv4Net>, Vec<Ipv6Net>)>,
    ) -> Option<Self> {
        let mut by_mtu: BTreeMap<u32, (Vec<Ipv4Net>, Vec<Ipv6Net>)> = BTreeMap::new();
        for (mtu, p4, p6) in entries {
            let e = by_mtu.entry(mtu).or_default();
            e.0.extend(p4);
            e.1.extend(p6);
        }
        let mss =
            |mtu: u32, headers: u32| u16::try_from(mtu.saturating_sub(headers)).unwrap_or(u16::MAX);
        // Largest MTU first: where prefixes overlap, a later (smaller) clamp still applies.
        let groups: Vec<ClampGroup> = by_mtu
            .into_iter()
            .rev()
            .filter_map(|(mtu, (mut prefixes4, mut prefixes6))| {
                prefixes4.sort();
                prefixes4.dedup();
                prefixes6.sort();
                prefixes6.dedup();
                (!prefixes4.is_empty() || !prefixes6.is_empty()).then(|| ClampGroup {
                    mss4: mss(mtu, V4_HEADERS),
                    mss6: mss(mtu, V6_HEADERS),
                    prefixes4,
                    prefixes6,
                })
            })
            .collect();
        (!groups.is_empty()).then_some(Self { groups })
    }

    /// The complete `inet <table>` definition.
    pub fn ruleset(&self, table: &str) -> String {
        // Every forwarded packet passes the base chain: it decides with one rule on the SYN
        // flag; the prefix sets are looked up for connection openings only.
        let mut s = format!(
            "table inet {table} {{\n  chain forward {{\n    type filter hook forward priority mangle; policy accept;\n    tcp flags & syn == syn jump opening\n  }}\n  chain opening {{\n"
        );
        for g in &self.groups {
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
            family("ip", join(&g.prefixes4), g.mss4);
            family("ip6", join(&g.prefixes6), g.mss6);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_per_tunnel_mtu_largest_first_and_merged() {
        let p4 = |s: &str| vec![s.parse::<Ipv4Net>().unwrap()];
        let p6 = |s: &str| vec![s.parse::<Ipv6Net>().unwrap()];
        let spec = ClampSpec::grouped([
            (1360, p4("10.0.1.0/24"), vec![]),
            (1460, p4("10.0.0.0/24"), p6("2001:db8:281::/64")),
            (1360, p4("10.0.2.0/24"), vec![]),
            (1400, vec![], vec![]),
        ])
        .unwrap();
        assert_eq!(
            spec.groups.len(),
            2,
            "empty groups vanish, equal MTUs merge"
        );
        assert_eq!((spec.groups[0].mss4, spec.groups[0].mss6), (1420, 1400));
        assert_eq!(spec.groups[1].mss4, 1320);
        assert_eq!(spec.groups[1].prefixes4.len(), 2);
        let text = spec.ruleset("t");
        assert!(text.contains("tcp flags & syn == syn jump opening"));
        assert!(text.contains(
            "ip daddr { 10.0.1.0/24, 10.0.2.0/24 } tcp option maxseg size > 1320 tcp option maxseg size set 1320"
        ));
        assert!(text.contains("ip6 saddr { 2001:db8:281::/64 } tcp option maxseg size > 1400"));
        assert!(ClampSpec::grouped([(1460, vec![], vec![])]).is_none());
    }
}
