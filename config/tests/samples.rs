//! The SHISA samples of the issue and the paper parse as they are, and every keyword works.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use shisa_config::{
    parse_str, AuthDatabase, DataPlane, InterfaceRole, Ipv4MnpEncoding, PrefixMode,
};

const SAMPLE_1: &str = "debug 1;
interface mip0 {
    command-port 7778;
    home-registration-lifetime 10;
    prefixtable {
        2001:200:0:8c08::328 2001:200:0:8c0a::/64 explicit 111;
    };
    static-tunnel {
        nemo3 2001:200:0:8c08::328 111;
    };
};
";

const SAMPLE_2: &str = "interface mip0 {
    prefixtable {
        2001:240:1:280::beef 2001:240:1:281::/64 explicit;
        2001:240:1:280::beef 10.0.0.0/24 explicit;
    };
};
ipv4-dummy-tunnel {
    nemo0 169.254.0.1 169.254.0.2;
};
";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn shisa_sample_one() {
    let cfg = parse_str(SAMPLE_1, "mrd.conf").unwrap();
    assert_eq!(cfg.global.settings.debug, Some(1));
    let s = cfg.settings_for("mip0");
    assert_eq!(s.debug, Some(1), "global statements apply to the interface");
    assert_eq!(s.command_port, Some(7778));
    assert_eq!(s.home_registration_lifetime, Some(Duration::from_secs(10)));
    let hoa = v6("2001:200:0:8c08::328");
    let entries = cfg.prefixes_of(hoa);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].prefix.to_string(), "2001:200:0:8c0a::/64");
    assert_eq!(entries[0].mode, PrefixMode::Explicit);
    assert_eq!(entries[0].binding_id, Some(111));
    let tunnels: Vec<_> = cfg.static_tunnels().collect();
    assert_eq!(tunnels.len(), 1);
    assert_eq!(tunnels[0].tunnel, "nemo3");
    assert_eq!(tunnels[0].home_address, hoa);
    assert_eq!(tunnels[0].binding_id, Some(111));
}

#[test]
fn shisa_sample_two_with_ipv4_prefix_and_dummy_tunnel() {
    let cfg = parse_str(SAMPLE_2, "had.conf").unwrap();
    let hoa = v6("2001:240:1:280::beef");
    let prefixes: Vec<String> = cfg
        .prefixes_of(hoa)
        .iter()
        .map(|e| e.prefix.to_string())
        .collect();
    assert_eq!(prefixes, vec!["2001:240:1:281::/64", "10.0.0.0/24"]);
    let dummies: Vec<_> = cfg.dummy_tunnels().collect();
    assert_eq!(dummies.len(), 1);
    assert_eq!(dummies[0].tunnel, "nemo0");
    assert_eq!(dummies[0].mr_address, Ipv4Addr::new(169, 254, 0, 1));
    assert_eq!(dummies[0].ha_address, Ipv4Addr::new(169, 254, 0, 2));
    assert_eq!(cfg.home_addresses(), vec![hoa]);
}

#[test]
fn paper_figure_five_as_printed() {
    // Fig. 5 of the paper, with its odd indentation.
    let fig5 = "interface mip0 {\n    prefixtable {\n        2001:240:1:280::beef 2001:240:1:281::/64 explicit;\n        2001:240:1:280::beef 10.0.0.0/24 explicit;\n    };\n    };\n    ipv4-dummy-tunnel {\n        nemo0 169.254.0.1 169.254.0.2;\n};\n";
    let cfg = parse_str(fig5, "fig5.conf").unwrap();
    assert_eq!(cfg.prefix_entries().count(), 2);
    assert_eq!(cfg.dummy_tunnels().count(), 1);
}

