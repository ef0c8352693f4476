//! nftables scripts applied as one transaction by feeding them to `nft -f -`: there is no
//! well-kept netlink nftables crate, and nft applies a whole script atomically.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("cannot run nft: {0}")]
    Spawn(std::io::Error),
    #[error("talking to nft: {0}")]
    Io(std::io::Error),
    /// nft refused the script; its own message.
    #[error("{0}")]
    Refused(String),
}

/// Applies `script`; all of it or nothing.
pub fn apply(script: &str) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(NftError::Io)?;
    }
    let out = child.wait_with_output().map_err(NftError::Io)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError::Refused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// The start of a script that replaces table `family name` whatever is there: declaring it
/// first makes the delete succeed whether or not it existed. Append the new table after it.
pub fn fresh_table(family: &str, name: &str) -> String {
    format!("table {family} {name}\ndelete table {family} {name}\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn fresh_table_declares_then_deletes() {
        assert_eq!(
            super::fresh_table("ip6", "t"),
            "table ip6 t\ndelete table ip6 t\n"
        );
    }
}
