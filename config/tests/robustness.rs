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
