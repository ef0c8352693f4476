//! Turns parsed statements into a [`Config`], rejecting what cannot be meant.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use ipnet::IpNet;

use crate::ast::{EncodingName, Setting, Stmt};
use crate::error::{ConfigError, Pos};
use crate::model::{Config, Interface, Ipv4MnpEncoding, Scope, Settings};

/// Option numbers the daemons already speak; draft numbers must not reuse them.
const KNOWN_OPTIONS: &[(u8, &str)] = &[
    (1, "PadN"),
    (2, "Binding Refresh Advice"),
    (3, "Alternate Care-of Address"),
    (6, "Mobile Network Prefix"),
    (8, "MN-ID"),
    (9, "Mobility Message Authentication"),
    (10, "Mobility Message Replay Protection"),
    (29, "IPv4 Home Address"),
    (30, "IPv4 Address Acknowledgement"),
];

/// Where each setting of one scope was written, for duplicate and cross-field messages.
#[derive(Default, Clone)]
struct Written {
    at: HashMap<&'static str, Pos>,
    encoding: Option<EncodingName>,
    draft_numbers: Option<(u8, u8)>,
}

/// A prefixtable entry as validation needs it.
struct Claim {
    prefix: IpNet,
    hoa: Ipv6Addr,
    pos: Pos,
    hoa_pos: Pos,
    scope: usize,
}

struct Validator<'a> {
    file: &'a str,
    /// Every prefix claimed so far.
    claims: Vec<Claim>,
    /// Scope being read: 0 top level, i + 1 interface block i.
    scope_index: usize,
    tunnels: HashMap<String, Pos>,
    dummies: HashMap<String, Pos>,
    interfaces: HashMap<String, Pos>,
}

pub fn validate(file: &str, stmts: Vec<Stmt>) -> Result<Config, ConfigError> {
    let mut v = Validator {
        file,
        claims: Vec::new(),
        scope_index: 0,
        tunnels: HashMap::new(),
        dummies: HashMap::new(),
        interfaces: HashMap::new(),
    };
    let mut global = Scope::default();
    let mut global_written = Written::default();
    let mut interfaces = Vec::new();
    let mut scoped = Vec::new();
    for stmt in stmts {
        match stmt {
            Stmt::Interface { name, pos, body } => {
                if let Some(first) = v.interfaces.insert(name.clone(), pos) {
                    return Err(v.err(pos, format!("interface {name} already defined at {first}")));
                }
                let mut scope = Scope::default();
                let mut written = Written::default();
                v.scope_index = interfaces.len() + 1;
                for inner in body {
                    v.statement(inner, &mut scope, &mut written, true)?;
                }
                scoped.push(written);
                interfaces.push(Interface { name, scope });
                v.scope_index = 0;
            }
            other => v.statement(other, &mut global, &mut global_written, false)?,
        }
    }
    v.check_encoding(&global_written, &global_written)?;
    for written in &scoped {
        v.check_encoding(written, &merge(&global_written, written))?;
    }
    let config = Config {
        file: file.to_string(),
        global,
        interfaces,
    };
    v.check_ipv4(&config, &global_written, &scoped)?;
    v.check_home_prefix(&config)?;
    Ok(finish_encodings(config, &global_written, &scoped))
}

fn merge(global: &Written, inner: &Written) -> Written {
    let mut at = global.at.clone();
    at.extend(inner.at.iter().map(|(k, p)| (*k, *p)));
    Written {
        at,
        encoding: inner.encoding.or(global.encoding),
        draft_numbers: inner.draft_numbers.or(global.draft_numbers),
    }
}

fn encoding_of(w: &Written) -> Option<Ipv4MnpEncoding> {
    match (w.encoding?, w.draft_numbers) {
        (EncodingName::Rfc5555, _) => Some(Ipv4MnpEncoding::Rfc5555),
        (EncodingName::ConfigOnly, _) => Some(Ipv4MnpEncoding::ConfigOnly),
        (EncodingName::Draft, Some((p, s))) => Some(Ipv4MnpEncoding::Draft {
            prefix_option: p,
            status_option: s,
        }),
        // check_encoding has rejected this combination.
        (EncodingName::Draft, None) => None,
    }
}

/// Fills `ipv4_mnp_encoding` once both halves of the draft setting are known.
fn finish_encodings(mut config: Config, global: &Written, scoped: &[Written]) -> Config {
    config.global.settings.ipv4_mnp_encoding = encoding_of(global);
    for (iface, written) in config.interfaces.iter_mut().zip(scoped) {
        // Only a block that says something about the encoding gets its own value.
        if written.encoding.is_some() || written.draft_numbers.is_some() {
            iface.scope.settings.ipv4_mnp_encoding = encoding_of(&merge(global, written));
        }
    }
    config
}

