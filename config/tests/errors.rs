//! Malformed configurations and auth databases: each with its exact `file:line:col: message`.

use shisa_config::{parse_str, AuthDatabase};

/// (input, expected error) pairs; the file is always called `t.conf`.
const CASES: &[(&str, &str)] = &[
    // lexical
    ("debug 1;\n  auth-database \"/etc/x;\n", "t.conf:2:17: unterminated string"),
    ("debug 1 @;", "t.conf:1:9: unexpected character '@'"),
    // statement structure
    ("debgu 1;", "t.conf:1:1: unknown keyword 'debgu'; did you mean 'debug'?"),
    ("frobnicate 1;", "t.conf:1:1: unknown keyword 'frobnicate'"),
    ("interface mip0 {\n    prefixtabel {\n", "t.conf:2:5: unknown keyword 'prefixtabel'; did you mean 'prefixtable'?"),
    ("debug 1\ninterface mip0 { };", "t.conf:2:1: expected ';' after debug value, found 'interface'"),
    ("debug;", "t.conf:1:6: expected a number after 'debug', found ';'"),
    ("debug x;", "t.conf:1:7: debug expects a number, found 'x'"),
    ("command-port 70000;", "t.conf:1:14: command-port 70000 out of range 1..=65535"),
    ("home-registration-lifetime 262141;", "t.conf:1:28: home-registration-lifetime 262141 out of range 1..=262140"),
    ("key-management 2;", "t.conf:1:16: key-management must be 0 or 1, found '2'"),
    ("auth-database /etc/auth;", "t.conf:1:15: expected a quoted file name after 'auth-database', found '/etc/auth'"),
    ("data-plane vxlan;", "t.conf:1:12: data-plane must be 'seg6' or 'bpf' or 'ip6tnl' or 'tun' or 'auto', found 'vxlan'"),
    ("tunnel-mtu 1279;", "t.conf:1:12: tunnel-mtu 1279 out of range 1280..=65495"),
    ("tunnel-mtu 65496;", "t.conf:1:12: tunnel-mtu 65496 out of range 1280..=65495"),
    ("tunnel-hop-limit 0;", "t.conf:1:18: tunnel-hop-limit 0 out of range 1..=255"),
    ("tunnel-hop-limit 256;", "t.conf:1:18: tunnel-hop-limit 256 out of range 1..=255"),
    ("announce-table 254;", "t.conf:1:16: announce-table 254 out of range 1..=252"),
    ("tunnel-mtu 1460 1500;", "t.conf:1:17: expected ';' after tunnel-mtu value, found '1500'"),
    ("};", "t.conf:1:1: unexpected '}': no block is open"),
    ("{", "t.conf:1:1: expected a statement, found '{'"),
    // interface blocks
    ("interface {", "t.conf:1:11: expected interface name after 'interface', found '{'"),
    ("interface mip0 debug 1;", "t.conf:1:16: expected '{' after interface name, found 'debug'"),
    ("interface mip0 {\n  debug 1;\n", "t.conf:3:1: expected '}' to close interface mip0 opened at 1:1, found end of file"),
    ("interface mip0 {\n}\ndebug 1;", "t.conf:3:1: expected ';' after '}' closing interface mip0, found 'debug'"),
    ("interface mip0 { interface eth0 { }; };", "t.conf:1:18: interface blocks cannot be nested"),
    ("interface mip0 { };\ninterface mip0 { };", "t.conf:2:1: interface mip0 already defined at 1:1"),
    ("interface averyveryverylongname { };", "t.conf:1:11: 'averyveryverylongname' is not a valid interface name (1 to 15 characters, no '/' or ':')"),
    ("debug 1;\ndebug 2;", "t.conf:2:1: debug already set at 1:1"),
    ("role home;", "t.conf:1:1: role is only valid inside an interface block"),
    ("interface eth0 { pid-file \"/run/x.pid\"; };", "t.conf:1:18: pid-file is only valid at top level"),
    ("interface eth0 { bpf-directory \"/b\"; };", "t.conf:1:18: bpf-directory is only valid at top level"),
    // prefixtable
    ("prefixtable {\n  2001:db8::1 2001:db8:1::1/64 explicit;\n};", "t.conf:2:15: 2001:db8:1::1/64 has host bits set; did you mean 2001:db8:1::/64?"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0/33 explicit;\n};", "t.conf:2:24: prefix length 33 out of range 1..=32 for IPv4"),
    ("prefixtable {\n  2001:db8::1 2001:db8:1::/129 explicit;\n};", "t.conf:2:28: prefix length 129 out of range 1..=128 for IPv6"),
    ("prefixtable {\n  2001:db8::1 2001:db8:1::/0 explicit;\n};", "t.conf:2:28: prefix length 0 out of range 1..=128 for IPv6"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0 explicit;\n};", "t.conf:2:15: '10.0.0.0' lacks a prefix length; write PREFIX/LEN"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0/x explicit;\n};", "t.conf:2:24: prefix length 'x' is not a number"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0/24 explicit\n};", "t.conf:3:1: expected ';' or binding id after 'explicit', found '}'"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0/24;\n};", "t.conf:2:26: expected 'explicit' or 'implicit' after prefix, found ';'"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0/24 exlicit;\n};", "t.conf:2:27: expected 'explicit' or 'implicit' after prefix, found 'exlicit'"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0/24 explicit 65536;\n};", "t.conf:2:36: binding id 65536 out of range 0..=65535"),
    ("prefixtable {\n  10.0.0.1 10.0.0.0/24 explicit;\n};", "t.conf:2:3: '10.0.0.1' is not an IPv6 home address"),
    ("prefixtable {\n  ff02::1 10.0.0.0/24 explicit;\n};", "t.conf:2:3: ff02::1 cannot be a home address: it is not a unicast address"),
    ("prefixtable { 2001:db8::1 10.0.0.0/24 explicit; }\ndebug 1;", "t.conf:2:1: expected ';' after '}' closing prefixtable, found 'debug'"),
    ("prefixtable {\n  2001:db8::1 10.0.0.0/24 explicit;\n", "t.conf:3:1: expected '}' to close prefixtable opened at 1:1, found end of file"),
    ("prefixtable { \"x\" };", "t.conf:1:15: expected an entry or '}' in prefixtable, found string \"x\""),
    (
        "interface mip0 {\n  prefixtable {\n    2001:db8::1 10.0.0.0/24 explicit;\n  };\n};\nprefixtable {\n  2001:db8::2 10.0.0.0/24 explicit;\n};",
        "t.conf:7:15: 10.0.0.0/24 is already claimed by 2001:db8::1 at 3:17",
    ),
    (
        "prefixtable {\n  2001:db8::1 10.0.0.0/16 explicit;\n  2001:db8::2 10.0.3.0/24 implicit;\n};",
        "t.conf:3:15: 10.0.3.0/24 overlaps 10.0.0.0/16 claimed by 2001:db8::1 at 2:15",
    ),
    (
        "prefixtable {\n  2001:db8::1 2001:db8:5::/64 explicit;\n  2001:db8::1 2001:db8:5::/64 implicit;\n};",
        "t.conf:3:15: duplicate prefixtable entry 2001:db8::1 2001:db8:5::/64 (first at 2:15)",
    ),
    (
        "interface eth0 {\n  home-prefix 2001:db8::/64;\n  prefixtable { 2001:db9::1 10.0.0.0/24 explicit; };\n};",
        "t.conf:3:17: home address 2001:db9::1 is outside home-prefix 2001:db8::/64",
    ),
    (
        "home-prefix 2001:db8::/64;\ninterface eth0 {\n  prefixtable { 2001:db8::1 2001:db8::/48 explicit; };\n};",
        "t.conf:3:29: mobile network prefix 2001:db8::/48 overlaps home-prefix 2001:db8::/64",
    ),
    // tunnels
    ("static-tunnel {\n  nemo0 2001:db8::1;\n  nemo0 2001:db8::2;\n};", "t.conf:3:3: static-tunnel nemo0 already defined at 2:3"),
    ("static-tunnel { nemo0; };", "t.conf:1:22: expected home address after tunnel name, found ';'"),
    ("ipv4-dummy-tunnel { nemo0 169.254.0.1; };", "t.conf:1:38: expected HA IPv4 address after MR address, found ';'"),
    ("ipv4-dummy-tunnel { nemo0 169.254.0.1 fe80::1; };", "t.conf:1:39: 'fe80::1' is not an IPv4 address"),
    // Linux extensions
    ("home-agent-address 10.0.0.1;", "t.conf:1:20: '10.0.0.1' is not an IPv6 home agent address"),
    ("home-prefix 10.0.0.0/8;", "t.conf:1:13: home-prefix must be an IPv6 prefix, found '10.0.0.0/8'"),
    ("ipv4-mnp-encoding draft;", "t.conf:1:1: ipv4-mnp-encoding draft needs 'draft-option-numbers PREFIX-OPTION STATUS-OPTION;' (SHISA used 11 12)"),
    ("draft-option-numbers 11 12;", "t.conf:1:1: draft-option-numbers is only used with 'ipv4-mnp-encoding draft;'"),
    ("ipv4-mnp-encoding draft;\ndraft-option-numbers 6 12;", "t.conf:2:1: draft option number 6 is the Mobile Network Prefix option"),
    ("ipv4-mnp-encoding draft;\ndraft-option-numbers 40 40;", "t.conf:2:1: draft-option-numbers must differ, found 40 twice"),
    (
        "ipv4-mnp-address 10.0.1.1;\nprefixtable { 2001:db8::1 10.0.0.0/24 explicit; };",
        "t.conf:1:1: ipv4-mnp-address 10.0.1.1 is not inside any IPv4 prefix of the prefixtable",
    ),
    (
        "ipv4-mnp-support 0;\ninterface mip0 {\n  prefixtable { 2001:db8::1 10.0.0.0/24 explicit; };\n};",
        "t.conf:3:29: IPv4 prefix 10.0.0.0/24 listed but ipv4-mnp-support is 0",
    ),
];

