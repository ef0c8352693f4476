//! From had's configuration to the registration core's [`HaPolicy`].

use crate::config::HadConfig;
use anyhow::{bail, Result};
use ipnet::{IpNet, Ipv6Net};
use mip6::{DraftV4Options, ParseContext};
use registration::policy::{HaPolicy, NodePolicy, PrefixMode};
use registration::SecurityAssociation;
use shisa_config::Ipv4MnpEncoding;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::Duration;

/// Lifetime cap when the file sets no `max-binding-lifetime`.
pub const DEFAULT_MAX_BINDING_LIFETIME: Duration = Duration::from_secs(3600);
/// RFC 4285 leaves the replay window to the implementation; 7 s tolerates modest clock skew.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(7);

/// The wire dialect for an encoding: the draft options need their numbers.
pub fn dialect(encoding: Ipv4MnpEncoding) -> Result<ParseContext> {
    Ok(match encoding {
        Ipv4MnpEncoding::Draft {
            prefix_option,
            status_option,
        } => ParseContext::with_draft_v4(DraftV4Options {
            mnp_type: prefix_option,
            status_type: status_option,
        })?,
        Ipv4MnpEncoding::Rfc5555 | Ipv4MnpEncoding::ConfigOnly => ParseContext::iana(),
    })
}

/// Builds the policy. `home_prefixes_on_link` are the global prefixes of the home interface,
/// used when the file sets no `home-prefix`.
pub fn ha_policy(
    cfg: &HadConfig,
    homeif: &str,
    home_prefixes_on_link: Vec<Ipv6Net>,
) -> Result<HaPolicy> {
    let s = cfg.config.settings_for(homeif);
    let home_prefixes = match s.home_prefix {
        Some(p) => vec![p],
        None if home_prefixes_on_link.is_empty() => bail!(
            "{homeif} has no global IPv6 address and the configuration sets no home-prefix: \
             cannot tell home addresses from others"
        ),
        None => home_prefixes_on_link,
    };
    let mut nodes: BTreeMap<Ipv6Addr, NodePolicy> = BTreeMap::new();
    for e in cfg.config.prefix_entries() {
        let node = nodes.entry(e.home_address).or_default();
        node.router = true;
        let mode = match e.mode {
            shisa_config::PrefixMode::Explicit => PrefixMode::Explicit,
            shisa_config::PrefixMode::Implicit => PrefixMode::Implicit,
        };
        match e.prefix {
            IpNet::V6(p) => node.mnp6.push((p, mode)),
            IpNet::V4(p) => node.mnp4.push((p, mode)),
        }
    }
    let auth = cfg.auth.as_ref().map(|db| {
        let mut map: BTreeMap<Ipv6Addr, Vec<SecurityAssociation>> = BTreeMap::new();
        for e in &db.entries {
            // A keyed home address without prefixes may register as a host (R flag clear).
            nodes.entry(e.home_address).or_default();
            map.entry(e.home_address)
                .or_default()
                .push(SecurityAssociation {
                    spi: e.spi,
                    key: e.key.clone(),
                });
        }
        map
    });
    Ok(HaPolicy {
        home_prefixes,
        max_lifetime: s
            .max_binding_lifetime
            .unwrap_or(DEFAULT_MAX_BINDING_LIFETIME),
        nodes,
        ipv4_mnp_support: s.ipv4_mnp_support_or_default(),
        dialect: dialect(s.ipv4_mnp_encoding_or_default())?,
        auth,
        local_addresses: local_addresses(),
        replay_window: REPLAY_WINDOW,
    })
}

/// Every IPv6 address of this node (all interfaces): none may be a care-of address.
pub fn local_addresses() -> Vec<Ipv6Addr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out: Vec<Ipv6Addr> = addrs
        .filter_map(|a| a.address.and_then(|s| s.as_sockaddr_in6().map(|s| s.ip())))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The global IPv6 prefixes configured on `ifname`.
pub fn prefixes_on(ifname: &str) -> Vec<Ipv6Net> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in addrs.filter(|a| a.interface_name == ifname) {
        let (Some(addr), Some(mask)) = (
            a.address.and_then(|s| s.as_sockaddr_in6().map(|s| s.ip())),
            a.netmask.and_then(|s| s.as_sockaddr_in6().map(|s| s.ip())),
        ) else {
            continue;
        };
        if addr.is_unicast_link_local() || addr.is_loopback() {
            continue;
        }
        let len = u128::from(mask).leading_ones() as u8;
        if let Ok(net) = Ipv6Net::new(addr, len) {
            let net = net.trunc();
            if !out.contains(&net) {
                out.push(net);
            }
        }
    }
    out
}
