//! Replay protection timestamps (RFC 4285 section 6): 64-bit NTP format, seconds since 1900
//! in the high 32 bits and the fraction in the low 32.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from 1900-01-01 to 1970-01-01.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

pub fn ntp_timestamp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// `|a - b|` of two NTP timestamps.
pub fn distance(a: u64, b: u64) -> Duration {
    let diff = a.abs_diff(b);
    let secs = diff >> 32;
    let nanos = ((diff & 0xffff_ffff) * 1_000_000_000) >> 32;
    Duration::from_secs(secs) + Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_a_half_seconds_apart() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = ntp_timestamp(t);
        let b = ntp_timestamp(t + Duration::from_millis(1500));
        assert_eq!(a >> 32, 1_800_000_000 + NTP_UNIX_OFFSET);
        assert!(b > a);
        let d = distance(a, b);
        assert!(
            d > Duration::from_millis(1499) && d < Duration::from_millis(1501),
            "{d:?}"
        );
    }
}
