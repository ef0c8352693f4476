//! `mipsock send` words -> message body.

use std::net::Ipv6Addr;
use std::str::FromStr;

use ipnet::IpNet;
use mobsock::message::*;

/// Everything `mipsock send` accepts, for `--help` and errors.
pub const SEND_HELP: &str = "\
message words (kind names may also be written as MIPM names, e.g. BC_ADD):
  nodetype-info mobile-node|mobile-router|home-agent|correspondent-node [enabled|disabled]
  bc-add hoa ADDR coa ADDR lifetime SECS [mnp PREFIX...]... [ha ADDR] [bu-seq N] [flags N]
  bc-remove hoa ADDR [coa ADDR] [reason deregistered|expired|administrative|failed]
  bc-flush
  bul-add hoa ADDR coa ADDR ha ADDR lifetime SECS [mnp PREFIX...]... [flags N]
  bul-remove hoa ADDR [ha ADDR] [reason REASON]
  bul-flush
  md-info rereg|dereghome|deregforeign|scan [hint index N|hint address ADDR|hint home] [coa ADDR] [ifindex N]
  home-hint ifindex N prefix PREFIX
  be-hint hoa ADDR [coa ADDR] status N
  dad do|stop|linklocal|success|fail ADDR [ifindex N]
  reg-failed hoa ADDR coa ADDR ha ADDR status N [reason TEXT...]
  dump-request bc|bul|all [id N]
  dump-reply id N [done]
numbers may be decimal or 0x-hex; mnp takes IPv6 and IPv4 prefixes";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("no message given")]
    Empty,
    #[error("unknown message kind {0:?}")]
    UnknownKind(String),
    #[error("{kind}: {what} expected after {after:?}")]
    Missing {
        kind: &'static str,
        what: &'static str,
        after: String,
    },
    #[error("{kind}: {word:?} is not a valid {what}")]
    Invalid {
        kind: &'static str,
        what: &'static str,
        word: String,
    },
    #[error("{kind}: unexpected word {word:?}")]
    Unexpected { kind: &'static str, word: String },
    #[error("{kind}: {field} is required")]
    Required {
        kind: &'static str,
        field: &'static str,
    },
}

/// A cursor over the words of one message.
struct Words<'a> {
    kind: &'static str,
    words: &'a [String],
    at: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.at)?;
        self.at += 1;
        Some(w)
    }
    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.at).map(String::as_str)
    }
    fn value<T: FromStr>(&mut self, what: &'static str, after: &str) -> Result<T, ParseError> {
        let word = self.next().ok_or_else(|| ParseError::Missing {
            kind: self.kind,
            what,
            after: after.to_owned(),
        })?;
        word.parse().map_err(|_| self.invalid(what, word))
    }
    fn number<T: TryFrom<u64>>(
        &mut self,
        what: &'static str,
        after: &str,
    ) -> Result<T, ParseError> {
        let word = self.next().ok_or_else(|| ParseError::Missing {
            kind: self.kind,
            what,
            after: after.to_owned(),
        })?;
        let n = match word.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => word.parse().ok(),
        };
        n.and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| self.invalid(what, word))
    }
    fn invalid(&self, what: &'static str, word: &str) -> ParseError {
        ParseError::Invalid {
            kind: self.kind,
            what,
            word: word.to_owned(),
        }
    }
    fn unexpected(&self, word: &str) -> ParseError {
        ParseError::Unexpected {
            kind: self.kind,
            word: word.to_owned(),
        }
    }
    fn required<T>(&self, v: Option<T>, field: &'static str) -> Result<T, ParseError> {
        v.ok_or(ParseError::Required {
            kind: self.kind,
            field,
        })
    }
    /// Prefixes after `mnp`, until a word that is not a prefix.
    fn prefixes(
        &mut self,
        mnp6: &mut Vec<ipnet::Ipv6Net>,
        mnp4: &mut Vec<ipnet::Ipv4Net>,
    ) -> Result<(), ParseError> {
        let mut any = false;
        while let Some(Ok(net)) = self.peek().map(IpNet::from_str) {
            self.at += 1;
            any = true;
            match net {
                IpNet::V6(n) => mnp6.push(n),
                IpNet::V4(n) => mnp4.push(n),
            }
        }
        if any {
            return Ok(());
        }
        match self.peek() {
            Some(w) => Err(self.invalid("prefix", w)),
            None => Err(ParseError::Missing {
                kind: self.kind,
                what: "prefix",
                after: "mnp".into(),
            }),
        }
    }
}

fn reason(w: &mut Words<'_>) -> Result<RemoveReason, ParseError> {
    let word = w.next().ok_or_else(|| ParseError::Missing {
        kind: w.kind,
        what: "reason",
        after: "reason".into(),
    })?;
    Ok(match word {
        "deregistered" => RemoveReason::Deregistered,
        "expired" => RemoveReason::Expired,
        "administrative" => RemoveReason::Administrative,
        "failed" => RemoveReason::Failed,
        _ => return Err(w.invalid("reason", word)),
    })
}

