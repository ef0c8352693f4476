//! had's owner loop: one task holds the Binding Cache and handles one event at a time —
//! a Mobility Header from the raw sockets, a bus message, a binding expiring, a signal.

use crate::cli::Args;
use crate::config::HadConfig;
use crate::discovery::Discovery;
use crate::policy;
use crate::proxynd::ProxyNd;
use crate::store::Store;
use anyhow::{Context, Result};
use mhsock::{MhSocket, ParamProblemFilter};
use mip6::{MhPacket, ParseContext};
use mobsock::{
    BcEntry, BcRemove, Body, Bus, BusMember, BusOptions, Event as BusEvent, NodeType, NodeTypeInfo,
    RegistrationFailed, RemoveReason,
};
use registration::ha::{Binding, HaAction, HomeAgent, RemoveReason as CoreReason, UnrecognizedMh};
use registration::Now;
use shisa_daemon::{Daemon, Event, Reload, StopMode};
use std::time::{Duration, SystemTime};

/// nftables table holding had's Parameter Problem filter.
const FILTER_TABLE: &str = "shisa_had";

struct Agent {
    core: HomeAgent,
    dialect: ParseContext,
    sock: MhSocket,
    bus: BusMember,
    store: Store,
    proxy: ProxyNd,
    /// Unsolicited Neighbor Advertisements on the home link for new bindings (shared with
    /// the tasks that space them out); `None` if the socket could not be opened.
    na: Option<std::sync::Arc<mhsock::nd::NaSender>>,
    /// Packets that did not parse (bad checksum, truncated...), for the logs.
    bad_packets: u64,
    /// When the changed Binding Cache goes to disk: changes are batched, so a burst of
    /// registrations costs one write, not one per BU.
    save_at: Option<tokio::time::Instant>,
    /// DHAAD, the home agents list and mobile prefix discovery (`None`: socket failed).
    discovery: Option<Discovery>,
}

/// How long Binding Cache changes may wait before they are written.
const SAVE_DELAY: Duration = Duration::from_millis(200);

