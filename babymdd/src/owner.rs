//! The owner loop: watches links and addresses (the `movement` crate, rtnetlink, no polling)
//! and announces every change of the MR's location on the bus as MD_INFO: REREG with the
//! care-of address, or DEREGHOME back on the home link. It announces again on SIGHUP and when
//! another member (mrd at start) asks with MD_INFO SCAN.

use crate::linkflush::LinkFlush;
use anyhow::Context;
use ipnet::Ipv6Net;
use mobsock::{Body, Bus, BusOptions, Event as BusEvent, MdCommand, MdHint, MdInfo};
use movement::{Decision, MovementPolicy, WatchOptions};
use shisa_config::{Config, InterfaceRole};
use shisa_daemon::{Daemon, Event};
use std::time::Duration;

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
        None => tracing::warn!(
            "no home prefix configured (home-prefix, or a prefixtable home address): \
             the MR will never be considered at home"
        ),
    }
}

/// The movement policy: home prefix, uplinks in order (priority = position), home address.
fn movement_policy(config: Option<&Config>, args: &Args) -> MovementPolicy {
    MovementPolicy {
        home_prefixes: home_prefix(config, args).into_iter().collect(),
        uplinks: uplinks(config, args)
            .iter()
            .enumerate()
            .map(|(i, u)| movement::Uplink::new(&u.name, i as u16))
            .collect(),
        home_address: config.and_then(|c| c.home_addresses().first().copied()),
    }
}

pub async fn run(mut daemon: Daemon<Option<Config>>, args: Args) -> anyhow::Result<()> {
    log_settings(daemon.config().as_ref(), &args);
    let policy = movement_policy(daemon.config().as_ref(), &args);
    for u in &policy.uplinks {
        // A forwarding MR must still take Router Advertisements, and should get a usable
        // address fast. An interface that does not exist yet is used when it appears.
        if let Err(e) = movement::prepare_uplink(&u.name) {
            tracing::warn!("uplink {}: {e}", u.name);
        }
    }
    let mut watcher = movement::watch(
        policy,
        WatchOptions {
            solicit_on_link_up: true,
            ..Default::default()
        },
    )
    .context("watch links and addresses (rtnetlink)")?;
    let flush = LinkFlush::new()?;
    let bus = Bus::join(&daemon.bus_dir, "babymdd", BusOptions::default())
        .await
        .with_context(|| format!("join the bus in {}", daemon.bus_dir.display()))?;
    let mut bus = bus;
    loop {
        tokio::select! {
            ev = daemon.next_event() => match ev {
                Event::Stop { .. } => {
                    let _ = bus.flush(Duration::from_millis(200)).await;
                    return Ok(());
                }
                // babymdd's SIGHUP re-announces (SHISA behaviour); it does not reread the file.
                Event::Reload => {
                    tracing::info!("SIGHUP: re-announcing the movement state");
                    watcher.reannounce();
                }
            },
            change = watcher.next() => match change {
                Some(Ok(change)) => {
                    if let Some(left) = link_left(&change) {
                        match flush.forget_routers(left).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!("left the link on ifindex {left}: forgot {n} route(s) its routers advertised"),
                            Err(e) => tracing::warn!("{e:#}"),
                        }
                    }
                    announce(&bus, &change);
                }
                Some(Err(e)) => tracing::error!("movement detection: {e}"),
                None => anyhow::bail!("the link watcher stopped"),
            },
            ev = bus.recv() => match ev {
                Ok(BusEvent::Message(env)) => {
                    if let Body::MdInfo(MdInfo { command: MdCommand::Scan, .. }) = env.body {
                        tracing::debug!("{} asks where we are", env.sender);
                        watcher.reannounce();
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!("bus: {e}"),
            },
        }
    }
}

/// The uplink the MR was using before this change, if it is not using it any more.
fn link_left(change: &movement::Change) -> Option<u32> {
    let ifindex = |d: &Decision| match *d {
        Decision::Home { ifindex } | Decision::Foreign { ifindex, .. } => Some(ifindex),
        Decision::Disconnected => None,
    };
    let before = ifindex(change.previous.as_ref()?)?;
    (ifindex(&change.current) != Some(before)).then_some(before)
}

fn announce(bus: &mobsock::BusMember, change: &movement::Change) {
    let md = match change.current {
        Decision::Foreign { coa, ifindex } => {
            tracing::info!("care-of address {coa} (ifindex {ifindex})");
            MdInfo {
                command: MdCommand::Rereg,
                hint: Some(MdHint::Index(ifindex)),
                coa: Some(coa),
                ifindex: Some(ifindex),
            }
        }
        Decision::Home { ifindex } => {
            tracing::info!("at home (ifindex {ifindex})");
            MdInfo {
                command: MdCommand::DeregHome,
                hint: Some(MdHint::Home),
                coa: None,
                ifindex: Some(ifindex),
            }
        }
        Decision::Disconnected => {
            tracing::warn!("no usable uplink: nothing to register from");
            return;
        }
    };
    if let Err(e) = bus.send(Body::MdInfo(md)) {
        tracing::error!("bus: {e}");
    }
}
