//! What the parser produces: statements with the positions validation needs.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::Ipv6Net;

use crate::error::Pos;
use crate::model::{
    Authentication, DataPlane, DummyTunnel, InterfaceRole, PrefixEntry, StaticTunnel,
};

/// `ipv4-mnp-encoding` as written; the draft numbers come from a separate statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingName {
    Rfc5555,
    Draft,
    ConfigOnly,
}

/// A statement of the form `KEYWORD VALUE...;`, its value already typed and range-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Debug(u32),
    NameLookup(bool),
    CommandPort(u16),
    HomeRegistrationLifetime(u32),
    Preference(i16),
    KeyManagement(bool),
    Ipv4MnpSupport(bool),
    AuthDatabase(PathBuf),
    Authentication(Authentication),
    HomeAgentAddress(Ipv6Addr),
    HomePrefix(Ipv6Net),
    BusDirectory(PathBuf),
    PidFile(PathBuf),
    BpfDirectory(PathBuf),
    DataPlane(DataPlane),
    Ipv4MnpEncoding(EncodingName),
    DraftOptionNumbers(u8, u8),
    MobileNetworkInterface(String),
    Ipv4MnpAddress(Ipv4Addr),
    MaxBindingLifetime(u32),
    Role(InterfaceRole),
    Priority(u16),
    TunnelMtu(u32),
    TunnelHopLimit(u8),
    AnnounceTable(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixLine {
    pub entry: PrefixEntry,
    /// Position of the prefix token (errors about the prefix point there).
    pub pos: Pos,
    /// Position of the home address token.
    pub hoa_pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelLine {
    pub tunnel: StaticTunnel,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DummyLine {
    pub dummy: DummyTunnel,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    Setting {
        keyword: &'static str,
        setting: Setting,
        pos: Pos,
    },
    Interface {
        name: String,
        pos: Pos,
        body: Vec<Stmt>,
    },
    PrefixTable(Vec<PrefixLine>),
    StaticTunnel(Vec<TunnelLine>),
    DummyTunnel(Vec<DummyLine>),
}
