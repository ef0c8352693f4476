//! From mrd's configuration to the registration core's [`MrPolicy`].

use anyhow::{bail, Result};
use ipnet::IpNet;
use mip6::{DraftV4Options, ParseContext};
use registration::policy::{MrPolicy, PrefixMode};
use registration::{Ipv4Encoding, SecurityAssociation};
use shisa_config::Ipv4MnpEncoding;
use std::net::Ipv6Addr;

use crate::config::MrdConfig;

/// Builds the policy for `mipif`; `home_agent` is the effective HA address (-a or config),
/// `None` when DHAAD is to find it.
pub fn mr_policy(cfg: &MrdConfig, mipif: &str, home_agent: Option<Ipv6Addr>) -> Result<MrPolicy> {
    let config = &cfg.config;
    let s = config.settings_for(mipif);
    // Without one, DHAAD finds it (the unspecified address until then).
    let home_agent = home_agent.unwrap_or(Ipv6Addr::UNSPECIFIED);
    let home_address = match config.home_addresses()[..] {
        [hoa] => hoa,
        [] => bail!("{}: the prefixtable names no home address", config.file),
        ref many => bail!(
            "{}: the prefixtable names {} home addresses; one mrd serves one",
            config.file,
            many.len()
        ),
    };
    let mut mnp6 = Vec::new();
    let mut mnp4 = Vec::new();
    for e in config.prefixes_of(home_address) {
        let mode = match e.mode {
            shisa_config::PrefixMode::Explicit => PrefixMode::Explicit,
            shisa_config::PrefixMode::Implicit => PrefixMode::Implicit,
        };
        match e.prefix {
            IpNet::V6(p) => mnp6.push((p, mode)),
            IpNet::V4(p) => mnp4.push(p),
        }
    }
    if !s.ipv4_mnp_support_or_default() && !mnp4.is_empty() {
        tracing::info!("ipv4-mnp-support 0: IPv4 mobile network prefixes not registered");
        mnp4.clear();
    }
    let (ipv4_encoding, dialect) = match s.ipv4_mnp_encoding_or_default() {
        Ipv4MnpEncoding::Rfc5555 => (Ipv4Encoding::Rfc5555, ParseContext::iana()),
        Ipv4MnpEncoding::ConfigOnly => (Ipv4Encoding::ConfigOnly, ParseContext::iana()),
        Ipv4MnpEncoding::Draft {
            prefix_option,
            status_option,
        } => (
            Ipv4Encoding::Draft,
            ParseContext::with_draft_v4(DraftV4Options {
                mnp_type: prefix_option,
                status_type: status_option,
            })?,
        ),
    };
    // The key of the last line for the home address (config::load checked there is one).
    let auth = cfg.auth.as_ref().and_then(|db| {
        db.by_home_address(home_address)
            .map(|e| SecurityAssociation {
                spi: e.spi,
                key: e.key.clone(),
            })
    });
    Ok(MrPolicy {
        home_address,
        home_agent,
        mnp6,
        mnp4,
        ipv4_encoding,
        dialect,
        lifetime: s.home_registration_lifetime_or_default(),
        auth,
    })
}
