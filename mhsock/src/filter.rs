//! Keeps the kernel's ICMPv6 Parameter Problem answers to HAO / RH2 packets from leaving.
//!
//! A kernel without MIP6 drops a packet with a Home Address option (code 2) or a type 2
//! routing header (code 0) after the raw sockets got their copy, and answers it. The peer
//! must not see that answer. The rule matches the invoking packet inside the error: its IPv6
//! next header (byte 14 of the ICMPv6 message) is 60 or 43, and the byte after its fixed
//! header (byte 48: the extension header's own next header) is 135, a Mobility Header.

use crate::Error;
use std::process::Command;

/// An nftables table holding the drop rule, deleted when this guard is dropped (unless
/// [`ParamProblemFilter::keep`] was called for a graceful restart).
#[derive(Debug)]
pub struct ParamProblemFilter {
    table: String,
    keep: bool,
}

impl ParamProblemFilter {
    /// Installs (or replaces, after a crash) the table `ip6 <table>`.
    pub fn install(table: &str) -> Result<Self, Error> {
        let ruleset = nftscript::fresh_table("ip6", table)
            + &format!(
                "table ip6 {table} {{\n\
               chain output {{\n\
                 type filter hook output priority 0; policy accept;\n\
                 icmpv6 type parameter-problem @th,112,8 {{ 43, 60 }} @th,384,8 135 counter drop\n\
               }}\n\
             }}\n"
            );
        nft(&ruleset)?;
        Ok(Self {
            table: table.to_string(),
            keep: false,
        })
    }

    /// How many errors the rule has dropped so far.
    pub fn dropped(&self) -> Result<u64, Error> {
        let out = Command::new("nft")
            .args(["list", "table", "ip6", &self.table])
            .output()
            .map_err(|e| Error::Nft(e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::Nft(format!("no counter in table {}", self.table)))
    }

    /// Leaves the table in place when dropped (graceful restart: the next instance adopts it).
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for ParamProblemFilter {
    fn drop(&mut self) {
        if !self.keep {
            if let Err(e) = nft(&format!("delete table ip6 {}\n", self.table)) {
                tracing::warn!("cannot remove nftables table {}: {e}", self.table);
            }
        }
    }
}

fn nft(ruleset: &str) -> Result<(), Error> {
    nftscript::apply(ruleset).map_err(|e| Error::Nft(e.to_string()))
}
