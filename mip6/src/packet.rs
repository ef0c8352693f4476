//! Whole IPv6 packets carrying a Mobility Header: what an `IPPROTO_RAW`
//! socket sends and what raw sockets on protocols 60, 43 and 135 receive.
//!
//! Emitted layout: IPv6 header, then an optional type 2 Routing Header, then
//! an optional Destination Options header with the Home Address option, then
//! the Mobility Header (RFC 8200 4.1 order). Parsing walks Hop-by-Hop,
//! Destination Options and Routing headers in any order, extracts the HAO and
//! RH2 addresses and verifies the checksum against the RFC 6275 6.1.1
//! pseudo-header.

use std::net::Ipv6Addr;

use crate::auth;
use crate::ext::{self, Ipv6Header, IPV6_HEADER_LEN};
use crate::mh::{self, MessageRepr, MobilityHeader, IPPROTO_MH};
use crate::option::{MobilityOption, ParseContext, AUTHENTICATOR_LEN, AUTH_SUBTYPE_MN_HA};
use crate::{checksum, wire, Error};

/// A Mobility Header message with the addresses around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MhPacket {
    /// IPv6 source (the care-of address when `home_address` is set).
    pub src: Ipv6Addr,
    /// IPv6 destination (the care-of address when `rh2_home` is set).
    pub dst: Ipv6Addr,
    /// Home Address destination option, if any.
    pub home_address: Option<Ipv6Addr>,
    /// Type 2 Routing Header address (the final destination), if any.
    pub rh2_home: Option<Ipv6Addr>,
    /// IPv6 hop limit.
    pub hop_limit: u8,
    /// The message.
    pub mh: MessageRepr,
}

/// The MN-HA security association used to sign a message (RFC 4285).
#[derive(Debug, Clone, Copy)]
pub struct AuthKey<'a> {
    /// Mobility SPI.
    pub spi: u32,
    /// Shared key.
    pub key: &'a [u8],
}

/// A parsed packet, still holding the raw Mobility Header for authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPacket<'a> {
    /// The decoded packet (checksum already verified).
    pub packet: MhPacket,
    /// The Mobility Header bytes as received.
    pub mh_bytes: &'a [u8],
}

impl ReceivedPacket<'_> {
    /// Verifies the MN-HA authentication option with `key`; returns its SPI.
    pub fn verify_auth(&self, key: &[u8]) -> Result<u32, Error> {
        let (coa, hoa) = self.packet.auth_addresses();
        auth::verify(self.mh_bytes, key, coa, hoa)
    }

    /// The Mobility SPI of the MN-HA authentication option, unverified: which key to
    /// verify with.
    pub fn auth_spi(&self) -> Result<u32, Error> {
        let loc = auth::locate(self.mh_bytes)?;
        if loc.subtype != AUTH_SUBTYPE_MN_HA {
            return Err(Error::NoAuthOption);
        }
        Ok(loc.spi)
    }
}

impl MhPacket {
    /// Source address of the checksum pseudo-header: the home address when a HAO is present.
    pub fn pseudo_src(&self) -> Ipv6Addr {
        self.home_address.unwrap_or(self.src)
    }

    /// Destination of the checksum pseudo-header: the final address when an RH2 is present.
    pub fn pseudo_dst(&self) -> Ipv6Addr {
        self.rh2_home.unwrap_or(self.dst)
    }

    /// `(care-of address, home address)` for the RFC 4285 authenticator:
    /// HAO present: (source, HAO); RH2 present: (destination, RH2 address);
    /// otherwise the mobile node is at home and both are its address (the
    /// source of a Binding Update, the destination of anything else).
    pub fn auth_addresses(&self) -> (Ipv6Addr, Ipv6Addr) {
        match (self.home_address, self.rh2_home) {
            (Some(hoa), _) => (self.src, hoa),
            (None, Some(hoa)) => (self.dst, hoa),
            (None, None) => match self.mh {
                MessageRepr::BindingUpdate { .. } => (self.src, self.src),
                _ => (self.dst, self.dst),
            },
        }
    }

