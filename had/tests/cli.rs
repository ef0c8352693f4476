//! Runs the real `had` binary: help, errors (configuration and auth database), start and
//! stop, the unauthenticated warning, and reload of the auth database.

use std::os::unix::fs::PermissionsExt;

use nix::sys::signal::Signal;
use shisa_daemon::testing::{assert_fails, assert_help_mentions, run, Scratch};

/// Writes a key file as an operator must: mode 600.
fn write_keys(s: &Scratch, name: &str, text: &str) {
    s.write(name, text);
    std::fs::set_permissions(s.path(name), std::fs::Permissions::from_mode(0o600)).unwrap();
}

const HAD: &str = env!("CARGO_BIN_EXE_had");

const VALID: &str = "interface eth0 {
    home-prefix 2001:240:1:280::/64;
    max-binding-lifetime 600;
    prefixtable {
        2001:240:1:280::beef 2001:240:1:281::/64 explicit;
        2001:240:1:280::beef 10.0.0.0/24 explicit;
    };
};
";

#[test]
fn help_explains_every_flag() {
    assert_help_mentions(
        HAD,
        &[
            "-f, --foreground",
            "-n, --no-name-lookup",
            "-c, --config <FILE>",
            "<HOMEIF>",
            "-d, --debug",
            "-D, --trace",
            "--bus-dir <DIR>",
            "--pid-file <PATH>",
            "-g, --graceful-restart",
            "--log-file <FILE>",
            "SIGHUP",
            "/etc/shisa/had.conf",
        ],
    );
}

#[test]
fn bad_flag_exits_2() {
    let out = run(HAD, &["--frobnicate", "eth0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--frobnicate' found")
    );
    let out = run(HAD, &["-f", "a/b"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an impossible interface name is refused"
    );
}

#[test]
fn missing_config_file_names_the_path() {
    let out = run(HAD, &["-f", "-c", "/nonexistent/had.conf", "eth0"]);
    assert_fails(
        &out,
        1,
        "had: /nonexistent/had.conf: No such file or directory (os error 2)\n",
    );
}

#[test]
fn config_error_gives_file_line_col() {
    let s = Scratch::new(
        "had",
        Some("interface eth0 {\n    max-binding-lifetim 600;\n};\n"),
    );
    let out = s.run(HAD, true, &["-f", "eth0"]);
    assert_fails(
        &out,
        1,
        &format!(
            "had: {}:2:5: unknown keyword 'max-binding-lifetim'; did you mean 'max-binding-lifetime'?\n",
            s.config_path()
        ),
    );
}

#[test]
fn auth_database_error_names_its_file_line_col() {
    let s = Scratch::new("had", Some(&format!("auth-database \"auth.db\";\n{VALID}")));
    write_keys(&s, "auth.db", "# keys\n2001:240:1:280::beef 12 00112233\n");
    let out = s.run(HAD, true, &["-f", "eth0"]);
    assert_fails(
        &out,
        1,
        &format!(
            "had: {}:2:22: SPI 12 is reserved (0-255, RFC 4285); use 256 or above\n",
            s.path("auth.db")
        ),
    );
}

/// Issue 16: no authentication configured, no start (exit 1, the file and the interface
/// named); `authentication none;` is the explicit way to run without, and had says so.
#[test]
fn refuses_to_start_without_an_authentication_choice() {
    let s = Scratch::new("had", Some(VALID));
    let out = s.run(HAD, true, &["-f", "eth0"]);
    assert_fails(
        &out,
        1,
        &format!(
            "had: {}: interface eth0: no authentication configured: name an auth-database \
             (keys: make a key line with 'mipsock keygen HOME-ADDRESS' and put it in the auth \
             database of both the mobile router and its home agent), or write 'authentication \
             none;' to run without authenticating Binding Updates\n",
            s.config_path()
        ),
    );
    assert!(!std::path::Path::new(&s.pid_path()).exists());
}

#[test]
fn start_with_authentication_none_warns_and_stops_on_sigterm() {
    let s = Scratch::new("had", Some(&format!("authentication none;\n{VALID}")));
    let mut d = s.start(HAD, true, &["-f", "eth0"]);
    d.wait_for_log(
        "authentication none: Binding Updates are accepted without authentication (each registration is logged)",
    );
    let log = d.log();
    assert!(log.contains("home interface eth0, home prefix 2001:240:1:280::/64, 1 mobile router(s), 1 IPv6 and 1 IPv4 prefixes"), "{log}");
    assert!(log.contains("binding lifetimes capped at 600s"), "{log}");
    s.stop(&mut d);
}

/// Issue 16: a key file group or others may read, or without a key for a mobile router of
/// the prefixtable, stops had at start with the path (and the mode).
#[test]
fn refuses_an_open_key_file_and_one_missing_a_mobile_router() {
    let s = Scratch::new("had", Some(&format!("auth-database \"auth.db\";\n{VALID}")));
    s.write("auth.db", "2001:240:1:280::beef 300 00112233\n");
    std::fs::set_permissions(s.path("auth.db"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = s.run(HAD, true, &["-f", "eth0"]);
    assert_fails(
        &out,
        1,
        &format!(
            "had: {0}: mode 0640 lets group or others read or write the keys: refused (chmod 600 {0})\n",
            s.path("auth.db")
        ),
    );
    write_keys(&s, "auth.db", "2001:240:1:280::cafe 300 00112233\n");
    let out = s.run(HAD, true, &["-f", "eth0"]);
    assert_fails(
        &out,
        1,
        &format!(
            "had: {}: no key for home address 2001:240:1:280::beef (a mobile router of the \
             prefixtable of {}, interface eth0); make a key line with 'mipsock keygen \
             HOME-ADDRESS' and put it in the auth database of both the mobile router and its \
             home agent\n",
            s.path("auth.db"),
            s.config_path()
        ),
    );
}

#[test]
fn sighup_reloads_the_auth_database_without_showing_keys() {
    let s = Scratch::new("had", Some(&format!("auth-database \"auth.db\";\n{VALID}")));
    write_keys(&s, "auth.db", "2001:240:1:280::beef 300 00112233\n");
    let mut d = s.start(HAD, true, &["-f", "eth0"]);
    d.wait_for_log("1 mobile router key(s)");
    s.write(
        "auth.db",
        "2001:240:1:280::beef 300 00112233\n2001:240:1:280::cafe 301 aabbccdd\n",
    );
    d.signal(Signal::SIGHUP);
    d.wait_for_log("config change: + auth 2001:240:1:280::cafe spi 301");
    assert!(!d.log().contains("aabbccdd"), "keys never reach the log");
    s.write("auth.db", "2001:240:1:280::beef 300 0011223\n");
    d.signal(Signal::SIGHUP);
    d.wait_for_log(&format!(
        "reload refused, keeping the running configuration: {}:1:26: key has an odd number of hex digits (7)",
        s.path("auth.db")
    ));
    assert!(!d.log().contains("0011223"), "not even a malformed key");
    s.stop(&mut d);
}
