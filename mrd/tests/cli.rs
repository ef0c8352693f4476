//! Runs the real `mrd` binary: help, command-line and configuration errors, start and stop,
//! reload, detaching, and the pid file.

use std::path::Path;

use nix::sys::signal::Signal;
use shisa_daemon::testing::{run, wait_for_file, Scratch};

const MRD: &str = env!("CARGO_BIN_EXE_mrd");

const VALID: &str = "debug 1;
authentication none;
interface mip0 {
    home-registration-lifetime 40;
    home-agent-address 2001:240:1:280::1;
    prefixtable {
        2001:240:1:280::beef 2001:240:1:281::/64 explicit;
        2001:240:1:280::beef 10.0.0.0/24 explicit;
    };
};
ipv4-dummy-tunnel {
    nemo0 169.254.0.1 169.254.0.2;
};
";

fn setup(config: &str) -> Scratch {
    Scratch::new("mrd", Some(config))
}

/// Issue 16: mrd registers without authentication only when the file says so; with an auth
/// database it needs a key for its home address, in a file only root may read.
#[test]
fn refuses_to_start_without_an_authentication_choice_or_a_key() {
    let s = setup(&VALID.replace("authentication none;\n", ""));
    let out = s.run(MRD, true, &["-f", "mip0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "mrd: {}: interface mip0: no authentication configured: name an auth-database \
             (keys: make a key line with 'mipsock keygen HOME-ADDRESS' and put it in the auth \
             database of both the mobile router and its home agent), or write 'authentication \
             none;' to run without authenticating Binding Updates\n",
            s.config_path()
        )
    );
    let keyed = VALID.replace("authentication none;", "auth-database \"auth.db\";");
    let s = setup(&keyed);
    s.write("auth.db", "2001:240:1:280::cafe 300 00112233\n");
    let out = s.run(MRD, true, &["-f", "mip0"]);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "mrd: {0}: mode 0644 lets group or others read or write the keys: refused (chmod 600 {0})\n",
            s.path("auth.db")
        )
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.path("auth.db"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = s.run(MRD, true, &["-f", "mip0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "mrd: {}: no key for home address 2001:240:1:280::beef; make a key line with \
             'mipsock keygen HOME-ADDRESS' and put it in the auth database of both the mobile \
             router and its home agent\n",
            s.path("auth.db")
        )
    );
    // Two keys for the home address (a rotation): mrd signs with the last line.
    s.write(
        "auth.db",
        "2001:240:1:280::beef 300 00112233\n2001:240:1:280::beef 301 44556677\n",
    );
    let mut d = s.spawn(MRD, true, &["-f", "mip0"]);
    d.wait_for_log("signing with SPI 301 (the last of 300 301 for 2001:240:1:280::beef)");
    s.write("auth.db", "2001:240:1:280::beef 301 44556677\n");
    d.signal(Signal::SIGHUP);
    d.wait_for_log("config change: - auth 2001:240:1:280::beef spi 300");
    d.wait_for_log("new policy in force from the next Binding Update");
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait().code(), Some(0));
}