pub async fn run(mut daemon: Daemon<HadConfig>, args: Args) -> Result<()> {
    let policy = policy::ha_policy(
        daemon.config(),
        &args.homeif,
        policy::prefixes_on(&args.homeif),
    )?;
    let filter = ParamProblemFilter::install(FILTER_TABLE).context("install nftables filter")?;
    let sock = MhSocket::open().context("open raw sockets (needs CAP_NET_RAW)")?;
    let bus = Bus::join(&daemon.bus_dir, "had", BusOptions::default())
        .await
        .with_context(|| format!("join the bus in {}", daemon.bus_dir.display()))?;
    let proxy = ProxyNd::new(&args.homeif)?;
    let na = match mhsock::nd::NaSender::new(&args.homeif) {
        Ok(s) => Some(std::sync::Arc::new(s)),
        Err(e) => {
            tracing::error!(
                "no unsolicited Neighbor Advertisements on {}: {e}",
                args.homeif
            );
            None
        }
    };
    let state_file = args
        .state_file
        .clone()
        .unwrap_or_else(|| format!("/var/lib/shisa/had.{}.json", args.homeif).into());
    let store = Store::new(state_file);
    let saved = store.load().unwrap_or_else(|e| {
        let aside = store.path().with_extension("corrupt");
        tracing::error!(
            "{e:#}; starting with an empty Binding Cache, old file kept as {}",
            aside.display()
        );
        let _ = std::fs::rename(store.path(), &aside);
        Vec::new()
    });
    let dialect = policy.dialect;
    let preference = daemon
        .config()
        .config
        .settings_for(&args.homeif)
        .preference
        .unwrap_or(0);
    let discovery = Discovery::open(&args.homeif, &policy.home_prefixes, preference)
        .map_err(|e| tracing::error!("{e:#}; no DHAAD or mobile prefix discovery"))
        .ok();
    let (core, restored) = HomeAgent::restore(policy, saved, Now::current());
    tracing::info!(
        "Binding Cache {}: {} binding(s) restored",
        store.path().display(),
        restored.len()
    );
    let mut agent = Agent {
        core,
        dialect,
        sock,
        bus,
        store,
        proxy,
        na,
        bad_packets: 0,
        save_at: None,
        discovery,
    };
    agent.announce(Body::NodeTypeInfo(NodeTypeInfo {
        node_type: NodeType::HomeAgent,
        enabled: true,
    }));
    agent.apply(restored).await;
    agent.announce_ha_list(None);
    loop {
        let expiry = agent.core.next_expiry().map(|t| {
            let wait = t.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::Instant::now() + wait
        });
        tokio::select! {
            ev = daemon.next_event() => match ev {
                Event::Stop { mode, .. } => {
                    agent.stop(mode, filter).await;
                    return Ok(());
                }
                Event::Reload => {
                    if let Reload::Applied(changes) = daemon.reload() {
                        if !changes.is_empty() {
                            crate::settings::log_reloaded(daemon.config(), &args);
                            agent.reload(daemon.config(), &args);
                        }
                    }
                }
            },
            rx = agent.sock.recv() => match rx {
                Ok(rx) => agent.on_packet(rx).await,
                Err(e) => {
                    tracing::error!("raw socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            ev = agent.bus.recv() => match ev {
                Ok(ev) => agent.on_bus(ev),
                Err(e) => tracing::error!("bus: {e}"),
            },
            _ = sleep_until(expiry) => {
                let actions = agent.core.expire(Now::current());
                agent.apply(actions).await;
            }
            _ = sleep_until(agent.save_at) => agent.save(),
            rx = recv_icmp(&agent.discovery) => agent.on_icmp(rx),
            _ = sleep_until(agent.discovery.as_ref().and_then(|d| d.next_expiry())) => {
                if agent.discovery.as_mut().is_some_and(|d| d.expire()) {
                    agent.announce_ha_list(None);
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_icmp(d: &Option<Discovery>) -> std::io::Result<mhsock::icmp::IcmpReceived> {
    match d {
        Some(d) => d.sock.recv().await,
        None => std::future::pending().await,
    }
}

impl Agent {
    fn on_icmp(&mut self, rx: std::io::Result<mhsock::icmp::IcmpReceived>) {
        let rx = match rx {
            Ok(rx) => rx,
            Err(e) => {
                tracing::error!("ICMPv6 socket: {e}");
                return;
            }
        };
        let Some(d) = self.discovery.as_mut() else {
            return;
        };
        let (packets, changed) = d.on_icmp(&rx, &self.core);
        self.send_all(packets);
        if changed {
            self.announce_ha_list(None);
        }
    }

    fn send_all(&self, packets: Vec<Vec<u8>>) {
        for p in packets {
            if let Err(e) = self.sock.send(&p) {
                tracing::error!("sending an ICMPv6 message: {e}");
            }
        }
    }

    fn announce_ha_list(&self, request_id: Option<u32>) {
        if let Some(d) = &self.discovery {
            self.announce(Body::HaList(d.bus_list(request_id)));
        }
    }

    async fn on_packet(&mut self, rx: mhsock::Received) {
        let parsed = match MhPacket::parse_payload(
            rx.first_header,
            rx.src,
            rx.dst,
            64,
            &rx.data,
            &self.dialect,
        ) {
            Ok(p) => p,
            Err(mip6::Error::UnsupportedMhType(mh_type)) => {
                let rx = UnrecognizedMh {
                    mh_type,
                    src: rx.src,
                    dst: rx.dst,
                    home_address: mip6::packet::home_address_option(rx.first_header, &rx.data),
                };
                let actions = self.core.unrecognized_mh_type(&rx, Now::current());
                tracing::info!(
                    "Mobility Header type {mh_type} from {} is not one a home agent processes: {}",
                    rx.src,
                    if actions.is_empty() {
                        "dropped (Binding Error rate limit)"
                    } else {
                        "Binding Error (unrecognized MH type) sent"
                    }
                );
                self.apply(actions).await;
                return;
            }
            Err(e) => {
                self.bad_packets += 1;
                tracing::warn!(
                    "dropped Mobility Header from {}: {e} ({} bad so far)",
                    rx.src,
                    self.bad_packets
                );
                return;
            }
        };
        let actions = self.core.handle_packet(&parsed, Now::current());
        self.apply(actions).await;
    }

    fn on_bus(&mut self, ev: BusEvent) {
        if let BusEvent::Message(env) = ev {
            if let Body::DumpRequest(req) = &env.body {
                if req.what == mobsock::DumpWhat::Ha {
                    self.announce_ha_list(Some(req.id));
                    return;
                }
                let bc: Vec<BcEntry> = self.core.bindings().map(bc_entry).collect();
                if let Err(e) = self.bus.answer_dump(req, &bc, &[]) {
                    tracing::error!("answering dump request from {}: {e}", env.sender);
                }
            }
        }
    }

    fn reload(&mut self, cfg: &HadConfig, args: &Args) {
        match policy::ha_policy(cfg, &args.homeif, policy::prefixes_on(&args.homeif)) {
            Ok(p) => {
                self.dialect = p.dialect;
                let old_prefixes = self.core.policy().home_prefixes.clone();
                self.core.set_policy(p);
                let preference = cfg
                    .config
                    .settings_for(&args.homeif)
                    .preference
                    .unwrap_or(0);
                if let Some(d) = self.discovery.as_mut() {
                    let (packets, changed) = d.reconfigure(&old_prefixes, preference, &self.core);
                    self.send_all(packets);
                    if changed {
                        self.announce_ha_list(None);
                    }
                }
                tracing::info!("new policy in force; existing bindings kept until they refresh");
            }
            Err(e) => tracing::error!("reload refused, old policy kept: {e:#}"),
        }
    }

    async fn apply(&mut self, mut actions: Vec<HaAction>) {
        let mut changed = false;
        // The BA first: the MR's handover waits for it; the bus, proxy-ND and disk after.
        actions.sort_by_key(|a| !matches!(a, HaAction::Send(_)));
        for action in actions {
            match action {
                HaAction::Send(packet) => {
                    if let Err(e) = self.sock.send(&packet) {
                        tracing::error!("sending a Mobility Header message: {e}");
                    }
                }
                HaAction::BindingAdded { binding, new } => {
                    tracing::info!(
                        "{} {} via {} seq {} lifetime {}s mnp [{}]",
                        if new { "registered" } else { "refreshed" },
                        binding.hoa,
                        binding.coa,
                        binding.seq,
                        binding.lifetime.as_secs(),
                        prefixes(&binding)
                    );
                    if new {
                        if let Err(e) = self.proxy.add(binding.hoa).await {
                            tracing::error!("{e:#}");
                        }
                        self.advertise(&binding);
                    }
                    self.announce(Body::BcAdd(bc_entry(&binding)));
                    changed = true;
                }
                HaAction::BindingRemoved { binding, reason } => {
                    // BC_REMOVE's care-of address is the one the deregistration came from:
                    // the home address when the mobile router came home (nemonetd then
                    // routes its prefixes to it on the home link).
                    let (reason, coa) = match reason {
                        CoreReason::Deregistered => (RemoveReason::Deregistered, binding.coa),
                        CoreReason::ReturnedHome => (RemoveReason::Deregistered, binding.hoa),
                        CoreReason::Expired => (RemoveReason::Expired, binding.coa),
                    };
                    tracing::info!(
                        "binding of {} via {} removed: {}{}",
                        binding.hoa,
                        binding.coa,
                        reason.as_str(),
                        if coa == binding.hoa { " (at home)" } else { "" }
                    );
                    if let Err(e) = self.proxy.remove(binding.hoa).await {
                        tracing::error!("{e:#}");
                    }
                    self.announce(Body::BcRemove(BcRemove {
                        hoa: binding.hoa,
                        coa: Some(coa),
                        reason,
                    }));
                    changed = true;
                }
                HaAction::Rejected {
                    hoa,
                    coa,
                    ha,
                    status,
                    reason,
                } => self.announce(Body::RegistrationFailed(RegistrationFailed {
                    hoa,
                    coa,
                    ha,
                    status: u8::from(status),
                    reason,
                })),
            }
        }
        if changed && self.save_at.is_none() {
            self.save_at = Some(tokio::time::Instant::now() + SAVE_DELAY);
        }
    }

    /// RFC 6275 10.4.1: a new binding's home address (and its link-local form with the L
    /// bit) is now the HA's on the home link: tell the hosts there at once, with Override,
    /// so they stop sending to the mobile router's old link-layer address. The repeats are
    /// spaced out by a task of their own; the owner loop does not wait.
    fn advertise(&self, binding: &Binding) {
        let Some(na) = self.na.clone() else { return };
        let mut targets = vec![binding.hoa];
        if binding.link_local {
            targets.push(mip6::nd::link_local_of(binding.hoa));
        }
        // R: the home address is a mobile router's; a mobile node's is a host's.
        let router = binding.router;
        tokio::spawn(async move { na.announce(&targets, router).await });
    }

    fn save(&mut self) {
        self.save_at = None;
        self.store.save(self.core.bindings().cloned().collect());
    }

    fn announce(&self, body: Body) {
        if let Err(e) = self.bus.send(body) {
            tracing::error!("bus: {e}");
        }
    }

    /// A clean stop withdraws the proxy entries and the filter; a graceful one leaves them
    /// for the next instance. The Binding Cache stays on disk either way, and no BC_REMOVE
    /// is sent: the bindings are still valid and nemonetd keeps forwarding.
    async fn stop(&mut self, mode: StopMode, filter: ParamProblemFilter) {
        if self.save_at.is_some() {
            self.save();
        }
        self.store.flush();
        let _ = self.bus.flush(Duration::from_millis(200)).await;
        if mode == StopMode::KeepState {
            filter.keep();
            return;
        }
        for hoa in self.core.bindings().map(|b| b.hoa).collect::<Vec<_>>() {
            if let Err(e) = self.proxy.remove(hoa).await {
                tracing::warn!("{e:#}");
            }
        }
        drop(filter);
    }
}

fn bc_entry(b: &Binding) -> BcEntry {
    BcEntry {
        hoa: b.hoa,
        coa: b.coa,
        lifetime: u32::try_from(b.lifetime.as_secs()).unwrap_or(u32::MAX),
        mnp6: b.mnp6.clone(),
        mnp4: b.mnp4.clone(),
        ha: Some(b.ha),
        bu_seq: Some(b.seq),
        flags: if b.router { 0x0400 } else { 0 },
    }
}

fn prefixes(b: &Binding) -> String {
    b.mnp6
        .iter()
        .map(|p| p.to_string())
        .chain(b.mnp4.iter().map(|p| p.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}
