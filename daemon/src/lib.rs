//! Process lifecycle of the daemons.