impl Validator<'_> {
    fn err(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, pos, message)
    }

    fn statement(
        &mut self,
        stmt: Stmt,
        scope: &mut Scope,
        written: &mut Written,
        in_interface: bool,
    ) -> Result<(), ConfigError> {
        match stmt {
            Stmt::Setting {
                keyword,
                setting,
                pos,
            } => {
                let interface_only = matches!(setting, Setting::Role(_) | Setting::Priority(_));
                let global_only = matches!(
                    setting,
                    Setting::BusDirectory(_) | Setting::PidFile(_) | Setting::BpfDirectory(_)
                );
                if interface_only && !in_interface {
                    return Err(self.err(
                        pos,
                        format!("{keyword} is only valid inside an interface block"),
                    ));
                }
                if global_only && in_interface {
                    return Err(self.err(pos, format!("{keyword} is only valid at top level")));
                }
                if let Some(first) = written.at.insert(keyword, pos) {
                    return Err(self.err(pos, format!("{keyword} already set at {first}")));
                }
                apply(setting, &mut scope.settings, written);
            }
            Stmt::Interface { pos, .. } => {
                return Err(self.err(pos, "interface blocks cannot be nested"));
            }
            Stmt::PrefixTable(lines) => {
                for line in lines {
                    self.claim(Claim {
                        prefix: line.entry.prefix,
                        hoa: line.entry.home_address,
                        pos: line.pos,
                        hoa_pos: line.hoa_pos,
                        scope: self.scope_index,
                    })?;
                    scope.prefixes.push(line.entry);
                }
            }
            Stmt::StaticTunnel(lines) => {
                for line in lines {
                    let name = &line.tunnel.tunnel;
                    if let Some(first) = self.tunnels.insert(name.clone(), line.pos) {
                        return Err(self.err(
                            line.pos,
                            format!("static-tunnel {name} already defined at {first}"),
                        ));
                    }
                    scope.static_tunnels.push(line.tunnel);
                }
            }
            Stmt::DummyTunnel(lines) => {
                for line in lines {
                    let name = &line.dummy.tunnel;
                    if let Some(first) = self.dummies.insert(name.clone(), line.pos) {
                        return Err(self.err(
                            line.pos,
                            format!("ipv4-dummy-tunnel {name} already defined at {first}"),
                        ));
                    }
                    scope.dummy_tunnels.push(line.dummy);
                }
            }
        }
        Ok(())
    }

    /// A prefix belongs to one home address, and two entries may not overlap.
    fn claim(&mut self, new: Claim) -> Result<(), ConfigError> {
        let (prefix, hoa) = (new.prefix, new.hoa);
        for c in &self.claims {
            let (other, owner, at) = (c.prefix, c.hoa, c.pos);
            if other == prefix && owner == hoa {
                return Err(self.err(
                    new.pos,
                    format!("duplicate prefixtable entry {hoa} {prefix} (first at {at})"),
                ));
            }
            if other == prefix {
                return Err(self.err(
                    new.pos,
                    format!("{prefix} is already claimed by {owner} at {at}"),
                ));
            }
            if other.contains(&prefix) || prefix.contains(&other) {
                return Err(self.err(
                    new.pos,
                    format!("{prefix} overlaps {other} claimed by {owner} at {at}"),
                ));
            }
        }
        self.claims.push(new);
        Ok(())
    }

    fn check_encoding(&self, own: &Written, w: &Written) -> Result<(), ConfigError> {
        let own_numbers = own.draft_numbers.is_some();
        match (w.encoding, w.draft_numbers) {
            (Some(EncodingName::Draft), None) => {
                let pos = w.at.get("ipv4-mnp-encoding").copied().unwrap_or_default();
                Err(self.err(
                    pos,
                    "ipv4-mnp-encoding draft needs 'draft-option-numbers PREFIX-OPTION STATUS-OPTION;' (SHISA used 11 12)",
                ))
            }
            (enc, Some((p, s))) if own_numbers => {
                let pos =
                    w.at.get("draft-option-numbers")
                        .copied()
                        .unwrap_or_default();
                if enc != Some(EncodingName::Draft) {
                    return Err(self.err(
                        pos,
                        "draft-option-numbers is only used with 'ipv4-mnp-encoding draft;'",
                    ));
                }
                if p == s {
                    return Err(self.err(
                        pos,
                        format!("draft-option-numbers must differ, found {p} twice"),
                    ));
                }
                for n in [p, s] {
                    if let Some((_, name)) = KNOWN_OPTIONS.iter().find(|(k, _)| *k == n) {
                        return Err(
                            self.err(pos, format!("draft option number {n} is the {name} option"))
                        );
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Where a home-prefix is in force, home addresses lie inside it and IPv6 mobile network
    /// prefixes outside it.
    fn check_home_prefix(&self, config: &Config) -> Result<(), ConfigError> {
        for c in &self.claims {
            let settings = match c
                .scope
                .checked_sub(1)
                .and_then(|i| config.interfaces.get(i))
            {
                Some(iface) => config.settings_for(&iface.name),
                None => config.global.settings.clone(),
            };
            let Some(home) = settings.home_prefix else {
                continue;
            };
            if !home.contains(&c.hoa) {
                return Err(self.err(
                    c.hoa_pos,
                    format!("home address {} is outside home-prefix {home}", c.hoa),
                ));
            }
            if let IpNet::V6(net) = c.prefix {
                if net.contains(&home) || home.contains(&net) {
                    return Err(self.err(
                        c.pos,
                        format!("mobile network prefix {net} overlaps home-prefix {home}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// IPv4 statements must agree with the IPv4 prefixes of the table.
    fn check_ipv4(
        &self,
        config: &Config,
        global: &Written,
        scoped: &[Written],
    ) -> Result<(), ConfigError> {
        let v4: Vec<_> = self
            .claims
            .iter()
            .filter_map(|c| match c.prefix {
                IpNet::V4(net) => Some((net, c.pos)),
                IpNet::V6(_) => None,
            })
            .collect();
        let scopes = std::iter::once((&config.global.settings, global.clone())).chain(
            config
                .interfaces
                .iter()
                .zip(scoped)
                .map(|(i, w)| (&i.scope.settings, w.clone())),
        );
        for (settings, written) in scopes {
            if let Some(addr) = settings.ipv4_mnp_address {
                if !v4.iter().any(|(net, _)| net.contains(&addr)) {
                    let pos = written
                        .at
                        .get("ipv4-mnp-address")
                        .copied()
                        .unwrap_or_default();
                    return Err(self.err(
                        pos,
                        format!("ipv4-mnp-address {addr} is not inside any IPv4 prefix of the prefixtable"),
                    ));
                }
            }
        }
        let global_off = config.global.settings.ipv4_mnp_support == Some(false);
        let check_off =
            |settings: &Settings, scope: &Scope, inherited: bool| -> Result<(), ConfigError> {
                let off = settings.ipv4_mnp_support.map(|on| !on).unwrap_or(inherited);
                if !off {
                    return Ok(());
                }
                match scope.prefixes.iter().find(|e| e.prefix.addr().is_ipv4()) {
                    Some(e) => {
                        let pos = v4
                            .iter()
                            .find(|(n, _)| IpNet::V4(*n) == e.prefix)
                            .map(|(_, p)| *p)
                            .unwrap_or_default();
                        Err(self.err(
                            pos,
                            format!("IPv4 prefix {} listed but ipv4-mnp-support is 0", e.prefix),
                        ))
                    }
                    None => Ok(()),
                }
            };
        check_off(&config.global.settings, &config.global, false)?;
        for i in &config.interfaces {
            check_off(&i.scope.settings, &i.scope, global_off)?;
        }
        Ok(())
    }
}

fn apply(setting: Setting, s: &mut Settings, written: &mut Written) {
    let secs = |n: u32| Some(Duration::from_secs(n.into()));
    match setting {
        Setting::Debug(n) => s.debug = Some(n),
        Setting::NameLookup(b) => s.namelookup = Some(b),
        Setting::CommandPort(p) => s.command_port = Some(p),
        Setting::HomeRegistrationLifetime(n) => s.home_registration_lifetime = secs(n),
        Setting::Preference(p) => s.preference = Some(p),
        Setting::KeyManagement(b) => s.key_management = Some(b),
        Setting::Ipv4MnpSupport(b) => s.ipv4_mnp_support = Some(b),
        Setting::AuthDatabase(p) => s.auth_database = Some(p),
        Setting::Authentication(a) => s.authentication = Some(a),
        Setting::HomeAgentAddress(a) => s.home_agent_address = Some(a),
        Setting::HomePrefix(p) => s.home_prefix = Some(p),
        Setting::BusDirectory(p) => s.bus_directory = Some(p),
        Setting::PidFile(p) => s.pid_file = Some(p),
        Setting::BpfDirectory(p) => s.bpf_directory = Some(p),
        Setting::DataPlane(d) => s.data_plane = Some(d),
        Setting::Ipv4MnpEncoding(e) => written.encoding = Some(e),
        Setting::DraftOptionNumbers(p, q) => written.draft_numbers = Some((p, q)),
        Setting::MobileNetworkInterface(n) => s.mobile_network_interface = Some(n),
        Setting::Ipv4MnpAddress(a) => s.ipv4_mnp_address = Some(a),
        Setting::MaxBindingLifetime(n) => s.max_binding_lifetime = secs(n),
        Setting::Role(r) => s.role = Some(r),
        Setting::Priority(p) => s.priority = Some(p),
        Setting::TunnelMtu(m) => s.tunnel_mtu = Some(m),
        Setting::TunnelHopLimit(h) => s.tunnel_hop_limit = Some(h),
        Setting::AnnounceTable(t) => s.announce_table = Some(t),
    }
}
