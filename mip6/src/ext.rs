//! The IPv6 pieces around a Mobility Header: the fixed IPv6 header, the
//! Destination Options header with the Home Address option (RFC 6275 6.3) and
//! the type 2 Routing Header (RFC 6275 6.4).

use std::net::Ipv6Addr;

use crate::wire::{self, padding_for, push_padding};
use crate::Error;

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Next header: Hop-by-Hop Options.
pub const IPPROTO_HOPOPTS: u8 = 0;
/// Next header: Routing header.
pub const IPPROTO_ROUTING: u8 = 43;
/// Next header: Destination Options.
pub const IPPROTO_DSTOPTS: u8 = 60;
/// Home Address option type (0xC9: skip if unknown = 11, may not change = 0).
pub const HOME_ADDRESS_OPTION: u8 = 0xC9;
/// Routing type of the type 2 Routing Header.
pub const ROUTING_TYPE_2: u8 = 2;
/// Length of both the HAO destination options header and the RH2: 24 octets.
pub const EXT_LEN: usize = 24;

/// The fixed IPv6 header fields this library uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header {
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Ipv6Header {
    /// Parses the fixed header (traffic class and flow label are ignored).
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let fixed = wire::slice(buf, 0, IPV6_HEADER_LEN, "IPv6 header")?;
        let version = fixed[0] >> 4;
        if version != 6 {
            return Err(Error::NotIpv6(version));
        }
        Ok(Ipv6Header {
            payload_len: u16::from_be_bytes([fixed[4], fixed[5]]),
            next_header: fixed[6],
            hop_limit: fixed[7],
            src: wire::ipv6_at(fixed, 8, "IPv6 header")?,
            dst: wire::ipv6_at(fixed, 24, "IPv6 header")?,
        })
    }

    /// Appends the header (traffic class and flow label zero).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x60, 0, 0, 0]);
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.extend_from_slice(&[self.next_header, self.hop_limit]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
    }
}

/// Appends a Destination Options header holding only a Home Address option,
/// placed at 8n+6 (RFC 6275 6.3) after a 4-octet PadN.
pub fn emit_hao_dstopts(out: &mut Vec<u8>, next_header: u8, home_address: Ipv6Addr) {
    let start = out.len();
    out.extend_from_slice(&[next_header, 0]);
    push_padding(out, padding_for(out.len() - start, 8, 6));
    out.extend_from_slice(&[HOME_ADDRESS_OPTION, 16]);
    out.extend_from_slice(&home_address.octets());
    push_padding(out, padding_for(out.len() - start, 8, 0));
    out[start + 1] = ((out.len() - start) / 8 - 1) as u8;
}

/// Appends a type 2 Routing Header (one address, segments left 1).
pub fn emit_rh2(out: &mut Vec<u8>, next_header: u8, home_address: Ipv6Addr) {
    out.extend_from_slice(&[next_header, 2, ROUTING_TYPE_2, 1, 0, 0, 0, 0]);
    out.extend_from_slice(&home_address.octets());
}

/// An extension header found while walking the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExtHeader {
    pub next_header: u8,
    pub len: usize,
    /// Home Address option (destination options) or RH2 address (routing).
    pub home_address: Option<Ipv6Addr>,
}

/// Parses a Hop-by-Hop or Destination Options header at the start of `buf`,
/// picking up a Home Address option. Other options are skipped by length.
pub(crate) fn parse_options_header(buf: &[u8]) -> Result<ExtHeader, Error> {
    const W: &str = "options header";
    let next_header = wire::u8_at(buf, 0, W)?;
    let len = (usize::from(wire::u8_at(buf, 1, W)?) + 1) * 8;
    let body = wire::slice(buf, 2, len - 2, W)?;
    let mut home_address = None;
    let mut at = 0;
    while let Some(&kind) = body.get(at) {
        if kind == 0 {
            at += 1;
            continue;
        }
        let opt_len = usize::from(wire::u8_at(body, at + 1, W)?);
        let data = wire::slice(body, at + 2, opt_len, W)?;
        if kind == HOME_ADDRESS_OPTION {
            if opt_len != 16 {
                return Err(Error::BadHomeAddressOption(data.len() as u8));
            }
            if home_address.is_some() {
                return Err(Error::Duplicate("home address option"));
            }
            home_address = Some(wire::ipv6_at(data, 0, W)?);
        }
        at += 2 + opt_len;
    }
    Ok(ExtHeader {
        next_header,
        len,
        home_address,
    })
}

/// Parses a Routing header at the start of `buf`; only type 2 is accepted.
pub(crate) fn parse_rh2(buf: &[u8]) -> Result<ExtHeader, Error> {
    const W: &str = "routing header";
    let fixed = wire::slice(buf, 0, 4, W)?;
    let (next_header, hdr_len, routing_type, segments_left) =
        (fixed[0], fixed[1], fixed[2], fixed[3]);
    if routing_type != ROUTING_TYPE_2 || hdr_len != 2 || segments_left != 1 {
        return Err(Error::BadRoutingHeader {
            routing_type,
            len: hdr_len,
            segments_left,
        });
    }
    Ok(ExtHeader {
        next_header,
        len: EXT_LEN,
        home_address: Some(wire::ipv6_at(buf, 8, W)?),
    })
}