/// Parses `mipsock send` words into a body.
pub fn parse_send(words: &[String]) -> Result<Body, ParseError> {
    let first = words.first().ok_or(ParseError::Empty)?;
    let normalized = first.to_ascii_lowercase().replace('_', "-");
    let normalized = normalized.strip_prefix("mipm-").unwrap_or(&normalized);
    let kind: &'static str = match normalized {
        "nodetype-info" => "nodetype-info",
        "bc-add" => "bc-add",
        "bc-remove" => "bc-remove",
        "bc-flush" => "bc-flush",
        "bul-add" => "bul-add",
        "bul-remove" => "bul-remove",
        "bul-flush" => "bul-flush",
        "md-info" => "md-info",
        "home-hint" => "home-hint",
        "be-hint" => "be-hint",
        "dad" => "dad",
        "reg-failed" => "reg-failed",
        "dump-request" => "dump-request",
        "dump-reply" => "dump-reply",
        _ => return Err(ParseError::UnknownKind(first.clone())),
    };
    let mut w = Words {
        kind,
        words: &words[1..],
        at: 0,
    };
    let body = match kind {
        "nodetype-info" => nodetype(&mut w)?,
        "bc-add" | "bul-add" => binding(&mut w, kind == "bc-add")?,
        "bc-remove" | "bul-remove" | "be-hint" => removal(&mut w)?,
        "bc-flush" => Body::BcFlush,
        "bul-flush" => Body::BulFlush,
        "md-info" => md_info(&mut w)?,
        "home-hint" => home_hint(&mut w)?,
        "dad" => dad(&mut w)?,
        "reg-failed" => reg_failed(&mut w)?,
        _ => dump(&mut w)?,
    };
    match w.next() {
        Some(extra) => Err(w.unexpected(extra)),
        None => Ok(body),
    }
}

fn nodetype(w: &mut Words<'_>) -> Result<Body, ParseError> {
    let word = w.next().ok_or_else(|| ParseError::Missing {
        kind: w.kind,
        what: "node type",
        after: "nodetype-info".into(),
    })?;
    let node_type = match word {
        "mobile-node" => NodeType::MobileNode,
        "mobile-router" => NodeType::MobileRouter,
        "home-agent" => NodeType::HomeAgent,
        "correspondent-node" => NodeType::CorrespondentNode,
        _ => return Err(w.invalid("node type", word)),
    };
    let enabled = match w.peek() {
        Some("enabled") => {
            w.at += 1;
            true
        }
        Some("disabled") => {
            w.at += 1;
            false
        }
        _ => true,
    };
    Ok(Body::NodeTypeInfo(NodeTypeInfo { node_type, enabled }))
}

fn binding(w: &mut Words<'_>, cache: bool) -> Result<Body, ParseError> {
    let (mut hoa, mut coa, mut ha, mut lifetime, mut bu_seq) = (None, None, None, None, None);
    let (mut mnp6, mut mnp4, mut flags) = (Vec::new(), Vec::new(), 0u16);
    while let Some(key) = w.next() {
        match key {
            "hoa" => hoa = Some(w.value::<Ipv6Addr>("IPv6 address", key)?),
            "coa" => coa = Some(w.value::<Ipv6Addr>("IPv6 address", key)?),
            "ha" => ha = Some(w.value::<Ipv6Addr>("IPv6 address", key)?),
            "lifetime" => lifetime = Some(w.number::<u32>("lifetime in seconds", key)?),
            "mnp" => w.prefixes(&mut mnp6, &mut mnp4)?,
            "flags" => flags = w.number("16-bit flags", key)?,
            "bu-seq" if cache => bu_seq = Some(w.number("16-bit sequence number", key)?),
            _ => return Err(w.unexpected(key)),
        }
    }
    let hoa = w.required(hoa, "hoa")?;
    let coa = w.required(coa, "coa")?;
    let lifetime = w.required(lifetime, "lifetime")?;
    Ok(if cache {
        Body::BcAdd(BcEntry {
            hoa,
            coa,
            lifetime,
            mnp6,
            mnp4,
            ha,
            bu_seq,
            flags,
        })
    } else {
        Body::BulAdd(BulEntry {
            hoa,
            coa,
            ha: w.required(ha, "ha")?,
            lifetime,
            mnp6,
            mnp4,
            flags,
        })
    })
}

