//! The authentication database: `HOME-ADDRESS SPI HEX-KEY` lines, `#` comments, blank lines
//! ignored. Keys are for the RFC 4285 MN-HA authentication option. A home address may have
//! several lines (several SPIs valid at once, for key rotation); SPIs are unique. The home
//! agent accepts any of a home address's SPIs; the mobile router signs with the last line
//! for its home address.
//!
//! The file holds secrets: [`AuthDatabase::load`] refuses it, like OpenSSH refuses a private
//! key, when group or others may read or write it, or when it is owned by someone other than
//! root (or the user the daemon runs as).

use std::fmt;
use std::net::Ipv6Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Pos};
use crate::model::{Authentication, Config};

/// How `mipsock keygen` is named in messages about missing or placeholder keys.
pub const KEYGEN_HINT: &str = "make a key line with 'mipsock keygen HOME-ADDRESS' and put it in the auth database of both the mobile router and its home agent";

/// SPIs 0 to 255 are reserved by RFC 4285.
pub const FIRST_USABLE_SPI: u32 = 256;

/// One line of the database.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthEntry {
    pub home_address: Ipv6Addr,
    pub spi: u32,
    pub key: Vec<u8>,
}

// Key material stays out of logs.
impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("home_address", &self.home_address)
            .field("spi", &self.spi)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthDatabase {
    pub entries: Vec<AuthEntry>,
}

impl AuthDatabase {
    /// Parses database `text`; `file` names it in error messages.
    pub fn parse_str(text: &str, file: &str) -> Result<AuthDatabase, ConfigError> {
        let mut entries: Vec<(AuthEntry, Pos)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index as u32 + 1;
            let content = raw.split('#').next().unwrap_or("");
            let fields = fields_with_columns(content);
            let Some(&(col, hoa_word)) = fields.first() else {
                continue;
            };
            let err = |col: u32, m: String| ConfigError::at(file, Pos { line, col }, m);
            let end = Pos {
                line,
                col: content.trim_end().chars().count() as u32 + 1,
            };
            let home_address: Ipv6Addr = hoa_word.parse().map_err(|_| {
                err(
                    col,
                    format!("'{hoa_word}' is not an IPv6 home address; {KEYGEN_HINT}"),
                )
            })?;
            let Some(&(spi_col, spi_word)) = fields.get(1) else {
                return Err(err(end.col, "expected SPI after home address".into()));
            };
            let spi: u32 = spi_word
                .parse()
                .map_err(|_| err(spi_col, format!("SPI '{spi_word}' is not a number")))?;
            if spi < FIRST_USABLE_SPI {
                return Err(err(
                    spi_col,
                    format!("SPI {spi} is reserved (0-255, RFC 4285); use 256 or above"),
                ));
            }
            let Some(&(key_col, key_word)) = fields.get(2) else {
                return Err(err(end.col, "expected HEX-KEY after SPI".into()));
            };
            let key = parse_hex(key_word).map_err(|m| err(key_col, m))?;
            if let Some(&(extra_col, extra)) = fields.get(3) {
                return Err(err(extra_col, format!("unexpected '{extra}' after key")));
            }
            for (other, at) in &entries {
                if other.spi == spi {
                    return Err(err(spi_col, format!("SPI {spi} already used at {at}")));
                }
            }
            entries.push((
                AuthEntry {
                    home_address,
                    spi,
                    key,
                },
                Pos { line, col },
            ));
        }
        Ok(AuthDatabase {
            entries: entries.into_iter().map(|(e, _)| e).collect(),
        })
    }

    /// Checks the file's owner and mode ([`check_key_file`]), then reads and parses it.
    pub fn load(path: &Path) -> Result<AuthDatabase, ConfigError> {
        check_key_file(path)?;
        let text = crate::read_text(path)?;
        Self::parse_str(&text, &path.display().to_string())
    }

    /// The entry a mobile router signs with: the last line for its home address (add the new
    /// key's line at the end to rotate).
    pub fn by_home_address(&self, hoa: Ipv6Addr) -> Option<&AuthEntry> {
        self.entries.iter().rev().find(|e| e.home_address == hoa)
    }

    /// Every entry of a home address, in file order: a home agent accepts any of them.
    pub fn all_for(&self, hoa: Ipv6Addr) -> impl Iterator<Item = &AuthEntry> {
        self.entries.iter().filter(move |e| e.home_address == hoa)
    }

    /// The entry of an SPI.
    pub fn by_spi(&self, spi: u32) -> Option<&AuthEntry> {
        self.entries.iter().find(|e| e.spi == spi)
    }
}

