//! nemonetd's owner loop: follows the registrations on the bus (BUL_ADD/BUL_REMOVE on an MR,
//! BC_ADD/BC_REMOVE on an HA) and keeps the data plane equal to them. The data plane is
//! reconciled to the full desired state every time, so start-up after a restart (a dump
//! request), a CoA change and a removal are one code path.

use crate::cli::{Args, Role};
use anyhow::{bail, Context, Result};
use dataplane::{
    Backend, DataPlane, HaBinding, HaConfig, HomeRouter, MrConfig, MrRegistration, TunnelSettings,
};
use mobsock::{
    Body, Bus, BusMember, BusOptions, DumpWhat, Event as BusEvent, MdCommand, NodeType,
    NodeTypeInfo,
};
use shisa_config::{Config, DataPlane as DataPlaneSetting};
use shisa_daemon::{Daemon, Event, Reload, StopMode};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// What this node's data plane must carry.
enum Desired {
    Mr(Option<MrRegistration>),
    Ha(BTreeMap<Ipv6Addr, HaBinding>),
}

struct Plane {
    role: Role,
    ifname: String,
    backend: Backend,
    /// MR: the mobile network side, from the configuration.
    inside: Option<(String, Ipv4Addr)>,
    /// The running data plane; on an MR it is rebuilt when the CoA moves to another uplink.
    dp: Option<(String, DataPlane)>,
    desired: Desired,
    /// The path MTU learnt from Packet Too Big messages (kept across data plane rebuilds
    /// on the same uplink).
    path_mtu: u32,
    /// When a Packet Too Big last lowered it.
    lowered_at: Option<Instant>,
    /// HA: when a Packet Too Big last lowered the path MTU towards each care-of address
    /// (the data plane keeps the MTUs; the other mobile routers keep theirs).
    peers_lowered_at: BTreeMap<Ipv6Addr, Instant>,
    /// HA: mobile routers that deregistered from their home link, by home address: their
    /// prefixes are routed to them there.
    at_home: BTreeMap<Ipv6Addr, HomeRouter>,
    /// HA: the mobile routers of the prefixtable. One without a binding is on its home
    /// link (NEMO's definition of home), so its prefixes are routed to it there as well.
    table_home: BTreeMap<Ipv6Addr, HomeRouter>,
    /// MR: on the home link (babymdd's DEREGHOME), the uplink there, and the home agent
    /// (configured, or the last registration's) that IPv4 goes to.
    home: Option<(String, Option<Ipv6Addr>)>,
    home_agent: Option<Ipv6Addr>,
    /// `bpf-directory`: the bpffs the bpf backend pins into.
    bpf_directory: Option<std::path::PathBuf>,
}

/// How long a lowered path MTU stands before the configured one is tried again
/// (RFC 8201 section 4: at least 5 minutes, 10 recommended). A path that is still narrow
/// answers the next large packet with another Packet Too Big.
const PMTU_RAISE_AFTER: Duration = Duration::from_secs(600);