#[test]
fn each_malformed_input_gives_its_exact_message() {
    assert!(CASES.len() >= 20);
    let mut failures = Vec::new();
    for (input, expected) in CASES {
        match parse_str(input, "t.conf") {
            Ok(_) => failures.push(format!("accepted {input:?}")),
            Err(e) if e.to_string() != *expected => {
                failures.push(format!("{input:?}\n   got: {e}\n  want: {expected}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn missing_file_names_the_path() {
    let err = shisa_config::load("/nonexistent/shisa/mrd.conf".as_ref()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/shisa/mrd.conf: No such file or directory (os error 2)"
    );
}

#[test]
fn load_reports_the_path_as_file_name() {
    let dir = std::env::temp_dir().join(format!("shisa-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("had.conf");
    std::fs::write(&path, "interface eth0 {\n  preference 40000;\n};\n").unwrap();
    let err = shisa_config::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:14: preference 40000 out of range -32768..=32767",
            path.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const AUTH_CASES: &[(&str, &str)] = &[
    (
        "2001:db8::1 300 zz11",
        "auth.db:1:17: key is not hexadecimal",
    ),
    (
        "2001:db8::1 300 abc",
        "auth.db:1:17: key has an odd number of hex digits (3)",
    ),
    (
        "# c\n2001:db8::1 255 00ff",
        "auth.db:2:13: SPI 255 is reserved (0-255, RFC 4285); use 256 or above",
    ),
    (
        "2001:db8::1 x 00ff",
        "auth.db:1:13: SPI 'x' is not a number",
    ),
    (
        "2001:db8::1",
        "auth.db:1:12: expected SPI after home address",
    ),
    (
        "2001:db8::1 300   # no key",
        "auth.db:1:16: expected HEX-KEY after SPI",
    ),
    (
        "2001:db8::1 300 00ff extra",
        "auth.db:1:22: unexpected 'extra' after key",
    ),
    (
        "beef 300 00ff",
        "auth.db:1:1: 'beef' is not an IPv6 home address; make a key line with 'mipsock keygen HOME-ADDRESS' and put it in the auth database of both the mobile router and its home agent",
    ),
    (
        "2001:db8::1 300 00ff\n 2001:db8::2 300 00ff",
        "auth.db:2:14: SPI 300 already used at 1:1",
    ),
];

#[test]
fn each_malformed_auth_line_gives_its_exact_message() {
    let mut failures = Vec::new();
    for (input, expected) in AUTH_CASES {
        match AuthDatabase::parse_str(input, "auth.db") {
            Ok(_) => failures.push(format!("accepted {input:?}")),
            Err(e) if e.to_string() != *expected => {
                failures.push(format!("{input:?}\n   got: {e}\n  want: {expected}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
