//! SHISA configuration files.
