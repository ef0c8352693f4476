//! The auth database as a security boundary: the `authentication` choice, key file
//! permissions, several SPIs per home address (key rotation).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use shisa_config::{parse_str, AuthDatabase, AuthSetup, Authentication};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shisa-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn authentication_statement_parses_renders_and_overrides() {
    let cfg = parse_str(
        "authentication none;\ninterface eth0 { authentication rfc4285; auth-database \"k\"; };\n",
        "t.conf",
    )
    .unwrap();
    assert_eq!(
        cfg.global.settings.authentication,
        Some(Authentication::None)
    );
    assert_eq!(
        cfg.settings_for("eth0").authentication,
        Some(Authentication::Rfc4285)
    );
    let again = parse_str(&cfg.to_config_string(), "t.conf").unwrap();
    assert_eq!(again, cfg);
    let err = parse_str("authentication off;", "t.conf").unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.conf:1:16: authentication must be 'rfc4285' or 'none', found 'off'"
    );
}

#[test]
fn a_file_without_an_authentication_choice_is_refused() {
    let here = Path::new("/etc/shisa/had.conf");
    let none = parse_str("interface eth0 { home-prefix 2001:db8::/64; };", "had.conf").unwrap();
    assert_eq!(
        none.auth_setup("eth0", here).unwrap_err().to_string(),
        "had.conf: interface eth0: no authentication configured: name an auth-database \
         (keys: make a key line with 'mipsock keygen HOME-ADDRESS' and put it in the auth \
         database of both the mobile router and its home agent), or write 'authentication \
         none;' to run without authenticating Binding Updates"
    );
    let explicit = parse_str("authentication none;", "had.conf").unwrap();
    assert_eq!(explicit.auth_setup("eth0", here).unwrap(), AuthSetup::None);
    let keyed = parse_str("interface eth0 { auth-database \"auth.db\"; };", "had.conf").unwrap();
    assert_eq!(
        keyed.auth_setup("eth0", here).unwrap(),
        AuthSetup::Database("/etc/shisa/auth.db".into())
    );
    // Only eth0 has keys: another interface has made no choice.
    assert!(keyed.auth_setup("eth1", here).is_err());
    let both = parse_str(
        "authentication none;\ninterface eth0 { auth-database \"auth.db\"; };",
        "had.conf",
    )
    .unwrap();
    assert_eq!(
        both.auth_setup("eth0", here).unwrap_err().to_string(),
        "had.conf: interface eth0: 'authentication none;' and auth-database \"auth.db\" exclude each other"
    );
}

#[test]
fn key_files_open_to_group_or_others_are_refused_with_path_and_mode() {
    let dir = scratch("mode");
    let path = dir.join("auth.db");
    let line = "2001:db8::1 300 00112233\n";
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
        write(&path, line, mode);
        let err = AuthDatabase::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{0}: mode {mode:04o} lets group or others read or write the keys: refused (chmod 600 {0})",
                path.display()
            )
        );
    }
    for mode in [0o600, 0o400] {
        write(&path, line, mode);
        assert_eq!(AuthDatabase::load(&path).unwrap().entries.len(), 1);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_files_of_another_user_are_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let dir = scratch("owner");
    let path = dir.join("auth.db");
    write(&path, "2001:db8::1 300 00112233\n", 0o600);
    std::os::unix::fs::chown(&path, Some(1234), None).unwrap();
    let err = AuthDatabase::load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{0}: owned by uid 1234, not by root (mode 0600): refused (chown root {0})",
            path.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn several_spis_per_home_address_for_rotation_and_the_last_signs() {
    let db = AuthDatabase::parse_str(
        "2001:db8::1 300 00112233\n2001:db8::2 400 aa\n2001:db8::1 301 44556677\n",
        "auth.db",
    )
    .unwrap();
    let spis: Vec<u32> = db
        .all_for("2001:db8::1".parse().unwrap())
        .map(|e| e.spi)
        .collect();
    assert_eq!(spis, vec![300, 301]);
    assert_eq!(
        db.by_home_address("2001:db8::1".parse().unwrap())
            .unwrap()
            .spi,
        301,
        "the mobile router signs with the last line"
    );
}

#[test]
fn the_sample_placeholder_says_how_to_make_a_key() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/auth.db");
    let text = std::fs::read_to_string(etc).unwrap();
    let err = AuthDatabase::parse_str(&text, "auth.db")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("auth.db:11:1: 'REPLACE-ME-WITH-THE-OUTPUT-OF-mipsock-keygen' is not an IPv6 home address; make a key line with 'mipsock keygen HOME-ADDRESS'"), "{err}");
}
