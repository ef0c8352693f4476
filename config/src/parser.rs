//! Recursive-descent parser for SHISA's `cfparse.y` grammar plus our Linux extensions.
//!
//! ```text
//! file       := stmt* EOF
//! stmt       := setting | interface | block
//! setting    := KEYWORD value+ ';'
//! interface  := 'interface' IFNAME '{' stmt* '}' ';'        (not nested)
//! block      := 'prefixtable' '{' (HOA PREFIX/LEN ('explicit'|'implicit') [BID] ';')* '}' ';'
//!             | 'static-tunnel' '{' (IFNAME HOA [BID] ';')* '}' ';'
//!             | 'ipv4-dummy-tunnel' '{' (IFNAME MR-V4 HA-V4 ';')* '}' ';'
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::ast::{DummyLine, EncodingName, PrefixLine, Setting, Stmt, TunnelLine};
use crate::error::{ConfigError, Pos};
use crate::lexer::{Token, TokenKind};
use crate::model::{
    Authentication, DataPlane, DummyTunnel, InterfaceRole, PrefixEntry, PrefixMode, StaticTunnel,
    MAX_TUNNEL_MTU, MIN_TUNNEL_MTU,
};

/// The longest home registration lifetime a BU can carry: 65535 units of 4 seconds.
pub const MAX_LIFETIME_SECS: i64 = 65535 * 4;

/// Every statement keyword, for "did you mean" hints.
pub const KEYWORDS: &[&str] = &[
    "debug",
    "namelookup",
    "command-port",
    "home-registration-lifetime",
    "preference",
    "key-management",
    "ipv4-mnp-support",
    "auth-database",
    "authentication",
    "interface",
    "prefixtable",
    "static-tunnel",
    "ipv4-dummy-tunnel",
    "home-agent-address",
    "home-prefix",
    "bus-directory",
    "pid-file",
    "bpf-directory",
    "data-plane",
    "ipv4-mnp-encoding",
    "draft-option-numbers",
    "mobile-network-interface",
    "ipv4-mnp-address",
    "max-binding-lifetime",
    "role",
    "priority",
    "tunnel-mtu",
    "tunnel-hop-limit",
    "announce-table",
];

pub struct Parser<'a> {
    file: &'a str,
    tokens: Vec<Token>,
    next: usize,
}

impl<'a> Parser<'a> {
    pub fn new(file: &'a str, tokens: Vec<Token>) -> Self {
        Parser {
            file,
            tokens,
            next: 0,
        }
    }

    pub fn parse_file(mut self) -> Result<Vec<Stmt>, ConfigError> {
        self.statements(None)
    }