const EVERY_KEYWORD: &str = r#"
# every statement of the grammar, global and per interface
debug 2;
namelookup 0;
command-port 7777;
home-registration-lifetime 400;
preference -5;
key-management 1;
ipv4-mnp-support 1;
auth-database "/etc/shisa/auth.db";
home-agent-address 2001:240:1:280::1;
home-prefix 2001:240:1:280::/64;
bus-directory "/run/shisa";
pid-file "/run/mrd.pid";
bpf-directory "/run/shisa-bpf";
data-plane seg6;
ipv4-mnp-encoding draft;
draft-option-numbers 11 12;
mobile-network-interface eth1;
ipv4-mnp-address 10.0.0.1;
max-binding-lifetime 3600;
tunnel-mtu 1400;
tunnel-hop-limit 100;
announce-table 168;
prefixtable {
    2001:240:1:280::beef 2001:240:1:281::/64 implicit;
};
static-tunnel { nemo1 2001:240:1:280::beef; };
interface eth0 {
    role egress;
    priority 10;
    data-plane tun;
    tunnel-mtu 1452;
    tunnel-hop-limit 42;
    ipv4-mnp-encoding rfc5555;
    prefixtable { 2001:240:1:280::beef 10.0.0.0/24 explicit 7; };
    ipv4-dummy-tunnel { nemo0 169.254.0.1 169.254.0.2; };
};
interface eth2 { role home; ipv4-mnp-encoding config-only; };
"#;

