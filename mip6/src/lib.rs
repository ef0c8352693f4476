//! Mobile IPv6 / NEMO wire formats between a mobile router and its home agent,
//! without any I/O.
//!
//! Modelled on smoltcp's `wire` module: untrusted bytes go through checked
//! views that cannot panic, and every message has a `Repr` with symmetric
//! `parse` and `emit`.
//!
//! Layout:
//! * [`mh`]: the Mobility Header (RFC 6275 6.1): [`MobilityHeader`] (checked
//!   view) and [`MessageRepr`] (BRR, BU, BA, BE), flags, checksum filling.
//! * [`option`]: mobility options ([`MobilityOption`]), automatic alignment
//!   padding, and [`ParseContext`], the dialect that says whether the
//!   draft-shima-nemo-v4prefix options are spoken and under which numbers.
//! * [`auth`]: RFC 4285 MN-HA authenticator: compute, sign in place, verify.
//! * [`ext`]: IPv6 header, Home Address destination option, type 2 Routing Header.
//! * [`packet`]: [`MhPacket`], complete IPv6 packets as sent on an
//!   `IPPROTO_RAW` socket and as received on raw sockets (protocols 60, 43, 135).
//! * [`codes`]: named message types, option types and status codes.
//! * [`lifetime`]: 4-second lifetime units and how a [`std::time::Duration`] is rounded.
//! * [`checksum`]: the pseudo-header Internet checksum.
//! * [`icmp`]: the ICMPv6 messages of Mobile IPv6: DHAAD request/reply, mobile prefix
//!   solicitation/advertisement, the Home Agent Information option of Router Advertisements,
//!   the Home-Agents anycast address.
//! * [`nd`]: the unsolicited Neighbor Advertisement a home agent and a returning mobile
//!   router send for a home address (RFC 6275 10.4.1, 11.5.4).
//!
//! Sending a signed Binding Update from a care-of address:
//!
//! ```
//! use std::time::Duration;
//! use mip6::{AuthKey, BuFlags, MessageRepr, MhPacket, MobilityOption, ParseContext};
//!
//! let ctx = ParseContext::iana();
//! let bu = MhPacket {
//!     src: "2001:db8:f::10".parse().unwrap(),           // care-of address
//!     dst: "2001:db8::1".parse().unwrap(),              // home agent
//!     home_address: Some("2001:db8::100".parse().unwrap()),
//!     rh2_home: None,
//!     hop_limit: 64,
//!     mh: MessageRepr::BindingUpdate {
//!         seq: 7,
//!         flags: BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER,
//!         lifetime: Duration::from_secs(400),
//!         options: vec![MobilityOption::MobileNetworkPrefix {
//!             prefix: "2001:db8:1::".parse().unwrap(),
//!             prefix_len: 64,
//!         }],
//!     },
//! };
//! let bytes = bu.emit_signed(&ctx, AuthKey { spi: 0x100, key: b"secret" }).unwrap();
//! let rx = MhPacket::parse(&bytes, &ctx).unwrap();
//! assert_eq!(rx.verify_auth(b"secret").unwrap(), 0x100);
//! assert_eq!(rx.packet.home_address, bu.home_address);
//! ```

pub mod auth;
pub mod checksum;
pub mod codes;
mod error;
pub mod ext;
pub mod icmp;
pub mod lifetime;
pub mod mh;
pub mod nd;
pub mod option;
pub mod packet;
mod wire;

pub use codes::{BaStatus, BeStatus, Ipv4AckStatus, MhType, OptionType};
pub use error::Error;
pub use mh::{BaFlags, BuFlags, MessageRepr, MobilityHeader};
pub use option::{
    DraftV4Options, MobilityOption, ParseContext, AUTHENTICATOR_LEN, AUTH_SUBTYPE_MN_AAA,
    AUTH_SUBTYPE_MN_HA, MN_ID_SUBTYPE_NAI,
};
pub use packet::{AuthKey, MhPacket, ReceivedPacket};
