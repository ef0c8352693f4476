//! nemonetd's effective settings, rendered as log lines at start and after a reload. The
//! data plane itself (tunnels, routes, the bus) is `plane.rs`.

use shisa_config::Config;

use crate::cli::{Args, Role};

/// Logs the effective settings: at start, and again after a reload that changed something.
pub fn log_settings(config: &Config, args: &Args) {
    let s = config.settings_for(&args.ifname);
    let role = match args.role() {
        Role::HomeAgent => "home agent",
        Role::MobileRouter => "mobile router",
    };
    tracing::info!(
        "{role} data plane on {}: backend {}",
        args.ifname,
        s.data_plane_or_default(),
    );
    if let (Role::HomeAgent, Some(t)) = (args.role(), s.announce_table) {
        tracing::info!("the served mobile network prefixes are announced in routing table {t}");
    }
    if args.role() == Role::MobileRouter {
        if let Some(a) = s.ipv4_mnp_address {
            tracing::info!("the router's own IPv4 traffic leaves the tunnel from {a}");
        }
    }
    shisa_daemon::log_config_notes(config);
}
