//! The owner loop: holds babymdd's state and handles one event at a time. Today it logs what
//! it will watch and handles signals; the rtnetlink movement detection plugs in here.

use ipnet::Ipv6Net;
use shisa_config::{Config, InterfaceRole};
use shisa_daemon::{Daemon, Event};

use crate::cli::{Args, Uplink};

/// Uplinks in order of preference: the command line, else `role egress` blocks by priority.
/// Empty means every interface.
pub fn uplinks(config: Option<&Config>, args: &Args) -> Vec<Uplink> {
    if !args.uplinks.is_empty() {
        return args.uplinks.clone();
    }
    let Some(config) = config else {
        return Vec::new();
    };
    let mut egress: Vec<(u16, Uplink)> = config
        .interfaces
        .iter()
        .filter(|i| config.settings_for(&i.name).role == Some(InterfaceRole::Egress))
        .map(|i| {
            let prio = config.settings_for(&i.name).priority.unwrap_or(u16::MAX);
            (
                prio,
                Uplink {
                    name: i.name.clone(),
                    binding_id: None,
                },
            )
        })
        .collect();
    egress.sort_by_key(|(p, _)| *p);
    egress.into_iter().map(|(_, u)| u).collect()
}

/// The home prefix: `home-prefix`, else the /64 of the first home address.
pub fn home_prefix(config: Option<&Config>, args: &Args) -> Option<Ipv6Net> {
    let config = config?;
    config.settings_for(&args.mipif).home_prefix.or_else(|| {
        let hoa = *config.home_addresses().first()?;
        Ipv6Net::new(hoa, 64).ok().map(|n| n.trunc())
    })
}

fn log_settings(config: Option<&Config>, args: &Args) {
    let list = uplinks(config, args);
    if list.is_empty() {
        tracing::info!("watching every interface except {}", args.mipif);
    } else {
        let names: Vec<String> = list
            .iter()
            .map(|u| match u.binding_id {
                Some(b) => format!("{} (bid {b})", u.name),
                None => u.name.clone(),
            })
            .collect();
        tracing::info!("watching {}, most preferred first", names.join(", "));
    }
    match home_prefix(config, args) {
        Some(p) => tracing::info!("home prefix {p}"),
        None => tracing::info!("no home prefix configured: learning it from mrd on the bus"),
    }
}

pub async fn run(mut daemon: Daemon<Option<Config>>, args: Args) -> anyhow::Result<()> {
    log_settings(daemon.config().as_ref(), &args);
    loop {
        match daemon.next_event().await {
            Event::Stop { .. } => return Ok(()),
            // babymdd's SIGHUP re-announces (SHISA behaviour); it does not reread the file.
            Event::Reload => tracing::info!("SIGHUP: re-announcing the movement state"),
        }
    }
}
