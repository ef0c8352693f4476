//! No ICMPv6 errors from this node about tunnel packets it did not take: every backend.
//!
//! A tunnel packet (next header 4 or 41) to our endpoint that no decapsulation claims gets
//! an error from the kernel: Parameter Problem (unrecognized next header) where no tunnel
//! handler is loaded, port unreachable where ip6_tunnel's tunnel6 is (it answers what no
//! tunnel device claims). That happens to a peer's packets in moments the decapsulation
//! is not (yet) there for it, e.g. packets from a new care-of address before its binding
//! (the seg6 tunnel source moves ahead of the registration), the tun relay restarting, a
//! kernel with ip6_tunnel and the relay's raw sockets both taking the packet; and to a
//! stranger's. A peer such as UMIP relays them to the inner sender ("+N errors" in ping);
//! a stranger learns nothing useful from them. They are dropped on their way out.
//! (ICMPv6 payload offset 14 is the quoted packet's next header.)

use crate::error::{Error, Result};

/// The nftables table for the tunnel named `nft_table` (the MSS clamp's).
pub fn table(nft_table: &str) -> String {
    format!("{nft_table}_quiet")
}

fn script(table: &str) -> String {
    let mut script = nftscript::fresh_table("inet", table);
    script.push_str(&format!(
        "table inet {table} {{\n\
         \tchain output {{\n\
         \t\ttype filter hook output priority 0; policy accept;\n\
         \t\ticmpv6 type destination-unreachable icmpv6 code port-unreachable @th,112,8 {{ 4, 41 }} counter drop\n\
         \t\ticmpv6 type parameter-problem icmpv6 code 1 @th,112,8 {{ 4, 41 }} counter drop\n\
         \t}}\n\
         }}\n"
    ));
    script
}

/// Installs (or replaces) the table.
pub fn install(table: &str) -> Result<()> {
    nftscript::apply(&script(table)).map_err(|e| Error::Nft(e.to_string()))
}

/// Removes the table (nothing when it is not there).
pub fn remove(table: &str) -> Result<()> {
    nftscript::apply(&nftscript::fresh_table("inet", table)).map_err(|e| Error::Nft(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_replaces_itself_and_drops_both_errors() {
        let s = super::script("nemonetd_quiet");
        assert!(s.starts_with("table inet nemonetd_quiet\ndelete table inet nemonetd_quiet\n"));
        assert!(s.contains("icmpv6 code port-unreachable @th,112,8 { 4, 41 } counter drop"));
        assert!(s.contains(
            "icmpv6 type parameter-problem icmpv6 code 1 @th,112,8 { 4, 41 } counter drop"
        ));
    }
}
