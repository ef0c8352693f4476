//! The Internet checksum over the IPv6 pseudo-header (RFC 8200 8.1), as the
//! Mobility Header uses it (RFC 6275 6.1.1).

use std::net::Ipv6Addr;

/// One's complement sum of 16-bit words, folded to 16 bits (odd tail padded with zero).
fn sum_words(bytes: &[u8], mut acc: u32) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for word in &mut chunks {
        acc += u32::from(u16::from_be_bytes([word[0], word[1]]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

fn pseudo_sum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> u32 {
    let mut acc = sum_words(&src.octets(), 0);
    acc = sum_words(&dst.octets(), acc);
    // Upper-layer length is 32 bits; a Mobility Header never exceeds 2048.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    acc = sum_words(&len.to_be_bytes(), acc);
    sum_words(&[0, 0, 0, next_header], acc)
}

/// The checksum to store for `data` whose checksum field is zero.
pub fn compute(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    let acc = sum_words(data, pseudo_sum(src, dst, next_header, data.len()));
    !(acc as u16)
}

/// Whether `data` (checksum field included) verifies.
pub fn verify(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> bool {
    sum_words(data, pseudo_sum(src, dst, next_header, data.len())) as u16 == 0xffff
}
