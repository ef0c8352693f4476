//! The seg6 backend's path for packets longer than the tunnel MTU.
//!
//! The kernel's seg6 encapsulation drops a forwarded packet that no longer fits and tells
//! nobody (DESIGN.md section 2). So an nftables rule in the prerouting hook marks the
//! packets that will enter the tunnel and are longer than the tunnel MTU, and a policy rule
//! sends marked packets into a veth pair whose MTU is the tunnel MTU. The kernel's own
//! forwarding into that link then does what RFC 2473 section 7 asks of a tunnel entry
//! point: ICMPv4 Fragmentation Needed for IPv4 with DF, ICMPv6 Packet Too Big for IPv6
//! (both with the tunnel MTU, IPv4 rate-limited by `icmp_ratelimit`, IPv6 by a limit on
//! the mark rule), and fragments IPv4 without DF. What fits comes back on the peer end,
//! is not marked again (it fits now) and takes the seg6 route. Normal-size packets never
//! match: the fast path is one length comparison longer.
//!
//! Stateless on purpose: no conntrack, so no defragmentation undoes the fragments.
//! The tun backend gets the same table without the marks: its device has the tunnel MTU,
//! and only the rate of Packet Too Big needs a bound.
//!
//! ```text
//! nft: table inet <nft_table>_pmtu, prerouting: meta length > SMALLEST_MTU
//!      meta length <= LARGEST_IF_MTU jump oversized; oversized: per tunnel MTU,
//!      <into those tunnels> meta length > MTU meta mark set 0xa8
//! ip rule / ip -6 rule: pref 150 fwmark 0xa8 lookup 16880   (after `lookup local`)
//! table 16880: default via 169.254.168.2 dev nemo-pmtu; default via fe80::a8:2 dev nemo-pmtu;
//!      HA: <prefixes of a narrower tunnel> via ... mtu lock <its MTU>
//! nemo-pmtu <-> nemo-pmtu-rx (veth, MTU = largest tunnel MTU, forwarding on the rx end)
//! ```
//! An HA keeps one tunnel MTU per mobile router: a Packet Too Big from one access network
//! narrows the tunnel to that mobile router only.
//! The upper length bound keeps TCP super-packets (GSO, which the kernel segments to a
//! size that fits on its own) out of this path; one that still matches is handled
//! correctly, just more slowly.

use crate::error::{Error, Result};
use crate::netlink::{Netlink, LOCK_MTU};
use crate::sysctl;
use futures::TryStreamExt;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteProtocol,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::{IpVersion, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where oversized packets are sent: the kernel answers or fragments them here.
pub const LINK: &str = "nemo-pmtu";
/// The other end: what fits comes back in here and is routed again.
pub const RETURN_LINK: &str = "nemo-pmtu-rx";
/// Firewall mark of oversized packets (the route protocol number, 168).
pub const MARK: u32 = 0xa8;
/// Routing table of the marked packets.
pub const TABLE: u32 = 16880;
/// Preference of the fwmark rules: after `lookup local` (pref 0 for IPv4, 100 on the seg6
/// backend for IPv6) so that oversized packets to the router itself are still delivered.
pub const RULE_PREF: u32 = 150;
/// IPv6 Packet Too Big messages per second (the kernel does not rate-limit type 2).
const PTB_PER_SECOND: u32 = 100;

const LINK4: Ipv4Addr = Ipv4Addr::new(169, 254, 168, 1);
const RETURN4: Ipv4Addr = Ipv4Addr::new(169, 254, 168, 2);
const LINK6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa8, 1);
const RETURN6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa8, 2);

/// Which packets enter the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntoTunnel {
    /// MR: whatever the mobile network interface receives (the tunnel routes are defaults).
    FromInterface(String),
    /// HA: packets to the registered prefixes and home addresses.
    ToPrefixes { v4: Vec<Ipv4Net>, v6: Vec<Ipv6Net> },
}

/// Packets into tunnels of one MTU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizeGroup {
    pub tunnel_mtu: u32,
    pub into_tunnel: IntoTunnel,
}

/// The oversize path wanted for the current state: one group per tunnel MTU (an HA may
/// have lowered the MTU towards some mobile routers only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizeSpec {
    pub groups: Vec<OversizeGroup>,
    /// seg6: steer oversized packets through the veth pair. The tun backend's device and
    /// routes have the tunnel MTU, so there only the rate of Packet Too Big needs bounding.
    pub steer: bool,
}

