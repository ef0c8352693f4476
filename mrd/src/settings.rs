//! mrd's effective settings: the file's settings for the mobility interface with the
//! command-line overrides applied, and their rendering as log lines at start and after a
//! reload. The owner loop (the Binding Update List, signaling) is `agent.rs`.

use std::net::Ipv6Addr;

use shisa_config::{Config, PrefixMode};

use crate::cli::Args;
use crate::config::MrdConfig;

/// What mrd runs with: the file's settings for MIPIF, with command-line overrides applied.
pub struct Effective {
    pub home_agent: Option<Ipv6Addr>,
    pub name_lookup: bool,
}

pub fn effective(config: &Config, args: &Args) -> Effective {
    let s = config.settings_for(&args.mipif);
    Effective {
        home_agent: args.home_agent.or(s.home_agent_address),
        name_lookup: !args.no_name_lookup && s.namelookup.unwrap_or(true),
    }
}

/// Logs the effective settings: at start, and again after a reload that changed something.
pub fn log_settings(cfg: &MrdConfig, args: &Args) {
    let config = &cfg.config;
    let s = config.settings_for(&args.mipif);
    let eff = effective(config, args);
    match (args.home_agent, eff.home_agent) {
        (Some(ha), _) => tracing::info!("home agent {ha} (from -a)"),
        (None, Some(ha)) => tracing::info!("home agent {ha} (from home-agent-address)"),
        (None, None) => tracing::info!(
            "no home agent address (-a or home-agent-address in {}): found by DHAAD",
            config.file
        ),
    }
    let homes = config.home_addresses();
    if homes.is_empty() {
        tracing::warn!("prefixtable lists no home address: nothing to register");
    }
    for hoa in homes {
        for e in config.prefixes_of(hoa) {
            let mode = match e.mode {
                PrefixMode::Explicit => "explicit",
                PrefixMode::Implicit => "implicit",
            };
            tracing::info!(
                "home address {hoa}: mobile network prefix {} {mode}",
                e.prefix
            );
        }
    }
    tracing::info!(
        "mobility interface {}, lifetime {}s, IPv4 MNP support {}, encoding {}, name lookup {}",
        args.mipif,
        s.home_registration_lifetime_or_default().as_secs(),
        s.ipv4_mnp_support_or_default(),
        s.ipv4_mnp_encoding_or_default(),
        eff.name_lookup,
    );
    match (&cfg.auth, &cfg.auth_path, config.home_addresses().first()) {
        (Some(db), Some(path), Some(hoa)) => {
            let spis: Vec<String> = db.all_for(*hoa).map(|e| e.spi.to_string()).collect();
            tracing::info!(
                "auth database {}: signing with SPI {} (the last of {} for {hoa})",
                path.display(),
                db.by_home_address(*hoa).map(|e| e.spi).unwrap_or_default(),
                spis.join(" ")
            );
        }
        (None, _, _) => {
            tracing::warn!("authentication none: Binding Updates are sent without authentication")
        }
        _ => {}
    }
    shisa_daemon::log_config_notes(config);
}