    /// Builds the complete IPv6 packet (checksum included).
    pub fn emit(&self, ctx: &ParseContext) -> Result<Vec<u8>, Error> {
        let mut mh_bytes = self.mh.emit_unchecksummed(ctx)?;
        mh::fill_checksum(&mut mh_bytes, self.pseudo_src(), self.pseudo_dst());
        Ok(self.wrap(&mh_bytes))
    }

    /// Builds the complete packet, signed when `auth` is given (see
    /// [`MhPacket::emit_signed`]); handy when authentication is configurable.
    pub fn emit_with(
        &self,
        ctx: &ParseContext,
        auth: Option<AuthKey<'_>>,
    ) -> Result<Vec<u8>, Error> {
        match auth {
            Some(key) => self.emit_signed(ctx, key),
            None => self.emit(ctx),
        }
    }

    /// Builds the complete packet with an MN-HA authentication option
    /// appended as the last option and its authenticator computed. The
    /// message must not already carry an authentication option.
    pub fn emit_signed(&self, ctx: &ParseContext, key: AuthKey<'_>) -> Result<Vec<u8>, Error> {
        let mut message = self.mh.clone();
        let options = message.options_mut();
        if options
            .iter()
            .any(|o| matches!(o, MobilityOption::Authentication { .. }))
        {
            return Err(Error::AlreadySigned);
        }
        options.push(MobilityOption::Authentication {
            subtype: AUTH_SUBTYPE_MN_HA,
            spi: key.spi,
            authenticator: vec![0; AUTHENTICATOR_LEN],
        });
        let mut mh_bytes = message.emit_unchecksummed(ctx)?;
        let (coa, hoa) = self.auth_addresses();
        auth::sign(&mut mh_bytes, key.key, coa, hoa)?;
        mh::fill_checksum(&mut mh_bytes, self.pseudo_src(), self.pseudo_dst());
        Ok(self.wrap(&mh_bytes))
    }

    /// Puts the IPv6 header and extension headers in front of `mh_bytes`.
    fn wrap(&self, mh_bytes: &[u8]) -> Vec<u8> {
        let ext_len = ext::EXT_LEN
            * (usize::from(self.home_address.is_some()) + usize::from(self.rh2_home.is_some()));
        let mut out = Vec::with_capacity(IPV6_HEADER_LEN + ext_len + mh_bytes.len());
        let after_rh2 = if self.home_address.is_some() {
            ext::IPPROTO_DSTOPTS
        } else {
            IPPROTO_MH
        };
        let first = if self.rh2_home.is_some() {
            ext::IPPROTO_ROUTING
        } else {
            after_rh2
        };
        Ipv6Header {
            // At most 48 + 2048 octets: always fits.
            payload_len: (ext_len + mh_bytes.len()) as u16,
            next_header: first,
            hop_limit: self.hop_limit,
            src: self.src,
            dst: self.dst,
        }
        .emit(&mut out);
        if let Some(home) = self.rh2_home {
            ext::emit_rh2(&mut out, after_rh2, home);
        }
        if let Some(home) = self.home_address {
            ext::emit_hao_dstopts(&mut out, IPPROTO_MH, home);
        }
        out.extend_from_slice(mh_bytes);
        out
    }