impl OversizeSpec {
    /// One tunnel MTU for everything that enters the tunnel.
    #[cfg(test)]
    pub fn single(tunnel_mtu: u32, into_tunnel: IntoTunnel, steer: bool) -> Self {
        Self {
            groups: vec![OversizeGroup {
                tunnel_mtu,
                into_tunnel,
            }],
            steer,
        }
    }

    /// The largest tunnel MTU: the MTU of the oversize link.
    pub fn largest_mtu(&self) -> u32 {
        self.groups.iter().map(|g| g.tunnel_mtu).max().unwrap_or(0)
    }

    fn smallest_mtu(&self) -> u32 {
        self.groups.iter().map(|g| g.tunnel_mtu).min().unwrap_or(0)
    }

    /// The nftables table marking oversized packets; `largest` is the largest MTU of the
    /// node's interfaces (no single packet arrives longer than that).
    pub fn ruleset(&self, table: &str, largest: u32) -> String {
        // Every packet the node forwards passes the base chain, so it decides with one rule
        // on the length alone (two integer compares; GSO super-packets are longer than any
        // interface MTU and fall through); the rest runs only for oversized packets.
        let mut s = format!(
            "table inet {table} {{\n  chain prerouting {{\n    type filter hook prerouting priority mangle; policy accept;\n    meta length > {} meta length <= {} jump oversized\n  }}\n  chain oversized {{\n",
            self.smallest_mtu(),
            largest.max(self.largest_mtu())
        );
        let join = |items: Vec<String>| items.join(", ");
        for g in &self.groups {
            let mtu = g.tunnel_mtu;
            let (m4, m6) = match &g.into_tunnel {
                IntoTunnel::FromInterface(ifname) => (
                    Some(format!("iifname \"{ifname}\" meta nfproto ipv4")),
                    Some(format!("iifname \"{ifname}\" meta nfproto ipv6")),
                ),
                IntoTunnel::ToPrefixes { v4, v6 } => (
                    (!v4.is_empty()).then(|| {
                        format!(
                            "iifname != \"{RETURN_LINK}\" ip daddr {{ {} }}",
                            join(v4.iter().map(ToString::to_string).collect())
                        )
                    }),
                    (!v6.is_empty()).then(|| {
                        format!(
                            "iifname != \"{RETURN_LINK}\" ip6 daddr {{ {} }}",
                            join(v6.iter().map(ToString::to_string).collect())
                        )
                    }),
                ),
            };
            // The kernel rate-limits Fragmentation Needed but not Packet Too Big: oversized
            // IPv6 beyond the rate is dropped here, before it can cause one.
            if let Some(m6) = &m6 {
                let _ = writeln!(
                    s,
                    "    {m6} meta length > {mtu} limit rate over {PTB_PER_SECOND}/second burst {PTB_PER_SECOND} packets counter drop"
                );
            }
            if self.steer {
                for m in [m4, m6].into_iter().flatten() {
                    let _ = writeln!(
                        s,
                        "    {m} meta length > {mtu} counter meta mark set {MARK:#x}"
                    );
                }
            }
        }
        s.push_str("  }\n}\n");
        s
    }

    /// Routes of table [`TABLE`] besides the defaults: the prefixes of groups narrower than
    /// the oversize link, each with its group's MTU.
    fn narrower_routes(&self) -> Vec<(IpNet, u32)> {
        let largest = self.largest_mtu();
        let mut out = Vec::new();
        for g in self.groups.iter().filter(|g| g.tunnel_mtu < largest) {
            if let IntoTunnel::ToPrefixes { v4, v6 } = &g.into_tunnel {
                out.extend(v4.iter().map(|p| (IpNet::V4(*p), g.tunnel_mtu)));
                out.extend(v6.iter().map(|p| (IpNet::V6(*p), g.tunnel_mtu)));
            }
        }
        out
    }
}

/// The name of the marking table beside the MSS clamping table.
pub fn nft_table(clamp_table: &str) -> String {
    format!("{clamp_table}_pmtu")
}

/// The largest MTU of the node's interfaces other than loopback and our veth pair. Asked
/// of netlink, not sysfs: /sys/class/net shows the namespace that mounted it, which is not
/// this thread's after a setns(2) without a remount (in one such case an ip6_tunnel module's
/// `ip6tnl0`, MTU 1452, made the marking rule's upper bound smaller than its lower one).
pub async fn largest_interface_mtu(nl: &Netlink) -> Result<u32> {
    let mut dump = nl.handle().link().get().execute();
    let mut largest = 0;
    while let Some(msg) = dump
        .try_next()
        .await
        .map_err(crate::netlink::nl_err("link dump"))?
    {
        let mut name = None;
        let mut mtu = None;
        for a in &msg.attributes {
            match a {
                LinkAttribute::IfName(n) => name = Some(n.as_str()),
                LinkAttribute::Mtu(m) => mtu = Some(*m),
                _ => {}
            }
        }
        if let (Some(name), Some(mtu)) = (name, mtu) {
            if name != "lo" && name != LINK && name != RETURN_LINK {
                largest = largest.max(mtu);
            }
        }
    }
    Ok(if largest == 0 { 1500 } else { largest })
}