/// bc-remove, bul-remove and be-hint share their words.
fn removal(w: &mut Words<'_>) -> Result<Body, ParseError> {
    let (mut hoa, mut coa, mut ha, mut status) = (None, None, None, None);
    let mut why = RemoveReason::Administrative;
    while let Some(key) = w.next() {
        match (w.kind, key) {
            (_, "hoa") => hoa = Some(w.value::<Ipv6Addr>("IPv6 address", key)?),
            ("bc-remove" | "be-hint", "coa") => coa = Some(w.value("IPv6 address", key)?),
            ("bul-remove", "ha") => ha = Some(w.value("IPv6 address", key)?),
            ("bc-remove" | "bul-remove", "reason") => why = reason(w)?,
            ("be-hint", "status") => status = Some(w.number::<u8>("status (0-255)", key)?),
            _ => return Err(w.unexpected(key)),
        }
    }
    let hoa = w.required(hoa, "hoa")?;
    Ok(match w.kind {
        "bc-remove" => Body::BcRemove(BcRemove {
            hoa,
            coa,
            reason: why,
        }),
        "bul-remove" => Body::BulRemove(BulRemove {
            hoa,
            ha,
            reason: why,
        }),
        _ => Body::BeHint(BeHint {
            hoa,
            coa,
            status: w.required(status, "status")?,
        }),
    })
}

fn md_info(w: &mut Words<'_>) -> Result<Body, ParseError> {
    let word = w.next().ok_or_else(|| ParseError::Missing {
        kind: w.kind,
        what: "command",
        after: "md-info".into(),
    })?;
    let command = match word {
        "rereg" => MdCommand::Rereg,
        "dereghome" => MdCommand::DeregHome,
        "deregforeign" => MdCommand::DeregForeign,
        "scan" => MdCommand::Scan,
        _ => return Err(w.invalid("md-info command", word)),
    };
    let (mut hint, mut coa, mut ifindex) = (None, None, None);
    while let Some(key) = w.next() {
        match key {
            "hint" => {
                hint = Some(match w.next() {
                    Some("index") => MdHint::Index(w.number("interface index", "index")?),
                    Some("address") => MdHint::Address(w.value("IPv6 address", "address")?),
                    Some("home") => MdHint::Home,
                    Some(other) => return Err(w.invalid("hint (index|address|home)", other)),
                    None => {
                        return Err(ParseError::Missing {
                            kind: w.kind,
                            what: "index|address|home",
                            after: "hint".into(),
                        })
                    }
                })
            }
            "coa" => coa = Some(w.value("IPv6 address", key)?),
            "ifindex" => ifindex = Some(w.number("interface index", key)?),
            _ => return Err(w.unexpected(key)),
        }
    }
    Ok(Body::MdInfo(MdInfo {
        command,
        hint,
        coa,
        ifindex,
    }))
}

fn home_hint(w: &mut Words<'_>) -> Result<Body, ParseError> {
    let (mut ifindex, mut prefix) = (None, None);
    while let Some(key) = w.next() {
        match key {
            "ifindex" => ifindex = Some(w.number("interface index", key)?),
            "prefix" => prefix = Some(w.value("IPv6 prefix", key)?),
            _ => return Err(w.unexpected(key)),
        }
    }
    Ok(Body::HomeHint(HomeHint {
        ifindex: w.required(ifindex, "ifindex")?,
        prefix: w.required(prefix, "prefix")?,
    }))
}

fn dad(w: &mut Words<'_>) -> Result<Body, ParseError> {
    let word = w.next().ok_or_else(|| ParseError::Missing {
        kind: w.kind,
        what: "command",
        after: "dad".into(),
    })?;
    let command = match word {
        "do" => DadCommand::Do,
        "stop" => DadCommand::Stop,
        "linklocal" => DadCommand::LinkLocal,
        "success" => DadCommand::Success,
        "fail" => DadCommand::Fail,
        _ => return Err(w.invalid("dad command", word)),
    };
    let address = w.value("IPv6 address", word)?;
    let mut ifindex = None;
    while let Some(key) = w.next() {
        match key {
            "ifindex" => ifindex = Some(w.number("interface index", key)?),
            _ => return Err(w.unexpected(key)),
        }
    }
    Ok(Body::Dad(Dad {
        command,
        address,
        ifindex,
    }))
}

fn reg_failed(w: &mut Words<'_>) -> Result<Body, ParseError> {
    let (mut hoa, mut coa, mut ha, mut status) = (None, None, None, None);
    let mut why = String::new();
    while let Some(key) = w.next() {
        match key {
            "hoa" => hoa = Some(w.value("IPv6 address", key)?),
            "coa" => coa = Some(w.value("IPv6 address", key)?),
            "ha" => ha = Some(w.value("IPv6 address", key)?),
            "status" => status = Some(w.number::<u8>("status (0-255)", key)?),
            "reason" => {
                let rest: Vec<&str> = std::iter::from_fn(|| w.next()).collect();
                why = rest.join(" ");
            }
            _ => return Err(w.unexpected(key)),
        }
    }
    Ok(Body::RegistrationFailed(RegistrationFailed {
        hoa: w.required(hoa, "hoa")?,
        coa: w.required(coa, "coa")?,
        ha: w.required(ha, "ha")?,
        status: w.required(status, "status")?,
        reason: why,
    }))
}

