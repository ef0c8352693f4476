//! bpf: routes `encap bpf xmit` running our encapsulation program, decapsulation by a tc
//! ingress program; programs and maps in `crate::bpf`.

use super::{seg6::reset_leftover_tunnel_source, Backend, Render, Tunnel};
use crate::bpf::{BpfPlane, BpfProg, BpfStats};
use crate::desired::{DesiredState, RouteAction, RouteSpec, TunnelRoute};
use crate::error::Result;
use crate::model::Role;

pub(crate) struct BpfRender {
    pub prog: BpfProg,
}

impl Render for BpfRender {
    fn tunnel_route(&self, route: &TunnelRoute, egress: u32, _configured_mtu: u32) -> RouteSpec {
        // The route MTU is what keeps packets that would not fit after encapsulation out
        // (IPv4 forwarding honours it; IPv6 forwarding only when locked before Linux 6.x,
        // ip6_dst_mtu_maybe_forward): no oversize path is needed.
        let lock = route.dst.addr().is_ipv6();
        route.spec(egress, RouteAction::BpfEncap(self.prog), lock)
    }
}

pub(crate) struct BpfTunnel {
    plane: BpfPlane,
    render: BpfRender,
}

impl BpfTunnel {
    pub fn open(role: &Role, (ifindex, ifname): (u32, &str)) -> Result<Self> {
        let tunnel = role.tunnel();
        let plane = BpfPlane::open(&tunnel.bpf_root, ifindex, ifname, tunnel.hop_limit)?;
        let render = BpfRender {
            prog: plane.encap_prog(),
        };
        Ok(Self { plane, render })
    }
}

impl Tunnel for BpfTunnel {
    fn backend(&self) -> Backend {
        Backend::Bpf
    }

    fn render(&self) -> &dyn Render {
        &self.render
    }

    /// The maps before the routes: a new route finds its peer from its first packet.
    fn prepare(&mut self, state: &DesiredState) -> Result<()> {
        self.plane.sync(&state.peers)?;
        reset_leftover_tunnel_source()
    }

    fn bpf_stats(&self) -> Option<Result<BpfStats>> {
        Some(self.plane.stats())
    }

    /// After the routes (they hold the encapsulation program): the tc attachment and the
    /// pins.
    fn teardown(self: Box<Self>) -> Result<()> {
        self.plane.teardown()
    }
}
