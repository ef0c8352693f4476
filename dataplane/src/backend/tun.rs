//! tun: a TUN device and the userspace relay (`crate::tun`): routes into the device,
//! encapsulation and decapsulation on raw sockets, the peer check in the relay.

use super::{seg6::reset_leftover_tunnel_source, Backend, Render, Tunnel};
use crate::desired::{DesiredState, RouteAction, RouteSpec, TunnelRoute};
use crate::error::{Error, Result};
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
}

pub(crate) struct TunTunnel {
    relay: TunRelay,
    render: TunRender,
    /// The nftables table of [`quiet_script`].
    quiet_table: String,
}

/// A kernel with an IPv6 tunnel handler loaded (ip6_tunnel, whose tunnel6 answers what no
/// tunnel device claims) sends the peer an ICMPv6 port unreachable for every tunnel packet
/// the relay's raw sockets receive, and a peer like UMIP relays it to the inner sender.
/// The relay is the tunnel: those errors are dropped on their way out. So are the
/// Parameter Problems (unrecognized next header) a kernel without a tunnel handler sends
/// while nemonetd restarts and no raw socket takes protocols 4 and 41 (the routes and this
/// table stay). (ICMPv6 payload offset 14 is the quoted packet's next header.)
fn quiet_script(table: &str) -> String {
    let mut script = nftscript::fresh_table("inet", table);
    script.push_str(&format!(
        "table inet {table} {{\n\
         \tchain output {{\n\
         \t\ttype filter hook output priority 0; policy accept;\n\
         \t\ticmpv6 type destination-unreachable icmpv6 code port-unreachable @th,112,8 {{ 4, 41 }} counter drop\n\
         \t\ticmpv6 type parameter-problem icmpv6 code 1 @th,112,8 {{ 4, 41 }} counter drop\n\
         \t}}\n\
         }}\n"
    ));
    script
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
        let quiet_table = format!("{}_relay", tunnel.nft_table);
        nftscript::apply(&quiet_script(&quiet_table)).map_err(|e| Error::Nft(e.to_string()))?;
        Ok(Self {
            relay,
            render: TunRender { device },
            quiet_table,
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
        let t = &self.quiet_table;
        nftscript::apply(&nftscript::fresh_table("inet", t)).map_err(|e| Error::Nft(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_quiet_table_replaces_itself() {
        let s = super::quiet_script("nemonetd_relay");
        assert!(s.starts_with("table inet nemonetd_relay\ndelete table inet nemonetd_relay\n"));
        assert!(s.contains("icmpv6 code port-unreachable @th,112,8 { 4, 41 } counter drop"));
        assert!(s.contains(
            "icmpv6 type parameter-problem icmpv6 code 1 @th,112,8 { 4, 41 } counter drop"
        ));
    }
}
