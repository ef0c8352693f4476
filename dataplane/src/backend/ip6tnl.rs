//! ip6tnl: Linux's own IPv6 tunnel (`ip -6 tunnel add nemoN mode any local L remote R
//! encaplimit none hoplimit H dev EGRESS`), one device per binding as UMIP and SHISA's
//! per-binding tunnel interfaces: the MR has one, to its HA; the HA one per mobile router,
//! to its care-of address. The routes of the plan are plain routes into the device; the
//! kernel encapsulates (IPv4- and IPv6-in-IPv6, RFC 2473 with no encapsulation limit
//! option) and decapsulates, and a device accepts only what its remote sends to its local
//! address, so strangers are turned away by the kernel.
//!
//! Each device's MTU is its binding's tunnel MTU (the HA's per-peer path MTU becomes the
//! device MTU): the kernel answers what does not fit, as for the TUN device, so no
//! oversize steering. Our devices carry the alias `shisa HOA` (`ip link` shows it), which
//! is how a restarted nemonetd finds them and which binding each one carries; a new
//! care-of address changes the endpoints of the same device in place (`ip -6 tunnel
//! change`), so the routes keep their device. Devices of bindings that went are deleted
//! after the routes moved off them.
//!
//! A tunnel packet no device takes (a stranger's, or the home agent's first ones to a new
//! care-of address before the mobile router's device has it) makes the kernel answer with
//! an ICMPv6 port unreachable, which a peer relays to the inner sender: the shared
//! `crate::tunnel_errors` table drops those.

use super::{seg6::reset_leftover_tunnel_source, Backend, Render, Tunnel};
use crate::desired::{DesiredState, Plan, RouteAction, RouteSpec, TunnelRoute};
use crate::error::Result;
use crate::model::Role;
use crate::netlink::{errno, nl_err, Netlink};
use futures::future::BoxFuture;
use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, Ip6TunnelFlags, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::IpProtocol;
use rtnetlink::{LinkIp6Tnl, LinkMessageBuilder};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};

/// The alias of our devices: `shisa <home address>`.
pub(crate) const ALIAS_MARKER: &str = "shisa ";
/// Devices are named `nemoN`, N the lowest free number.
pub(crate) const NAME_PREFIX: &str = "nemo";
/// The probe's scratch device.
const PROBE_NAME: &str = "nemo-probe";

/// What we set on a device; compared with what the kernel reports to decide whether a
/// device needs changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    local: Ipv6Addr,
    remote: Ipv6Addr,
    /// The underlying interface (the MR's uplink, the HA's home interface).
    link: u32,
    hop_limit: u8,
    mtu: u32,
}

#[derive(Debug, Clone)]
struct Device {
    index: u32,
    name: String,
    /// `None`: not one of the shapes we make (changed in full at the next plan).
    params: Option<Params>,
    up: bool,
}

pub(crate) struct Ip6tnlRender {
    /// Device per tunnel peer.
    pub devices: HashMap<Ipv6Addr, u32>,
}

impl Render for Ip6tnlRender {
    fn tunnel_route(&self, route: &TunnelRoute, _egress: u32, _configured_mtu: u32) -> RouteSpec {
        // The device has the binding's tunnel MTU, the route the same: nothing to lock.
        let oif = self.devices.get(&route.peer).copied().unwrap_or_else(|| {
            tracing::warn!(peer = %route.peer, "no ip6tnl device for this peer");
            0
        });
        route.spec(oif, RouteAction::Device, false)
    }
}

pub(crate) struct Ip6tnlTunnel {
    egress: u32,
    hop_limit: u8,
    mr: bool,
    /// Our devices by the home address of their binding.
    devices: BTreeMap<Ipv6Addr, Device>,
    /// The home addresses of the last plan: the others' devices go after the routes.
    wanted: BTreeSet<Ipv6Addr>,
    render: Ip6tnlRender,
}

/// Our device as the kernel reports it: (home address from the alias, device); `None` for
/// a link that is not an ip6tnl device with our alias. A device with our alias that is
/// not ip6tnl, or whose alias names no address, comes back with `hoa` `None`.
struct Found {
    hoa: Option<Ipv6Addr>,
    device: Device,
}

