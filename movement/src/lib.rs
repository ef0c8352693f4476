//! Movement detection for the mobile router (babymdd's core).
//!
//! - [`snapshot`]: the node's links and IPv6 addresses ([`LinkState`]), updated by
//!   [`LinkEvent`]s.
//! - [`policy`]: the I/O-free decision, [`MovementPolicy::decide`] -> [`Decision`]
//!   (home / foreign with CoA / disconnected).
//! - [`detector`]: [`Detector`] announces a [`Change`] only when the decision changes, and
//!   the current one again on request (SIGHUP).
//! - [`watch`]: the rtnetlink watcher driving all of it (no polling).
//! - [`uplink`]: sysctls and a Router Solicitation for fast movement.

pub mod detector;
pub mod error;
pub mod netlink;
pub mod policy;
pub mod snapshot;
pub mod uplink;
pub mod watcher;

pub use detector::{Change, ChangeKind, Detector};
pub use error::{UplinkError, WatchError};
pub use policy::{Decision, MovementPolicy, Uplink};
pub use snapshot::{Address, AddressFlags, Interface, LinkEvent, LinkInfo, LinkState, Scope};
pub use uplink::{prepare_uplink, RouterSolicitor};
pub use watcher::{watch, WatchOptions, Watcher};
