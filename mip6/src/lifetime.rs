//! Lifetimes and refresh intervals travel in units of 4 seconds (RFC 6275 6.1.7, 6.2.4).
//!
//! Parsing is exact: `units * 4 s`. Emitting a [`Duration`] is lossy and follows
//! three rules, chosen so that a caller never asks for less than it meant and
//! never turns a registration into a deregistration by accident:
//!
//! * zero stays zero (lifetime 0 is a deregistration);
//! * any other duration is rounded **down** to whole 4-second units, but never
//!   below one unit (so 1 s becomes 4 s, 7 s becomes 4 s);
//! * durations beyond [`MAX_LIFETIME`] (65535 units, 262140 s) are capped.

use std::time::Duration;

/// Seconds per wire unit.
pub const UNIT_SECS: u64 = 4;

/// The largest lifetime the 16-bit field can carry: 65535 * 4 s = 262140 s.
pub const MAX_LIFETIME: Duration = Duration::from_secs(u16::MAX as u64 * UNIT_SECS);

/// Converts a duration into wire units (see the module doc for rounding).
pub fn to_units(duration: Duration) -> u16 {
    if duration.is_zero() {
        return 0;
    }
    let units = (duration.as_secs() / UNIT_SECS).max(1);
    u16::try_from(units).unwrap_or(u16::MAX)
}

/// Converts wire units into a duration (exact).
pub fn from_units(units: u16) -> Duration {
    Duration::from_secs(u64::from(units) * UNIT_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_rules() {
        assert_eq!(to_units(Duration::ZERO), 0);
        assert_eq!(to_units(Duration::from_millis(1)), 1);
        assert_eq!(to_units(Duration::from_secs(7)), 1);
        assert_eq!(to_units(Duration::from_secs(8)), 2);
        assert_eq!(to_units(Duration::from_secs(400)), 100);
        assert_eq!(to_units(MAX_LIFETIME), u16::MAX);
        assert_eq!(to_units(Duration::from_secs(10_000_000)), u16::MAX);
        assert_eq!(from_units(100), Duration::from_secs(400));
    }
}