fn parse_link(msg: &LinkMessage) -> Option<Found> {
    let mut alias = None;
    let mut name = None;
    let mut mtu = 0;
    let mut kind_ip6tnl = false;
    let mut info = Vec::new();
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfAlias(a) => alias = Some(a.clone()),
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(InfoKind::Ip6Tnl) => kind_ip6tnl = true,
                        LinkInfo::Data(InfoData::IpTunnel(v)) => info = v.clone(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let rest = alias?.strip_prefix(ALIAS_MARKER)?.to_string();
    let hoa = rest.trim().parse::<Ipv6Addr>().ok().filter(|_| kind_ip6tnl);
    let (mut local, mut remote, mut link, mut ttl) = (None, None, 0, 0);
    let (mut flags, mut proto, mut other) = (Ip6TunnelFlags::empty(), 0u8, false);
    for i in &info {
        match i {
            InfoIpTunnel::Local(IpAddr::V6(a)) => local = Some(*a),
            InfoIpTunnel::Remote(IpAddr::V6(a)) => remote = Some(*a),
            InfoIpTunnel::Link(l) => link = *l,
            InfoIpTunnel::Ttl(t) => ttl = *t,
            InfoIpTunnel::Ipv6Flags(f) => flags = *f,
            InfoIpTunnel::Protocol(p) => proto = u8::from(*p),
            InfoIpTunnel::CollectMetadata => other = true,
            InfoIpTunnel::FwMark(m) if *m != 0 => other = true,
            _ => {}
        }
    }
    let shape = [
        Ip6TunnelFlags::IgnEncapLimit,
        Ip6TunnelFlags::UseOrigTclass,
        Ip6TunnelFlags::UseOrigFlowlabel,
        Ip6TunnelFlags::UseOrigFwMark,
        Ip6TunnelFlags::RcvDscpCopy,
        Ip6TunnelFlags::AllowLocalRemote,
        Ip6TunnelFlags::Mip6Dev,
    ]
    .into_iter()
    .fold(Ip6TunnelFlags::empty(), |a, f| a | f);
    let ours = (flags & shape) == Ip6TunnelFlags::IgnEncapLimit && proto == 0 && !other;
    let params = match (local, remote) {
        (Some(local), Some(remote)) if ours => Some(Params {
            local,
            remote,
            link,
            hop_limit: ttl,
            mtu,
        }),
        _ => None,
    };
    Some(Found {
        hoa,
        device: Device {
            index: msg.header.index,
            name: name.unwrap_or_default(),
            params,
            up: msg.header.flags.contains(LinkFlags::Up),
        },
    })
}

/// Every link with our alias.
async fn our_links(nl: &Netlink) -> Result<Vec<Found>> {
    let mut dump = nl.handle().link().get().execute();
    let mut out = Vec::new();
    while let Some(msg) = dump.try_next().await.map_err(nl_err("link dump"))? {
        if let Some(found) = parse_link(&msg) {
            out.push(found);
        }
    }
    Ok(out)
}

async fn delete_link(nl: &Netlink, index: u32, name: &str) -> Result<()> {
    match nl.handle().link().del(index).execute().await {
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        r => r.map_err(nl_err(format!("delete ip6tnl device {name}"))),
    }
}

/// The message that makes (or changes, with the device's index) a device with `p`. A
/// change names no device (the kernel refuses a name on a device that is up, even its own,
/// before Linux 6.4); the alias is set by [`finish_device`] (the kernel ignores one given
/// at creation).
fn device_message(name: &str, index: Option<u32>, p: &Params) -> LinkMessage {
    let mut b = LinkMessageBuilder::<LinkIp6Tnl>::new(name)
        .local(p.local)
        .remote(p.remote)
        .ttl(p.hop_limit)
        .mode(IpProtocol::from(0u8))
        .ipv6_flags(Ip6TunnelFlags::IgnEncapLimit)
        .mtu(p.mtu);
    if p.link != 0 {
        b = b.dev(p.link);
    }
    if let Some(i) = index {
        b = b.index(i);
    }
    let mut msg = b.build();
    if index.is_some() {
        msg.attributes
            .retain(|a| !matches!(a, LinkAttribute::IfName(_)));
    }
    msg
}

/// Our alias (`shisa HOA`), the MTU (the kernel recomputes it from the underlying route on
/// a change) and up, on the device `index`.
async fn finish_device(nl: &Netlink, index: u32, hoa: Ipv6Addr, mtu: u32) -> Result<()> {
    let msg = rtnetlink::LinkUnspec::new_with_index(index)
        .alias(format!("{ALIAS_MARKER}{hoa}"))
        .mtu(mtu)
        .up()
        .build();
    nl.handle()
        .link()
        .set(msg)
        .execute()
        .await
        .map_err(nl_err(format!("set link {index} alias, mtu {mtu}, up")))
}

/// The lowest `nemoN` no interface has.
fn free_name() -> String {
    (0..)
        .map(|n| format!("{NAME_PREFIX}{n}"))
        .find(|name| Netlink::ifindex(name).is_err())
        .unwrap_or_else(|| NAME_PREFIX.to_string())
}

impl Ip6tnlTunnel {
    /// Adopts the devices an earlier run left (alias `shisa HOA`), deleting ours that it
    /// cannot use (not ip6tnl, no home address, a second one for the same home address).
    pub async fn open(role: &Role, nl: &Netlink, egress: u32) -> Result<Self> {
        let mut devices = BTreeMap::new();
        for found in our_links(nl).await? {
            match found.hoa {
                Some(hoa) if !devices.contains_key(&hoa) => {
                    tracing::info!(device = %found.device.name, %hoa, "adopting ip6tnl device");
                    devices.insert(hoa, found.device);
                }
                _ => {
                    tracing::info!(device = %found.device.name, "deleting a device of ours we cannot use");
                    delete_link(nl, found.device.index, &found.device.name).await?;
                }
            }
        }
        let wanted = devices.keys().copied().collect();
        let render = Ip6tnlRender {
            devices: devices
                .values()
                .filter_map(|d: &Device| d.params.map(|p| (p.remote, d.index)))
                .collect(),
        };
        Ok(Self {
            egress,
            hop_limit: role.tunnel().hop_limit,
            mr: matches!(role, Role::Mr(_)),
            devices,
            wanted,
            render,
        })
    }

    async fn provision_plan(&mut self, nl: &Netlink, plan: &Plan) -> Result<()> {
        let mut wanted = BTreeSet::new();
        let mut by_peer = HashMap::new();
        if let Some(local) = plan.local {
            for t in &plan.tunnels {
                let p = Params {
                    local,
                    remote: t.peer,
                    link: self.egress,
                    hop_limit: self.hop_limit,
                    mtu: t.mtu,
                };
                let index = self.ensure(nl, t.hoa, p).await?;
                wanted.insert(t.hoa);
                by_peer.insert(t.peer, index);
            }
        }
        self.wanted = wanted;
        self.render.devices = by_peer;
        Ok(())
    }

    /// The device of `hoa` with `p`: kept, changed in place, or made.
    async fn ensure(&mut self, nl: &Netlink, hoa: Ipv6Addr, p: Params) -> Result<u32> {
        if let Some(d) = self.devices.get(&hoa) {
            if d.params == Some(p) && d.up && Netlink::ifindex(&d.name).ok() == Some(d.index) {
                return Ok(d.index);
            }
        }
        // Another of our devices with the same endpoints (a care-of address that moved
        // from one binding to another): the kernel allows one, so that one goes first.
        let clash: Vec<Ipv6Addr> = self
            .devices
            .iter()
            .filter(|(h, d)| {
                **h != hoa
                    && d.params
                        .is_some_and(|q| q.local == p.local && q.remote == p.remote)
            })
            .map(|(h, _)| *h)
            .collect();
        for h in clash {
            if let Some(d) = self.devices.remove(&h) {
                delete_link(nl, d.index, &d.name).await?;
            }
        }
        match self.devices.get(&hoa).cloned() {
            Some(d) if Netlink::ifindex(&d.name).ok() == Some(d.index) => {
                // `ip -6 tunnel change`: the same device, so its routes stay.
                let msg = device_message(&d.name, Some(d.index), &p);
                nl.handle()
                    .link()
                    .change(msg)
                    .execute()
                    .await
                    .map_err(nl_err(format!("change ip6tnl device {}", d.name)))?;
                finish_device(nl, d.index, hoa, p.mtu).await?;
                tracing::info!(device = %d.name, %hoa, local = %p.local, remote = %p.remote, mtu = p.mtu, "ip6tnl device changed");
                self.devices.insert(
                    hoa,
                    Device {
                        params: Some(p),
                        up: true,
                        ..d
                    },
                );
                Ok(d.index)
            }
            _ => {
                let name = free_name();
                let msg = device_message(&name, None, &p);
                nl.handle()
                    .link()
                    .add(msg)
                    .execute()
                    .await
                    .map_err(nl_err(format!("add ip6tnl device {name}")))?;
                let index = Netlink::ifindex(&name)?;
                // No link-local address (MLD, router solicitations into the tunnel), and
                // forwarding from it where the kernel forwards per interface (MR).
                crate::sysctl::tunnel_device(&name, self.mr)?;
                finish_device(nl, index, hoa, p.mtu).await?;
                tracing::info!(device = %name, %hoa, local = %p.local, remote = %p.remote, mtu = p.mtu, "ip6tnl device added");
                self.devices.insert(
                    hoa,
                    Device {
                        index,
                        name,
                        params: Some(p),
                        up: true,
                    },
                );
                Ok(index)
            }
        }
    }

    async fn delete_unwanted(&mut self, nl: &Netlink) -> Result<()> {
        let stale: Vec<Ipv6Addr> = self
            .devices
            .keys()
            .filter(|h| !self.wanted.contains(h))
            .copied()
            .collect();
        for hoa in stale {
            if let Some(d) = self.devices.remove(&hoa) {
                delete_link(nl, d.index, &d.name).await?;
                tracing::info!(device = %d.name, %hoa, "ip6tnl device deleted");
            }
        }
        Ok(())
    }
}

impl Tunnel for Ip6tnlTunnel {
    fn backend(&self) -> Backend {
        Backend::Ip6tnl
    }

    fn render(&self) -> &dyn Render {
        &self.render
    }

    fn provision<'a>(&'a mut self, nl: &'a Netlink, plan: &'a Plan) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.provision_plan(nl, plan))
    }

    fn prepare(&mut self, _state: &DesiredState) -> Result<()> {
        reset_leftover_tunnel_source()
    }

    fn after_routes<'a>(&'a mut self, nl: &'a Netlink) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.delete_unwanted(nl))
    }

    /// The devices went after the last (empty) apply.
    fn teardown(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Deletes the devices an earlier run on ip6tnl left (another backend now owns the
/// namespace); the kernel's routes through them go with them.
pub(crate) async fn sweep(nl: &Netlink) -> Result<()> {
    for found in our_links(nl).await? {
        tracing::info!(device = %found.device.name, "deleting a leftover ip6tnl device");
        delete_link(nl, found.device.index, &found.device.name).await?;
    }
    Ok(())
}

/// Whether ip6tnl works here: a scratch device is made and deleted (the kernel loads
/// ip6_tunnel for it if it can; `modprobe` is tried once more if not).
pub(crate) async fn works() -> std::result::Result<(), String> {
    let nl = Netlink::connect().map_err(|e| e.to_string())?;
    if let Ok(index) = Netlink::ifindex(PROBE_NAME) {
        let _ = delete_link(&nl, index, PROBE_NAME).await;
    }
    // 100::/64 is the discard-only prefix (RFC 6666).
    let p = Params {
        local: Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0xa8, 1),
        remote: Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0xa8, 2),
        link: 0,
        hop_limit: 64,
        mtu: 1280,
    };
    let add = || async {
        nl.handle()
            .link()
            .add(device_message(PROBE_NAME, None, &p))
            .execute()
            .await
    };
    let mut result = add().await;
    if result.is_err() {
        let _ = std::process::Command::new("modprobe")
            .args(["-q", "ip6_tunnel"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        result = add().await;
    }
    match result {
        Ok(()) => {
            if let Ok(index) = Netlink::ifindex(PROBE_NAME) {
                delete_link(&nl, index, PROBE_NAME)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Err(e) => {
            tracing::debug!(error = %e, "ip6tnl probe device refused");
            Err(format!("the kernel refused an ip6tnl device: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_device_reads_back_as_made() {
        let hoa: Ipv6Addr = "2001:db8:280::beef".parse().unwrap();
        let p = Params {
            local: "2001:db8:200::5".parse().unwrap(),
            remote: "2001:db8:280::1".parse().unwrap(),
            link: 3,
            hop_limit: 42,
            mtu: 1460,
        };
        let mut msg = device_message("nemo0", Some(7), &p);
        assert!(
            !msg.attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::IfName(_))),
            "a change names no device"
        );
        // As the kernel reports it.
        msg.header.flags |= LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName("nemo0".into()));
        msg.attributes
            .push(LinkAttribute::IfAlias(format!("{ALIAS_MARKER}{hoa}")));
        let found = parse_link(&msg).unwrap();
        assert_eq!(found.hoa, Some(hoa));
        assert_eq!(found.device.index, 7);
        assert_eq!(found.device.name, "nemo0");
        assert_eq!(found.device.params, Some(p));
        assert!(found.device.up);
    }

    #[test]
    fn other_links_are_not_ours() {
        let msg = LinkMessageBuilder::<LinkIp6Tnl>::new("ip6tnl1")
            .local("2001:db8::1".parse().unwrap())
            .remote("2001:db8::2".parse().unwrap())
            .build();
        assert!(parse_link(&msg).is_none(), "no alias");
        let msg = LinkMessageBuilder::<LinkIp6Tnl>::new("x")
            .alias("someone else's")
            .build();
        assert!(parse_link(&msg).is_none());
    }
}