/// Installs (or updates the MTU of) the oversize path, then the marking rules.
pub async fn install(nl: &Netlink, spec: &OversizeSpec, nft_table: &str) -> Result<()> {
    if spec.steer {
        install_path(nl, spec.largest_mtu()).await?;
        install_narrower_routes(nl, &spec.narrower_routes()).await?;
    } else {
        remove_path(nl).await?;
    }
    crate::mss_clamp::run_nft(&format!(
        "table inet {nft_table}\ndelete table inet {nft_table}\n{}",
        spec.ruleset(nft_table, largest_interface_mtu(nl).await?)
    ))
}

async fn install_path(nl: &Netlink, mtu: u32) -> Result<()> {
    let (link, ret) = match (Netlink::ifindex(LINK), Netlink::ifindex(RETURN_LINK)) {
        (Ok(l), Ok(r)) => (l, r),
        _ => create_pair(nl).await?,
    };
    nl.set_up_with_mtu(ret, mtu).await?;
    nl.set_up_with_mtu(link, mtu).await?;
    let h = nl.handle();
    for (index, a4, a6) in [(link, LINK4, LINK6), (ret, RETURN4, RETURN6)] {
        for (addr, len) in [(IpAddr::V4(a4), 30), (IpAddr::V6(a6), 64)] {
            match h.address().add(index, addr, len).execute().await {
                Err(e) if is_exists(&e) => {}
                r => r.map_err(nl_err(format!("address {addr} on {index}")))?,
            }
        }
    }
    let routes: [RouteMessage; 2] = [
        RouteMessageBuilder::<Ipv4Addr>::new()
            .table_id(TABLE)
            .gateway(RETURN4)
            .output_interface(link)
            .protocol(RouteProtocol::Static)
            .build(),
        RouteMessageBuilder::<Ipv6Addr>::new()
            .table_id(TABLE)
            .gateway(RETURN6)
            .output_interface(link)
            .protocol(RouteProtocol::Static)
            .build(),
    ];
    for route in routes {
        h.route()
            .add(route)
            .replace()
            .execute()
            .await
            .map_err(nl_err("oversize route"))?;
    }
    for v6 in [false, true] {
        let req = h
            .rule()
            .add()
            .table_id(TABLE)
            .action(RuleAction::ToTable)
            .priority(RULE_PREF)
            .fw_mark(MARK);
        let r = if v6 {
            req.v6().execute().await
        } else {
            req.v4().execute().await
        };
        match r {
            Err(e) if is_exists(&e) => {}
            r => r.map_err(nl_err("oversize rule"))?,
        }
    }
    tracing::info!(tunnel_mtu = mtu, "oversized packets go through {LINK}");
    Ok(())
}

