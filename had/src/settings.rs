//! had's effective settings, rendered as log lines at start (`run`, which then hands over
//! to the owner loop) and after a reload. The owner loop (the Binding Cache, signaling) is
//! `agent.rs`.

use shisa_daemon::Daemon;

use crate::cli::Args;
use crate::config::HadConfig;

fn log_settings(cfg: &HadConfig, args: &Args) {
    let s = cfg.config.settings_for(&args.homeif);
    let homes = cfg.config.home_addresses();
    let v4 = cfg
        .config
        .prefix_entries()
        .filter(|e| e.prefix.addr().is_ipv4())
        .count();
    let v6 = cfg.config.prefix_entries().count() - v4;
    tracing::info!(
        "home interface {}, home prefix {}, {} mobile router(s), {v6} IPv6 and {v4} IPv4 prefixes, \
         encoding {}, name lookup {}",
        args.homeif,
        s.home_prefix
            .map(|p| p.to_string())
            .unwrap_or_else(|| "(from the interface)".into()),
        homes.len(),
        s.ipv4_mnp_encoding_or_default(),
        !args.no_name_lookup && s.namelookup.unwrap_or(true),
    );
    if let Some(max) = s.max_binding_lifetime {
        tracing::info!("binding lifetimes capped at {}s", max.as_secs());
    }
    match (&cfg.auth, &cfg.auth_path) {
        (Some(db), Some(path)) => tracing::info!(
            "auth database {}: {} mobile router key(s)",
            path.display(),
            db.entries.len()
        ),
        _ => tracing::warn!(
            "authentication none: Binding Updates are accepted without authentication \
             (each registration is logged)"
        ),
    }
    shisa_daemon::log_config_notes(&cfg.config);
}

pub async fn run(daemon: Daemon<HadConfig>, args: Args) -> anyhow::Result<()> {
    log_settings(daemon.config(), &args);
    crate::agent::run(daemon, args).await
}

/// Logs the settings again after a reload that changed something.
pub fn log_reloaded(cfg: &HadConfig, args: &Args) {
    log_settings(cfg, args);
}
