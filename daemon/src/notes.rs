//! Start-up log lines about configuration statements that Linux treats differently.

use shisa_config::Config;

/// Logs one line per `ipv4-dummy-tunnel` entry (accepted, but Linux needs no dummy addresses)
/// and per `static-tunnel` entry (accepted, but there is no tunnel interface to name).
pub fn log_config_notes(config: &Config) {
    for t in config.static_tunnels() {
        tracing::info!(
            "static-tunnel {} for {}: accepted and not used on Linux; the data plane has no \
             tunnel interface per mobile router to name",
            t.tunnel,
            t.home_address
        );
    }
    for d in config.dummy_tunnels() {
        tracing::info!(
            "ipv4-dummy-tunnel {} {} {}: accepted and not needed on Linux; the tunnel carries \
             IPv4 unnumbered, so no dummy addresses are assigned",
            d.tunnel,
            d.mr_address,
            d.ha_address
        );
    }
}
