//! The outer hop limit where the encapsulation does not set its own (seg6 copies the inner
//! packet's into the outer header for IPv6 inside): RFC 2473 section 6.3 wants the entry
//! point's own. An nftables rule rewrites the hop limit of outer packets (next header 4 or
//! 41 from our endpoint) after the encapsulation, in the postrouting hook, which sees the
//! outer header of forwarded and locally sent packets alike.

use crate::error::Result;
use crate::mss_clamp::run_nft;
use std::net::Ipv6Addr;

/// The rule's parameters: our tunnel endpoint, the hop limit to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopLimitSpec {
    pub local: Ipv6Addr,
    pub hop_limit: u8,
}

/// The `ip6` table of the rule, beside the data plane's other tables.
pub fn nft_table(base: &str) -> String {
    format!("{base}_hoplimit")
}

impl HopLimitSpec {
    /// The complete `ip6 <table>` definition.
    pub fn ruleset(&self, table: &str) -> String {
        let Self { local, hop_limit } = self;
        format!(
            "table ip6 {table} {{\n\
             \tchain postrouting {{\n\
             \t\ttype filter hook postrouting priority mangle; policy accept;\n\
             \t\tip6 nexthdr {{ 4, 41 }} ip6 saddr {local} ip6 hoplimit != {hop_limit} ip6 hoplimit set {hop_limit}\n\
             \t}}\n\
             }}\n"
        )
    }
}

/// Makes the table exactly `spec` (or absent for `None`) in one nft transaction.
pub fn apply(table: &str, spec: Option<&HopLimitSpec>) -> Result<()> {
    let mut script = nftscript::fresh_table("ip6", table);
    if let Some(spec) = spec {
        script.push_str(&spec.ruleset(table));
    }
    run_nft(&script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_sets_the_hop_limit_of_our_outer_packets_only() {
        let spec = HopLimitSpec {
            local: "2001:db8:290::1".parse().unwrap(),
            hop_limit: 42,
        };
        let table = nft_table("nemonetd");
        assert_eq!(table, "nemonetd_hoplimit");
        let text = spec.ruleset(&table);
        assert!(
            text.starts_with("table ip6 nemonetd_hoplimit {\n"),
            "{text}"
        );
        assert!(text.contains("type filter hook postrouting priority mangle; policy accept;"));
        assert!(text.contains(
            "ip6 nexthdr { 4, 41 } ip6 saddr 2001:db8:290::1 ip6 hoplimit != 42 ip6 hoplimit set 42"
        ));
        // The table replaces itself (an older rule of another endpoint goes).
        let mut script = nftscript::fresh_table("ip6", &table);
        script.push_str(&text);
        assert!(
            script.starts_with("table ip6 nemonetd_hoplimit\ndelete table ip6 nemonetd_hoplimit\n")
        );
    }
}