    /// Parses a complete IPv6 packet (from the IPv6 header on). Octets past
    /// the IPv6 payload length are ignored; a shorter buffer is an error.
    pub fn parse<'a>(buf: &'a [u8], ctx: &ParseContext) -> Result<ReceivedPacket<'a>, Error> {
        let ip = Ipv6Header::parse(buf)?;
        let declared = usize::from(ip.payload_len);
        let payload = buf.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + declared).ok_or(
            Error::BadPayloadLength {
                declared,
                available: buf.len().saturating_sub(IPV6_HEADER_LEN),
            },
        )?;
        Self::parse_payload(ip.next_header, ip.src, ip.dst, ip.hop_limit, payload, ctx)
    }

    /// Parses what follows the IPv6 header, as a Linux raw IPv6 socket
    /// delivers it (the kernel strips the IPv6 header; take the addresses
    /// from `recvmsg` and `IPV6_PKTINFO`, the hop limit from `IPV6_HOPLIMIT`).
    /// `next_header` is the protocol of the first header in `payload`
    /// (the socket's protocol: 60, 43 or 135).
    pub fn parse_payload<'a>(
        next_header: u8,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        payload: &'a [u8],
        ctx: &ParseContext,
    ) -> Result<ReceivedPacket<'a>, Error> {
        let (home_address, rh2_home, at) = walk_extension_headers(next_header, payload)?;
        let mh_bytes = payload.get(at..).unwrap_or_default();
        let declared = (usize::from(wire::u8_at(mh_bytes, 1, "mobility header")?) + 1) * 8;
        let view = MobilityHeader::new_checked(mh_bytes).map_err(|e| match e {
            Error::BadHeaderLength { .. } => Error::BadHeaderLength {
                declared,
                available: mh_bytes.len(),
            },
            other => other,
        })?;
        let pseudo_src = home_address.unwrap_or(src);
        let pseudo_dst = rh2_home.unwrap_or(dst);
        if !view.verify_checksum(pseudo_src, pseudo_dst) {
            let mut zeroed = mh_bytes.to_vec();
            zeroed[mh::CHECKSUM_OFFSET..mh::CHECKSUM_OFFSET + 2].fill(0);
            return Err(Error::BadChecksum {
                found: view.checksum(),
                computed: checksum::compute(pseudo_src, pseudo_dst, IPPROTO_MH, &zeroed),
            });
        }
        let mh = MessageRepr::parse(&view, ctx)?;
        Ok(ReceivedPacket {
            packet: MhPacket {
                src,
                dst,
                home_address,
                rh2_home,
                hop_limit,
                mh,
            },
            mh_bytes,
        })
    }
}

/// Walks the extension headers before the Mobility Header: (Home Address option, type 2
/// routing header address, offset of the Mobility Header).
fn walk_extension_headers(
    next_header: u8,
    payload: &[u8],
) -> Result<(Option<Ipv6Addr>, Option<Ipv6Addr>, usize), Error> {
    let mut home_address = None;
    let mut rh2_home = None;
    let mut next = next_header;
    let mut at = 0;
    loop {
        let rest = payload.get(at..).unwrap_or_default();
        let header = match next {
            IPPROTO_MH => break,
            ext::IPPROTO_HOPOPTS | ext::IPPROTO_DSTOPTS => {
                let header = ext::parse_options_header(rest)?;
                if let Some(hoa) = header.home_address {
                    if next == ext::IPPROTO_HOPOPTS {
                        return Err(Error::UnexpectedNextHeader(next));
                    }
                    if home_address.replace(hoa).is_some() {
                        return Err(Error::Duplicate("home address option"));
                    }
                }
                header
            }
            ext::IPPROTO_ROUTING => {
                let header = ext::parse_rh2(rest)?;
                if rh2_home.is_some() {
                    return Err(Error::Duplicate("type 2 routing header"));
                }
                rh2_home = header.home_address;
                header
            }
            other => return Err(Error::UnexpectedNextHeader(other)),
        };
        next = header.next_header;
        at += header.len;
    }
    Ok((home_address, rh2_home, at))
}

/// The Home Address option of a packet as a raw socket delivers it (see
/// [`MhPacket::parse_payload`]), also when its Mobility Header does not parse: a Binding
/// Error about it carries that address (RFC 6275 6.1.9).
pub fn home_address_option(next_header: u8, payload: &[u8]) -> Option<Ipv6Addr> {
    walk_extension_headers(next_header, payload).ok()?.0
}
