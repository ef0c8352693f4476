//! mrd's owner loop: one task holds the Binding Update List and handles one event at a
//! time — MD_INFO from babymdd, a Binding Acknowledgement, a retransmission or refresh
//! timer, a signal.

use crate::cli::Args;
use crate::config::MrdConfig;
use crate::discovery::{self, Discovery, Outcome};
use crate::homeaddr::HomeAddress;
use crate::policy;
use crate::seqfile::SeqFile;
use crate::settings;
use anyhow::{Context, Result};
use mhsock::{MhSocket, ParamProblemFilter};
use mip6::MhPacket;
use mobsock::{
    Body, BulEntry, BulRemove, Bus, BusMember, BusOptions, Event as BusEvent, MdCommand, MdHint,
    MdInfo, NodeType, NodeTypeInfo, RegistrationFailed, RemoveReason,
};
use registration::discovery::{calls_for_another_home_agent, DiscoveryAction};
use registration::mr::{self, DeregReason, MobileRouter, MrAction};
use registration::Now;
use shisa_daemon::{Daemon, Event, Reload, StopMode};
use std::time::Duration;

/// nftables table holding mrd's Parameter Problem filter (BAs carry an RH2).
const FILTER_TABLE: &str = "shisa_mrd";
/// How long a stopping mrd waits for the BA of its deregistration.
const DEREGISTRATION_WAIT: Duration = Duration::from_millis(1500);

struct Agent {
    core: MobileRouter,
    home_address: HomeAddress,
    sock: MhSocket,
    bus: BusMember,
    seq: SeqFile,
    bad_packets: u64,
    /// DHAAD, home agent failover, mobile prefix discovery (`None`: socket failed).
    discovery: Option<Discovery>,
}

