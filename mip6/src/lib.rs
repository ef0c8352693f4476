//! Mobile IPv6 / NEMO wire formats.
