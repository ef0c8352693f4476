//! NEMO Basic Support registration (RFC 6275, RFC 3963) with IPv4 mobile network prefixes
//! (the dual-stack extension), as I/O-free state machines in the style of boringtun: they
//! take parsed packets, bus commands and the time, and return [`ha::HaAction`]s /
//! [`mr::MrAction`]s (packets to send, bindings to announce) for the daemons to carry out.
//!
//! - [`ha::HomeAgent`]: Binding Cache processing of RFC 6275 10.3 and RFC 3963 6.
//! - [`mr::MobileRouter`]: the Binding Update List of one mobile router (RFC 6275 11.7, 11.8).
//! - [`homeagents`]: the home agent's Home Agents List, DHAAD and Mobile Prefix answers.
//! - [`discovery`]: the mobile router's DHAAD, home agent failover, Mobile Prefix Discovery.
//! - [`policy`]: what both ends are configured with: prefixes, IPv4 MNP encoding, keys.

pub mod discovery;
pub mod ha;
pub mod homeagents;
pub mod mr;
pub mod policy;
pub mod replay;
pub mod seq;

pub use policy::{Ipv4Encoding, SecurityAssociation};

use std::time::{Instant, SystemTime};

/// The time, as both clocks: timers run on the monotonic one; replay protection and the
/// persisted Binding Cache need wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn current() -> Self {
        Self {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// This time plus `d` on both clocks (for tests and timer arithmetic).
    pub fn after(self, d: std::time::Duration) -> Self {
        Self {
            mono: self.mono + d,
            wall: self.wall + d,
        }
    }
}
