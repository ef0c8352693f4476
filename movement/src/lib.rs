//! Movement detection for the mobile router: the core of `babymdd`.
//!
//! - [`snapshot`]: the node's links and IPv6 addresses ([`LinkState`]), kept current by
//!   [`LinkEvent`]s. Linux keeps SLAAC addresses across a carrier loss, so addresses learned
//!   before one are *stale* until a Router Advertisement on the new link announces their
//!   prefix again (`RTM_NEWPREFIX`): an L2 move never keeps the old link's address as CoA.
//! - [`policy`]: the I/O-free decision [`MovementPolicy::decide`] -> [`Decision`]: `Home`
//!   (an uplink with carrier whose last Router Advertisement carried a home prefix as
//!   on-link, whatever its A flag, RFC 6275 11.5.1; before any RA, a usable address inside a
//!   home prefix; wins over any foreign uplink), `Foreign { coa, ifindex }` (first uplink in priority order with
//!   carrier and a usable global address: not tentative unless optimistic, not deprecated,
//!   not DAD-failed, not stale, not link-local, not in a home prefix, not the home address),
//!   or `Disconnected`.
//! - [`detector`]: [`Detector`] announces a [`Change`] only when the decision changes, and
//!   the current one again on request (SIGHUP).
//! - [`ra`]: Router Advertisements from a raw ICMPv6 socket (checked parser and receiver).
//! - [`watcher`]: [`watch`] runs all of it on rtnetlink notifications (links, IPv6
//!   addresses, RA prefixes; no polling; a netlink overrun triggers a fresh dump) and on the
//!   Router Advertisements received.
//! - [`uplink`]: sysctls for a forwarding MR's uplinks and a Router Solicitation at link-up.
//!
//! Driving it from a daemon (inside a tokio runtime, in the MR's network namespace):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use movement::{watch, Decision, MovementPolicy, Uplink, WatchOptions};
//! let policy = MovementPolicy {
//!     home_prefixes: vec!["2001:db8:1::/64".parse()?],
//!     uplinks: vec![Uplink::new("eth-a", 1), Uplink::new("eth-b", 2)],
//!     home_address: Some("2001:db8:1::100".parse()?),
//! };
//! for u in &policy.uplinks {
//!     movement::prepare_uplink(&u.name)?; // accept_ra=2, optimistic DAD, no RS delay
//! }
//! let options = WatchOptions { solicit_on_link_up: true, ..Default::default() };
//! let mut watcher = watch(policy, options)?;
//! // On SIGHUP: watcher.reannounce();  on reload: watcher.set_policy(new_policy);
//! while let Some(change) = watcher.next().await {
//!     match change?.current {
//!         Decision::Foreign { coa, ifindex } => { /* MD_INFO REREG coa, ifindex */ }
//!         Decision::Home { ifindex } => { /* MD_INFO DEREGHOME, ifindex */ }
//!         Decision::Disconnected => { /* nothing to register from */ }
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod detector;
pub mod error;
pub mod netlink;
pub mod policy;
pub mod ra;
pub mod snapshot;
pub mod uplink;
pub mod watcher;

pub use detector::{Change, ChangeKind, Detector};
pub use error::{UplinkError, WatchError};
pub use policy::{Decision, MovementPolicy, Uplink};
pub use snapshot::{
    Address, AddressFlags, Interface, LinkEvent, LinkInfo, LinkState, OnLinkPrefix, PrefixInfo,
    RouterAdvertisement, Scope,
};
pub use uplink::{prepare_uplink, RouterSolicitor};
pub use watcher::{watch, WatchOptions, Watcher};
