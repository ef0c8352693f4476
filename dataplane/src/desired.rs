//! The desired state: a backend-neutral [`Plan`] made from the role and the current
//! registration (MR) or binding set (HA), and the kernel state a backend renders of it.
//! Pure: no I/O, unit-tested below.

use crate::backend::Render;
use crate::bpf::BpfProg;
use crate::model::{HaBinding, HaConfig, HomeRouter, MrConfig, MrRegistration, TunnelSettings};
use crate::mss_clamp::ClampSpec;
use crate::pmtu::oversize::{IntoTunnel, OversizeGroup, OversizeSpec};
use crate::tun::PeerTable;
use crate::LOCAL_RULE_PREF;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Main routing table.
pub const MAIN_TABLE: u32 = 254;
/// Local routing table.
pub const LOCAL_TABLE: u32 = 255;
/// Metric of our IPv4 routes (the kernel's default for IPv4).
pub const METRIC_V4: u32 = 0;
/// Metric of our IPv6 routes (the kernel's default for IPv6, `IP6_RT_PRIO_USER`).
pub const METRIC_V6: u32 = 1024;
/// Metric of an announcement (`announce-table`) for a mobile router with a binding here
/// (routed into the tunnel): a routing daemon can turn it into BGP's MED, so that the home
/// agent that holds the binding wins over one that assumes the router is at home.
pub const ANNOUNCE_METRIC_BOUND: u32 = 100;
/// Metric of an announcement for a mobile router at home (routed to its home address on
/// the home link, which is also the announcement's next hop).
pub const ANNOUNCE_METRIC_HOME: u32 = 200;
/// IP protocol numbers of the encapsulated payloads.
pub const IPPROTO_IPIP: u8 = 4;
pub const IPPROTO_IPV6: u8 = 41;

/// What a route does with a matching packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteAction {
    /// Plain route out of `oif` (the TUN device).
    Device,
    /// `encap seg6 mode encap.red segs <peer>`: a bare outer IPv6 header to `peer`.
    Seg6Encap { peer: Ipv6Addr },
    /// `encap bpf xmit <prog>`: our encapsulation program, which finds the peer in its
    /// maps by the inner destination.
    BpfEncap(BpfProg),
    /// `encap seg6local action End.DX4 nh4 0.0.0.0`: decapsulate, forward the IPv4 inside.
    DecapIpv4,
    /// `encap seg6local action End.DT6 table main`: decapsulate, route the IPv6 inside by
    /// the main table, local delivery included (End.DX6 refuses to deliver to a local
    /// address, so a home address on the MR would be unreachable through the tunnel).
    DecapIpv6,
    /// `local ADDR dev lo`: deliver locally. In the main table for the seg6 backend's
    /// End.DT6 lookup, which sees only that table.
    Local,
    /// `blackhole`: drop without a word (no device; `oif` 0).
    Blackhole,
    /// `via [inet6] GATEWAY onlink`: a plain next hop on the link, also for IPv4 (an IPv6
    /// next hop for IPv4, as RFC 5549 routers do: a mobile router at home needs no IPv4
    /// address on an IPv6-only home link).
    Via { gateway: Ipv6Addr },
}

/// One route we want in the kernel (always with [`crate::ROUTE_PROTOCOL`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    pub table: u32,
    pub dst: IpNet,
    /// Source prefix of an IPv6 source-specific route (`from`).
    pub src: Option<Ipv6Net>,
    pub metric: u32,
    pub oif: u32,
    /// Preferred source address (`src`) of an IPv4 route.
    pub prefsrc: Option<Ipv4Addr>,
    pub mtu: Option<u32>,
    /// `mtu lock`, where a route must be narrower than its device (the HA's tun routes
    /// towards a mobile router whose path reported a smaller MTU): the kernel's IPv6
    /// forwarding has honoured only a locked route MTU (`ip6_dst_mtu_maybe_forward`; the
    /// 6.18 kernel here honours either). Nowhere else: a locked MTU also stops path MTU
    /// discovery from lowering it for the node's own traffic.
    pub mtu_lock: bool,
    pub action: RouteAction,
}

/// The fields that identify a route in the kernel: a second route with the same key
/// replaces the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteKey {
    pub table: u32,
    pub dst: IpNet,
    pub src: Option<Ipv6Net>,
    pub metric: u32,
}

impl RouteSpec {
    pub fn key(&self) -> RouteKey {
        RouteKey {
            table: self.table,
            dst: self.dst,
            src: self.src,
            metric: self.metric,
        }
    }
}

/// One IPv6 policy rule we want (always with [`crate::ROUTE_PROTOCOL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    pub pref: u32,
    /// `ipproto` selector.
    pub ipproto: Option<u8>,
    /// `to` selector.
    pub dst: Option<Ipv6Net>,
    pub table: u32,
}

impl RuleSpec {
    /// `pref 100 lookup local`: replaces the kernel's `pref 0 lookup local`.
    pub fn moved_local() -> Self {
        Self {
            pref: LOCAL_RULE_PREF,
            ipproto: None,
            dst: None,
            table: LOCAL_TABLE,
        }
    }
}

