//! Writes a [`Config`] back in the grammar: for reload summaries and round-trip tests.

use crate::model::{Config, InterfaceRole, Ipv4MnpEncoding, PrefixMode, Scope, Settings};

fn bid(b: Option<u16>) -> String {
    b.map(|b| format!(" {b}")).unwrap_or_default()
}

fn flag(b: bool) -> u8 {
    u8::from(b)
}

impl Settings {
    /// One `keyword value;` statement per field that is set.
    pub fn statements(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |s: String| out.push(s);
        if let Some(v) = self.debug {
            push(format!("debug {v};"));
        }
        if let Some(v) = self.namelookup {
            push(format!("namelookup {};", flag(v)));
        }
        if let Some(v) = self.command_port {
            push(format!("command-port {v};"));
        }
        if let Some(v) = self.home_registration_lifetime {
            push(format!("home-registration-lifetime {};", v.as_secs()));
        }
        if let Some(v) = self.preference {
            push(format!("preference {v};"));
        }
        if let Some(v) = self.key_management {
            push(format!("key-management {};", flag(v)));
        }
        if let Some(v) = self.ipv4_mnp_support {
            push(format!("ipv4-mnp-support {};", flag(v)));
        }
        if let Some(v) = &self.auth_database {
            push(format!("auth-database \"{}\";", v.display()));
        }
        if let Some(v) = self.authentication {
            push(format!("authentication {v};"));
        }
        if let Some(v) = self.home_agent_address {
            push(format!("home-agent-address {v};"));
        }
        if let Some(v) = self.home_prefix {
            push(format!("home-prefix {v};"));
        }
        if let Some(v) = &self.bus_directory {
            push(format!("bus-directory \"{}\";", v.display()));
        }
        if let Some(v) = &self.pid_file {
            push(format!("pid-file \"{}\";", v.display()));
        }
        if let Some(v) = &self.bpf_directory {
            push(format!("bpf-directory \"{}\";", v.display()));
        }
        if let Some(v) = self.data_plane {
            push(format!("data-plane {v};"));
        }
        match self.ipv4_mnp_encoding {
            Some(Ipv4MnpEncoding::Rfc5555) => push("ipv4-mnp-encoding rfc5555;".into()),
            Some(Ipv4MnpEncoding::ConfigOnly) => push("ipv4-mnp-encoding config-only;".into()),
            Some(Ipv4MnpEncoding::Draft {
                prefix_option,
                status_option,
            }) => {
                push("ipv4-mnp-encoding draft;".into());
                push(format!(
                    "draft-option-numbers {prefix_option} {status_option};"
                ));
            }
            None => {}
        }
        if let Some(v) = &self.mobile_network_interface {
            push(format!("mobile-network-interface {v};"));
        }
        if let Some(v) = self.ipv4_mnp_address {
            push(format!("ipv4-mnp-address {v};"));
        }
        if let Some(v) = self.max_binding_lifetime {
            push(format!("max-binding-lifetime {};", v.as_secs()));
        }
        if let Some(v) = self.role {
            let name = match v {
                InterfaceRole::Home => "home",
                InterfaceRole::Egress => "egress",
            };
            push(format!("role {name};"));
        }
        if let Some(v) = self.priority {
            push(format!("priority {v};"));
        }
        if let Some(v) = self.tunnel_mtu {
            push(format!("tunnel-mtu {v};"));
        }
        if let Some(v) = self.tunnel_hop_limit {
            push(format!("tunnel-hop-limit {v};"));
        }
        if let Some(v) = self.announce_table {
            push(format!("announce-table {v};"));
        }
        out
    }
}

impl Scope {
    /// One-line statements; each table entry becomes its own one-entry block.
    pub fn statements(&self) -> Vec<String> {
        let mut out = self.settings.statements();
        for e in &self.prefixes {
            let mode = match e.mode {
                PrefixMode::Explicit => "explicit",
                PrefixMode::Implicit => "implicit",
            };
            out.push(format!(
                "prefixtable {{ {} {} {mode}{}; }};",
                e.home_address,
                e.prefix,
                bid(e.binding_id)
            ));
        }
        for t in &self.static_tunnels {
            out.push(format!(
                "static-tunnel {{ {} {}{}; }};",
                t.tunnel,
                t.home_address,
                bid(t.binding_id)
            ));
        }
        for d in &self.dummy_tunnels {
            out.push(format!(
                "ipv4-dummy-tunnel {{ {} {} {}; }};",
                d.tunnel, d.mr_address, d.ha_address
            ));
        }
        out
    }
}

impl Config {
    /// Every statement on one line, interface statements wrapped in their block.
    /// Two configurations mean the same iff these lines are equal as multisets.
    pub fn statement_lines(&self) -> Vec<String> {
        let mut out = self.global.statements();
        for i in &self.interfaces {
            if i.scope.statements().is_empty() {
                out.push(format!("interface {} {{ }};", i.name));
            }
            for s in i.scope.statements() {
                out.push(format!("interface {} {{ {s} }};", i.name));
            }
        }
        out
    }

    /// The configuration as a file in the grammar, which parses back to an equal `Config`.
    pub fn to_config_string(&self) -> String {
        let mut out = String::new();
        for s in self.global.statements() {
            out.push_str(&s);
            out.push('\n');
        }
        for i in &self.interfaces {
            out.push_str(&format!("interface {} {{\n", i.name));
            for s in i.scope.statements() {
                out.push_str(&format!("    {s}\n"));
            }
            out.push_str("};\n");
        }
        out
    }

    /// What changed from `self` to `new`: `- line` for removed statements, `+ line` for added
    /// ones, in file order. Empty when the two mean the same.
    pub fn changes(&self, new: &Config) -> Vec<String> {
        let old_lines = self.statement_lines();
        let new_lines = new.statement_lines();
        let mut out = Vec::new();
        let mut remaining_new = new_lines.clone();
        for line in &old_lines {
            match remaining_new.iter().position(|l| l == line) {
                Some(i) => {
                    remaining_new.remove(i);
                }
                None => out.push(format!("- {line}")),
            }
        }
        let mut remaining_old = old_lines;
        for line in &new_lines {
            match remaining_old.iter().position(|l| l == line) {
                Some(i) => {
                    remaining_old.remove(i);
                }
                None => out.push(format!("+ {line}")),
            }
        }
        out
    }
}
