//! The message set: KAME's `mipsock.h` MIPM_* messages plus what NEMO and this project need.
//!
//! Each message body is a plain struct; [`Body`] is the sum of them. [`Kind`] numbers follow
//! `mipsock.h` (MIPM_NODETYPE_INFO = 1 ... MIPM_DAD = 14); project additions start at 100 and
//! bus control messages at 200. `Display` renders the `ip monitor` style text used by
//! `mipsock monitor` (without the trailing `from NAME[PID] seq N`).

use std::fmt;
use std::net::Ipv6Addr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// What kind of node a daemon serves (MIPM_NODETYPE_INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeType {
    MobileNode,
    MobileRouter,
    HomeAgent,
    CorrespondentNode,
}

impl NodeType {
    /// The word used on the command line and in monitor lines.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::MobileNode => "mobile-node",
            NodeType::MobileRouter => "mobile-router",
            NodeType::HomeAgent => "home-agent",
            NodeType::CorrespondentNode => "correspondent-node",
        }
    }
}

/// MIPM_NODETYPE_INFO: a daemon announces which role it enables or disables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTypeInfo {
    pub node_type: NodeType,
    pub enabled: bool,
}

/// One Binding Cache entry (had's state); carried by BC_ADD and dump replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BcEntry {
    pub hoa: Ipv6Addr,
    pub coa: Ipv6Addr,
    /// Granted lifetime in seconds.
    pub lifetime: u32,
    /// Registered IPv6 mobile network prefixes.
    pub mnp6: Vec<Ipv6Net>,
    /// Registered IPv4 mobile network prefixes (the dual-stack extension).
    pub mnp4: Vec<Ipv4Net>,
    /// The home agent address that accepted the binding.
    pub ha: Option<Ipv6Addr>,
    /// Sequence number of the accepted Binding Update.
    pub bu_seq: Option<u16>,
    /// Binding Update flags as on the wire (A 0x8000, H 0x4000, ... R 0x0400).
    pub flags: u16,
}

/// One Binding Update List entry (mrd's state); carried by BUL_ADD and dump replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulEntry {
    pub hoa: Ipv6Addr,
    pub coa: Ipv6Addr,
    pub ha: Ipv6Addr,
    /// Lifetime granted by the HA, in seconds.
    pub lifetime: u32,
    pub mnp6: Vec<Ipv6Net>,
    pub mnp4: Vec<Ipv4Net>,
    pub flags: u16,
}

/// Why a binding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemoveReason {
    Deregistered,
    Expired,
    Administrative,
    Failed,
}

impl RemoveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemoveReason::Deregistered => "deregistered",
            RemoveReason::Expired => "expired",
            RemoveReason::Administrative => "administrative",
            RemoveReason::Failed => "failed",
        }
    }
}

/// MIPM_BC_REMOVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BcRemove {
    pub hoa: Ipv6Addr,
    /// The care-of address the deregistration came from: the home address itself when the
    /// mobile router deregistered from its home link; the binding's for an expiry.
    pub coa: Option<Ipv6Addr>,
    pub reason: RemoveReason,
}

/// MIPM_BUL_REMOVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulRemove {
    pub hoa: Ipv6Addr,
    pub ha: Option<Ipv6Addr>,
    pub reason: RemoveReason,
}

/// MIPM_MD_* commands from the movement detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MdCommand {
    /// New care-of address: register again.
    Rereg,
    /// Back home: deregister.
    DeregHome,
    /// Deregister a foreign binding.
    DeregForeign,
    /// Scan interfaces again.
    Scan,
}

impl MdCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            MdCommand::Rereg => "rereg",
            MdCommand::DeregHome => "dereghome",
            MdCommand::DeregForeign => "deregforeign",
            MdCommand::Scan => "scan",
        }
    }
}

/// Which home address an MD_INFO refers to (MIPM_MD_INDEX / MIPM_MD_ADDR / home).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MdHint {
    /// The home addresses on this interface index.
    Index(u32),
    /// This home address.
    Address(Ipv6Addr),
    /// Every home address.
    Home,
}

/// MIPM_MD_INFO: movement detection result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdInfo {
    pub command: MdCommand,
    pub hint: Option<MdHint>,
    pub coa: Option<Ipv6Addr>,
    pub ifindex: Option<u32>,
}

/// MIPM_HOME_HINT: a home prefix was seen on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeHint {
    pub ifindex: u32,
    pub prefix: Ipv6Net,
}