/// Everything the data plane wants installed for the current state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
    pub clamp: Option<ClampSpec>,
    /// Tunnel endpoints for backends that find the peer per packet (tun, bpf).
    pub peers: PeerTable,
    /// Outer source of seg6 encapsulation (the namespace's `ip sr tunsrc`); `None`
    /// resets it to `::`.
    pub tunsrc: Option<Ipv6Addr>,
    /// Oversized packets into the tunnel (while something is registered): steered to the
    /// kernel's ICMP errors (seg6), Packet Too Big rate bounded (every backend).
    pub oversize: Option<OversizeSpec>,
}

/// One route into the tunnel, whatever carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRoute {
    pub dst: IpNet,
    /// Source prefix of an IPv6 source-specific route (`from`).
    pub src: Option<Ipv6Net>,
    /// Preferred source of the node's own IPv4 traffic.
    pub prefsrc: Option<Ipv4Addr>,
    /// The tunnel peer (MR: its HA; HA: the MR's care-of address).
    pub peer: Ipv6Addr,
    /// The tunnel MTU towards that peer.
    pub mtu: u32,
}

impl TunnelRoute {
    /// The main-table route that sends into the tunnel with `action` out of `oif`.
    pub fn spec(&self, oif: u32, action: RouteAction, mtu_lock: bool) -> RouteSpec {
        RouteSpec {
            table: MAIN_TABLE,
            dst: self.dst,
            src: self.src,
            metric: match self.dst {
                IpNet::V4(_) => METRIC_V4,
                IpNet::V6(_) => METRIC_V6,
            },
            oif,
            prefsrc: self.prefsrc,
            mtu: Some(self.mtu),
            mtu_lock,
            action,
        }
    }

    pub fn key(&self) -> RouteKey {
        self.spec(0, RouteAction::Device, false).key()
    }
}

/// The tunnel of one binding (MR: its registration; HA: one Binding Cache entry), for the
/// backends with a device per binding (ip6tnl). Identified by the home address, so that a
/// new care-of address changes the endpoints of the same tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingTunnel {
    pub hoa: Ipv6Addr,
    /// The tunnel peer (MR: its HA; HA: the MR's care-of address).
    pub peer: Ipv6Addr,
    /// The tunnel MTU towards that peer.
    pub mtu: u32,
}

/// The backend-neutral desired state: what the registrations (MR) or the bindings (HA)
/// ask for. A backend's [`Render`] turns it into routes and rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Our tunnel endpoint (MR: the CoA; HA: its address) while a tunnel is wanted.
    pub local: Option<Ipv6Addr>,
    /// One tunnel per binding, at most one per home address and one per peer (the first
    /// binding keeps it); every tunnel route's peer has one.
    pub tunnels: Vec<BindingTunnel>,
    /// Routes into the tunnel, one per key (the first registration that wants a key
    /// keeps it).
    pub tunnel_routes: Vec<TunnelRoute>,
    /// Peers whose tunnel packets to `local` are decapsulated.
    pub peers: Vec<Ipv6Addr>,
    /// Our own addresses that decapsulated packets may be for (the MR's home address).
    pub inner_local: Vec<Ipv6Addr>,
    /// Plain routes on the egress link (a mobile router at home), after the tunnel routes:
    /// a key the tunnel routes want stays theirs.
    pub link_routes: Vec<RouteSpec>,
    pub clamp: Option<ClampSpec>,
    /// The tunnel MTU groups of the oversize handling, largest MTU first.
    pub oversize: Vec<OversizeGroup>,
}

impl Plan {
    fn push_tunnel_route(&mut self, keys: &mut HashMap<RouteKey, usize>, route: TunnelRoute) {
        match keys.get(&route.key()) {
            Some(&i) => {
                if self.tunnel_routes[i] != route {
                    tracing::warn!(
                        key = ?route.key(),
                        "two registrations want the same route; keeping the first"
                    );
                }
            }
            None => {
                keys.insert(route.key(), self.tunnel_routes.len());
                self.tunnel_routes.push(route);
            }
        }
    }

    fn push_peer(&mut self, peer: Ipv6Addr) {
        if !self.peers.contains(&peer) {
            self.peers.push(peer);
        }
    }

    fn push_tunnel(&mut self, tunnel: BindingTunnel) {
        if !self
            .tunnels
            .iter()
            .any(|t| t.hoa == tunnel.hoa || t.peer == tunnel.peer)
        {
            self.tunnels.push(tunnel);
        }
    }
}

/// Interface indexes the routes refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Links {
    /// MR: uplink; HA: home interface.
    pub egress: u32,
}

