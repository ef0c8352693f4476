//! Small checked readers and padding writers shared by the codecs.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::Error;

/// Returns `buf[at..at + len]` or a [`Error::Truncated`] naming `what`.
pub(crate) fn slice<'a>(
    buf: &'a [u8],
    at: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], Error> {
    at.checked_add(len)
        .and_then(|end| buf.get(at..end))
        .ok_or(Error::Truncated {
            what,
            need: at.saturating_add(len),
            have: buf.len(),
        })
}

pub(crate) fn u8_at(buf: &[u8], at: usize, what: &'static str) -> Result<u8, Error> {
    Ok(slice(buf, at, 1, what)?[0])
}

pub(crate) fn u16_at(buf: &[u8], at: usize, what: &'static str) -> Result<u16, Error> {
    let b = slice(buf, at, 2, what)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

pub(crate) fn u32_at(buf: &[u8], at: usize, what: &'static str) -> Result<u32, Error> {
    let mut b = [0u8; 4];
    b.copy_from_slice(slice(buf, at, 4, what)?);
    Ok(u32::from_be_bytes(b))
}

pub(crate) fn u64_at(buf: &[u8], at: usize, what: &'static str) -> Result<u64, Error> {
    let mut b = [0u8; 8];
    b.copy_from_slice(slice(buf, at, 8, what)?);
    Ok(u64::from_be_bytes(b))
}

pub(crate) fn ipv4_at(buf: &[u8], at: usize, what: &'static str) -> Result<Ipv4Addr, Error> {
    Ok(Ipv4Addr::from(u32_at(buf, at, what)?))
}

pub(crate) fn ipv6_at(buf: &[u8], at: usize, what: &'static str) -> Result<Ipv6Addr, Error> {
    let mut b = [0u8; 16];
    b.copy_from_slice(slice(buf, at, 16, what)?);
    Ok(Ipv6Addr::from(b))
}

/// Bytes of padding needed so that `pos` becomes `factor * n + offset`.
pub(crate) fn padding_for(pos: usize, factor: usize, offset: usize) -> usize {
    (offset + factor - pos % factor) % factor
}

/// Appends `count` bytes of Pad1/PadN (same encoding for mobility options and
/// IPv6 destination options: type 0 is one byte, type 1 carries a length).
pub(crate) fn push_padding(out: &mut Vec<u8>, count: usize) {
    match count {
        0 => {}
        1 => out.push(0),
        n => {
            out.push(1);
            // Callers pad by less than 8 bytes at a time; saturate just in case.
            out.push(u8::try_from(n - 2).unwrap_or(u8::MAX));
            out.extend(std::iter::repeat_n(0, n - 2));
        }
    }
}
