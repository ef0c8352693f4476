//! Network-namespace harness for the integration tests and the `nemo-lab` experiment.
//!
//! Every namespace, veth pair and bridge a test makes is owned by a guard that removes it on
//! drop, so a failing (panicking) test still cleans up. Names carry the process id and a
//! counter, so tests may run in parallel without colliding.

pub mod backends;
pub mod bins;
pub mod bird;
pub mod capture;
pub mod experiment;
pub mod lab;
pub mod monitor;
pub mod netns;
pub mod process;
pub mod radvd;
pub mod signaling;

pub use monitor::Monitor;
pub use netns::{unique_name, Netns};
pub use process::{BackgroundProcess, LineReader};
pub use radvd::{Radvd, Switch};