#[test]
fn help_explains_every_flag() {
    let out = run(MRD, &["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "-f, --foreground",
        "-n, --no-name-lookup",
        "-c, --config <FILE>",
        "-a, --home-agent <HA-ADDRESS>",
        "<MIPIF>",
        "-d, --debug",
        "-D, --trace",
        "--bus-dir <DIR>",
        "--pid-file <PATH>",
        "-g, --graceful-restart",
        "--log-file <FILE>",
        "SIGHUP",
        "SIGUSR1",
        "/etc/shisa/mrd.conf",
        "EXIT STATUS",
    ] {
        assert!(help.contains(flag), "--help lacks {flag:?}:\n{help}");
    }
}

#[test]
fn bad_flag_exits_2_with_clap_message() {
    let out = run(MRD, &["-x", "mip0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unexpected argument '-x' found"), "{err}");
    let out = run(MRD, &["-a", "10.0.0.1", "mip0"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an IPv4 home agent address is refused"
    );
    let out = run(MRD, &["-f"]);
    assert_eq!(out.status.code(), Some(2), "MIPIF is required");
}

#[test]
fn missing_config_file_names_the_path() {
    let out = run(MRD, &["-f", "-c", "/nonexistent/shisa/mrd.conf", "mip0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "mrd: /nonexistent/shisa/mrd.conf: No such file or directory (os error 2)\n"
    );
}

#[test]
fn config_error_gives_file_line_col_and_exit_1() {
    let s = setup("debug 1;\ninterface mip0 {\n    prefixtable {\n        2001:240:1:280::beef 10.0.0.1/24 explicit;\n    };\n};\n");
    let out = s.run(MRD, true, &["-f", "mip0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "mrd: {}:4:30: 10.0.0.1/24 has host bits set; did you mean 10.0.0.0/24?\n",
            s.config_path()
        )
    );
    assert!(!Path::new(&s.pid_path()).exists());
}

#[test]
fn foreground_start_and_sigterm_stop_with_pid_file() {
    let s = setup(VALID);
    let mut d = s.spawn(MRD, true, &["-f", "mip0"]);
    let pid = wait_for_file(Path::new(&s.pid_path()));
    assert_eq!(pid, format!("{}\n", d.pid()));
    d.wait_for_log("mrd started");
    let log = d.log();
    assert!(
        log.contains("home agent 2001:240:1:280::1 (from home-agent-address)"),
        "{log}"
    );
    assert!(
        log.contains("mobile network prefix 10.0.0.0/24 explicit"),
        "{log}"
    );
    assert!(
        log.contains(
            "ipv4-dummy-tunnel nemo0 169.254.0.1 169.254.0.2: accepted and not needed on Linux"
        ),
        "{log}"
    );
    assert!(log.contains(&format!("bus {}", s.path("bus"))), "{log}");
    assert!(
        log.contains("log level debug"),
        "debug 1; sets the level: {log}"
    );
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait().code(), Some(0));
    assert!(!Path::new(&s.pid_path()).exists(), "pid file removed");
    let log = d.log();
    assert!(
        log.contains("SIGTERM: stopping, removing installed state"),
        "{log}"
    );
    assert!(log.contains("mrd stopped"), "{log}");
}

#[test]
fn command_line_home_agent_overrides_config() {
    let s = setup(VALID);
    let mut d = s.spawn(MRD, true, &["-f", "-a", "2001:db8::99", "mip0"]);
    d.wait_for_log("home agent 2001:db8::99 (from -a)");
    d.signal(Signal::SIGINT);
    assert_eq!(d.wait().code(), Some(0));
}

#[test]
fn sighup_reports_changes_and_refuses_a_broken_config() {
    let s = setup(VALID);
    let mut d = s.spawn(MRD, true, &["-f", "mip0"]);
    d.wait_for_log("mrd started");
    std::fs::write(s.config_path(), VALID.replace("lifetime 40", "lifetime 80")).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_log("config change: + interface mip0 { home-registration-lifetime 80; };");
    assert!(d
        .log()
        .contains("config change: - interface mip0 { home-registration-lifetime 40; };"));
    std::fs::write(s.config_path(), "debug 1;\ndebug 2;\n").unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_log(&format!(
        "reload refused, keeping the running configuration: {}:2:1: debug already set at 1:1",
        s.config_path()
    ));
    // Still running with the previous configuration: an unchanged reload reports no changes.
    std::fs::write(s.config_path(), VALID.replace("lifetime 40", "lifetime 80")).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_log(&format!("reloaded {}: no changes", s.config_path()));
    d.signal(Signal::SIGUSR1);
    assert_eq!(d.wait().code(), Some(0));
    assert!(d
        .log()
        .contains("SIGUSR1: stopping, leaving installed state for the next instance"));
    assert!(!Path::new(&s.pid_path()).exists());
}

#[test]
fn graceful_restart_flag_makes_sigterm_keep_state() {
    let s = setup(VALID);
    let mut d = s.spawn(MRD, true, &["-f", "-g", "mip0"]);
    d.wait_for_log("graceful restart on SIGTERM");
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait().code(), Some(0));
    assert!(d
        .log()
        .contains("SIGTERM: stopping, leaving installed state for the next instance"));
}

#[test]
fn second_instance_is_refused_while_the_first_runs() {
    let s = setup(VALID);
    let mut d = s.spawn(MRD, true, &["-f", "mip0"]);
    wait_for_file(Path::new(&s.pid_path()));
    let out = s.run(MRD, true, &["-f", "mip0"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "mrd: {}: another instance is running (pid {})\n",
            s.pid_path(),
            d.pid()
        )
    );
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait().code(), Some(0));
}

#[test]
fn without_f_it_detaches_and_the_starter_returns_once_ready() {
    let s = setup(VALID);
    let out = s.run(MRD, true, &["--log-file", &s.path("detached.log"), "mip0"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The starter returned only after the daemon wrote its pid file.
    let text = std::fs::read_to_string(s.pid_path()).unwrap();
    let pid: i32 = text.trim().parse().unwrap();
    let daemon = nix::unistd::Pid::from_raw(pid);
    assert!(
        nix::sys::signal::kill(daemon, None).is_ok(),
        "daemon {pid} is alive"
    );
    assert_eq!(
        nix::unistd::getsid(Some(daemon)).unwrap(),
        nix::unistd::getpgid(Some(daemon)).unwrap()
    );
    nix::sys::signal::kill(daemon, Signal::SIGTERM).unwrap();
    let start = std::time::Instant::now();
    while Path::new(&s.pid_path()).exists() {
        assert!(
            start.elapsed() < shisa_daemon::testing::TIMEOUT,
            "pid file not removed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(s.path("detached.log")).unwrap();
    assert!(
        log.contains("mrd started") && log.contains("mrd stopped"),
        "{log}"
    );
}

#[test]
fn reports_readiness_and_stop_to_systemd() {
    use std::os::unix::net::UnixDatagram;
    let s = setup(VALID);
    let socket_path = s.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(shisa_daemon::testing::TIMEOUT))
        .unwrap();
    let args = s.args(true, &["-f", "mip0"]);
    let mut child = std::process::Command::new(MRD)
        .args(&args)
        .env("NOTIFY_SOCKET", &socket_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 64];
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    // READY comes after the pid file is written.
    assert_eq!(
        std::fs::read_to_string(s.pid_path()).unwrap(),
        format!("{}\n", child.id())
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn reload_that_changes_debug_changes_the_log_level() {
    let s = setup(&VALID.replace("debug 1;", "debug 0;"));
    let mut d = s.start(MRD, true, &["-f", "mip0"]);
    assert!(d.log().contains("log level info"));
    std::fs::write(s.config_path(), VALID.replace("debug 1;", "debug 2;")).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_log("log level now trace");
    s.stop(&mut d);
}