/// MIPM_BE_HINT: a Binding Error arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeHint {
    pub hoa: Ipv6Addr,
    pub coa: Option<Ipv6Addr>,
    pub status: u8,
}

/// MIPM_DAD_* commands and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DadCommand {
    Do,
    Stop,
    LinkLocal,
    Success,
    Fail,
}

impl DadCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            DadCommand::Do => "do",
            DadCommand::Stop => "stop",
            DadCommand::LinkLocal => "linklocal",
            DadCommand::Success => "success",
            DadCommand::Fail => "fail",
        }
    }
}

/// MIPM_DAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dad {
    pub command: DadCommand,
    pub address: Ipv6Addr,
    pub ifindex: Option<u32>,
}

/// A registration was refused or failed (BA status, IPv4 acknowledgement status, timeout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationFailed {
    pub hoa: Ipv6Addr,
    pub coa: Ipv6Addr,
    pub ha: Ipv6Addr,
    /// BA status (128-146) or IPv4 acknowledgement status; 0 for local failures.
    pub status: u8,
    pub reason: String,
}

/// One home agent of a Home Agents List (had: learnt from the home link's Router
/// Advertisements; mrd: listed by a DHAAD reply, without preference or lifetime).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaListEntry {
    pub address: Ipv6Addr,
    /// Higher is preferred (RFC 6275 7.4).
    pub preference: Option<i16>,
    /// Seconds left; `None`: does not expire (the sender itself) or not known.
    pub lifetime: Option<u32>,
    /// Supports mobile routers (RFC 3963 7.3).
    pub mobile_router: bool,
    /// This entry is the sender itself (had) or the home agent in use (mrd).
    pub own: bool,
}

/// HA_LIST: a Home Agents List in preference order, sent when it changes and in answer to
/// a dump request for `ha`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaList {
    /// The dump request answered; `None` when announcing a change.
    pub request_id: Option<u32>,
    /// The interface the list is for (had: the home interface; mrd: the mobility interface).
    pub ifname: String,
    pub entries: Vec<HaListEntry>,
}

/// HOME_PREFIX: mrd learnt its home prefixes by Mobile Prefix Discovery (RFC 6275 11.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomePrefix {
    pub hoa: Ipv6Addr,
    /// The home agent that advertised them.
    pub ha: Ipv6Addr,
    pub prefixes: Vec<Ipv6Net>,
    /// The ones known before (configured or advertised earlier).
    pub previous: Vec<Ipv6Net>,
    /// They differ from `previous`.
    pub changed: bool,
    /// An answer to a solicitation (else unsolicited).
    pub solicited: bool,
}

/// Which table a dump request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DumpWhat {
    Bc,
    Bul,
    All,
    /// The Home Agents Lists, answered with HA_LIST (not included in `All`).
    Ha,
}

impl DumpWhat {
    pub fn as_str(self) -> &'static str {
        match self {
            DumpWhat::Bc => "bc",
            DumpWhat::Bul => "bul",
            DumpWhat::All => "all",
            DumpWhat::Ha => "ha",
        }
    }
    /// Whether an owner of `table` should answer this request.
    pub fn includes(self, table: DumpWhat) -> bool {
        (self == DumpWhat::All && table != DumpWhat::Ha) || self == table
    }
}

/// Ask the owners of state to re-announce it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpRequest {
    pub what: DumpWhat,
    /// Chosen by the requester; replies carry it back.
    pub id: u32,
}

/// One chunk of an owner's answer; the last chunk has `done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpReply {
    pub request_id: u32,
    pub bc: Vec<BcEntry>,
    pub bul: Vec<BulEntry>,
    pub done: bool,
}

/// Bus control: a member announces itself (sent once, as its first message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberJoin {}

/// Bus control: a member leaves cleanly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLeave {}

/// Bus control, sent to one peer only in answer to its JOIN: "I know you now; my last
/// sequence number was the one in this header". The joiner's [`crate::Bus::join`] waits for
/// these, so that once it returns every member that was up sends to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberHello {}

/// Bus control, sent to one peer only: "the messages `first..=last` I sent you were dropped
/// because you did not read them". Carries no sequence number of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub first: u64,
    pub last: u64,
}

/// Message kind numbers on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind(pub u16);