    fn err(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, pos, message)
    }

    fn peek(&self) -> &Token {
        // The lexer always ends the stream with Eof, and we never move past it.
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let tok = self.peek().clone();
        if tok.kind != TokenKind::Eof {
            self.next += 1;
        }
        tok
    }

    fn expect_semi(&mut self, after: &str) -> Result<(), ConfigError> {
        let tok = self.bump();
        match tok.kind {
            TokenKind::Semi => Ok(()),
            other => Err(self.err(
                tok.pos,
                format!("expected ';' after {after}, found {other}"),
            )),
        }
    }

    fn expect_lbrace(&mut self, after: &str) -> Result<(), ConfigError> {
        let tok = self.bump();
        match tok.kind {
            TokenKind::LBrace => Ok(()),
            other => Err(self.err(
                tok.pos,
                format!("expected '{{' after {after}, found {other}"),
            )),
        }
    }

    /// A word token, or an error saying `what` was expected.
    fn word(&mut self, what: &str) -> Result<(String, Pos), ConfigError> {
        let tok = self.bump();
        match tok.kind {
            TokenKind::Word(w) => Ok((w, tok.pos)),
            other => Err(self.err(tok.pos, format!("expected {what}, found {other}"))),
        }
    }

    /// `interface` is only allowed at top level; `iface` is the enclosing block, if any.
    fn statements(&mut self, iface: Option<(&str, Pos)>) -> Result<Vec<Stmt>, ConfigError> {
        let mut stmts = Vec::new();
        loop {
            let tok = self.bump();
            let (word, pos) = match tok.kind {
                TokenKind::Word(w) => (w, tok.pos),
                TokenKind::Eof => match iface {
                    Some((name, opened)) => {
                        return Err(self.err(
                            tok.pos,
                            format!(
                                "expected '}}' to close interface {name} opened at {opened}, found end of file"
                            ),
                        ))
                    }
                    None => return Ok(stmts),
                },
                TokenKind::RBrace if iface.is_some() => return Ok(stmts),
                TokenKind::RBrace => {
                    return Err(self.err(tok.pos, "unexpected '}': no block is open"))
                }
                other => {
                    return Err(self.err(tok.pos, format!("expected a statement, found {other}")))
                }
            };
            let stmt = match word.as_str() {
                "interface" if iface.is_some() => {
                    return Err(self.err(pos, "interface blocks cannot be nested"))
                }
                "interface" => self.interface(pos)?,
                "prefixtable" => {
                    Stmt::PrefixTable(self.block("prefixtable", pos, Self::prefix_line)?)
                }
                "static-tunnel" => {
                    Stmt::StaticTunnel(self.block("static-tunnel", pos, Self::tunnel_line)?)
                }
                "ipv4-dummy-tunnel" => {
                    Stmt::DummyTunnel(self.block("ipv4-dummy-tunnel", pos, Self::dummy_line)?)
                }
                _ => self.setting(&word, pos)?,
            };
            stmts.push(stmt);
        }
    }

    fn interface(&mut self, pos: Pos) -> Result<Stmt, ConfigError> {
        let (name, name_pos) = self.word("interface name after 'interface'")?;
        check_ifname(&name).map_err(|m| self.err(name_pos, m))?;
        self.expect_lbrace("interface name")?;
        let body = self.statements(Some((&name, pos)))?;
        self.expect_semi(&format!("'}}' closing interface {name}"))?;
        Ok(Stmt::Interface { name, pos, body })
    }

    fn block<T>(
        &mut self,
        keyword: &str,
        opened: Pos,
        line: fn(&mut Self, String, Pos) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        self.expect_lbrace(&format!("'{keyword}'"))?;
        let mut lines = Vec::new();
        loop {
            let tok = self.bump();
            match tok.kind {
                TokenKind::RBrace => break,
                TokenKind::Word(w) => lines.push(line(self, w, tok.pos)?),
                TokenKind::Eof => {
                    return Err(self.err(
                        tok.pos,
                        format!(
                        "expected '}}' to close {keyword} opened at {opened}, found end of file"
                    ),
                    ))
                }
                other => {
                    return Err(self.err(
                        tok.pos,
                        format!("expected an entry or '}}' in {keyword}, found {other}"),
                    ))
                }
            }
        }
        self.expect_semi(&format!("'}}' closing {keyword}"))?;
        Ok(lines)
    }

    fn prefix_line(&mut self, hoa: String, hoa_pos: Pos) -> Result<PrefixLine, ConfigError> {
        let home_address = home_address(&hoa).map_err(|m| self.err(hoa_pos, m))?;
        let (prefix, pos) = self.word("PREFIX/LEN after home address")?;
        let prefix = parse_prefix(&prefix).map_err(|(offset, m)| {
            let at = Pos {
                line: pos.line,
                col: pos.col + offset,
            };
            self.err(at, m)
        })?;
        let (mode_word, mode_pos) = self.word("'explicit' or 'implicit' after prefix")?;
        let mode = match mode_word.as_str() {
            "explicit" => PrefixMode::Explicit,
            "implicit" => PrefixMode::Implicit,
            other => {
                return Err(self.err(
                    mode_pos,
                    format!("expected 'explicit' or 'implicit' after prefix, found '{other}'"),
                ))
            }
        };
        let binding_id = self.optional_bid(&format!("'{mode_word}'"))?;
        Ok(PrefixLine {
            entry: PrefixEntry {
                home_address,
                prefix,
                mode,
                binding_id,
            },
            pos,
            hoa_pos,
        })
    }

    fn tunnel_line(&mut self, tunnel: String, pos: Pos) -> Result<TunnelLine, ConfigError> {
        check_ifname(&tunnel).map_err(|m| self.err(pos, m))?;
        let (hoa, hoa_pos) = self.word("home address after tunnel name")?;
        let home_address = home_address(&hoa).map_err(|m| self.err(hoa_pos, m))?;
        let binding_id = self.optional_bid("home address")?;
        Ok(TunnelLine {
            tunnel: StaticTunnel {
                tunnel,
                home_address,
                binding_id,
            },
            pos,
        })
    }

    fn dummy_line(&mut self, tunnel: String, pos: Pos) -> Result<DummyLine, ConfigError> {
        check_ifname(&tunnel).map_err(|m| self.err(pos, m))?;
        let mr_address = self.ipv4("MR IPv4 address after tunnel name")?;
        let ha_address = self.ipv4("HA IPv4 address after MR address")?;
        self.expect_semi("HA IPv4 address")?;
        Ok(DummyLine {
            dummy: DummyTunnel {
                tunnel,
                mr_address,
                ha_address,
            },
            pos,
        })
    }

    /// `[BID] ;` at the end of a line.
    fn optional_bid(&mut self, after: &str) -> Result<Option<u16>, ConfigError> {
        let tok = self.bump();
        match tok.kind {
            TokenKind::Semi => Ok(None),
            TokenKind::Word(w) => {
                let bid = int_in(&w, "binding id", 0, 65535).map_err(|m| self.err(tok.pos, m))?;
                self.expect_semi("binding id")?;
                Ok(Some(bid as u16))
            }
            other => Err(self.err(
                tok.pos,
                format!("expected ';' or binding id after {after}, found {other}"),
            )),
        }
    }

    fn number(&mut self, keyword: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
        let (w, pos) = self.word(&format!("a number after '{keyword}'"))?;
        int_in(&w, keyword, min, max).map_err(|m| self.err(pos, m))
    }

    fn flag(&mut self, keyword: &str) -> Result<bool, ConfigError> {
        let (w, pos) = self.word(&format!("0 or 1 after '{keyword}'"))?;
        match w.as_str() {
            "0" => Ok(false),
            "1" => Ok(true),
            other => Err(self.err(pos, format!("{keyword} must be 0 or 1, found '{other}'"))),
        }
    }

    fn path(&mut self, keyword: &str) -> Result<PathBuf, ConfigError> {
        let tok = self.bump();
        match tok.kind {
            TokenKind::Str(s) if !s.is_empty() => Ok(PathBuf::from(s)),
            TokenKind::Str(_) => {
                Err(self.err(tok.pos, format!("{keyword} needs a non-empty file name")))
            }
            other => Err(self.err(
                tok.pos,
                format!("expected a quoted file name after '{keyword}', found {other}"),
            )),
        }
    }

    fn ipv4(&mut self, what: &str) -> Result<Ipv4Addr, ConfigError> {
        let (w, pos) = self.word(what)?;
        w.parse::<Ipv4Addr>()
            .map_err(|_| self.err(pos, format!("'{w}' is not an IPv4 address")))
    }

    fn choice<T: Copy>(&mut self, keyword: &str, options: &[(&str, T)]) -> Result<T, ConfigError> {
        let names: Vec<String> = options.iter().map(|(n, _)| format!("'{n}'")).collect();
        let expected = names.join(" or ");
        let (w, pos) = self.word(&format!("{expected} after '{keyword}'"))?;
        options
            .iter()
            .find(|(n, _)| *n == w)
            .map(|(_, v)| *v)
            .ok_or_else(|| self.err(pos, format!("{keyword} must be {expected}, found '{w}'")))
    }

    fn setting(&mut self, word: &str, pos: Pos) -> Result<Stmt, ConfigError> {
        let Some(keyword) = KEYWORDS.iter().copied().find(|k| *k == word) else {
            return Err(self.err(pos, unknown_keyword(word)));
        };
        let setting = match keyword {
            "debug" => Setting::Debug(self.number(keyword, 0, u32::MAX.into())? as u32),
            "namelookup" => Setting::NameLookup(self.flag(keyword)?),
            "command-port" => Setting::CommandPort(self.number(keyword, 1, 65535)? as u16),
            "home-registration-lifetime" => {
                Setting::HomeRegistrationLifetime(self.number(keyword, 1, MAX_LIFETIME_SECS)? as u32)
            }
            "max-binding-lifetime" => {
                Setting::MaxBindingLifetime(self.number(keyword, 1, MAX_LIFETIME_SECS)? as u32)
            }
            "preference" => Setting::Preference(self.number(keyword, -32768, 32767)? as i16),
            "key-management" => Setting::KeyManagement(self.flag(keyword)?),
            "ipv4-mnp-support" => Setting::Ipv4MnpSupport(self.flag(keyword)?),
            "auth-database" => Setting::AuthDatabase(self.path(keyword)?),
            "authentication" => Setting::Authentication(self.choice(
                keyword,
                &[
                    ("rfc4285", Authentication::Rfc4285),
                    ("none", Authentication::None),
                ],
            )?),
            "bus-directory" => Setting::BusDirectory(self.path(keyword)?),
            "pid-file" => Setting::PidFile(self.path(keyword)?),
            "bpf-directory" => Setting::BpfDirectory(self.path(keyword)?),
            "home-agent-address" => {
                let (w, at) = self.word("an IPv6 address after 'home-agent-address'")?;
                Setting::HomeAgentAddress(
                    unicast_v6(&w, "home agent address").map_err(|m| self.err(at, m))?,
                )
            }
            "home-prefix" => {
                let (w, at) = self.word("an IPv6 PREFIX/LEN after 'home-prefix'")?;
                match parse_prefix(&w) {
                    Ok(IpNet::V6(net)) => Setting::HomePrefix(net),
                    Ok(IpNet::V4(_)) => {
                        return Err(self.err(
                            at,
                            format!("home-prefix must be an IPv6 prefix, found '{w}'"),
                        ))
                    }
                    Err((offset, m)) => {
                        return Err(self.err(
                            Pos {
                                line: at.line,
                                col: at.col + offset,
                            },
                            m,
                        ))
                    }
                }
            }
            "data-plane" => Setting::DataPlane(self.choice(
                keyword,
                &[
                    ("seg6", DataPlane::Seg6),
                    ("bpf", DataPlane::Bpf),
                    ("ip6tnl", DataPlane::Ip6tnl),
                    ("tun", DataPlane::Tun),
                    ("auto", DataPlane::Auto),
                ],
            )?),
            "ipv4-mnp-encoding" => Setting::Ipv4MnpEncoding(self.choice(
                keyword,
                &[
                    ("rfc5555", EncodingName::Rfc5555),
                    ("draft", EncodingName::Draft),
                    ("config-only", EncodingName::ConfigOnly),
                ],
            )?),
            "draft-option-numbers" => {
                let a = self.number(keyword, 1, 255)? as u8;
                let b = self.number(keyword, 1, 255)? as u8;
                Setting::DraftOptionNumbers(a, b)
            }
            "mobile-network-interface" => {
                let (w, at) = self.word("an interface name after 'mobile-network-interface'")?;
                check_ifname(&w).map_err(|m| self.err(at, m))?;
                Setting::MobileNetworkInterface(w)
            }
            "ipv4-mnp-address" => {
                Setting::Ipv4MnpAddress(self.ipv4("an IPv4 address after 'ipv4-mnp-address'")?)
            }
            "role" => Setting::Role(self.choice(
                keyword,
                &[
                    ("home", InterfaceRole::Home),
                    ("egress", InterfaceRole::Egress),
                ],
            )?),
            "priority" => Setting::Priority(self.number(keyword, 0, 65535)? as u16),
            "tunnel-mtu" => Setting::TunnelMtu(self.number(
                keyword,
                MIN_TUNNEL_MTU.into(),
                MAX_TUNNEL_MTU.into(),
            )? as u32),
            "tunnel-hop-limit" => Setting::TunnelHopLimit(self.number(keyword, 1, 255)? as u8),
            // 253-255 are the kernel's default, main and local tables.
            "announce-table" => Setting::AnnounceTable(self.number(keyword, 1, 252)? as u32),
            _ => return Err(self.err(pos, unknown_keyword(word))),
        };
        self.expect_semi(&format!("{keyword} value"))?;
        Ok(Stmt::Setting {
            keyword,
            setting,
            pos,
        })
    }
}

