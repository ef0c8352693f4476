//! The mobility socket bus.