pub async fn run(mut daemon: Daemon<MrdConfig>, args: Args) -> Result<()> {
    let home_agent = settings::effective(&daemon.config().config, &args).home_agent;
    let policy = policy::mr_policy(daemon.config(), &args.mipif, home_agent)?;
    let filter = ParamProblemFilter::install(FILTER_TABLE).context("install nftables filter")?;
    let sock = MhSocket::open().context("open raw sockets (needs CAP_NET_RAW)")?;
    let bus = Bus::join(&daemon.bus_dir, "mrd", BusOptions::default())
        .await
        .with_context(|| format!("join the bus in {}", daemon.bus_dir.display()))?;
    let state_file = args
        .state_file
        .clone()
        .unwrap_or_else(|| format!("/var/lib/shisa/mrd.{}.seq", args.mipif).into());
    let seq = SeqFile::new(state_file);
    let next_seq = seq.load();
    tracing::info!(
        "home address {} home agent {}, next sequence {next_seq} ({})",
        policy.home_address,
        policy.home_agent,
        seq.path().display()
    );
    let home_prefix_len = daemon
        .config()
        .config
        .settings_for(&args.mipif)
        .home_prefix
        .map(|p| p.prefix_len())
        .unwrap_or(64);
    let home_address = HomeAddress::new(policy.home_address, home_prefix_len)?;
    let home_prefix = daemon
        .config()
        .config
        .settings_for(&args.mipif)
        .home_prefix
        .unwrap_or_else(|| {
            ipnet::Ipv6Net::new(policy.home_address, home_prefix_len)
                .map(|n| n.trunc())
                .unwrap_or_default()
        });
    let discovery = Discovery::open(&args.mipif, home_prefix, home_agent.is_some())
        .map_err(|e| tracing::error!("{e:#}; no DHAAD or mobile prefix discovery"))
        .ok();
    if discovery.is_none() && home_agent.is_none() {
        anyhow::bail!("no home agent address and no DHAAD: give -a HA-ADDRESS");
    }
    let mut agent = Agent {
        home_address,
        core: MobileRouter::new(policy, next_seq),
        sock,
        bus,
        seq,
        bad_packets: 0,
        discovery,
    };
    agent.announce(Body::NodeTypeInfo(NodeTypeInfo {
        node_type: NodeType::MobileRouter,
        enabled: true,
    }));
    // The home agent configured (-a, home-agent-address) for a nemonetd configured without.
    if !agent.core.policy().home_agent.is_unspecified() {
        agent.announce_ha_list(None);
    }
    // Ask babymdd where we are (it answers SCAN with its current decision).
    agent.announce(Body::MdInfo(MdInfo {
        command: MdCommand::Scan,
        hint: None,
        coa: None,
        ifindex: None,
    }));
    loop {
        let timer = agent.core.next_timer().map(tokio::time::Instant::from_std);
        tokio::select! {
            ev = daemon.next_event() => match ev {
                Event::Stop { mode, .. } => {
                    if mode == StopMode::KeepState {
                        filter.keep();
                    } else {
                        agent.deregister().await;
                    }
                    return Ok(());
                }
                Event::Reload => {
                    if let Reload::Applied(changes) = daemon.reload() {
                        if !changes.is_empty() {
                            settings::log_settings(daemon.config(), &args);
                            let ha = settings::effective(&daemon.config().config, &args).home_agent;
                            match policy::mr_policy(daemon.config(), &args.mipif, ha) {
                                Ok(mut p) => {
                                    if p.home_agent.is_unspecified() {
                                        // Discovered, not configured: keep the one in use.
                                        p.home_agent = agent.core.policy().home_agent;
                                    }
                                    agent.core.set_policy(p);
                                    tracing::info!("new policy in force from the next Binding Update");
                                }
                                Err(e) => tracing::error!("reload refused, old policy kept: {e:#}"),
                            }
                        }
                    }
                }
            },
            rx = agent.sock.recv() => match rx {
                Ok(rx) => agent.on_packet(rx),
                Err(e) => {
                    tracing::error!("raw socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            ev = agent.bus.recv() => match ev {
                Ok(ev) => agent.on_bus(ev).await,
                Err(e) => tracing::error!("bus: {e}"),
            },
            _ = sleep_until(timer) => {
                let actions = agent.core.on_timer(Now::current());
                agent.apply(actions);
            }
            rx = recv_icmp(&agent.discovery) => agent.on_icmp(rx),
            _ = sleep_until(agent.discovery.as_ref().and_then(|d| d.next_timer())) => {
                agent.on_discovery_timer();
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
        match d.on_icmp(&rx) {
            Outcome::Dhaad(actions) => self.apply_discovery(actions),
            Outcome::Prefixes(p) => {
                let hoa = self.core.policy().home_address;
                let body = discovery::home_prefix_body(hoa, rx.src, p);
                self.announce(Body::HomePrefix(body));
            }
            Outcome::Nothing => {}
        }
    }

    fn on_discovery_timer(&mut self) {
        let Some(d) = self.discovery.as_mut() else {
            return;
        };
        let (actions, solicitation) = d.on_timer(std::time::Instant::now());
        if let Some(p) = solicitation {
            self.send_icmp(&p);
        }
        self.apply_discovery(actions);
    }

    fn send_icmp(&self, packet: &[u8]) {
        if let Err(e) = self.sock.send(packet) {
            tracing::error!("sending an ICMPv6 message: {e}");
        }
    }

    fn apply_discovery(&mut self, actions: Vec<DiscoveryAction>) {
        for action in actions {
            match action {
                DiscoveryAction::Send(p) => self.send_icmp(&p),
                DiscoveryAction::HomeAgents(_) => self.announce_ha_list(None),
                DiscoveryAction::UseHomeAgent(ha) => {
                    tracing::info!("home agent {ha}: registering with it");
                    let actions = self.core.set_home_agent(ha, Now::current());
                    self.announce_ha_list(None);
                    self.apply(actions);
                }
                DiscoveryAction::Failed(reason) => {
                    tracing::warn!("home agent discovery: {reason}");
                    let p = self.core.policy();
                    let anycast = self
                        .discovery
                        .as_ref()
                        .and_then(|d| d.dhaad.as_ref())
                        .map(|d| d.anycast())
                        .unwrap_or(p.home_agent);
                    self.announce(Body::RegistrationFailed(RegistrationFailed {
                        hoa: p.home_address,
                        coa: p.home_address,
                        ha: anycast,
                        status: 0,
                        reason,
                    }));
                }
            }
        }
    }

    fn announce_ha_list(&self, request_id: Option<u32>) {
        if let Some(d) = &self.discovery {
            let in_use = self.core.policy().home_agent;
            self.announce(Body::HaList(d.bus_list(request_id, in_use)));
        }
    }

    /// A clean stop takes the binding with it: BUL_REMOVE at once, then a deregistration
    /// whose BA we wait for briefly (a graceful restart keeps the binding instead).
    async fn deregister(&mut self) {
        let actions = self.core.shutdown(Now::current());
        self.apply(actions);
        let wait = async {
            while self.core.awaiting_ack() {
                match self.sock.recv().await {
                    Ok(rx) => self.on_packet(rx),
                    Err(_) => return,
                }
            }
        };
        if tokio::time::timeout(DEREGISTRATION_WAIT, wait)
            .await
            .is_err()
        {
            tracing::warn!(
                "no BA for the deregistration within {DEREGISTRATION_WAIT:?}; stopping anyway"
            );
        }
        let _ = self.bus.flush(Duration::from_millis(200)).await;
    }

    fn on_packet(&mut self, rx: mhsock::Received) {
        let dialect = self.core.policy().dialect;
        match MhPacket::parse_payload(rx.first_header, rx.src, rx.dst, 64, &rx.data, &dialect) {
            Ok(parsed) => {
                let actions = self.core.handle_packet(&parsed, Now::current());
                self.apply(actions);
            }
            Err(e) => {
                self.bad_packets += 1;
                tracing::warn!(
                    "dropped Mobility Header from {}: {e} ({} bad so far)",
                    rx.src,
                    self.bad_packets
                );
            }
        }
    }

    async fn on_bus(&mut self, ev: BusEvent) {
        let BusEvent::Message(env) = ev else { return };
        match env.body {
            Body::MdInfo(md) => {
                let now = Now::current();
                let actions = match md.command {
                    MdCommand::Rereg => match md.coa.or(match md.hint {
                        Some(MdHint::Address(a)) => Some(a),
                        _ => None,
                    }) {
                        Some(coa) => {
                            tracing::info!("movement: care-of address {coa} (from {})", env.sender);
                            if let Err(e) = self.home_address.away().await {
                                tracing::error!("{e:#}");
                            }
                            let mut actions = self.core.move_to(coa, now);
                            if let Some(d) = self.discovery.as_mut().and_then(|d| d.dhaad.as_mut())
                            {
                                let found = d.move_to(coa, now.mono);
                                self.apply(std::mem::take(&mut actions));
                                self.apply_discovery(found);
                            }
                            actions
                        }
                        None => {
                            tracing::warn!(
                                "MD_INFO rereg from {} without a care-of address ignored",
                                env.sender
                            );
                            Vec::new()
                        }
                    },
                    MdCommand::DeregHome => {
                        tracing::info!("movement: back on the home link (from {})", env.sender);
                        match md.ifindex {
                            Some(ifindex) => {
                                if let Err(e) = self.home_address.at_home(ifindex).await {
                                    tracing::error!("{e:#}");
                                }
                            }
                            None => tracing::warn!(
                                "MD_INFO dereghome names no interface: home address left where it is"
                            ),
                        }
                        let mut found = Vec::new();
                        if let Some(d) = self.discovery.as_mut() {
                            if let Some(h) = d.dhaad.as_mut() {
                                found = h.at_home(self.core.policy().home_address, now.mono);
                            }
                            d.prefixes.unregistered();
                        }
                        // The deregistration first (to the home agent in use, if any),
                        // then discovery: a home agent found at home is where nemonetd
                        // sends IPv4 until the first registration.
                        let actions = self.core.returned_home(now);
                        self.apply(actions);
                        self.apply_discovery(found);
                        Vec::new()
                    }
                    MdCommand::DeregForeign => {
                        tracing::warn!("MD_INFO deregforeign is not supported (no foreign-link bindings); ignored");
                        Vec::new()
                    }
                    MdCommand::Scan => Vec::new(),
                };
                self.apply(actions);
            }
            Body::DumpRequest(req) if req.what == mobsock::DumpWhat::Ha => {
                self.announce_ha_list(Some(req.id));
            }
            Body::DumpRequest(req) => {
                let bul: Vec<BulEntry> = self.core.current().map(bul_entry).into_iter().collect();
                if let Err(e) = self.bus.answer_dump(&req, &[], &bul) {
                    tracing::error!("answering dump request from {}: {e}", env.sender);
                }
                if req.what.includes(mobsock::DumpWhat::Bul) {
                    // With the BUL, the home agent in use: a restarted nemonetd without
                    // home-agent-address learns where IPv4 goes at home before a
                    // registration names one.
                    self.announce_ha_list(Some(req.id));
                }
            }
            _ => {}
        }
    }

    fn apply(&mut self, actions: Vec<MrAction>) {
        // Registration failed in a way another home agent may not: the next one (DHAAD only).
        let failover = self.discovery.as_ref().is_some_and(|d| d.dhaad.is_some())
            && actions.iter().any(calls_for_another_home_agent);
        for action in actions {
            match action {
                MrAction::Send(packet) => {
                    // Send, then persist: the BU is on the critical path of a handover and
                    // the write syncs to disk. A crash in between costs at most one 135
                    // round trip after the restart.
                    if let Err(e) = self.sock.send(&packet) {
                        tracing::error!("sending BU: {e}");
                    }
                    if let Err(e) = self.seq.save(self.core.next_seq()) {
                        tracing::error!("saving the sequence number: {e:#}");
                    }
                }
                MrAction::Registered(entry) => {
                    tracing::info!(
                        "registered {} via {} with {} for {}s, mnp [{}]",
                        entry.hoa,
                        entry.coa,
                        entry.ha,
                        entry.lifetime.as_secs(),
                        entry
                            .mnp6
                            .iter()
                            .map(|p| p.to_string())
                            .chain(entry.mnp4.iter().map(|p| p.to_string()))
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                    self.announce(Body::BulAdd(bul_entry(&entry)));
                    if let Some(d) = self.discovery.as_mut() {
                        if let Some(p) =
                            d.prefixes
                                .registered(entry.ha, entry.coa, std::time::Instant::now())
                        {
                            self.send_icmp(&p);
                        }
                    }
                }
                MrAction::Deregistered { entry, reason } => {
                    let reason = match reason {
                        DeregReason::Home => RemoveReason::Deregistered,
                        DeregReason::Expired => RemoveReason::Expired,
                        DeregReason::Shutdown => RemoveReason::Administrative,
                        DeregReason::HomeAgentChanged => RemoveReason::Failed,
                    };
                    if let Some(d) = self.discovery.as_mut() {
                        d.prefixes.unregistered();
                    }
                    tracing::info!(
                        "registration of {} via {} ended: {}",
                        entry.hoa,
                        entry.coa,
                        reason.as_str()
                    );
                    if reason == RemoveReason::Deregistered {
                        self.advertise_home_address(entry.hoa);
                    }
                    self.announce(Body::BulRemove(BulRemove {
                        hoa: entry.hoa,
                        ha: Some(entry.ha),
                        reason,
                    }));
                }
                MrAction::Failed {
                    coa,
                    status,
                    reason,
                } => {
                    tracing::warn!("registration failed: {reason}");
                    let p = self.core.policy();
                    self.announce(Body::RegistrationFailed(RegistrationFailed {
                        hoa: p.home_address,
                        coa: coa.unwrap_or(p.home_address),
                        ha: p.home_agent,
                        status: status.map(u8::from).unwrap_or(0),
                        reason,
                    }));
                }
            }
        }
        if failover {
            let failed = self.core.policy().home_agent;
            let next = self
                .discovery
                .as_mut()
                .and_then(|d| d.dhaad.as_mut())
                .map(|d| d.failed(std::time::Instant::now()))
                .unwrap_or_default();
            tracing::warn!(
                "registration with home agent {failed} failed: {}",
                match next.iter().find_map(|a| match a {
                    DiscoveryAction::UseHomeAgent(ha) => Some(*ha),
                    _ => None,
                }) {
                    Some(ha) => format!("trying the next home agent of the list, {ha}"),
                    None => "asking for home agents again (DHAAD)".into(),
                }
            );
            self.apply_discovery(next);
        }
    }

    /// RFC 6275 11.5.4: once the home agent accepted the deregistration from home, it stops
    /// defending the home address; the mobile router multicasts Neighbor Advertisements with
    /// its own link-layer address (Override, Router) so hosts on the home link that cached
    /// the home agent's switch to it at once. Spaced out by a task of their own.
    fn advertise_home_address(&self, hoa: std::net::Ipv6Addr) {
        let Some(ifindex) = self.home_address.home_ifindex() else {
            return;
        };
        tokio::spawn(async move {
            match mhsock::nd::NaSender::for_index(ifindex) {
                Ok(na) => na.announce(&[hoa], true).await,
                Err(e) => tracing::error!("unsolicited Neighbor Advertisement for {hoa}: {e}"),
            }
        });
    }

    fn announce(&self, body: Body) {
        if let Err(e) = self.bus.send(body) {
            tracing::error!("bus: {e}");
        }
    }
}

fn bul_entry(e: &mr::BulEntry) -> BulEntry {
    BulEntry {
        hoa: e.hoa,
        coa: e.coa,
        ha: e.ha,
        lifetime: u32::try_from(e.lifetime.as_secs()).unwrap_or(u32::MAX),
        mnp6: e.mnp6.clone(),
        mnp4: e.mnp4.clone(),
        flags: 0x0400,
    }
}