pub async fn run(mut daemon: Daemon<Config>, args: Args) -> Result<()> {
    let config = daemon.config();
    let s = config.settings_for(&args.ifname);
    let forced = match s.data_plane_or_default() {
        DataPlaneSetting::Auto => None,
        named => Some(named.to_string().parse::<Backend>()?),
    };
    let backend = dataplane::probe(forced)
        .await
        .context("choose the data-plane backend")?;
    tracing::info!(
        "backend {backend} ({})",
        if forced.is_some() {
            "forced by data-plane"
        } else {
            "probed"
        }
    );
    let role = args.role();
    let inside = match role {
        Role::MobileRouter => Some(mobile_network(config, &args.ifname)?),
        Role::HomeAgent => None,
    };
    if let Some((ifname, _)) = &inside {
        // Before the first move: the uplinks stay hosts (optimistic care-of addresses).
        dataplane::prepare_mobile_router(ifname).context("forwarding sysctls")?;
    }
    let mut bus = Bus::join(&daemon.bus_dir, "nemonetd", BusOptions::default())
        .await
        .with_context(|| format!("join the bus in {}", daemon.bus_dir.display()))?;
    let mut plane = Plane {
        role,
        ifname: args.ifname.clone(),
        backend,
        inside,
        dp: None,
        desired: match role {
            Role::MobileRouter => Desired::Mr(None),
            Role::HomeAgent => Desired::Ha(BTreeMap::new()),
        },
        path_mtu: TunnelSettings::default().path_mtu,
        lowered_at: None,
        peers_lowered_at: BTreeMap::new(),
        at_home: BTreeMap::new(),
        table_home: match role {
            Role::HomeAgent => prefixtable_routers(config),
            Role::MobileRouter => BTreeMap::new(),
        },
        home: None,
        home_agent: config.settings_for(&args.ifname).home_agent_address,
        bpf_directory: config.global.settings.bpf_directory.clone(),
    };
    plane.resync(&mut bus).await;
    let icmp =
        dataplane::OuterIcmpSocket::open().context("ICMPv6 socket for errors about the tunnel")?;
    let advertiser = match &plane.inside {
        Some((ifname, _)) => Some(
            crate::ra::Advertiser::open(ifname)
                .with_context(|| format!("router advertisements on {ifname}"))?,
        ),
        None => None,
    };
    let mut ra_timer = tokio::time::interval(crate::ra::INTERVAL);
    let mut pmtu_timer = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = pmtu_timer.tick() => {
                if plane.raise_path_mtu().await {
                    if let Some(a) = &advertiser {
                        a.send(plane.tunnel_mtu());
                    }
                }
            }
            _ = ra_timer.tick(), if advertiser.is_some() => {
                if let Some(a) = &advertiser {
                    a.send(plane.tunnel_mtu());
                }
            }
            rs = async { match &advertiser { Some(a) => a.solicited().await, None => std::future::pending().await } } => {
                match (rs, &advertiser) {
                    (Ok(()), Some(a)) => a.send(plane.tunnel_mtu()),
                    (Err(e), _) => tracing::warn!("router solicitations: {e}"),
                    _ => {}
                }
            }
            err = icmp.recv() => match err {
                Ok(dataplane::OuterError::TooBig(ptb)) => {
                    let before = plane.tunnel_mtu();
                    plane.outer_ptb(&ptb).await;
                    if plane.tunnel_mtu() != before {
                        if let Some(a) = &advertiser {
                            a.send(plane.tunnel_mtu());
                        }
                    }
                }
                Ok(dataplane::OuterError::Unreachable(u)) => {
                    if let Some((_, dp)) = plane.dp.as_mut() {
                        dp.outer_unreachable(&u, Instant::now());
                    }
                }
                Err(e) => tracing::warn!("ICMPv6 error socket: {e}"),
            },
            ev = daemon.next_event() => match ev {
                Event::Stop { mode, .. } => {
                    plane.stop(mode).await;
                    let _ = bus.flush(std::time::Duration::from_millis(200)).await;
                    return Ok(());
                }
                Event::Reload => {
                    if let Reload::Applied(changes) = daemon.reload() {
                        if !changes.is_empty() {
                            crate::settings::log_settings(daemon.config(), &args);
                            tracing::info!("a data-plane or interface change takes effect at the next start");
                        }
                    }
                }
            },
            ev = bus.recv() => match ev {
                Ok(BusEvent::Message(env)) if plane.owner_started(&env.body) => {
                    // had has just started: take its state as a whole, which also covers
                    // the case it has nothing to announce.
                    plane.resync(&mut bus).await;
                }
                Ok(BusEvent::Message(env)) => {
                    if plane.learn(env.body) {
                        let before = plane.tunnel_mtu();
                        plane.apply().await;
                        if plane.tunnel_mtu() != before {
                            if let Some(a) = &advertiser {
                                a.send(plane.tunnel_mtu());
                            }
                        }
                    }
                }
                Ok(BusEvent::Gap { sender, expected, got }) => {
                    tracing::warn!("lost bus messages {expected}..{got} from {sender}: resynchronising");
                    plane.resync(&mut bus).await;
                }
                Ok(_) => {}
                Err(e) => tracing::error!("bus: {e}"),
            },
        }
    }
}