/// Makes the per-prefix routes of table [`TABLE`] exactly `wanted` (prefix, MTU): the
/// kernel's forwarding into the oversize link then answers with that MTU.
async fn install_narrower_routes(nl: &Netlink, wanted: &[(IpNet, u32)]) -> Result<()> {
    let h = nl.handle();
    let mut present: Vec<(IpNet, Option<u32>, RouteMessage)> = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut query = RouteMessage::default();
        query.header.address_family = family;
        let mut dump = h.route().get(query).execute();
        while let Some(msg) = dump.try_next().await.map_err(nl_err("route dump"))? {
            let table = msg
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(msg.header.table));
            if table != TABLE || msg.header.destination_prefix_length == 0 {
                continue;
            }
            let len = msg.header.destination_prefix_length;
            let (mut dst, mut mtu) = (None, None);
            for a in &msg.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => {
                        dst = Ipv4Net::new(*a, len).ok().map(IpNet::V4)
                    }
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => {
                        dst = Ipv6Net::new(*a, len).ok().map(IpNet::V6)
                    }
                    RouteAttribute::Metrics(ms) => {
                        mtu = ms.iter().find_map(|m| match m {
                            RouteMetric::Mtu(v) => Some(*v),
                            _ => None,
                        })
                    }
                    _ => {}
                }
            }
            if let Some(dst) = dst {
                present.push((dst, mtu, msg));
            }
        }
    }
    let link = Netlink::ifindex(LINK)?;
    for (dst, mtu) in wanted {
        if present.iter().any(|(d, m, _)| d == dst && *m == Some(*mtu)) {
            continue;
        }
        let mut msg = match dst {
            IpNet::V4(p) => RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(p.addr(), p.prefix_len())
                .gateway(RETURN4)
                .table_id(TABLE)
                .output_interface(link)
                .protocol(RouteProtocol::Static)
                .build(),
            IpNet::V6(p) => RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(p.addr(), p.prefix_len())
                .gateway(RETURN6)
                .table_id(TABLE)
                .output_interface(link)
                .protocol(RouteProtocol::Static)
                .build(),
        };
        msg.attributes.push(RouteAttribute::Metrics(vec![
            RouteMetric::Mtu(*mtu),
            RouteMetric::Lock(LOCK_MTU),
        ]));
        h.route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(nl_err(format!("oversize route {dst} mtu {mtu}")))?;
    }
    for (dst, mtu, msg) in present {
        if !wanted.iter().any(|(d, m)| *d == dst && Some(*m) == mtu) {
            // Not fatal (the replaced entries are in place), but a stale narrower route
            // would keep answering with its old MTU: say so.
            if let Err(e) = h.route().del(msg).execute().await {
                tracing::warn!("removing the stale oversize route {dst}: {e}");
            }
        }
    }
    Ok(())
}

/// Removes the nftables table, the rules and the veth pair (its routes go with it). Whatever is
/// already gone is fine.
pub async fn remove(nl: &Netlink, nft_table: &str) -> Result<()> {
    crate::mss_clamp::run_nft(&format!(
        "table inet {nft_table}\ndelete table inet {nft_table}\n"
    ))?;
    remove_path(nl).await
}

async fn remove_path(nl: &Netlink) -> Result<()> {
    let h = nl.handle();
    for version in [IpVersion::V4, IpVersion::V6] {
        let rules: Vec<RuleMessage> = h
            .rule()
            .get(version)
            .execute()
            .try_collect()
            .await
            .map_err(nl_err("rule dump"))?;
        for rule in rules.into_iter().filter(is_our_rule) {
            let _ = h.rule().del(rule).execute().await;
        }
    }
    if let Ok(index) = Netlink::ifindex(LINK) {
        let _ = h.link().del(index).execute().await;
        tracing::info!("oversize path removed");
    }
    Ok(())
}

fn is_our_rule(rule: &RuleMessage) -> bool {
    let has = |want: &RuleAttribute| rule.attributes.iter().any(|a| a == want);
    has(&RuleAttribute::FwMark(MARK)) && has(&RuleAttribute::Table(TABLE))
}

async fn create_pair(nl: &Netlink) -> Result<(u32, u32)> {
    let h = nl.handle();
    // Left over half of a pair? Start again.
    if let Ok(index) = Netlink::ifindex(RETURN_LINK) {
        let _ = h.link().del(index).execute().await;
    }
    h.link()
        .add(LinkVeth::new(LINK, RETURN_LINK).build())
        .execute()
        .await
        .map_err(nl_err(format!("create veth {LINK}")))?;
    // Before the links come up: no DAD (the fixed link-local addresses are usable at
    // once), no Router Advertisements, and the return end forwards.
    sysctl::oversize_link(LINK, RETURN_LINK)?;
    let link = Netlink::ifindex(LINK)?;
    let ret = Netlink::ifindex(RETURN_LINK)?;
    let _ = h
        .link()
        .set(LinkUnspec::new_with_index(ret).up().build())
        .execute()
        .await;
    Ok((link, ret))
}

fn is_exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.code.is_some_and(|c| -c.get() == libc::EEXIST))
}