fn unknown_keyword(word: &str) -> String {
    let best = KEYWORDS
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .min()
        .filter(|(d, _)| *d <= 2);
    match best {
        Some((_, k)) => format!("unknown keyword '{word}'; did you mean '{k}'?"),
        None => format!("unknown keyword '{word}'"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A decimal integer within `min..=max`; the message names `what`.
fn int_in(word: &str, what: &str, min: i64, max: i64) -> Result<i64, String> {
    let value: i64 = word
        .parse()
        .map_err(|_| format!("{what} expects a number, found '{word}'"))?;
    if value < min || value > max {
        return Err(format!("{what} {value} out of range {min}..={max}"));
    }
    Ok(value)
}

/// Linux interface names: 1 to 15 bytes (IFNAMSIZ - 1), no '/' or ':' (our word characters).
pub fn check_ifname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.contains(['/', ':']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid interface name (1 to 15 characters, no '/' or ':')"
        ))
    }
}

fn unicast_v6(word: &str, what: &str) -> Result<Ipv6Addr, String> {
    let addr: Ipv6Addr = word
        .parse()
        .map_err(|_| format!("'{word}' is not an IPv6 {what}"))?;
    if addr.is_multicast() || addr.is_unspecified() || addr.is_loopback() {
        return Err(format!(
            "{addr} cannot be a {what}: it is not a unicast address"
        ));
    }
    Ok(addr)
}

