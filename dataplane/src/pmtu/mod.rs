//! Path MTU through the tunnel (RFC 2473 sections 7 and 8): nobody behind or towards the
//! mobile network is left with a black hole.
//!
//! - [`oversize`]: on the seg6 backend, packets longer than the tunnel MTU are steered
//!   through a link of the tunnel MTU so that the kernel answers them (the tun backend's
//!   device has the tunnel MTU itself).
//! - [`icmp`] and [`socket`]: a Packet Too Big from the access network about one of our
//!   tunnel packets lowers the tunnel MTU ([`crate::DataPlane::outer_packet_too_big`]) and
//!   is relayed to the inner sender; a Destination Unreachable or Time Exceeded becomes a
//!   host unreachable for the inner sender ([`crate::DataPlane::outer_unreachable`]).

pub mod icmp;
pub mod oversize;
pub mod socket;