/// The kernel state of `plan` on a backend. `configured_mtu` is the tunnel MTU of the
/// configuration.
pub fn render(
    plan: &Plan,
    backend: &dyn Render,
    links: Links,
    configured_mtu: u32,
) -> DesiredState {
    let mut state = DesiredState {
        rules: backend.base_rules(),
        clamp: plan.clamp.clone(),
        ..DesiredState::default()
    };
    let mut keys = HashSet::new();
    for route in &plan.tunnel_routes {
        let spec = backend.tunnel_route(route, links.egress, configured_mtu);
        keys.insert(spec.key());
        if backend.routes_go_with_the_process() {
            // Behind the tunnel route (the next metric): used only while it is gone.
            let fallback = RouteSpec {
                metric: spec.metric + 1,
                oif: 0,
                prefsrc: None,
                mtu: None,
                mtu_lock: false,
                action: RouteAction::Blackhole,
                ..spec.clone()
            };
            keys.insert(fallback.key());
            state.routes.push(spec);
            state.routes.push(fallback);
        } else {
            state.routes.push(spec);
        }
    }
    if let Some(local) = plan.local {
        let decap = backend.decapsulation(local, &plan.peers, &plan.inner_local, links.egress);
        state.routes.extend(decap.routes);
        for rule in decap.rules {
            if !state.rules.contains(&rule) {
                state.rules.push(rule);
            }
        }
        state.tunsrc = backend.tunnel_source(local);
        let mut table: Vec<(IpNet, Ipv6Addr)> = Vec::new();
        for r in &plan.tunnel_routes {
            if !table.contains(&(r.dst, r.peer)) {
                table.push((r.dst, r.peer));
            }
        }
        state.peers = PeerTable {
            local: Some(local),
            routes: table,
        };
        if !plan.oversize.is_empty() {
            state.oversize = Some(OversizeSpec {
                groups: plan.oversize.clone(),
                steer: backend.steers_oversize(),
            });
        }
    }
    for route in &plan.link_routes {
        if keys.insert(route.key()) {
            state.routes.push(route.clone());
        }
    }
    state
}

/// The MR's plan: nothing (at home, unregistered) or the tunnel of `reg`.
pub fn mr_plan(cfg: &MrConfig, reg: Option<&MrRegistration>) -> Plan {
    let mut plan = Plan::default();
    let Some(reg) = reg else {
        return plan;
    };
    let mut keys = HashMap::new();
    let mtu = cfg.tunnel.tunnel_mtu();
    let route = |dst, src, prefsrc| TunnelRoute {
        dst,
        src,
        prefsrc,
        peer: reg.ha,
        mtu,
    };
    plan.push_tunnel_route(
        &mut keys,
        route(IpNet::V4(Ipv4Net::default()), None, Some(cfg.inside_ipv4)),
    );
    let sources = reg.mnp6.iter().map(|p| p.trunc()).chain([host6(reg.hoa)]);
    for src in sources {
        plan.push_tunnel_route(
            &mut keys,
            route(IpNet::V6(Ipv6Net::default()), Some(src), None),
        );
    }
    plan.local = Some(reg.coa);
    plan.push_peer(reg.ha);
    plan.push_tunnel(BindingTunnel {
        hoa: reg.hoa,
        peer: reg.ha,
        mtu,
    });
    plan.inner_local.push(reg.hoa);
    plan.clamp = ClampSpec::new(
        mtu,
        reg.mnp4.iter().map(|p| p.trunc()).collect(),
        reg.mnp6.iter().map(|p| p.trunc()).collect(),
    );
    plan.oversize = vec![OversizeGroup {
        tunnel_mtu: mtu,
        into_tunnel: IntoTunnel::FromInterface(cfg.inside.clone()),
    }];
    plan
}

/// The MR on its home link with home agent `ha`: no tunnel; IPv4 (the mobile network's and
/// the router's own) goes to the home agent as next hop on the home link, an IPv6 one
/// (the home link needs no IPv4). IPv6 follows the home link's own default route.
pub fn mr_home_plan(cfg: &MrConfig, links: Links, ha: Ipv6Addr) -> Plan {
    Plan {
        link_routes: vec![RouteSpec {
            table: MAIN_TABLE,
            dst: IpNet::V4(Ipv4Net::default()),
            src: None,
            metric: METRIC_V4,
            oif: links.egress,
            prefsrc: Some(cfg.inside_ipv4).filter(|a| !a.is_unspecified()),
            mtu: None,
            mtu_lock: false,
            action: RouteAction::Via { gateway: ha },
        }],
        ..Plan::default()
    }
}