fn dump(w: &mut Words<'_>) -> Result<Body, ParseError> {
    if w.kind == "dump-request" {
        let word = w.next().ok_or_else(|| ParseError::Missing {
            kind: w.kind,
            what: "bc|bul|all",
            after: "dump-request".into(),
        })?;
        let what = match word {
            "bc" => DumpWhat::Bc,
            "bul" => DumpWhat::Bul,
            "all" => DumpWhat::All,
            "ha" => DumpWhat::Ha,
            _ => return Err(w.invalid("table (bc|bul|all)", word)),
        };
        let mut id = 0;
        while let Some(key) = w.next() {
            match key {
                "id" => id = w.number("request id", key)?,
                _ => return Err(w.unexpected(key)),
            }
        }
        return Ok(Body::DumpRequest(DumpRequest { what, id }));
    }
    let (mut id, mut done) = (None, false);
    while let Some(key) = w.next() {
        match key {
            "id" => id = Some(w.number("request id", key)?),
            "done" => done = true,
            _ => return Err(w.unexpected(key)),
        }
    }
    Ok(Body::DumpReply(DumpReply {
        request_id: w.required(id, "id")?,
        bc: Vec::new(),
        bul: Vec::new(),
        done,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Body, ParseError> {
        let words: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse_send(&words)
    }

    #[test]
    fn every_kind_parses_and_prints_back() {
        let cases = [
            "NODETYPE_INFO mobile-router enabled",
            "BC_ADD hoa 2001:db8::beef coa 2001:db8:200::5 lifetime 40s mnp 2001:db8:281::/64 10.0.0.0/24",
            "BC_REMOVE hoa 2001:db8::1 coa 2001:db8::2 reason expired",
            "BC_FLUSH",
            "BUL_ADD hoa 2001:db8::1 coa 2001:db8::2 ha 2001:db8::3 lifetime 40s mnp 10.0.0.0/24",
            "BUL_REMOVE hoa 2001:db8::1 ha 2001:db8::3 reason deregistered",
            "BUL_FLUSH",
            "MD_INFO rereg hint index 3 coa 2001:db8::5 ifindex 3",
            "HOME_HINT ifindex 2 prefix 2001:db8::/64",
            "BE_HINT hoa 2001:db8::1 coa 2001:db8::2 status 1",
            "DAD do 2001:db8::5 ifindex 4",
            "REG_FAILED hoa 2001:db8::1 coa 2001:db8::2 ha 2001:db8::3 status 141 reason \"invalid\"",
            "DUMP_REQUEST bul id 9",
            "DUMP_REPLY id 9 bc 0 bul 0 done",
        ];
        for line in cases {
            // The printed form uses "40s"; the command line takes plain seconds.
            let words = line
                .replace("40s", "40")
                .replace(" bc 0 bul 0", "")
                .replace('"', "");
            let body = p(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(body.to_string(), line);
        }
    }

    #[test]
    fn mnp_may_repeat_and_mix_families() {
        let b = p(
            "bc-add hoa ::1 coa ::2 lifetime 4 mnp 2001:db8::/48 mnp 10.1.0.0/16 192.168.0.0/24",
        )
        .unwrap();
        let Body::BcAdd(e) = b else {
            panic!("not bc-add")
        };
        assert_eq!(e.mnp6.len(), 1);
        assert_eq!(e.mnp4.len(), 2);
    }

    #[test]
    fn bad_input_gives_a_precise_error() {
        assert_eq!(p(""), Err(ParseError::Empty));
        assert!(matches!(
            p("bc-frobnicate"),
            Err(ParseError::UnknownKind(_))
        ));
        assert_eq!(
            p("bc-add hoa nonsense"),
            Err(ParseError::Invalid {
                kind: "bc-add",
                what: "IPv6 address",
                word: "nonsense".into()
            })
        );
        assert_eq!(
            p("bc-add hoa ::1 coa ::2"),
            Err(ParseError::Required {
                kind: "bc-add",
                field: "lifetime"
            })
        );
        assert!(matches!(
            p("bc-add hoa ::1 coa ::2 lifetime 4 mnp"),
            Err(ParseError::Missing { .. })
        ));
        assert!(matches!(
            p("bul-remove hoa ::1 coa ::2"),
            Err(ParseError::Unexpected { .. })
        ));
        assert!(matches!(
            p("be-hint hoa ::1 status 300"),
            Err(ParseError::Invalid { .. })
        ));
        assert!(matches!(
            p("md-info rereg hint sideways"),
            Err(ParseError::Invalid { .. })
        ));
    }
}
