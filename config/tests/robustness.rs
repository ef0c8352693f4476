//! No input makes the parsers panic; errors always carry a position inside the text.

use proptest::prelude::*;
use shisa_config::{parse_str, AuthDatabase, ConfigError};

fn within(text: &str, err: &ConfigError) -> bool {
    let Some(pos) = err.pos() else { return false };
    let lines = text.split('\n').count() as u32;
    pos.line >= 1 && pos.line <= lines && pos.col >= 1
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = parse_str(&text, "p.conf") {
            prop_assert!(within(&text, &e), "{e}");
        }
        let _ = AuthDatabase::parse_str(&text, "p.db");
    }

    #[test]
    fn grammar_shaped_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("interface"), Just("mip0"), Just("{"), Just("}"), Just(";"),
                Just("prefixtable"), Just("2001:db8::1"), Just("10.0.0.0/24"),
                Just("2001:db8::/64"), Just("explicit"), Just("implicit"), Just("7"),
                Just("debug"), Just("static-tunnel"), Just("ipv4-dummy-tunnel"),
                Just("nemo0"), Just("169.254.0.1"), Just("\"f\""), Just("ipv4-mnp-encoding"),
                Just("draft"), Just("draft-option-numbers"), Just("role"), Just("home"),
            ],
            0..40,
        )
    ) {
        let text = parts.join(" ");
        if let Err(e) = parse_str(&text, "p.conf") {
            prop_assert!(within(&text, &e), "{e}");
        }
    }
}

/// Valid statements, each usable at top level or inside an interface block.
const STATEMENTS: &[&str] = &[
    "debug 3;",
    "namelookup 0;",
    "command-port 7777;",
    "home-registration-lifetime 64;",
    "preference 10;",
    "key-management 1;",
    "ipv4-mnp-support 1;",
    "auth-database \"/etc/shisa/auth.db\";",
    "home-agent-address 2001:db8::1;",
    "data-plane tun;",
    "ipv4-mnp-encoding config-only;",
    "mobile-network-interface eth9;",
    "max-binding-lifetime 100;",
    "prefixtable { 2001:db8::beef 2001:db8:1::/64 explicit 3; };",
    "prefixtable { 2001:db8::beef 10.1.0.0/16 implicit; };",
    "prefixtable { 2001:db8::cafe 2001:db8:2::/48 explicit; };",
    "static-tunnel { nemo4 2001:db8::beef 9; };",
    "ipv4-dummy-tunnel { nemo5 169.254.1.1 169.254.1.2; };",
];

proptest! {
    /// Whatever valid file we assemble, rendering it gives a file that parses to the same.
    #[test]
    fn render_then_parse_is_identity(
        global in proptest::collection::vec(0..STATEMENTS.len(), 0..6),
        blocks in proptest::collection::vec(proptest::collection::vec(0..STATEMENTS.len(), 0..5), 0..3),
    ) {
        let mut text: String = global.iter().map(|i| format!("{}\n", STATEMENTS[*i])).collect();
        for (n, block) in blocks.iter().enumerate() {
            text.push_str(&format!("interface eth{n} {{\n"));
            for i in block {
                text.push_str(&format!("  {}\n", STATEMENTS[*i]));
            }
            text.push_str("};\n");
        }
        // Repeated statements are (correctly) refused; only valid files are compared.
        if let Ok(cfg) = parse_str(&text, "r.conf") {
            let again = parse_str(&cfg.to_config_string(), "r.conf");
            prop_assert!(again.is_ok(), "{:?}\n{}", again, cfg.to_config_string());
            let again = again.unwrap();
            prop_assert_eq!(&cfg, &again);
            prop_assert!(cfg.changes(&again).is_empty());
        }
    }
}
