//! nemonetd's daemon glue: the bus, the ICMPv6 error socket, Router Advertisements, the
//! timers and the [`DataPlane`] calls around the I/O-free [`Core`] (`core.rs`), which makes
//! every decision. The data plane is reconciled to the full desired state every time, so
//! start-up after a restart (a dump request), a CoA change, a removal and a retry after a
//! failed apply are one code path.

use crate::cli::{Args, Role};
use crate::core::{self, Action, Core, Target};
use anyhow::{bail, Context, Result};
use dataplane::{ApplyReport, Backend, DataPlane, HaConfig, HomeRouter, MrConfig, TunnelSettings};
use mobsock::{Bus, BusMember, BusOptions, Event as BusEvent};
use shisa_config::{Config, DataPlane as DataPlaneSetting};
use shisa_daemon::{Daemon, Event, Reload, StopMode};
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// What carries out the core's actions.
struct Plane {
    role: Role,
    ifname: String,
    backend: Backend,
    /// MR: the mobile network side, from the configuration.
    inside: Option<(String, Ipv4Addr)>,
    /// The configured tunnel (`tunnel-mtu`, `tunnel-hop-limit`, `bpf-directory`): every data plane starts from
    /// it; the data plane owns the path MTU from then on.
    tunnel: TunnelSettings,
    /// HA: `announce-table`, where the served prefixes are put for a routing daemon.
    announce_table: Option<u32>,
    /// The running data plane; on an MR it is rebuilt when the CoA moves to another uplink.
    dp: Option<(String, DataPlane)>,
}

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
    let tunnel_mtu = s.tunnel_mtu_or_default();
    let mut tunnel = TunnelSettings {
        path_mtu: tunnel_mtu + TunnelSettings::ENCAP_OVERHEAD,
        hop_limit: s.tunnel_hop_limit_or_default(),
        ..TunnelSettings::default()
    };
    if let Some(dir) = &config.global.settings.bpf_directory {
        tunnel.bpf_root = dir.clone();
    }
    let mut core = Core::new(core::Settings {
        role,
        has_tunnel_source: backend.has_tunnel_source(),
        home_agent: s.home_agent_address,
        table_home: match role {
            Role::HomeAgent => prefixtable_routers(config),
            Role::MobileRouter => BTreeMap::new(),
        },
        tunnel_mtu,
    });
    let mut plane = Plane {
        role,
        ifname: args.ifname.clone(),
        backend,
        inside,
        tunnel,
        announce_table: s.announce_table,
        dp: None,
    };
    let actions = core.start();
    plane.carry_out(&mut core, &mut bus, actions).await;
    let icmp =
        dataplane::OuterIcmpSocket::open().context("ICMPv6 socket for errors about the tunnel")?;
    let advertiser = match &plane.inside {
        Some((ifname, _)) => Some(
            crate::ra::Advertiser::open(ifname)
                .with_context(|| format!("router advertisements on {ifname}"))?,
        ),
        None => None,
    };
    let advertise = |mtu: u32| {
        if let Some(a) = &advertiser {
            a.send(mtu);
        }
    };
    let mut ra_timer = tokio::time::interval(crate::ra::INTERVAL);
    loop {
        let before = plane.tunnel_mtu();
        let deadline = core.next_deadline();
        tokio::select! {
            _ = sleep_until(deadline) => {
                let actions = core.tick(Instant::now());
                plane.carry_out(&mut core, &mut bus, actions).await;
            }
            _ = ra_timer.tick(), if advertiser.is_some() => advertise(plane.tunnel_mtu()),
            rs = async { match &advertiser { Some(a) => a.solicited().await, None => std::future::pending().await } } => {
                match rs {
                    Ok(()) => advertise(plane.tunnel_mtu()),
                    Err(e) => tracing::warn!("router solicitations: {e}"),
                }
            }
            err = icmp.recv() => match err {
                Ok(dataplane::OuterError::TooBig(ptb)) => plane.outer_ptb(&mut core, &ptb).await,
                Ok(dataplane::OuterError::Unreachable(u)) => {
                    if let Some((_, dp)) = plane.dp.as_mut() {
                        dp.outer_unreachable(&u, Instant::now());
                    }
                }
                Err(e) => tracing::warn!("ICMPv6 error socket: {e}"),
            },
            ev = daemon.next_event() => match ev {
                Event::Stop { mode, .. } => {
                    plane.stop(&core, mode).await;
                    let _ = bus.flush(Duration::from_millis(200)).await;
                    return Ok(());
                }
                Event::Reload => {
                    if let Reload::Applied(changes) = daemon.reload() {
                        if !changes.is_empty() {
                            crate::settings::log_settings(daemon.config(), &args);
                            tracing::info!("a data-plane, tunnel-mtu, tunnel-hop-limit or interface change takes effect at the next start");
                        }
                    }
                }
            },
            ev = bus.recv() => match ev {
                Ok(BusEvent::Message(env)) => {
                    let actions = core.bus_message(&env.body);
                    plane.carry_out(&mut core, &mut bus, actions).await;
                }
                Ok(BusEvent::Gap { sender, expected, got }) => {
                    tracing::warn!("lost bus messages {expected}..{got} from {sender}: resynchronising");
                    let actions = core.gap();
                    plane.carry_out(&mut core, &mut bus, actions).await;
                }
                Ok(_) => {}
                Err(e) => tracing::error!("bus: {e}"),
            },
        }
        if plane.tunnel_mtu() != before {
            advertise(plane.tunnel_mtu());
        }
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
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
    /// Carries out the core's actions, feeding their outcomes back, until none is left.
    async fn carry_out(&mut self, core: &mut Core, bus: &mut BusMember, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::RequestDump(what) => match bus.request_dump(what).await {
                    Ok(dump) => queue.extend(core.dump_answered(&dump, Instant::now())),
                    Err(e) => queue.extend(core.dump_failed(&e.to_string(), Instant::now())),
                },
                Action::Apply(target) => match self.apply(core, target).await {
                    Ok(report) => {
                        if report.changed() {
                            tracing::info!("data plane: {report:?}");
                        }
                        core.apply_succeeded(Instant::now());
                    }
                    Err(e) => core.apply_failed(&format!("{e:#}"), Instant::now()),
                },
                Action::PresetTunnelSource(coa) => {
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = dataplane::preset_tunnel_source(coa) {
                            tracing::warn!("presetting the tunnel source: {e}");
                        }
                    });
                }
                Action::RestorePathMtu(peer) => {
                    let Some((_, dp)) = self.dp.as_mut() else {
                        continue;
                    };
                    match dp.restore_path_mtu(peer).await {
                        Ok(true) => match peer {
                            Some(coa) => tracing::info!(
                                "path MTU towards {coa} back to {}",
                                dp.peer_path_mtu(coa)
                            ),
                            None => tracing::info!(
                                "path MTU back to {}: tunnel MTU {}",
                                dp.configured_path_mtu(),
                                dp.tunnel_mtu()
                            ),
                        },
                        // The binding moved or ended: its MTU went with it.
                        Ok(false) => {}
                        Err(e) => core.apply_failed(
                            &format!("restoring the path MTU: {e:#}"),
                            Instant::now(),
                        ),
                    }
                }
            }
        }
    }

    /// The interface the data plane sends from: on an MR the uplink holding the CoA (it
    /// moves between uplinks in a two-ISP office) or the home link, on an HA the home
    /// interface. `None`: nothing to apply (an MR with no data plane yet and no tunnel).
    fn egress(&self, target: &Target) -> Result<Option<String>> {
        let current = || self.dp.as_ref().map(|(i, _)| i.clone());
        Ok(match target {
            Target::MrRegistered(reg) => Some(interface_of(reg.coa).with_context(|| {
                format!(
                    "the care-of address {} is on no interface here: cannot build the tunnel",
                    reg.coa
                )
            })?),
            Target::MrHome { ifindex, .. } => match ifindex.and_then(if_name) {
                Some(uplink) => Some(uplink),
                None => {
                    tracing::warn!(
                        "at home on an interface ({ifindex:?}) that is gone: no home routes"
                    );
                    current()
                }
            },
            Target::MrNone => current(),
            Target::Ha { .. } => Some(self.ifname.clone()),
        })
    }

    async fn apply(&mut self, core: &mut Core, mut target: Target) -> Result<ApplyReport> {
        let Some(egress) = self.egress(&target)? else {
            return Ok(ApplyReport::default());
        };
        if let Target::MrHome { ifindex, ha } = &target {
            if ifindex.and_then(if_name).is_none() || ha.is_none() {
                target = Target::MrNone;
            }
        }
        let new_ha_plane = self.role == Role::HomeAgent && self.dp.is_none();
        let dp = self.data_plane(&egress).await?;
        if new_ha_plane && core.home_routers_found(dp.home_routers_installed().await?) {
            // A restarted nemonetd keeps routing the mobile routers that are at home.
            target = core.target();
        }
        Ok(match target {
            Target::MrRegistered(r) => dp.apply_mr(Some(&r)).await?,
            Target::MrHome { ha: Some(ha), .. } => dp.apply_mr_home(ha).await?,
            Target::MrHome { ha: None, .. } | Target::MrNone => dp.apply_mr(None).await?,
            Target::Ha { bindings, at_home } => dp.apply_ha_with_home(&bindings, &at_home).await?,
        })
    }

    async fn data_plane(&mut self, egress: &str) -> Result<&mut DataPlane> {
        if self.dp.as_ref().is_none_or(|(i, _)| i != egress) {
            // A new uplink: the new data plane reconciles away the old one's routes.
            self.dp = None;
            let tunnel = self.tunnel.clone();
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
                    announce_table: self.announce_table,
                }),
            };
            let dp = DataPlane::new(role, self.backend).await?;
            self.dp = Some((egress.to_string(), dp));
        }
        Ok(&mut self.dp.as_mut().expect("just set").1)
    }

    /// The tunnel MTU in force (or the configured one before the first data plane).
    fn tunnel_mtu(&self) -> u32 {
        match &self.dp {
            Some((_, dp)) => dp.tunnel_mtu(),
            None => self.tunnel.tunnel_mtu(),
        }
    }

    /// A Packet Too Big about one of our tunnel packets: the data plane lowers the tunnel
    /// MTU and relays it to the inner sender; the core times the restore.
    async fn outer_ptb(&mut self, core: &mut Core, ptb: &dataplane::OuterPtb) {
        let Some((_, dp)) = self.dp.as_mut() else {
            return;
        };
        match dp.outer_packet_too_big(ptb).await {
            Ok(Some(mtu)) => {
                tracing::info!(
                    "packet too big ({}) from inside the tunnel to {}: tunnel MTU {mtu}",
                    ptb.mtu,
                    ptb.outer_dst
                );
                core.path_mtu_lowered(ptb.outer_dst, mtu, Instant::now());
            }
            Ok(None) => {}
            Err(e) => core.apply_failed(&format!("lowering the tunnel MTU: {e:#}"), Instant::now()),
        }
    }

    async fn stop(&mut self, core: &Core, mode: StopMode) {
        if let Some(since) = core.diverged_since() {
            tracing::warn!(
                "stopping with the data plane diverged from the desired state for {:.1?}",
                since.elapsed()
            );
        }
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

fn if_name(ifindex: u32) -> Option<String> {
    nix::net::if_::if_indextoname(ifindex)
        .ok()
        .and_then(|n| n.into_string().ok())
}