fn nl_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.into();
    move |source| Error::Netlink { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mr_marks_what_the_mobile_network_sends_above_the_tunnel_mtu() {
        let spec = OversizeSpec::single(1460, IntoTunnel::FromInterface("eth1".into()), true);
        let text = spec.ruleset("t_pmtu", 1500);
        assert!(text.contains("meta length > 1460 meta length <= 1500 jump oversized"));
        assert!(text.contains(
            "iifname \"eth1\" meta nfproto ipv4 meta length > 1460 counter meta mark set 0xa8"
        ));
        assert!(text.contains(
            "iifname \"eth1\" meta nfproto ipv6 meta length > 1460 limit rate over 100/second burst 100 packets counter drop"
        ));
        assert!(text.contains(
            "iifname \"eth1\" meta nfproto ipv6 meta length > 1460 counter meta mark set 0xa8"
        ));
        assert!(text.contains("hook prerouting"));
        let base = &text[..text.find("chain oversized").unwrap()];
        assert_eq!(
            base.matches("jump").count(),
            1,
            "one rule in the base chain"
        );
        assert!(!text.contains("ct "), "stateless: no conntrack");
        let limit = text.find("limit rate over").unwrap();
        assert!(
            limit
                < text
                    .find("nfproto ipv6 meta length > 1460 counter meta mark")
                    .unwrap(),
            "the limit comes first"
        );
    }

    #[test]
    fn tun_backend_only_bounds_the_packet_too_big_rate() {
        let spec = OversizeSpec::single(1460, IntoTunnel::FromInterface("eth1".into()), false);
        let text = spec.ruleset("t", 1500);
        assert!(text.contains("limit rate over 100/second"));
        assert!(!text.contains("mark set"));
        assert!(!text.contains("ipv4"));
    }

    #[test]
    fn ha_marks_packets_to_the_registered_prefixes() {
        let spec = OversizeSpec::single(
            1360,
            IntoTunnel::ToPrefixes {
                v4: vec!["10.0.0.0/24".parse().unwrap()],
                v6: vec![
                    "2001:db8:281::/64".parse().unwrap(),
                    "2001:db8:280::beef/128".parse().unwrap(),
                ],
            },
            true,
        );
        let text = spec.ruleset("t", 9000);
        assert!(
            text.contains("ip daddr { 10.0.0.0/24 } meta length > 1360 counter meta mark set 0xa8")
        );
        assert!(text.contains("ip6 daddr { 2001:db8:281::/64, 2001:db8:280::beef/128 }"));
        assert!(text.contains(&format!("iifname != \"{RETURN_LINK}\"")));
        // A larger tunnel MTU than any interface still gives a well-formed (empty) range.
        assert!(spec.ruleset("t", 1000).contains("meta length <= 1360 jump"));
    }

    #[test]
    fn an_ha_marks_each_binding_at_its_own_tunnel_mtu() {
        let group = |mtu, v4: &str, v6: &str| OversizeGroup {
            tunnel_mtu: mtu,
            into_tunnel: IntoTunnel::ToPrefixes {
                v4: vec![v4.parse().unwrap()],
                v6: vec![v6.parse().unwrap()],
            },
        };
        let spec = OversizeSpec {
            groups: vec![
                group(1460, "10.0.0.0/24", "2001:db8:281::/64"),
                group(1360, "10.0.1.0/24", "2001:db8:282::/64"),
            ],
            steer: true,
        };
        let text = spec.ruleset("t", 1500);
        assert!(
            text.contains("meta length > 1360 meta length <= 1500 jump oversized"),
            "the base chain lets through what fits every tunnel: {text}"
        );
        assert!(text.contains("ip daddr { 10.0.0.0/24 } meta length > 1460 counter meta mark"));
        assert!(text.contains("ip daddr { 10.0.1.0/24 } meta length > 1360 counter meta mark"));
        assert!(text.contains(
            "ip6 daddr { 2001:db8:282::/64 } meta length > 1360 limit rate over 100/second"
        ));
        assert_eq!(spec.largest_mtu(), 1460, "the oversize link's MTU");
        assert_eq!(
            spec.narrower_routes(),
            vec![
                ("10.0.1.0/24".parse().unwrap(), 1360),
                ("2001:db8:282::/64".parse().unwrap(), 1360)
            ],
            "only the narrower binding needs routes of its own"
        );
        assert!(
            OversizeSpec::single(1460, IntoTunnel::FromInterface("e".into()), true)
                .narrower_routes()
                .is_empty()
        );
    }

    /// The interfaces of the thread's own namespace count, whatever /sys shows: a thread
    /// that entered a namespace by setns(2) sees the host's sysfs. Needs root.
    #[test]
    fn largest_interface_mtu_is_that_of_the_threads_namespace() {
        let ns = integration::Netns::new("dpmtu").expect("namespace (root needed)");
        ns.ip(&[
            "link", "add", "big0", "mtu", "9000", "type", "veth", "peer", "name", "big1",
        ])
        .unwrap();
        let path = format!("/run/netns/{}", ns.name());
        let largest = std::thread::spawn(move || {
            let f = std::fs::File::open(path).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let nl = Netlink::connect().unwrap();
                largest_interface_mtu(&nl).await.unwrap()
            })
        })
        .join()
        .unwrap();
        assert_eq!(largest, 9000);
    }
}
