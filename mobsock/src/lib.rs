//! The mobility socket bus: KAME's AF_MOBILITY modelled over Unix-domain sockets.
//!
//! # Design
//!
//! Broker-less, so that no member depends on another being up. Each member binds its own
//! `SOCK_DGRAM` Unix socket `<dir>/<name>.<pid>.sock` in the bus directory (default
//! [`DEFAULT_BUS_DIR`], `/run/shisa`). Sending a message means sending one datagram to every
//! other member's socket:
//!
//! - **Membership.** A joining member scans the directory, connects one datagram socket to
//!   each member it finds, and broadcasts JOIN as its first message (sequence number 1);
//!   receivers connect back when they hear it. Every `maintenance_interval` (250 ms) each
//!   member rescans the directory (to find members whose JOIN it missed) and probes its
//!   peers' sockets: a socket nobody is bound to (`ECONNREFUSED`, e.g. after SIGKILL) is
//!   unlinked and reported as [`Event::PeerLeft`] with [`LeaveReason::Gone`]; a clean
//!   [`BusMember::leave`] sends LEAVE first. A restarted daemon has a new pid, hence a new
//!   socket and a fresh sequence space: the others see its departure and its return, and
//!   nothing else.
//! - **Ordering and loss.** Every message carries a per-sender sequence number. Each peer
//!   has its own bounded queue and writer task (see `peers`), so per-sender order holds and
//!   a slow or stopped member only delays itself: when its queue is full, messages are
//!   dropped for it alone, and once it reads again it receives a DROPPED notice naming the
//!   lost range. The member turns sequence jumps and notices into [`Event::Gap`], and the
//!   application resynchronises with [`BusMember::request_dump`]. Loss is never silent.
//! - **Dumps.** A DUMP_REQUEST is broadcast; owners of state (had: Binding Cache, mrd:
//!   Binding Update List) answer with DUMP_REPLY chunks ([`BusMember::answer_dump`]), the
//!   last one marked `done`. The library only transports; the owner stays in charge.
//! - **Privilege.** The directory is `0750` (or `root:GROUP 0770` with
//!   [`BusOptions::group`]) and sockets `0600`/`0660`, so others cannot connect. As defence
//!   in depth every datagram is received with `SCM_CREDENTIALS` and dropped (and logged)
//!   unless the sender's uid is 0, our own, or in the bus group.
//! - **Encoding.** postcard with serde, versioned so that newer members can add message
//!   kinds and fields: see [`wire`].
//! - **Joining.** Members found in the directory answer a JOIN with HELLO (carrying their
//!   last sequence number); [`Bus::join`] returns once they all did (or after
//!   `join_timeout`), so from then on every live member sends to the newcomer. A member
//!   that needs the current state asks for it with [`BusMember::request_dump`].
//!
//! `mipsock monitor` text and JSON line formats: see [`render`].
//!
//! # Use in a daemon
//!
//! ```no_run
//! use mobsock::{BcEntry, Body, Bus, BusOptions, DumpWhat, Event, NodeType, NodeTypeInfo};
//!
//! # async fn had(mut bc: Vec<BcEntry>) -> Result<(), mobsock::BusError> {
//! let mut bus = Bus::join("/run/shisa".as_ref(), "had", BusOptions::default()).await?;
//! bus.send(Body::NodeTypeInfo(NodeTypeInfo { node_type: NodeType::HomeAgent, enabled: true }))?;
//! loop {
//!     match bus.recv().await? {
//!         Event::Message(env) => match env.body {
//!             // had owns the Binding Cache: answer dumps (mrd answers with its BUL).
//!             Body::DumpRequest(req) => bus.answer_dump(&req, &bc, &[])?,
//!             Body::Unknown { .. } => {} // from a newer member: skip
//!             _ => {}
//!         },
//!         // Something was lost: ask the owners again (a consumer such as nemonetd).
//!         Event::Gap { .. } => bc = bus.request_dump(DumpWhat::Bc).await?.bc(),
//!         Event::PeerJoined(_) | Event::PeerLeft { .. } => {}
//!     }
//! }
//! # }
//! ```

pub mod bus;
pub mod dump;
pub mod message;
pub mod render;
pub mod wire;

pub use bus::dir::DEFAULT_BUS_DIR;
pub use bus::{Bus, BusError, BusMember, BusOptions, DumpResult, DumpWait, Event, LeaveReason};
pub use message::*;
pub use wire::{Envelope, Sender};
