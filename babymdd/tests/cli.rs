//! Runs the real `babymdd` binary: help, command-line and configuration errors, start and
//! stop, uplink order, and SIGHUP re-announcing.

use nix::sys::signal::Signal;
use shisa_daemon::testing::{assert_fails, assert_help_mentions, run, Scratch};

const BABYMDD: &str = env!("CARGO_BIN_EXE_babymdd");

const CONFIG: &str = "interface mip0 {
    prefixtable { 2001:240:1:280::beef 2001:240:1:281::/64 explicit; };
};
interface wlan0 { role egress; priority 2; };
interface eth1 { role egress; priority 1; };
interface eth0 { role home; };
";

#[test]
fn help_explains_every_flag() {
    assert_help_mentions(
        BABYMDD,
        &[
            "-h, --mip-interface <MIPIF>",
            "[IFNAME[:BID]]...",
            "-c, --config <FILE>",
            "-f, --foreground",
            "-d, --debug",
            "-D, --trace",
            "--bus-dir <DIR>",
            "--pid-file <PATH>",
            "-g, --graceful-restart",
            "SIGHUP           re-announce",
        ],
    );
}

#[test]
fn command_line_errors_exit_2() {
    let out = run(BABYMDD, &["-f", "eth0"]);
    assert_eq!(out.status.code(), Some(2), "-h MIPIF is required");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mip-interface <MIPIF>"));
    let out = run(BABYMDD, &["-h", "mip0", "eth0:bad"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("binding id 'bad' is not a number 0..=65535")
    );
    let out = run(BABYMDD, &["-h", "mip0", "eth0", "eth0:3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("uplink eth0 given twice"));
    let out = run(BABYMDD, &["-x", "-h", "mip0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_and_broken_config() {
    let out = run(
        BABYMDD,
        &["-f", "-c", "/nonexistent/mrd.conf", "-h", "mip0"],
    );
    assert_fails(
        &out,
        1,
        "babymdd: /nonexistent/mrd.conf: No such file or directory (os error 2)\n",
    );
    let s = Scratch::new("babymdd", Some("interface eth0 { role uplink; };\n"));
    let out = s.run(BABYMDD, true, &["-f", "-h", "mip0"]);
    assert_fails(
        &out,
        1,
        &format!(
            "babymdd: {}:1:23: role must be 'home' or 'egress', found 'uplink'\n",
            s.config_path()
        ),
    );
}

#[test]
fn command_line_uplinks_in_order_and_sighup_reannounces() {
    let s = Scratch::new("babymdd", Some(CONFIG));
    let mut d = s.start(BABYMDD, true, &["-f", "-h", "mip0", "eth2:5", "eth1"]);
    d.wait_for_log("watching eth2 (bid 5), eth1, most preferred first");
    d.wait_for_log("home prefix 2001:240:1:280::/64");
    d.signal(Signal::SIGHUP);
    d.wait_for_log("SIGHUP: re-announcing the movement state");
    s.stop(&mut d);
}

#[test]
fn config_roles_order_uplinks_when_none_are_given() {
    let s = Scratch::new("babymdd", Some(CONFIG));
    let mut d = s.start(BABYMDD, true, &["-f", "-d", "-h", "mip0"]);
    d.wait_for_log("watching eth1, wlan0, most preferred first");
    assert!(d.log().contains("log level debug"));
    s.stop(&mut d);
}
