//! The authentication database: one `HOME-ADDRESS SPI HEX-KEY` line per mobile router,
//! `#` comments, blank lines ignored. Keys are for the RFC 4285 MN-HA authentication option.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::Path;

use crate::error::{ConfigError, Pos};

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
            let home_address: Ipv6Addr = hoa_word
                .parse()
                .map_err(|_| err(col, format!("'{hoa_word}' is not an IPv6 home address")))?;
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
                if other.home_address == home_address {
                    return Err(err(
                        col,
                        format!("home address {home_address} already has an entry at {at}"),
                    ));
                }
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

    /// Reads and parses the database at `path`.
    pub fn load(path: &Path) -> Result<AuthDatabase, ConfigError> {
        let text = crate::read_text(path)?;
        Self::parse_str(&text, &path.display().to_string())
    }

    /// The entry of a home address.
    pub fn by_home_address(&self, hoa: Ipv6Addr) -> Option<&AuthEntry> {
        self.entries.iter().find(|e| e.home_address == hoa)
    }

    /// The entry of an SPI.
    pub fn by_spi(&self, spi: u32) -> Option<&AuthEntry> {
        self.entries.iter().find(|e| e.spi == spi)
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