/// HA: the mobile routers of the prefixtable with their prefixes.
fn prefixtable_routers(config: &Config) -> BTreeMap<Ipv6Addr, HomeRouter> {
    let out: BTreeMap<Ipv6Addr, HomeRouter> = config
        .home_addresses()
        .into_iter()
        .map(|hoa| {
            let mut h = HomeRouter {
                hoa,
                mnp6: Vec::new(),
                mnp4: Vec::new(),
            };
            for e in config.prefixes_of(hoa) {
                match e.prefix {
                    ipnet::IpNet::V4(p) if !h.mnp4.contains(&p) => h.mnp4.push(p),
                    ipnet::IpNet::V6(p) if !h.mnp6.contains(&p) => h.mnp6.push(p),
                    _ => {}
                }
            }
            (hoa, h)
        })
        .collect();
    if !out.is_empty() {
        tracing::info!(
            "{} mobile router(s) in the prefixtable: without a binding their prefixes go to their home addresses on the home link",
            out.len()
        );
    }
    out
}

/// MR: the mobile network interface and the router's own IPv4 address on it.
fn mobile_network(config: &Config, ifname: &str) -> Result<(String, Ipv4Addr)> {
    let s = config.settings_for(ifname);
    let Some(inside) = s.mobile_network_interface.clone() else {
        bail!("{}: nemonetd -m needs mobile-network-interface IFNAME; in the {ifname} block or at top level", config.file);
    };
    let v4 = match s.ipv4_mnp_address {
        Some(a) => a,
        None => first_ipv4(&inside).unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    if v4.is_unspecified() && config.prefix_entries().any(|e| e.prefix.addr().is_ipv4()) {
        tracing::warn!(
            "no ipv4-mnp-address and no IPv4 address on {inside}: the router's own IPv4 \
             traffic will not use the tunnel"
        );
    }
    Ok((inside, v4))
}

fn first_ipv4(ifname: &str) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        (a.interface_name == ifname)
            .then(|| a.address.and_then(|s| s.as_sockaddr_in().map(|s| s.ip())))
            .flatten()
    })
}

/// The interface holding `addr`, and the global IPv6 address of `ifname`.
fn interface_of(addr: Ipv6Addr) -> Option<String> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        let ip = a
            .address
            .and_then(|s| s.as_sockaddr_in6().map(|s| s.ip()))?;
        (ip == addr).then_some(a.interface_name)
    })
}

fn global_ipv6(ifname: &str) -> Option<Ipv6Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        let ip = a
            .address
            .and_then(|s| s.as_sockaddr_in6().map(|s| s.ip()))?;
        (a.interface_name == ifname && !ip.is_unicast_link_local() && !ip.is_loopback())
            .then_some(ip)
    })
}

impl Plane {
    /// HA: whether `body` is had's start announcement (NODETYPE_INFO). had restores its
    /// Binding Cache before it announces, so its dump is complete; on a home agent that
    /// starts empty this is what installs the routes of the mobile routers at home. (Not on
    /// an MR: mrd starts with an empty Binding Update List and registers again, and the
    /// tunnel must stay meanwhile.)
    fn owner_started(&self, body: &Body) -> bool {
        self.role == Role::HomeAgent
            && matches!(
                body,
                Body::NodeTypeInfo(NodeTypeInfo {
                    node_type: NodeType::HomeAgent,
                    enabled: true
                })
            )
    }