/// The HA's plan for the complete set of bindings and the mobile routers at home (routed
/// to their home addresses on the home link). `peer_path_mtu` holds the path MTUs that
/// Packet Too Big messages lowered, per care-of address; every other binding gets the
/// configured one.
pub fn ha_plan(
    cfg: &HaConfig,
    links: Links,
    bindings: &[HaBinding],
    at_home: &[HomeRouter],
    peer_path_mtu: &BTreeMap<Ipv6Addr, u32>,
) -> Plan {
    let mut plan = Plan::default();
    // Index of each wanted route by key: an HA plans every binding on each change, so the
    // duplicate check must not scan the list.
    let mut keys = HashMap::new();
    // Per tunnel MTU: the IPv4 and IPv6 prefixes (clamp) and the home addresses.
    type Group = (Vec<Ipv4Net>, Vec<Ipv6Net>, Vec<Ipv6Net>);
    let mut groups: BTreeMap<u32, Group> = BTreeMap::new();
    for binding in bindings {
        let mtu = tunnel_mtu_towards(&cfg.tunnel, peer_path_mtu, binding.coa);
        let dsts = binding
            .mnp4
            .iter()
            .map(|p| IpNet::V4(p.trunc()))
            .chain(binding.mnp6.iter().map(|p| IpNet::V6(p.trunc())))
            .chain([IpNet::V6(host6(binding.hoa))]);
        for dst in dsts {
            plan.push_tunnel_route(
                &mut keys,
                TunnelRoute {
                    dst,
                    src: None,
                    prefsrc: None,
                    peer: binding.coa,
                    mtu,
                },
            );
        }
        plan.push_peer(binding.coa);
        plan.push_tunnel(BindingTunnel {
            hoa: binding.hoa,
            peer: binding.coa,
            mtu,
        });
        if let Some(table) = cfg.announce_table {
            plan.link_routes.extend(announcements(
                table,
                links.egress,
                &binding.mnp4,
                &binding.mnp6,
                None,
            ));
        }
        let g = groups.entry(mtu).or_default();
        g.0.extend(binding.mnp4.iter().map(|p| p.trunc()));
        g.1.extend(binding.mnp6.iter().map(|p| p.trunc()));
        g.2.push(host6(binding.hoa));
    }
    // Mobile routers at home: their routes have the keys of the tunnel routes, so the
    // kernel's route is replaced in place when one registers (or comes home).
    let bound: HashSet<Ipv6Addr> = bindings.iter().map(|bd| bd.hoa).collect();
    for home in at_home.iter().filter(|h| !bound.contains(&h.hoa)) {
        // The home address itself on the home link, in place of its tunnel route and
        // before the routes through it: the kernel checks an on-link next hop against its
        // route to it.
        plan.link_routes.push(RouteSpec {
            table: MAIN_TABLE,
            dst: IpNet::V6(host6(home.hoa)),
            src: None,
            metric: METRIC_V6,
            oif: links.egress,
            prefsrc: None,
            mtu: None,
            mtu_lock: false,
            action: RouteAction::Device,
        });
        let dsts = home
            .mnp4
            .iter()
            .map(|p| (IpNet::V4(p.trunc()), METRIC_V4))
            .chain(home.mnp6.iter().map(|p| (IpNet::V6(p.trunc()), METRIC_V6)));
        for (dst, metric) in dsts {
            plan.link_routes.push(RouteSpec {
                table: MAIN_TABLE,
                dst,
                src: None,
                metric,
                oif: links.egress,
                prefsrc: None,
                mtu: None,
                mtu_lock: false,
                action: RouteAction::Via { gateway: home.hoa },
            });
        }
        if let Some(table) = cfg.announce_table {
            plan.link_routes.extend(announcements(
                table,
                links.egress,
                &home.mnp4,
                &home.mnp6,
                Some(home.hoa),
            ));
        }
    }
    plan.clamp = ClampSpec::grouped(
        groups
            .iter()
            .map(|(mtu, (v4, v6, _))| (*mtu, v4.clone(), v6.clone())),
    );
    if !bindings.is_empty() {
        plan.local = Some(cfg.ha_addr);
        plan.oversize = groups
            .into_iter()
            .rev()
            .map(|(tunnel_mtu, (mut v4, mut v6, hoas))| {
                v6.extend(hoas);
                v6.sort();
                v6.dedup();
                v4.sort();
                v4.dedup();
                OversizeGroup {
                    tunnel_mtu,
                    into_tunnel: IntoTunnel::ToPrefixes { v4, v6 },
                }
            })
            .collect();
    }
    plan
}

/// The announcements (`announce-table`) of one mobile router's prefixes: routes in `table`
/// that nothing forwards with (no rule looks the table up) and that carry no
/// encapsulation, so a routing daemon learns them (BIRD: `protocol kernel { kernel table N;
/// learn; }`). A binding's prefixes are on the home link (`dev`, no gateway: a routing
/// daemon announces them with its own address as next hop); a router at home's prefixes
/// are `via` its home address (a third-party next hop on the home link) with a higher
/// metric.
fn announcements(
    table: u32,
    oif: u32,
    mnp4: &[Ipv4Net],
    mnp6: &[Ipv6Net],
    at_home: Option<Ipv6Addr>,
) -> Vec<RouteSpec> {
    let (metric, action) = match at_home {
        None => (ANNOUNCE_METRIC_BOUND, RouteAction::Device),
        Some(hoa) => (ANNOUNCE_METRIC_HOME, RouteAction::Via { gateway: hoa }),
    };
    mnp4.iter()
        .map(|p| IpNet::V4(p.trunc()))
        .chain(mnp6.iter().map(|p| IpNet::V6(p.trunc())))
        .map(|dst| RouteSpec {
            table,
            dst,
            src: None,
            metric,
            oif,
            prefsrc: None,
            mtu: None,
            mtu_lock: false,
            action,
        })
        .collect()
}

/// The tunnel MTU towards `coa`: its lowered path MTU if one was learnt (never above the
/// configured one), minus the outer header.
pub fn tunnel_mtu_towards(
    tunnel: &TunnelSettings,
    peer_path_mtu: &BTreeMap<Ipv6Addr, u32>,
    coa: Ipv6Addr,
) -> u32 {
    peer_path_mtu
        .get(&coa)
        .map_or(tunnel.path_mtu, |m| (*m).min(tunnel.path_mtu))
        .saturating_sub(TunnelSettings::ENCAP_OVERHEAD)
}

