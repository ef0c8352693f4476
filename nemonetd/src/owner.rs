//! The owner loop: holds nemonetd's state and handles one event at a time. Today it logs the
//! effective settings and handles signals; the tunnel and route installation plugs in here.

use shisa_config::Config;
use shisa_daemon::Daemon;

use crate::cli::{Args, Role};

pub fn log_settings(config: &Config, args: &Args) {
    let s = config.settings_for(&args.ifname);
    let role = match args.role() {
        Role::HomeAgent => "home agent",
        Role::MobileRouter => "mobile router",
    };
    tracing::info!(
        "{role} data plane on {}: backend {}, {} tunnels, {}",
        args.ifname,
        s.data_plane_or_default(),
        if args.static_tunnel {
            "static"
        } else {
            "dynamic"
        },
        if args.multiple_coa {
            "one tunnel per home address and binding id"
        } else {
            "one tunnel per home address"
        },
    );
    if args.static_tunnel {
        let names: Vec<String> = config
            .static_tunnels()
            .map(|t| format!("{} for {}", t.tunnel, t.home_address))
            .collect();
        if names.is_empty() {
            tracing::warn!("-s given but the configuration has no static-tunnel entries");
        } else {
            tracing::info!("static tunnels: {}", names.join(", "));
        }
    }
    if args.role() == Role::MobileRouter {
        if let Some(a) = s.ipv4_mnp_address {
            tracing::info!("the router's own IPv4 traffic leaves the tunnel from {a}");
        }
    }
    shisa_daemon::log_config_notes(config);
}

pub async fn run(daemon: Daemon<Config>, args: Args) -> anyhow::Result<()> {
    log_settings(daemon.config(), &args);
    crate::plane::run(daemon, args).await
}