    /// Takes in a bus message; true when the desired state changed.
    fn learn(&mut self, body: Body) -> bool {
        match (&mut self.desired, body) {
            (Desired::Mr(reg), Body::MdInfo(md)) => {
                // A new care-of address: the registration follows in a round trip. Setting
                // the seg6 tunnel source waits for an RCU grace period (~10 ms), so it
                // starts now, beside the exchange, instead of delaying the routes after it.
                if let (MdCommand::Rereg, Some(coa), true) =
                    (md.command, md.coa, self.backend.has_tunnel_source())
                {
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = dataplane::preset_tunnel_source(coa) {
                            tracing::warn!("presetting the tunnel source: {e}");
                        }
                    });
                }
                match md.command {
                    MdCommand::DeregHome => {
                        let uplink = md
                            .ifindex
                            .and_then(|i| nix::net::if_::if_indextoname(i).ok())
                            .and_then(|n| n.into_string().ok());
                        if uplink.is_none() {
                            tracing::warn!(
                                "at home on an interface ({:?}) that is gone: no home routes",
                                md.ifindex
                            );
                        }
                        let ha = self.home_agent.or(reg.as_ref().map(|r| r.ha));
                        let was = self.home.clone();
                        self.home = uplink.map(|u| (u, ha));
                        // Applied once the registration has ended (BUL_REMOVE).
                        reg.is_none() && self.home != was
                    }
                    MdCommand::Rereg => self.home.take().is_some() && reg.is_none(),
                    _ => false,
                }
            }
            (Desired::Mr(reg), Body::BulAdd(e)) => {
                tracing::info!("registration via {} with {}", e.coa, e.ha);
                self.home = None;
                if reg.as_ref().is_some_and(|r| r.coa != e.coa) && self.lowered_at.is_some() {
                    // Another care-of address is another path: start again from the
                    // configured MTU; a narrow link on the new path will say so.
                    self.path_mtu = TunnelSettings::default().path_mtu;
                    self.lowered_at = None;
                }
                *reg = Some(MrRegistration {
                    hoa: e.hoa,
                    coa: e.coa,
                    ha: e.ha,
                    mnp6: e.mnp6,
                    mnp4: e.mnp4,
                });
                true
            }
            (Desired::Mr(reg), Body::BulRemove(r)) => {
                tracing::info!("registration of {} ended ({})", r.hoa, r.reason.as_str());
                reg.take().is_some()
            }
            (Desired::Mr(reg), Body::BulFlush) => reg.take().is_some(),
            (Desired::Ha(map), Body::BcAdd(e)) => {
                let b = HaBinding {
                    hoa: e.hoa,
                    coa: e.coa,
                    mnp6: e.mnp6,
                    mnp4: e.mnp4,
                };
                let left_home = self.at_home.remove(&b.hoa).is_some();
                map.insert(b.hoa, b.clone()) != Some(b) || left_home
            }
            (Desired::Ha(map), Body::BcRemove(r)) => {
                let removed = map.remove(&r.hoa);
                // Deregistered from its home address: it is on the home link.
                if let (Some(b), true) = (&removed, r.coa == Some(r.hoa)) {
                    tracing::info!(
                        "{} is at home: its prefixes go to it on the home link",
                        r.hoa
                    );
                    self.at_home.insert(
                        b.hoa,
                        HomeRouter {
                            hoa: b.hoa,
                            mnp6: b.mnp6.clone(),
                            mnp4: b.mnp4.clone(),
                        },
                    );
                }
                removed.is_some()
            }
            (Desired::Ha(map), Body::BcFlush) => {
                let had = !map.is_empty();
                map.clear();
                had
            }
            _ => false,
        }
    }

    /// Asks the owner of the state (mrd or had) for a dump and reconciles to it. Without an
    /// answer the kernel is left as it is: the owner is restarting and will announce.
    async fn resync(&mut self, bus: &mut BusMember) {
        let what = match self.role {
            Role::MobileRouter => DumpWhat::Bul,
            Role::HomeAgent => DumpWhat::Bc,
        };
        let dump = match bus.request_dump(what).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("dump request: {e}");
                return;
            }
        };
        if dump.replies.is_empty() {
            tracing::info!(
                "no {} answered the dump: keeping what is installed until it announces",
                if self.role == Role::MobileRouter {
                    "mrd"
                } else {
                    "had"
                }
            );
            return;
        }
        match &mut self.desired {
            Desired::Mr(reg) => {
                *reg = dump.bul().into_iter().next().map(|e| MrRegistration {
                    hoa: e.hoa,
                    coa: e.coa,
                    ha: e.ha,
                    mnp6: e.mnp6,
                    mnp4: e.mnp4,
                })
            }
            Desired::Ha(map) => {
                *map = dump
                    .bc()
                    .into_iter()
                    .map(|e| {
                        (
                            e.hoa,
                            HaBinding {
                                hoa: e.hoa,
                                coa: e.coa,
                                mnp6: e.mnp6,
                                mnp4: e.mnp4,
                            },
                        )
                    })
                    .collect()
            }
        }
        self.apply().await;
    }

    /// The interface the data plane sends from: on an MR the uplink holding the CoA (it
    /// moves between uplinks in a two-ISP office), on an HA the home interface.
    fn egress(&self) -> Option<String> {
        match &self.desired {
            Desired::Mr(Some(reg)) => interface_of(reg.coa),
            Desired::Mr(None) => match &self.home {
                Some((uplink, _)) => Some(uplink.clone()),
                None => self.dp.as_ref().map(|(i, _)| i.clone()),
            },
            Desired::Ha(_) => Some(self.ifname.clone()),
        }
    }

    async fn data_plane(&mut self, egress: &str) -> Result<&mut DataPlane> {
        if self.dp.as_ref().is_none_or(|(i, _)| i != egress) {
            // A new uplink: the new data plane reconciles away the old one's routes.
            self.dp = None;
            let mut tunnel = TunnelSettings {
                path_mtu: self.path_mtu,
                ..TunnelSettings::default()
            };
            if let Some(dir) = &self.bpf_directory {
                tunnel.bpf_root = dir.clone();
            }
            let role = match (&self.role, &self.inside) {
                (Role::MobileRouter, Some((inside, v4))) => dataplane::Role::Mr(MrConfig {
                    uplink: egress.to_string(),
                    inside: inside.clone(),
                    inside_ipv4: *v4,
                    tunnel,
                }),
                _ => dataplane::Role::Ha(HaConfig {
                    ha_addr: global_ipv6(egress)
                        .with_context(|| format!("{egress} has no global IPv6 address"))?,
                    home_if: egress.to_string(),
                    tunnel,
                }),
            };
            let dp = DataPlane::new(role, self.backend).await?;
            self.dp = Some((egress.to_string(), dp));
        }
        Ok(&mut self.dp.as_mut().expect("just set").1)
    }

    async fn apply(&mut self) {
        let Some(egress) = self.egress() else {
            if matches!(self.desired, Desired::Mr(Some(_))) {
                tracing::error!(
                    "the care-of address is on no interface here: cannot build the tunnel"
                );
            }
            return;
        };
        let result = async {
            let desired = match &self.desired {
                Desired::Mr(None) => match &self.home {
                    Some((_, Some(ha))) => DesiredRef::MrHome(*ha),
                    _ => DesiredRef::Mr(None),
                },
                Desired::Mr(r) => DesiredRef::Mr(r.clone()),
                Desired::Ha(m) => DesiredRef::Ha(m.values().cloned().collect()),
            };
            let path_mtu = self.path_mtu;
            let new_ha_plane = self.role == Role::HomeAgent && self.dp.is_none();
            let dp = self.data_plane(&egress).await?;
            if new_ha_plane {
                // A restarted nemonetd keeps routing the mobile routers that are at home.
                for h in dp.home_routers_installed().await? {
                    tracing::info!("{} is at home (routes found in place)", h.hoa);
                    self.at_home.entry(h.hoa).or_insert(h);
                }
            }
            let mut homes = self.table_home.clone();
            for (hoa, h) in &self.at_home {
                homes.entry(*hoa).or_insert_with(|| h.clone());
            }
            let at_home: Vec<HomeRouter> = homes.into_values().collect();
            let dp = &mut self.dp.as_mut().expect("just set").1;
            let report = match desired {
                DesiredRef::Mr(r) => dp.apply_mr(r.as_ref()).await?,
                DesiredRef::MrHome(ha) => dp.apply_mr_home(ha).await?,
                DesiredRef::Ha(b) => dp.apply_ha_with_home(&b, &at_home).await?,
            };
            if dp.set_path_mtu(path_mtu).await? {
                tracing::info!("path MTU {path_mtu} for the new care-of address");
            }
            anyhow::Ok(report)
        }
        .await;
        match result {
            Ok(report) if report.changed() => tracing::info!("data plane: {report:?}"),
            Ok(_) => {}
            Err(e) => tracing::error!("data plane: {e:#}"),
        }
    }

    /// The tunnel MTU in force (or the configured one before the first data plane).
    fn tunnel_mtu(&self) -> u32 {
        match &self.dp {
            Some((_, dp)) => dp.tunnel_mtu(),
            None => self.path_mtu.saturating_sub(TunnelSettings::ENCAP_OVERHEAD),
        }
    }

    /// A Packet Too Big about one of our tunnel packets lowers the tunnel MTU (and is
    /// relayed to the inner sender by the data plane).
    async fn outer_ptb(&mut self, ptb: &dataplane::OuterPtb) {
        let Some((_, dp)) = self.dp.as_mut() else {
            return;
        };
        match dp.outer_packet_too_big(ptb).await {
            Ok(Some(mtu)) => {
                match self.role {
                    Role::MobileRouter => {
                        self.path_mtu = mtu + TunnelSettings::ENCAP_OVERHEAD;
                        self.lowered_at = Some(Instant::now());
                    }
                    Role::HomeAgent => {
                        self.peers_lowered_at.insert(ptb.outer_dst, Instant::now());
                    }
                }
                tracing::info!(
                    "packet too big ({}) from inside the tunnel to {}: tunnel MTU {mtu}",
                    ptb.mtu,
                    ptb.outer_dst
                );
            }
            Ok(None) => {}
            Err(e) => tracing::error!("lowering the tunnel MTU: {e}"),
        }
    }

    /// Back to the configured path MTU once a lowered one is old enough; true if raised.
    async fn raise_path_mtu(&mut self) -> bool {
        if self.role == Role::HomeAgent {
            return self.raise_peer_path_mtus().await;
        }
        if self
            .lowered_at
            .is_none_or(|t| t.elapsed() < PMTU_RAISE_AFTER)
        {
            return false;
        }
        self.lowered_at = None;
        self.path_mtu = TunnelSettings::default().path_mtu;
        let Some((_, dp)) = self.dp.as_mut() else {
            return false;
        };
        match dp.set_path_mtu(self.path_mtu).await {
            Ok(changed) => {
                if changed {
                    tracing::info!(
                        "path MTU back to {} after {PMTU_RAISE_AFTER:?}: tunnel MTU {}",
                        self.path_mtu,
                        dp.tunnel_mtu()
                    );
                }
                changed
            }
            Err(e) => {
                tracing::error!("raising the tunnel MTU: {e}");
                false
            }
        }
    }

    /// HA: the same, per care-of address.
    async fn raise_peer_path_mtus(&mut self) -> bool {
        let due: Vec<Ipv6Addr> = self
            .peers_lowered_at
            .iter()
            .filter(|(_, t)| t.elapsed() >= PMTU_RAISE_AFTER)
            .map(|(coa, _)| *coa)
            .collect();
        let mut raised = false;
        for coa in due {
            self.peers_lowered_at.remove(&coa);
            let Some((_, dp)) = self.dp.as_mut() else {
                continue;
            };
            match dp.set_peer_path_mtu(coa, None).await {
                Ok(true) => {
                    raised = true;
                    tracing::info!(
                        "path MTU towards {coa} back to {} after {PMTU_RAISE_AFTER:?}",
                        dp.peer_path_mtu(coa)
                    );
                }
                // The binding moved or ended: its MTU went with it.
                Ok(false) => {}
                Err(e) => tracing::error!("raising the tunnel MTU towards {coa}: {e}"),
            }
        }
        raised
    }

    async fn stop(&mut self, mode: StopMode) {
        let Some((_, dp)) = self.dp.take() else {
            return;
        };
        match mode {
            StopMode::KeepState => tracing::info!("leaving tunnels and routes in place"),
            StopMode::TearDown => {
                if let Err(e) = dp.teardown().await {
                    tracing::error!("removing the data plane: {e}");
                }
            }
        }
    }
}

enum DesiredRef {
    Mr(Option<MrRegistration>),
    MrHome(Ipv6Addr),
    Ha(Vec<HaBinding>),
}