impl Kind {
    pub const NODETYPE_INFO: Kind = Kind(1);
    pub const BC_ADD: Kind = Kind(2);
    pub const BC_REMOVE: Kind = Kind(4);
    pub const BC_FLUSH: Kind = Kind(5);
    pub const BUL_ADD: Kind = Kind(6);
    pub const BUL_REMOVE: Kind = Kind(8);
    pub const BUL_FLUSH: Kind = Kind(9);
    pub const MD_INFO: Kind = Kind(10);
    pub const HOME_HINT: Kind = Kind(11);
    pub const BE_HINT: Kind = Kind(13);
    pub const DAD: Kind = Kind(14);
    pub const REG_FAILED: Kind = Kind(100);
    pub const DUMP_REQUEST: Kind = Kind(101);
    pub const DUMP_REPLY: Kind = Kind(102);
    pub const HA_LIST: Kind = Kind(103);
    pub const HOME_PREFIX: Kind = Kind(104);
    pub const JOIN: Kind = Kind(200);
    pub const LEAVE: Kind = Kind(201);
    pub const DROPPED: Kind = Kind(202);
    pub const HELLO: Kind = Kind(203);
}

/// Every message body the bus carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    NodeTypeInfo(NodeTypeInfo),
    BcAdd(BcEntry),
    BcRemove(BcRemove),
    BcFlush,
    BulAdd(BulEntry),
    BulRemove(BulRemove),
    BulFlush,
    MdInfo(MdInfo),
    HomeHint(HomeHint),
    BeHint(BeHint),
    Dad(Dad),
    RegistrationFailed(RegistrationFailed),
    DumpRequest(DumpRequest),
    DumpReply(DumpReply),
    HaList(HaList),
    HomePrefix(HomePrefix),
    Join(MemberJoin),
    Leave(MemberLeave),
    Dropped(Dropped),
    Hello(MemberHello),
    /// A kind this build does not know (sent by a newer member); skipped by consumers.
    Unknown {
        kind: u16,
    },
}

impl Body {
    /// The wire kind of this body.
    pub fn kind(&self) -> Kind {
        match self {
            Body::NodeTypeInfo(_) => Kind::NODETYPE_INFO,
            Body::BcAdd(_) => Kind::BC_ADD,
            Body::BcRemove(_) => Kind::BC_REMOVE,
            Body::BcFlush => Kind::BC_FLUSH,
            Body::BulAdd(_) => Kind::BUL_ADD,
            Body::BulRemove(_) => Kind::BUL_REMOVE,
            Body::BulFlush => Kind::BUL_FLUSH,
            Body::MdInfo(_) => Kind::MD_INFO,
            Body::HomeHint(_) => Kind::HOME_HINT,
            Body::BeHint(_) => Kind::BE_HINT,
            Body::Dad(_) => Kind::DAD,
            Body::RegistrationFailed(_) => Kind::REG_FAILED,
            Body::DumpRequest(_) => Kind::DUMP_REQUEST,
            Body::DumpReply(_) => Kind::DUMP_REPLY,
            Body::HaList(_) => Kind::HA_LIST,
            Body::HomePrefix(_) => Kind::HOME_PREFIX,
            Body::Join(_) => Kind::JOIN,
            Body::Leave(_) => Kind::LEAVE,
            Body::Dropped(_) => Kind::DROPPED,
            Body::Hello(_) => Kind::HELLO,
            Body::Unknown { kind } => Kind(*kind),
        }
    }

    /// The MIPM_* style name printed by the monitor (`"type"` in JSON lines).
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::NodeTypeInfo(_) => "NODETYPE_INFO",
            Body::BcAdd(_) => "BC_ADD",
            Body::BcRemove(_) => "BC_REMOVE",
            Body::BcFlush => "BC_FLUSH",
            Body::BulAdd(_) => "BUL_ADD",
            Body::BulRemove(_) => "BUL_REMOVE",
            Body::BulFlush => "BUL_FLUSH",
            Body::MdInfo(_) => "MD_INFO",
            Body::HomeHint(_) => "HOME_HINT",
            Body::BeHint(_) => "BE_HINT",
            Body::Dad(_) => "DAD",
            Body::RegistrationFailed(_) => "REG_FAILED",
            Body::DumpRequest(_) => "DUMP_REQUEST",
            Body::DumpReply(_) => "DUMP_REPLY",
            Body::HaList(_) => "HA_LIST",
            Body::HomePrefix(_) => "HOME_PREFIX",
            Body::Join(_) => "JOIN",
            Body::Leave(_) => "LEAVE",
            Body::Dropped(_) => "DROPPED",
            Body::Hello(_) => "HELLO",
            Body::Unknown { .. } => "UNKNOWN",
        }
    }
}

