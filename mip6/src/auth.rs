//! MN-HA Mobility Message Authentication (RFC 4285 5).
//!
//! `Authenticator = First(96, HMAC_SHA1(key, CoA | HoA | MH data))`, where MH
//! data runs from the first octet of the Mobility Header up to and including
//! the Mobility SPI field of the authentication option, with the MH checksum
//! field set to zero.
//!
//! Which addresses: for a Binding Update the CoA is the packet's source and
//! the HoA the Home Address option; for a Binding Acknowledgement the CoA is
//! the packet's destination and the HoA the type 2 routing header address.
//! At home (no HAO / RH2) both are the mobile node's address.
//! [`crate::MhPacket`] chooses them for you.

use std::net::Ipv6Addr;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::codes::OptionType;
use crate::mh::{MobilityHeader, CHECKSUM_OFFSET};
use crate::option::{AUTHENTICATOR_LEN, AUTH_SUBTYPE_MN_HA};
use crate::Error;

type HmacSha1 = Hmac<Sha1>;

/// Octets of the authentication option before the authenticator: Type, Length, Subtype, SPI.
const AUTH_HEADER_LEN: usize = 7;

fn mac(key: &[u8], coa: Ipv6Addr, hoa: Ipv6Addr, mh_up_to_spi: &[u8]) -> HmacSha1 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha1::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(&coa.octets());
    mac.update(&hoa.octets());
    // The checksum is zero while authenticating.
    let mut data = mh_up_to_spi.to_vec();
    if let Some(sum) = data.get_mut(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2) {
        sum.fill(0);
    }
    mac.update(&data);
    mac
}

#[cold]
fn unreachable_hmac() -> ! {
    // Hmac::new_from_slice only fails for fixed-key-size MACs; HMAC has none.
    panic!("HMAC-SHA1 rejected a key")
}

/// The 96-bit authenticator over `mh_up_to_spi` (Mobility Header bytes from its
/// first octet up to and including the SPI; the checksum field is treated as zero).
pub fn authenticator(
    key: &[u8],
    coa: Ipv6Addr,
    hoa: Ipv6Addr,
    mh_up_to_spi: &[u8],
) -> [u8; AUTHENTICATOR_LEN] {
    let tag = mac(key, coa, hoa, mh_up_to_spi).finalize().into_bytes();
    let mut out = [0u8; AUTHENTICATOR_LEN];
    out.copy_from_slice(&tag[..AUTHENTICATOR_LEN]);
    out
}

/// Where the authentication option sits in a Mobility Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLocation {
    /// Subtype (1 = MN-HA).
    pub subtype: u8,
    /// Mobility SPI.
    pub spi: u32,
    /// Offset just past the SPI field: the authenticated prefix is `mh[..spi_end]`.
    pub spi_end: usize,
    /// Length of the authenticator that follows.
    pub authenticator_len: usize,
}

/// Finds the authentication option in raw Mobility Header bytes.
pub fn locate(mh: &[u8]) -> Result<AuthLocation, Error> {
    let header = MobilityHeader::new_checked(mh)?;
    let start = crate::mh::options_offset(header.mh_type())
        .ok_or(Error::UnsupportedMhType(header.mh_type().into()))?;
    let mut at = start;
    while let Some(&kind) = mh.get(at) {
        if kind == u8::from(OptionType::Pad1) {
            at += 1;
            continue;
        }
        let len = usize::from(*mh.get(at + 1).ok_or(Error::TruncatedOption { kind })?);
        let end = at + 2 + len;
        if end > mh.len() {
            return Err(Error::TruncatedOption { kind });
        }
        if kind == u8::from(OptionType::Authentication) {
            if len < AUTH_HEADER_LEN - 2 {
                return Err(Error::BadOptionLength { kind, len });
            }
            let spi_end = at + AUTH_HEADER_LEN;
            let spi = u32::from_be_bytes([mh[at + 3], mh[at + 4], mh[at + 5], mh[at + 6]]);
            return Ok(AuthLocation {
                subtype: mh[at + 2],
                spi,
                spi_end,
                authenticator_len: end - spi_end,
            });
        }
        at = end;
    }
    Err(Error::NoAuthOption)
}

/// Fills the authenticator of an emitted Mobility Header in place. The
/// header must carry an MN-HA option with a 12-octet authenticator field.
pub fn sign(mh: &mut [u8], key: &[u8], coa: Ipv6Addr, hoa: Ipv6Addr) -> Result<u32, Error> {
    let loc = locate(mh)?;
    if loc.subtype != AUTH_SUBTYPE_MN_HA || loc.authenticator_len != AUTHENTICATOR_LEN {
        return Err(Error::NoAuthOption);
    }
    let tag = authenticator(key, coa, hoa, &mh[..loc.spi_end]);
    mh[loc.spi_end..loc.spi_end + AUTHENTICATOR_LEN].copy_from_slice(&tag);
    Ok(loc.spi)
}

/// Verifies the MN-HA authenticator of raw Mobility Header bytes (constant
/// time). Returns the Mobility SPI on success.
pub fn verify(mh: &[u8], key: &[u8], coa: Ipv6Addr, hoa: Ipv6Addr) -> Result<u32, Error> {
    let loc = locate(mh)?;
    if loc.subtype != AUTH_SUBTYPE_MN_HA {
        return Err(Error::NoAuthOption);
    }
    if loc.authenticator_len != AUTHENTICATOR_LEN {
        return Err(Error::AuthFailed);
    }
    let tag = &mh[loc.spi_end..loc.spi_end + AUTHENTICATOR_LEN];
    mac(key, coa, hoa, &mh[..loc.spi_end])
        .verify_truncated_left(tag)
        .map_err(|_| Error::AuthFailed)?;
    Ok(loc.spi)
}