#[test]
fn every_keyword() {
    let cfg = parse_str(EVERY_KEYWORD, "all.conf").unwrap();
    let g = &cfg.global.settings;
    assert_eq!(g.debug, Some(2));
    assert_eq!(
        g.bpf_directory.as_deref(),
        Some(std::path::Path::new("/run/shisa-bpf"))
    );
    assert_eq!(g.namelookup, Some(false));
    assert_eq!(g.command_port, Some(7777));
    assert_eq!(g.home_registration_lifetime, Some(Duration::from_secs(400)));
    assert_eq!(g.preference, Some(-5));
    assert_eq!(g.key_management, Some(true));
    assert_eq!(g.ipv4_mnp_support, Some(true));
    assert_eq!(
        g.auth_database.as_deref(),
        Some("/etc/shisa/auth.db".as_ref())
    );
    assert_eq!(g.home_agent_address, Some(v6("2001:240:1:280::1")));
    assert_eq!(g.home_prefix.unwrap().to_string(), "2001:240:1:280::/64");
    assert_eq!(g.bus_directory.as_deref(), Some("/run/shisa".as_ref()));
    assert_eq!(g.pid_file.as_deref(), Some("/run/mrd.pid".as_ref()));
    assert_eq!(g.data_plane, Some(DataPlane::Seg6));
    assert_eq!(
        g.ipv4_mnp_encoding,
        Some(Ipv4MnpEncoding::Draft {
            prefix_option: 11,
            status_option: 12
        })
    );
    assert_eq!(g.mobile_network_interface.as_deref(), Some("eth1"));
    assert_eq!(g.ipv4_mnp_address, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(g.max_binding_lifetime, Some(Duration::from_secs(3600)));
    assert_eq!(g.tunnel_mtu, Some(1400));
    let e0 = cfg.settings_for("eth0");
    assert_eq!(
        e0.tunnel_mtu_or_default(),
        1452,
        "interface overrides global"
    );
    assert_eq!(cfg.settings_for("eth2").tunnel_mtu_or_default(), 1400);
    assert_eq!(g.tunnel_hop_limit, Some(100));
    assert_eq!(
        e0.tunnel_hop_limit_or_default(),
        42,
        "interface overrides global"
    );
    assert_eq!(cfg.settings_for("eth2").tunnel_hop_limit_or_default(), 100);
    assert_eq!(
        cfg.settings_for("eth0").announce_table,
        Some(168),
        "inherited"
    );
    assert_eq!(e0.role, Some(InterfaceRole::Egress));
    assert_eq!(e0.priority, Some(10));
    assert_eq!(
        e0.data_plane,
        Some(DataPlane::Tun),
        "interface overrides global"
    );
    assert_eq!(e0.ipv4_mnp_encoding, Some(Ipv4MnpEncoding::Rfc5555));
    assert_eq!(e0.debug, Some(2), "inherited");
    let e2 = cfg.settings_for("eth2");
    assert_eq!(e2.role, Some(InterfaceRole::Home));
    assert_eq!(e2.ipv4_mnp_encoding, Some(Ipv4MnpEncoding::ConfigOnly));
    assert_eq!(
        cfg.settings_for("eth9").data_plane,
        Some(DataPlane::Seg6),
        "unknown interface gets globals"
    );
    let all: Vec<String> = cfg.prefix_entries().map(|e| e.prefix.to_string()).collect();
    assert_eq!(all, vec!["2001:240:1:281::/64", "10.0.0.0/24"]);
    assert_eq!(cfg.prefix_entries().nth(1).unwrap().binding_id, Some(7));
    assert_eq!(cfg.static_tunnels().count(), 1);
    assert_eq!(cfg.dummy_tunnels().count(), 1);
}

#[test]
fn defaults_when_unset() {
    let cfg = parse_str("", "empty.conf").unwrap();
    let s = cfg.settings_for("mip0");
    assert_eq!(s.ipv4_mnp_encoding_or_default(), Ipv4MnpEncoding::Rfc5555);
    assert!(s.ipv4_mnp_support_or_default());
    assert_eq!(s.data_plane_or_default(), DataPlane::Auto);
    assert_eq!(s.tunnel_mtu, None);
    assert_eq!(s.tunnel_mtu_or_default(), shisa_config::DEFAULT_TUNNEL_MTU);
    assert_eq!(s.tunnel_hop_limit_or_default(), 64);
    assert_eq!(s.announce_table, None, "no announcements unless asked for");
}

#[test]
fn rendering_parses_back_to_the_same_config() {
    for (name, text) in [("1", SAMPLE_1), ("2", SAMPLE_2), ("all", EVERY_KEYWORD)] {
        let cfg = parse_str(text, name).unwrap();
        let again = parse_str(&cfg.to_config_string(), name).unwrap();
        assert_eq!(cfg, again, "round trip of sample {name}");
        assert!(cfg.changes(&again).is_empty());
    }
}

#[test]
fn changes_list_removed_and_added_statements() {
    let old = parse_str(SAMPLE_1, "mrd.conf").unwrap();
    let new = parse_str(
        &SAMPLE_1
            .replace("7778", "7779")
            .replace("debug 1", "debug 2"),
        "mrd.conf",
    )
    .unwrap();
    assert_eq!(
        old.changes(&new),
        vec![
            "- debug 1;",
            "- interface mip0 { command-port 7778; };",
            "+ debug 2;",
            "+ interface mip0 { command-port 7779; };",
        ]
    );
}

#[test]
fn auth_database_parses_entries_and_comments() {
    let text = "# HoA SPI key\n2001:240:1:280::beef 256 00112233445566778899aabbccddeeff00112233\n\n  2001:240:1:280::cafe\t1000 0xDEAD # second router\n";
    let db = AuthDatabase::parse_str(text, "auth.db").unwrap();
    assert_eq!(db.entries.len(), 2);
    let e = db.by_home_address(v6("2001:240:1:280::beef")).unwrap();
    assert_eq!(e.spi, 256);
    assert_eq!(e.key.len(), 20);
    assert_eq!(db.by_spi(1000).unwrap().key, vec![0xde, 0xad]);
    assert!(db.by_spi(257).is_none());
}

/// The commented samples shipped in etc/ stay valid and describe the paper's topology.
#[test]
fn shipped_sample_configs_parse() {
    let etc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
    let mrd = shisa_config::load(&etc.join("mrd.conf")).unwrap();
    let had = shisa_config::load(&etc.join("had.conf")).unwrap();
    let hoa = v6("2001:240:1:280::beef");
    for cfg in [&mrd, &had] {
        let prefixes: Vec<String> = cfg
            .prefixes_of(hoa)
            .iter()
            .map(|e| e.prefix.to_string())
            .collect();
        assert_eq!(prefixes, vec!["2001:240:1:281::/64", "10.0.0.0/24"]);
    }
    let mr = mrd.settings_for("mip0");
    assert_eq!(mr.home_agent_address, Some(v6("2001:240:1:280::1")));
    assert_eq!(mr.ipv4_mnp_address, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(mrd.settings_for("eth0").role, Some(InterfaceRole::Egress));
    let ha = had.settings_for("eth0");
    assert_eq!(ha.home_prefix.unwrap().to_string(), "2001:240:1:280::/64");
    // The sample database holds no usable key: its placeholder says how to make one.
    let path = etc.join(ha.auth_database.unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    let err = AuthDatabase::parse_str(&text, "auth.db")
        .unwrap_err()
        .to_string();
    assert!(err.contains("mipsock keygen HOME-ADDRESS"), "{err}");
}