/// Writes ` mnp A B C` (IPv6 then IPv4) when there is any prefix.
fn write_mnps(f: &mut fmt::Formatter<'_>, mnp6: &[Ipv6Net], mnp4: &[Ipv4Net]) -> fmt::Result {
    if mnp6.is_empty() && mnp4.is_empty() {
        return Ok(());
    }
    write!(f, " mnp")?;
    for p in mnp6 {
        write!(f, " {p}")?;
    }
    for p in mnp4 {
        write!(f, " {p}")?;
    }
    Ok(())
}

impl fmt::Display for BcEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hoa {} coa {} lifetime {}s",
            self.hoa, self.coa, self.lifetime
        )?;
        write_mnps(f, &self.mnp6, &self.mnp4)?;
        if let Some(ha) = self.ha {
            write!(f, " ha {ha}")?;
        }
        if let Some(s) = self.bu_seq {
            write!(f, " bu-seq {s}")?;
        }
        if self.flags != 0 {
            write!(f, " flags {:#06x}", self.flags)?;
        }
        Ok(())
    }
}

impl fmt::Display for BulEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hoa {} coa {} ha {} lifetime {}s",
            self.hoa, self.coa, self.ha, self.lifetime
        )?;
        write_mnps(f, &self.mnp6, &self.mnp4)?;
        if self.flags != 0 {
            write!(f, " flags {:#06x}", self.flags)?;
        }
        Ok(())
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.type_name();
        match self {
            Body::NodeTypeInfo(m) => {
                let state = if m.enabled { "enabled" } else { "disabled" };
                write!(f, "{name} {} {state}", m.node_type.as_str())
            }
            Body::BcAdd(e) => write!(f, "{name} {e}"),
            Body::BulAdd(e) => write!(f, "{name} {e}"),
            Body::BcRemove(m) => {
                write!(f, "{name} hoa {}", m.hoa)?;
                if let Some(coa) = m.coa {
                    write!(f, " coa {coa}")?;
                }
                write!(f, " reason {}", m.reason.as_str())
            }
            Body::BulRemove(m) => {
                write!(f, "{name} hoa {}", m.hoa)?;
                if let Some(ha) = m.ha {
                    write!(f, " ha {ha}")?;
                }
                write!(f, " reason {}", m.reason.as_str())
            }
            Body::BcFlush | Body::BulFlush => write!(f, "{name}"),
            Body::MdInfo(m) => {
                write!(f, "{name} {}", m.command.as_str())?;
                match m.hint {
                    Some(MdHint::Index(i)) => write!(f, " hint index {i}")?,
                    Some(MdHint::Address(a)) => write!(f, " hint address {a}")?,
                    Some(MdHint::Home) => write!(f, " hint home")?,
                    None => {}
                }
                if let Some(coa) = m.coa {
                    write!(f, " coa {coa}")?;
                }
                if let Some(i) = m.ifindex {
                    write!(f, " ifindex {i}")?;
                }
                Ok(())
            }
            Body::HomeHint(m) => write!(f, "{name} ifindex {} prefix {}", m.ifindex, m.prefix),
            Body::BeHint(m) => {
                write!(f, "{name} hoa {}", m.hoa)?;
                if let Some(coa) = m.coa {
                    write!(f, " coa {coa}")?;
                }
                write!(f, " status {}", m.status)
            }
            Body::Dad(m) => {
                write!(f, "{name} {} {}", m.command.as_str(), m.address)?;
                if let Some(i) = m.ifindex {
                    write!(f, " ifindex {i}")?;
                }
                Ok(())
            }
            Body::RegistrationFailed(m) => write!(
                f,
                "{name} hoa {} coa {} ha {} status {} reason {:?}",
                m.hoa, m.coa, m.ha, m.status, m.reason
            ),
            Body::DumpRequest(m) => write!(f, "{name} {} id {}", m.what.as_str(), m.id),
            Body::DumpReply(m) => {
                write!(
                    f,
                    "{name} id {} bc {} bul {}",
                    m.request_id,
                    m.bc.len(),
                    m.bul.len()
                )?;
                if m.done {
                    write!(f, " done")?;
                }
                Ok(())
            }
            Body::HaList(m) => {
                write!(f, "{name} {}", m.ifname)?;
                if let Some(id) = m.request_id {
                    write!(f, " id {id}")?;
                }
                for e in &m.entries {
                    write!(f, " {}", e.address)?;
                    if let Some(p) = e.preference {
                        write!(f, " pref {p}")?;
                    }
                    if let Some(l) = e.lifetime {
                        write!(f, " lifetime {l}s")?;
                    }
                    if e.mobile_router {
                        write!(f, " R")?;
                    }
                    if e.own {
                        write!(f, " self")?;
                    }
                    write!(f, ";")?;
                }
                Ok(())
            }
            Body::HomePrefix(m) => {
                write!(f, "{name} hoa {} ha {} prefix", m.hoa, m.ha)?;
                for p in &m.prefixes {
                    write!(f, " {p}")?;
                }
                if m.changed {
                    write!(f, " changed from")?;
                    for p in &m.previous {
                        write!(f, " {p}")?;
                    }
                }
                write!(
                    f,
                    " {}",
                    if m.solicited {
                        "solicited"
                    } else {
                        "unsolicited"
                    }
                )
            }
            Body::Join(_) | Body::Leave(_) | Body::Hello(_) => write!(f, "{name}"),
            Body::Dropped(m) => write!(f, "{name} {}..{}", m.first, m.last),
            Body::Unknown { kind } => write!(f, "{name} kind {kind}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bc_add_line_matches_issue_example() {
        let body = Body::BcAdd(BcEntry {
            hoa: "2001:db8::beef".parse().unwrap(),
            coa: "2001:db8:200::5".parse().unwrap(),
            lifetime: 40,
            mnp6: vec!["2001:db8:281::/64".parse().unwrap()],
            mnp4: vec!["10.0.0.0/24".parse().unwrap()],
            ha: None,
            bu_seq: None,
            flags: 0,
        });
        assert_eq!(
            body.to_string(),
            "BC_ADD hoa 2001:db8::beef coa 2001:db8:200::5 lifetime 40s mnp 2001:db8:281::/64 10.0.0.0/24"
        );
    }

    #[test]
    fn md_info_and_remove_lines() {
        let md = Body::MdInfo(MdInfo {
            command: MdCommand::Rereg,
            hint: Some(MdHint::Index(3)),
            coa: Some("2001:db8::5".parse().unwrap()),
            ifindex: Some(3),
        });
        assert_eq!(
            md.to_string(),
            "MD_INFO rereg hint index 3 coa 2001:db8::5 ifindex 3"
        );
        let rm = Body::BulRemove(BulRemove {
            hoa: "2001:db8::1".parse().unwrap(),
            ha: None,
            reason: RemoveReason::Expired,
        });
        assert_eq!(rm.to_string(), "BUL_REMOVE hoa 2001:db8::1 reason expired");
    }

    #[test]
    fn ha_list_and_home_prefix_lines() {
        let b = Body::HaList(HaList {
            request_id: None,
            ifname: "home0".into(),
            entries: vec![
                HaListEntry {
                    address: "2001:db8:1::2".parse().unwrap(),
                    preference: Some(20),
                    lifetime: Some(30),
                    mobile_router: true,
                    own: false,
                },
                HaListEntry {
                    address: "2001:db8:1::1".parse().unwrap(),
                    preference: Some(10),
                    lifetime: None,
                    mobile_router: true,
                    own: true,
                },
            ],
        });
        assert_eq!(
            b.to_string(),
            "HA_LIST home0 2001:db8:1::2 pref 20 lifetime 30s R; 2001:db8:1::1 pref 10 R self;"
        );
        let p = Body::HomePrefix(HomePrefix {
            hoa: "2001:db8:1::beef".parse().unwrap(),
            ha: "2001:db8:1::1".parse().unwrap(),
            prefixes: vec!["2001:db8:9::/64".parse().unwrap()],
            previous: vec!["2001:db8:1::/64".parse().unwrap()],
            changed: true,
            solicited: false,
        });
        assert_eq!(
            p.to_string(),
            "HOME_PREFIX hoa 2001:db8:1::beef ha 2001:db8:1::1 prefix 2001:db8:9::/64 changed from 2001:db8:1::/64 unsolicited"
        );
        assert!(!DumpWhat::All.includes(DumpWhat::Ha));
        assert!(DumpWhat::Ha.includes(DumpWhat::Ha));
    }

    #[test]
    fn registration_failure_quotes_reason() {
        let b = Body::RegistrationFailed(RegistrationFailed {
            hoa: "2001:db8::1".parse().unwrap(),
            coa: "2001:db8:1::1".parse().unwrap(),
            ha: "2001:db8::ff".parse().unwrap(),
            status: 141,
            reason: "invalid prefix".into(),
        });
        assert!(b
            .to_string()
            .ends_with("status 141 reason \"invalid prefix\""));
    }
}
