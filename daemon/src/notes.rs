//! Start-up log lines about configuration statements that Linux treats differently.

use shisa_config::Config;

/// Logs one line per `ipv4-dummy-tunnel` entry: accepted, but Linux needs no dummy addresses.
pub fn log_config_notes(config: &Config) {
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
