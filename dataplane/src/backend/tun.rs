//! tun: a TUN device and the userspace relay (`crate::tun`): routes into the device,
//! encapsulation and decapsulation on raw sockets, the peer check in the relay.

use super::{seg6::reset_leftover_tunnel_source, Backend, Render, Tunnel};
use crate::desired::{DesiredState, RouteAction, RouteSpec, TunnelRoute};
use crate::error::Result;
use crate::model::Role;
use crate::netlink::Netlink;
use crate::tun::{RelayStats, TunRelay};

pub(crate) struct TunRender {
    pub device: u32,
}

impl Render for TunRender {
    fn tunnel_route(&self, route: &TunnelRoute, _egress: u32, configured_mtu: u32) -> RouteSpec {
        // IPv6 forwarding honours a route MTU below the device's only when it is locked
        // (ip6_dst_mtu_maybe_forward), and the device has the configured tunnel MTU.
        let lock = route.dst.addr().is_ipv6() && route.mtu < configured_mtu;
        route.spec(self.device, RouteAction::Device, lock)
    }

    /// The TUN device goes with the relay, and its routes with it.
    fn routes_go_with_the_process(&self) -> bool {
        true
    }
}

pub(crate) struct TunTunnel {
    relay: TunRelay,
    render: TunRender,
}

impl TunTunnel {
    pub async fn open(role: &Role, nl: &Netlink) -> Result<Self> {
        let tunnel = role.tunnel();
        let relay = TunRelay::start(&tunnel.tun_name, tunnel.hop_limit)?;
        let device = Netlink::ifindex(relay.device_name())?;
        // No link-local address: nothing of the device's own (MLD, DAD, solicitations)
        // to send into the tunnel.
        crate::sysctl::no_ipv6_link_local(relay.device_name())?;
        nl.set_up_with_mtu(device, tunnel.tunnel_mtu()).await?;
        Ok(Self {
            relay,
            render: TunRender { device },
        })
    }
}

impl Tunnel for TunTunnel {
    fn backend(&self) -> Backend {
        Backend::Tun
    }

    fn render(&self) -> &dyn Render {
        &self.render
    }

    /// Peers first: a route into the device is only useful once the relay knows where to
    /// send what it carries.
    fn prepare(&mut self, state: &DesiredState) -> Result<()> {
        self.relay.set_peers(state.peers.clone());
        reset_leftover_tunnel_source()
    }

    fn device(&self) -> Option<(u32, &str)> {
        Some((self.render.device, self.relay.device_name()))
    }

    fn relay_stats(&self) -> Option<RelayStats> {
        Some(self.relay.stats())
    }

    /// The device (and the kernel's routes through it) goes with the relay.
    fn teardown(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