/// Refuses a key file that group or others may read or write, or that is owned by someone
/// other than root or the effective user (like OpenSSH with private keys).
pub fn check_key_file(path: &Path) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::file(
            path.display(),
            format!(
                "mode {mode:04o} lets group or others read or write the keys: refused \
                 (chmod 600 {})",
                path.display()
            ),
        ));
    }
    let uid = meta.uid();
    let me = nix::unistd::geteuid().as_raw();
    if uid != 0 && uid != me {
        return Err(ConfigError::file(
            path.display(),
            format!(
                "owned by uid {uid}, not by root (mode {mode:04o}): refused (chown root {})",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// How one interface's Binding Updates are authenticated, as the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSetup {
    /// RFC 4285 with the keys of this database (a relative path already taken relative to
    /// the configuration file's directory).
    Database(PathBuf),
    /// `authentication none;`: explicitly without authentication.
    None,
}

impl Config {
    /// The authentication in force for `ifname`. `config_path` is where the file was read
    /// (relative auth-database paths are relative to its directory). Refuses a file that
    /// makes no choice: an auth-database, or `authentication none;`, is required (not both).
    pub fn auth_setup(&self, ifname: &str, config_path: &Path) -> Result<AuthSetup, ConfigError> {
        let s = self.settings_for(ifname);
        let refuse = |m: String| ConfigError::file(&self.file, format!("interface {ifname}: {m}"));
        match (s.authentication, s.auth_database) {
            (Some(Authentication::None), Some(db)) => Err(refuse(format!(
                "'authentication none;' and auth-database \"{}\" exclude each other",
                db.display()
            ))),
            (Some(Authentication::None), None) => Ok(AuthSetup::None),
            (_, Some(p)) => Ok(AuthSetup::Database(if p.is_relative() {
                config_path.parent().unwrap_or(Path::new(".")).join(p)
            } else {
                p
            })),
            (_, None) => Err(refuse(format!(
                "no authentication configured: name an auth-database (keys: {KEYGEN_HINT}), \
                 or write 'authentication none;' to run without authenticating Binding Updates"
            ))),
        }
    }
}

/// Whitespace-separated fields with their 1-based columns.
fn fields_with_columns(line: &str) -> Vec<(u32, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, u32)> = None;
    let mut col = 0u32;
    for (byte, c) in line.char_indices() {
        col += 1;
        match (c.is_whitespace(), start) {
            (false, None) => start = Some((byte, col)),
            (true, Some((b, at))) => {
                out.push((at, &line[b..byte]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((b, at)) = start {
        out.push((at, &line[b..]));
    }
    out
}

/// Messages never echo the key: a typo in a key must not put key material in the logs.
fn parse_hex(word: &str) -> Result<Vec<u8>, String> {
    let digits = word
        .strip_prefix("0x")
        .or_else(|| word.strip_prefix("0X"))
        .unwrap_or(word);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("key is not hexadecimal".to_string());
    }
    if digits.len() & 1 == 1 {
        return Err(format!(
            "key has an odd number of hex digits ({})",
            digits.len()
        ));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| "key is not hexadecimal".to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_one_based_and_skip_runs_of_blanks() {
        assert_eq!(
            fields_with_columns("  a\tbb  c"),
            vec![(3, "a"), (5, "bb"), (9, "c")]
        );
    }

    #[test]
    fn hex_accepts_0x_and_both_cases() {
        assert_eq!(parse_hex("0xA0ff").unwrap(), vec![0xa0, 0xff]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let e = AuthEntry {
            home_address: Ipv6Addr::LOCALHOST,
            spi: 300,
            key: vec![0xde, 0xad],
        };
        let shown = format!("{e:?}");
        assert!(
            shown.contains("<2 bytes>") && !shown.contains("222"),
            "{shown}"
        );
    }
}
