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
//! nft: table inet <nft_table>_pmtu, prerouting: <into the tunnel> meta length > MTU
//!      meta length <= LARGEST_IF_MTU meta mark set 0xa8
//! ip rule / ip -6 rule: pref 150 fwmark 0xa8 lookup 16880   (after `lookup local`)
//! table 16880: default via 169.254.168.2 dev nemo-pmtu; default via fe80::a8:2 dev nemo-pmtu
//! nemo-pmtu <-> nemo-pmtu-rx (veth, MTU = tunnel MTU, forwarding on the rx end)
//! ```
//! The upper length bound keeps TCP super-packets (GSO, which the kernel segments to a
//! size that fits on its own) out of this path; one that still matches is handled
//! correctly, just more slowly.

use crate::error::{Error, Result};
use crate::netlink::Netlink;
use crate::sysctl;
use futures::TryStreamExt;
use ipnet::{Ipv4Net, Ipv6Net};
use netlink_packet_route::route::{RouteMessage, RouteProtocol};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
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

/// The oversize path wanted for the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizeSpec {
    pub tunnel_mtu: u32,
    pub into_tunnel: IntoTunnel,
    /// seg6: steer oversized packets through the veth pair. The tun backend's device has
    /// the tunnel MTU, so there only the rate of Packet Too Big needs bounding.
    pub steer: bool,
}

impl OversizeSpec {
    /// The nftables table marking oversized packets; `largest` is the largest MTU of the
    /// node's interfaces (no single packet arrives longer than that).
    pub fn ruleset(&self, table: &str, largest: u32) -> String {
        let mtu = self.tunnel_mtu;
        // Every packet the node forwards passes the base chain, so it decides with one rule
        // on the length alone (two integer compares; GSO super-packets are longer than any
        // interface MTU and fall through); the rest runs only for oversized packets.
        let mut s = format!(
            "table inet {table} {{\n  chain prerouting {{\n    type filter hook prerouting priority mangle; policy accept;\n    meta length > {mtu} meta length <= {} jump oversized\n  }}\n  chain oversized {{\n",
            largest.max(mtu)
        );
        let join = |items: Vec<String>| items.join(", ");
        let (m4, m6) = match &self.into_tunnel {
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
                "    {m6} limit rate over {PTB_PER_SECOND}/second burst {PTB_PER_SECOND} packets counter drop"
            );
        }
        if self.steer {
            for m in [m4, m6].into_iter().flatten() {
                let _ = writeln!(s, "    {m} counter meta mark set {MARK:#x}");
            }
        }
        s.push_str("  }\n}\n");
        s
    }
}

/// The name of the marking table beside the MSS clamping table.
pub fn nft_table(clamp_table: &str) -> String {
    format!("{clamp_table}_pmtu")
}

/// The largest MTU of the node's interfaces other than loopback and our veth pair.
pub fn largest_interface_mtu() -> u32 {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return 1500;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            n != "lo" && n != LINK && n != RETURN_LINK
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("mtu")).ok())
        .filter_map(|s| s.trim().parse::<u32>().ok())
        .max()
        .unwrap_or(1500)
}

/// Installs (or updates the MTU of) the oversize path, then the marking rules.
pub async fn install(nl: &Netlink, spec: &OversizeSpec, nft_table: &str) -> Result<()> {
    if spec.steer {
        install_path(nl, spec.tunnel_mtu).await?;
    } else {
        remove_path(nl).await?;
    }
    crate::mss_clamp::run_nft(&format!(
        "table inet {nft_table}\ndelete table inet {nft_table}\n{}",
        spec.ruleset(nft_table, largest_interface_mtu())
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
        let spec = OversizeSpec {
            tunnel_mtu: 1460,
            into_tunnel: IntoTunnel::FromInterface("eth1".into()),
            steer: true,
        };
        let text = spec.ruleset("t_pmtu", 1500);
        assert!(text.contains("meta length > 1460 meta length <= 1500 jump oversized"));
        assert!(text.contains("iifname \"eth1\" meta nfproto ipv4 counter meta mark set 0xa8"));
        assert!(text.contains(
            "iifname \"eth1\" meta nfproto ipv6 limit rate over 100/second burst 100 packets counter drop"
        ));
        assert!(text.contains("iifname \"eth1\" meta nfproto ipv6 counter meta mark set 0xa8"));
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
            limit < text.find("nfproto ipv6 counter meta mark").unwrap(),
            "the limit comes first"
        );
    }

    #[test]
    fn tun_backend_only_bounds_the_packet_too_big_rate() {
        let spec = OversizeSpec {
            tunnel_mtu: 1460,
            into_tunnel: IntoTunnel::FromInterface("eth1".into()),
            steer: false,
        };
        let text = spec.ruleset("t", 1500);
        assert!(text.contains("limit rate over 100/second"));
        assert!(!text.contains("mark set"));
        assert!(!text.contains("ipv4"));
    }

    #[test]
    fn ha_marks_packets_to_the_registered_prefixes() {
        let spec = OversizeSpec {
            tunnel_mtu: 1360,
            into_tunnel: IntoTunnel::ToPrefixes {
                v4: vec!["10.0.0.0/24".parse().unwrap()],
                v6: vec![
                    "2001:db8:281::/64".parse().unwrap(),
                    "2001:db8:280::beef/128".parse().unwrap(),
                ],
            },
            steer: true,
        };
        let text = spec.ruleset("t", 9000);
        assert!(text.contains("ip daddr { 10.0.0.0/24 } counter meta mark set 0xa8"));
        assert!(text.contains("ip6 daddr { 2001:db8:281::/64, 2001:db8:280::beef/128 }"));
        assert!(text.contains(&format!("iifname != \"{RETURN_LINK}\"")));
        // A larger tunnel MTU than any interface still gives a well-formed (empty) range.
        assert!(spec.ruleset("t", 1000).contains("meta length <= 1360 jump"));
    }
}
