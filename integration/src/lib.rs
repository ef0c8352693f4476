//! Network-namespace helpers for tests and the lab.
