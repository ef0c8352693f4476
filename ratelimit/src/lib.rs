//! A budget of events per one-second window, with the time passed in.
//!
//! One limiter for every crate that rate-limits what it sends (the home agent's Binding
//! Errors in `registration`, the data plane's relayed ICMP errors in `dataplane`): it reads
//! no clock, so the I/O-free cores stay I/O-free and tests step time by hand. A crate of
//! its own because it is the only thing both need: neither should depend on the other, and
//! `mip6` (wire formats) is no place for it.

use std::time::{Duration, Instant};

/// The window of [`PerSecond`].
pub const WINDOW: Duration = Duration::from_secs(1);

/// At most `limit` events per one-second window. The window starts at the first event
/// after the previous window ended (a fixed window, as the kernel's own ICMP limit is not:
/// simpler, and a burst of twice the limit across a window edge is harmless here).
#[derive(Debug, Clone, Default)]
pub struct PerSecond {
    window: Option<Instant>,
    used: u32,
}

impl PerSecond {
    /// Counts one event at `now`: true while it is within `limit` for its window.
    pub fn allow(&mut self, now: Instant, limit: u32) -> bool {
        if self
            .window
            .is_none_or(|w| now.saturating_duration_since(w) >= WINDOW)
        {
            self.window = Some(now);
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        self.used <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_second() {
        let t0 = Instant::now();
        let mut limit = PerSecond::default();
        let allowed = (0..250).filter(|_| limit.allow(t0, 100)).count();
        assert_eq!(allowed, 100);
        // Still the same window just before it ends.
        assert!(!limit.allow(t0 + Duration::from_millis(999), 100));
        // A window that started a second ago is a new budget.
        assert!(limit.allow(t0 + WINDOW, 100));
        let more = (0..150)
            .filter(|_| limit.allow(t0 + Duration::from_millis(1500), 100))
            .count();
        assert_eq!(more, 99, "the new window counts the first event");
    }

    #[test]
    fn a_clock_going_backwards_stays_in_the_window() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut limit = PerSecond::default();
        assert!(limit.allow(t0, 1));
        assert!(!limit.allow(t0 - Duration::from_secs(5), 1));
    }

    #[test]
    fn a_zero_limit_allows_nothing() {
        let mut limit = PerSecond::default();
        assert!(!limit.allow(Instant::now(), 0));
    }
}