pub fn host6(addr: Ipv6Addr) -> Ipv6Net {
    Ipv6Net::new(addr, 128).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BpfRender, Ip6tnlRender, Seg6Render, TunRender};
    use crate::DECAP_IPV4_TABLE;

    fn mr_cfg() -> MrConfig {
        MrConfig {
            uplink: "up0".into(),
            inside: "in0".into(),
            inside_ipv4: "10.0.0.1".parse().unwrap(),
            tunnel: TunnelSettings::default(),
        }
    }

    fn reg(coa: &str) -> MrRegistration {
        MrRegistration {
            hoa: "2001:db8:280::beef".parse().unwrap(),
            coa: coa.parse().unwrap(),
            ha: "2001:db8:280::1".parse().unwrap(),
            mnp6: vec!["2001:db8:281::/64".parse().unwrap()],
            mnp4: vec!["10.0.0.0/24".parse().unwrap()],
        }
    }

    const LINKS: Links = Links { egress: 7 };

    fn mr_state(cfg: &MrConfig, r: &dyn Render, reg: Option<&MrRegistration>) -> DesiredState {
        render(&mr_plan(cfg, reg), r, LINKS, cfg.tunnel.tunnel_mtu())
    }

    fn mr_home_state(cfg: &MrConfig, r: &dyn Render, ha: Ipv6Addr) -> DesiredState {
        render(
            &mr_home_plan(cfg, LINKS, ha),
            r,
            LINKS,
            cfg.tunnel.tunnel_mtu(),
        )
    }

    fn ha_state(
        cfg: &HaConfig,
        r: &dyn Render,
        bindings: &[HaBinding],
        at_home: &[HomeRouter],
        lowered: &BTreeMap<Ipv6Addr, u32>,
    ) -> DesiredState {
        let plan = ha_plan(cfg, LINKS, bindings, at_home, lowered);
        render(&plan, r, LINKS, cfg.tunnel.tunnel_mtu())
    }

    #[test]
    fn mr_at_home_wants_only_the_moved_local_rule() {
        let s = mr_state(&mr_cfg(), &Seg6Render, None);
        assert!(s.routes.is_empty());
        assert_eq!(s.rules, vec![RuleSpec::moved_local()]);
        assert!(s.clamp.is_none());
    }

    #[test]
    fn mr_registered_seg6_routes() {
        let s = mr_state(&mr_cfg(), &Seg6Render, Some(&reg("2001:db8:200::5")));
        let ha: Ipv6Addr = "2001:db8:280::1".parse().unwrap();
        let v4_default = s
            .routes
            .iter()
            .find(|r| r.dst == "0.0.0.0/0".parse::<IpNet>().unwrap())
            .unwrap();
        assert_eq!(v4_default.prefsrc, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(v4_default.action, RouteAction::Seg6Encap { peer: ha });
        assert_eq!(v4_default.mtu, Some(1460));
        let from_mnp = s
            .routes
            .iter()
            .find(|r| r.src == Some("2001:db8:281::/64".parse().unwrap()))
            .unwrap();
        assert_eq!(from_mnp.dst, "::/0".parse::<IpNet>().unwrap());
        let decap: Vec<_> = s.routes.iter().filter(|r| r.table != MAIN_TABLE).collect();
        assert_eq!(decap.len(), 2);
        assert!(decap.iter().all(|r| r.src == Some(host6(ha))));
        assert_eq!(s.rules.len(), 3);
        // End.DT6 finds the home address through a local route in the main table.
        let hoa_net: IpNet = "2001:db8:280::beef/128".parse().unwrap();
        assert!(s
            .routes
            .iter()
            .any(|r| r.dst == hoa_net && r.action == RouteAction::Local && r.table == MAIN_TABLE));
        let clamp = s.clamp.unwrap();
        assert_eq!(
            clamp
                .groups
                .iter()
                .map(|g| (g.mss4, g.mss6))
                .collect::<Vec<_>>(),
            [(1420, 1400)]
        );
        assert_eq!(s.tunsrc, Some("2001:db8:200::5".parse().unwrap()));
        assert_eq!(
            s.oversize.unwrap(),
            OversizeSpec::single(1460, IntoTunnel::FromInterface("in0".into()), true)
        );
    }

    #[test]
    fn oversize_path_follows_the_path_mtu_and_steers_on_seg6_only() {
        let mut cfg = mr_cfg();
        cfg.tunnel.path_mtu = 1400;
        let r = reg("2001:db8:200::5");
        let s = mr_state(&cfg, &Seg6Render, Some(&r));
        assert_eq!(s.oversize.map(|o| o.largest_mtu()), Some(1360));
        assert!(s
            .routes
            .iter()
            .filter(|r| r.table == MAIN_TABLE && r.action != RouteAction::Local)
            .all(|r| r.mtu == Some(1360)));
        assert_eq!(s.clamp.map(|c| c.groups[0].mss4), Some(1320));
        assert!(mr_state(&cfg, &Seg6Render, None).oversize.is_none());
        let tun = mr_state(&cfg, &TunRender { device: 9 }, Some(&r))
            .oversize
            .unwrap();
        assert!(!tun.steer, "the TUN device has the tunnel MTU itself");
        assert_eq!(tun.largest_mtu(), 1360);
    }

    #[test]
    fn coa_change_keeps_tunnel_route_keys_and_moves_decap() {
        let a = mr_state(&mr_cfg(), &Seg6Render, Some(&reg("2001:db8:200::5")));
        let b = mr_state(&mr_cfg(), &Seg6Render, Some(&reg("2001:db8:300::5")));
        let keys = |s: &DesiredState, t: u32| -> Vec<RouteKey> {
            s.routes
                .iter()
                .filter(|r| r.table == t)
                .map(RouteSpec::key)
                .collect()
        };
        assert_eq!(keys(&a, MAIN_TABLE), keys(&b, MAIN_TABLE));
        assert_ne!(keys(&a, DECAP_IPV4_TABLE), keys(&b, DECAP_IPV4_TABLE));
    }

    #[test]
    fn tun_backend_routes_into_the_device_without_rules() {
        let s = mr_state(
            &mr_cfg(),
            &TunRender { device: 9 },
            Some(&reg("2001:db8:200::5")),
        );
        assert!(s.rules.is_empty());
        let (device, fallback): (Vec<&RouteSpec>, Vec<&RouteSpec>) = s
            .routes
            .iter()
            .partition(|r| r.action == RouteAction::Device);
        assert!(device.iter().all(|r| r.oif == 9));
        // Each tunnel route has a blackhole right behind it, for while the relay (and
        // with it the device and its routes) restarts: no other route takes the packets.
        assert_eq!(device.len(), fallback.len());
        for (d, f) in device.iter().zip(&fallback) {
            assert_eq!(f.action, RouteAction::Blackhole);
            assert_eq!((f.dst, f.src, f.metric), (d.dst, d.src, d.metric + 1));
        }
        assert_eq!(s.peers.local, Some("2001:db8:200::5".parse().unwrap()));
    }

    #[test]
    fn bpf_backend_routes_run_the_program_and_name_the_peers_in_the_table() {
        let prog = BpfProg { fd: 5, tag: 42 };
        let r = reg("2001:db8:200::5");
        let s = mr_state(&mr_cfg(), &BpfRender { prog }, Some(&r));
        assert!(s.rules.is_empty(), "no policy rules: {:?}", s.rules);
        assert!(s.tunsrc.is_none());
        assert!(s
            .routes
            .iter()
            .all(|r| r.oif == LINKS.egress && r.action == RouteAction::BpfEncap(prog)));
        // IPv6 forwarding honours a route MTU below the device's only when locked on
        // kernels before 6.x: nothing oversized may reach the program.
        assert!(s
            .routes
            .iter()
            .all(|r| r.mtu == Some(1460) && r.mtu_lock == r.dst.addr().is_ipv6()));
        assert_eq!(s.peers.local, Some(r.coa));
        assert_eq!(
            s.peers.routes,
            [
                ("0.0.0.0/0".parse().unwrap(), r.ha),
                ("::/0".parse().unwrap(), r.ha)
            ]
        );
        assert!(!s.oversize.unwrap().steer, "the route MTU does the work");
        let home = mr_state(&mr_cfg(), &BpfRender { prog }, None);
        assert_eq!(home, DesiredState::default());
    }

    #[test]
    fn the_plan_is_the_same_for_every_backend() {
        let r = reg("2001:db8:200::5");
        let plan = mr_plan(&mr_cfg(), Some(&r));
        let ip6tnl = Ip6tnlRender {
            devices: HashMap::from([(r.ha, 11)]),
        };
        let backends: [&dyn Render; 4] = [
            &Seg6Render,
            &ip6tnl,
            &BpfRender {
                prog: BpfProg { fd: 5, tag: 1 },
            },
            &TunRender { device: 9 },
        ];
        for backend in backends {
            let s = render(&plan, backend, LINKS, 1460);
            let main: Vec<RouteKey> = s
                .routes
                .iter()
                .filter(|r| {
                    r.table == MAIN_TABLE
                        && !matches!(r.action, RouteAction::Local | RouteAction::Blackhole)
                })
                .map(RouteSpec::key)
                .collect();
            let planned: Vec<RouteKey> = plan.tunnel_routes.iter().map(TunnelRoute::key).collect();
            assert_eq!(main, planned);
            assert_eq!(s.clamp, plan.clamp);
            assert_eq!(s.oversize.unwrap().groups, plan.oversize);
        }
    }

    #[test]
    fn ip6tnl_routes_go_into_each_peers_device() {
        let cfg = ha_cfg();
        let (near, far, lowered) = near_and_far();
        let bindings = [near.clone(), far.clone()];
        let plan = ha_plan(&cfg, LINKS, &bindings, &[], &lowered);
        assert_eq!(
            plan.tunnels,
            [
                BindingTunnel {
                    hoa: near.hoa,
                    peer: near.coa,
                    mtu: 1460
                },
                BindingTunnel {
                    hoa: far.hoa,
                    peer: far.coa,
                    mtu: 1360
                }
            ]
        );
        let r = Ip6tnlRender {
            devices: HashMap::from([(near.coa, 20), (far.coa, 21)]),
        };
        let s = render(&plan, &r, LINKS, 1460);
        assert!(s.rules.is_empty() && s.tunsrc.is_none());
        let route = |dst: &str| {
            let dst: IpNet = dst.parse().unwrap();
            let r = s.routes.iter().find(|r| r.dst == dst).unwrap();
            (r.oif, r.mtu, r.mtu_lock, r.action)
        };
        // The device has the binding's MTU: the route the same, unlocked.
        assert_eq!(
            route("10.0.0.0/24"),
            (20, Some(1460), false, RouteAction::Device)
        );
        assert_eq!(
            route("2001:db8:282::/64"),
            (21, Some(1360), false, RouteAction::Device)
        );
        assert!(!s.oversize.unwrap().steer, "the device has the tunnel MTU");
        // The MR: one tunnel, to its HA, named by its home address.
        let reg = reg("2001:db8:200::5");
        let mr = mr_plan(&mr_cfg(), Some(&reg));
        assert_eq!(
            mr.tunnels,
            [BindingTunnel {
                hoa: reg.hoa,
                peer: reg.ha,
                mtu: 1460
            }]
        );
        assert!(mr_plan(&mr_cfg(), None).tunnels.is_empty());
    }

    fn ha_cfg() -> HaConfig {
        HaConfig {
            ha_addr: "2001:db8:280::1".parse().unwrap(),
            home_if: "home0".into(),
            tunnel: TunnelSettings::default(),
            announce_table: None,
        }
    }

    /// Two mobile routers at one HA; the far one's path MTU was lowered to 1400.
    fn near_and_far() -> (HaBinding, HaBinding, BTreeMap<Ipv6Addr, u32>) {
        let near = binding("2001:db8:200::5");
        let mut far = binding("2001:db8:201::5");
        far.hoa = "2001:db8:280::cafe".parse().unwrap();
        far.mnp4 = vec!["10.0.1.0/24".parse().unwrap()];
        far.mnp6 = vec!["2001:db8:282::/64".parse().unwrap()];
        let lowered = BTreeMap::from([(far.coa, 1400)]);
        (near, far, lowered)
    }

    fn binding(coa: &str) -> HaBinding {
        let r = reg(coa);
        HaBinding {
            hoa: r.hoa,
            coa: r.coa,
            mnp6: r.mnp6,
            mnp4: r.mnp4,
        }
    }

    #[test]
    fn ha_routes_every_prefix_and_the_home_address() {
        let cfg = ha_cfg();
        let binding = binding("2001:db8:200::5");
        let none_lowered = BTreeMap::new();
        let s = ha_state(
            &cfg,
            &Seg6Render,
            &[binding.clone(), binding],
            &[],
            &none_lowered,
        );
        let dsts: Vec<String> = s
            .routes
            .iter()
            .filter(|r| r.table == MAIN_TABLE)
            .map(|r| r.dst.to_string())
            .collect();
        assert_eq!(
            dsts,
            ["10.0.0.0/24", "2001:db8:281::/64", "2001:db8:280::beef/128"]
        );
        assert_eq!(s.routes.len(), 5, "duplicates are dropped");
        assert_eq!(s.rules.len(), 3);
        assert_eq!(
            s.oversize.unwrap(),
            OversizeSpec::single(
                1460,
                IntoTunnel::ToPrefixes {
                    v4: vec!["10.0.0.0/24".parse().unwrap()],
                    v6: vec![
                        "2001:db8:280::beef/128".parse().unwrap(),
                        "2001:db8:281::/64".parse().unwrap()
                    ],
                },
                true
            )
        );
        let none = ha_state(&cfg, &Seg6Render, &[], &[], &none_lowered);
        assert!(none.routes.is_empty() && none.oversize.is_none());
    }

    #[test]
    fn a_lowered_path_mtu_narrows_only_that_mobile_router() {
        let cfg = ha_cfg();
        let (near, far, lowered) = near_and_far();
        let bindings = [near.clone(), far.clone()];
        let s = ha_state(&cfg, &Seg6Render, &bindings, &[], &lowered);
        let mtu_of = |s: &DesiredState, dst: &str| {
            let dst: IpNet = dst.parse().unwrap();
            let r = s.routes.iter().find(|r| r.dst == dst).unwrap();
            (r.mtu, r.mtu_lock)
        };
        assert_eq!(mtu_of(&s, "10.0.0.0/24"), (Some(1460), false));
        assert_eq!(mtu_of(&s, "10.0.1.0/24"), (Some(1360), false));
        assert_eq!(mtu_of(&s, "2001:db8:280::cafe/128"), (Some(1360), false));
        let clamp: Vec<_> = s
            .clamp
            .unwrap()
            .groups
            .iter()
            .map(|g| (g.mss4, g.prefixes4.clone()))
            .collect();
        assert_eq!(
            clamp,
            [
                (1420, vec!["10.0.0.0/24".parse().unwrap()]),
                (1320, vec!["10.0.1.0/24".parse().unwrap()])
            ]
        );
        let oversize = s.oversize.unwrap();
        assert_eq!(
            oversize
                .groups
                .iter()
                .map(|g| g.tunnel_mtu)
                .collect::<Vec<_>>(),
            [1460, 1360]
        );
        // The tun backend: IPv6 forwarding honours only a locked route MTU, so the narrower
        // routes into the device (whose MTU is the configured tunnel MTU) are locked.
        let t = ha_state(&cfg, &TunRender { device: 9 }, &bindings, &[], &lowered);
        assert_eq!(mtu_of(&t, "2001:db8:282::/64"), (Some(1360), true));
        assert_eq!(mtu_of(&t, "10.0.1.0/24"), (Some(1360), false));
        assert_eq!(mtu_of(&t, "2001:db8:281::/64"), (Some(1460), false));
        // A lowered MTU above the configured one changes nothing.
        let odd = BTreeMap::from([(far.coa, 9000)]);
        let u = ha_state(&cfg, &Seg6Render, &bindings, &[], &odd);
        assert_eq!(mtu_of(&u, "10.0.1.0/24"), (Some(1460), false));
    }

    #[test]
    fn a_mobile_router_at_home_is_routed_to_its_home_address() {
        let cfg = ha_cfg();
        let away = binding("2001:db8:200::5");
        let home = HomeRouter {
            hoa: "2001:db8:280::cafe".parse().unwrap(),
            mnp4: vec!["10.0.1.0/24".parse().unwrap()],
            mnp6: vec!["2001:db8:282::/64".parse().unwrap()],
        };
        let s = ha_state(
            &cfg,
            &Seg6Render,
            std::slice::from_ref(&away),
            std::slice::from_ref(&home),
            &BTreeMap::new(),
        );
        let via = |s: &DesiredState, dst: &str| {
            let dst: IpNet = dst.parse().unwrap();
            s.routes.iter().find(|r| r.dst == dst).map(|r| r.action)
        };
        let gateway = home.hoa;
        assert_eq!(via(&s, "10.0.1.0/24"), Some(RouteAction::Via { gateway }));
        assert_eq!(
            via(&s, "2001:db8:282::/64"),
            Some(RouteAction::Via { gateway })
        );
        assert!(matches!(
            via(&s, "10.0.0.0/24"),
            Some(RouteAction::Seg6Encap { .. })
        ));
        // Neither clamped nor marked: the home link has its full MTU.
        let clamp = s.clamp.clone().unwrap();
        assert!(clamp
            .groups
            .iter()
            .all(|g| !g.prefixes4.contains(&"10.0.1.0/24".parse().unwrap())));
        // It leaves home again: its binding's tunnel routes take the same keys.
        let mut back = binding("2001:db8:201::5");
        back.hoa = home.hoa;
        back.mnp4 = home.mnp4.clone();
        back.mnp6 = home.mnp6.clone();
        let t = ha_state(&cfg, &Seg6Render, &[away, back], &[home], &BTreeMap::new());
        assert!(matches!(
            via(&t, "10.0.1.0/24"),
            Some(RouteAction::Seg6Encap { .. })
        ));
        let key = |s: &DesiredState, d: &str| {
            let d: IpNet = d.parse().unwrap();
            s.routes.iter().find(|r| r.dst == d).map(RouteSpec::key)
        };
        assert_eq!(
            key(&s, "10.0.1.0/24"),
            key(&t, "10.0.1.0/24"),
            "replaced in place"
        );
    }

    #[test]
    fn served_prefixes_are_announced_in_their_own_table_without_encapsulation() {
        let mut cfg = ha_cfg();
        let away = binding("2001:db8:200::5");
        let home = HomeRouter {
            hoa: "2001:db8:280::cafe".parse().unwrap(),
            mnp4: vec!["10.0.1.0/24".parse().unwrap()],
            mnp6: vec!["2001:db8:282::/64".parse().unwrap()],
        };
        let both = |cfg: &HaConfig, r: &dyn Render| {
            ha_state(
                cfg,
                r,
                std::slice::from_ref(&away),
                std::slice::from_ref(&home),
                &BTreeMap::new(),
            )
        };
        let bpf = BpfRender {
            prog: BpfProg { fd: 5, tag: 1 },
        };
        let ip6tnl = Ip6tnlRender {
            devices: HashMap::from([(away.coa, 11)]),
        };
        // Off unless configured.
        assert!(both(&cfg, &bpf)
            .routes
            .iter()
            .all(|r| r.table == MAIN_TABLE || r.table > LOCAL_TABLE));
        cfg.announce_table = Some(168);
        for r in [
            &Seg6Render as &dyn Render,
            &bpf,
            &TunRender { device: 9 },
            &ip6tnl,
        ] {
            let s = both(&cfg, r);
            let mut announced: Vec<(String, u32, RouteAction, u32)> = s
                .routes
                .iter()
                .filter(|r| r.table == 168)
                .map(|r| (r.dst.to_string(), r.metric, r.action, r.oif))
                .collect();
            announced.sort_by(|a, b| a.0.cmp(&b.0));
            let via = RouteAction::Via { gateway: home.hoa };
            assert_eq!(
                announced,
                vec![
                    (
                        "10.0.0.0/24".into(),
                        ANNOUNCE_METRIC_BOUND,
                        RouteAction::Device,
                        7
                    ),
                    ("10.0.1.0/24".into(), ANNOUNCE_METRIC_HOME, via, 7),
                    (
                        "2001:db8:281::/64".into(),
                        ANNOUNCE_METRIC_BOUND,
                        RouteAction::Device,
                        7
                    ),
                    ("2001:db8:282::/64".into(), ANNOUNCE_METRIC_HOME, via, 7),
                ]
            );
        }
    }

    #[test]
    fn the_mr_at_home_sends_ipv4_to_its_home_agent_on_the_link() {
        let ha: Ipv6Addr = "2001:db8:280::1".parse().unwrap();
        let s = mr_home_state(&mr_cfg(), &Seg6Render, ha);
        assert_eq!(s.routes.len(), 1);
        let r = &s.routes[0];
        assert_eq!(r.action, RouteAction::Via { gateway: ha });
        assert_eq!(r.prefsrc, Some("10.0.0.1".parse().unwrap()));
        assert!(s.clamp.is_none() && s.oversize.is_none() && s.tunsrc.is_none());
        // The same key as the tunnel's IPv4 default: leaving home replaces it in place.
        let away = mr_state(&mr_cfg(), &Seg6Render, Some(&reg("2001:db8:200::5")));
        assert!(away.routes.iter().any(|a| a.key() == r.key()));
    }
}