fn home_address(word: &str) -> Result<Ipv6Addr, String> {
    unicast_v6(word, "home address")
}

/// `ADDR/LEN`; on error also returns the column offset of the offending part.
fn parse_prefix(word: &str) -> Result<IpNet, (u32, String)> {
    let Some((addr, len)) = word.split_once('/') else {
        return Err((
            0,
            format!("'{word}' lacks a prefix length; write PREFIX/LEN"),
        ));
    };
    let len_offset = addr.chars().count() as u32 + 1;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| (0, format!("'{addr}' is not an IPv4 or IPv6 address")))?;
    let max: u8 = if addr.is_ipv6() { 128 } else { 32 };
    let family = if addr.is_ipv6() { "IPv6" } else { "IPv4" };
    let len: u8 = match len.parse::<u32>() {
        Ok(n) if (1..=u32::from(max)).contains(&n) => n as u8,
        Ok(n) => {
            return Err((
                len_offset,
                format!("prefix length {n} out of range 1..={max} for {family}"),
            ))
        }
        Err(_) => return Err((len_offset, format!("prefix length '{len}' is not a number"))),
    };
    let net = match addr {
        IpAddr::V6(a) => Ipv6Net::new(a, len).map(IpNet::V6),
        IpAddr::V4(a) => Ipv4Net::new(a, len).map(IpNet::V4),
    }
    .map_err(|_| {
        (
            len_offset,
            format!("prefix length {len} out of range 1..={max} for {family}"),
        )
    })?;
    if net.trunc() != net {
        return Err((
            0,
            format!("{word} has host bits set; did you mean {}?", net.trunc()),
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("debug", "debug"), 0);
        assert_eq!(edit_distance("debgu", "debug"), 2);
        assert_eq!(edit_distance("prefixtabel", "prefixtable"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn prefix_parsing_checks_length_and_host_bits() {
        assert_eq!(
            parse_prefix("10.0.0.0/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(parse_prefix("10.0.0.0/33").unwrap_err().0, 9);
        assert!(parse_prefix("10.0.0.1/24")
            .unwrap_err()
            .1
            .contains("10.0.0.0/24"));
    }
}
