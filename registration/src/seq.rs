//! Sequence numbers compared modulo 2^16 (RFC 6275 9.5.1).

/// Whether `candidate` comes after `last` in the 2^16 sequence space: true when it is
/// within the 32768 numbers that follow `last`.
pub fn is_newer(candidate: u16, last: u16) -> bool {
    let ahead = candidate.wrapping_sub(last);
    ahead != 0 && ahead < 0x8000
}

#[cfg(test)]
mod tests {
    use super::is_newer;

    #[test]
    fn window_wraps_around() {
        assert!(is_newer(1, 0));
        assert!(!is_newer(0, 0));
        assert!(!is_newer(0, 1));
        assert!(is_newer(0, 65535));
        assert!(is_newer(5, 65000));
        assert!(!is_newer(40000, 5));
        assert!(is_newer(32767, 0));
        assert!(!is_newer(32768, 0));
    }
}
