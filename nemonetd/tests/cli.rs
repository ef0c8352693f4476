//! Runs the real `nemonetd` binary: help, command-line and configuration errors, start and
//! stop in both roles, and reload.

use nix::sys::signal::Signal;
use shisa_daemon::testing::{assert_fails, assert_help_mentions, run, Scratch};

const NEMONETD: &str = env!("CARGO_BIN_EXE_nemonetd");

const HA_CONFIG: &str = "data-plane auto;
interface eth0 {
    prefixtable {
        2001:240:1:280::beef 2001:240:1:281::/64 explicit;
        2001:240:1:280::beef 10.0.0.0/24 explicit;
    };
    static-tunnel { nemo0 2001:240:1:280::beef; };
};
ipv4-dummy-tunnel { nemo0 169.254.0.1 169.254.0.2; };
";

#[test]
fn help_explains_every_flag() {
    assert_help_mentions(
        NEMONETD,
        &[
            "-h, --home-agent",
            "-m, --mobile-router",
            "-s, --static-tunnel",
            "-M, --multiple-coa",
            "-c, --config <FILE>",
            "<IFNAME>",
            "-f, --foreground",
            "-d, --debug",
            "--bus-dir <DIR>",
            "--pid-file <PATH>",
            "-g, --graceful-restart",
            "SIGHUP",
        ],
    );
}

#[test]
fn role_is_required_and_exclusive() {
    let out = run(NEMONETD, &["-f", "eth0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<--home-agent|--mobile-router>"));
    let out = run(NEMONETD, &["-h", "-m", "eth0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("the argument '--home-agent' cannot be used with '--mobile-router'"));
    let out = run(NEMONETD, &["-h", "-q", "eth0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_and_broken_config() {
    let out = run(
        NEMONETD,
        &["-f", "-m", "-c", "/nonexistent/mrd.conf", "eth0"],
    );
    assert_fails(
        &out,
        1,
        "nemonetd: /nonexistent/mrd.conf: No such file or directory (os error 2)\n",
    );
    let s = Scratch::new("nemonetd", Some("data-plane vxlan;\n"));
    let out = s.run(NEMONETD, true, &["-f", "-h", "eth0"]);
    assert_fails(
        &out,
        1,
        &format!(
            "nemonetd: {}:1:12: data-plane must be 'seg6' or 'bpf' or 'ip6tnl' or 'tun' or 'auto', found 'vxlan'\n",
            s.config_path()
        ),
    );
}

#[test]
fn home_agent_role_starts_logs_and_reloads() {
    let s = Scratch::new("nemonetd", Some(HA_CONFIG));
    // `auto` takes the first backend this kernel runs (seg6 where it has it).
    let first = integration::backends::auto().expect("no data-plane backend runs here");
    let mut d = s.start(NEMONETD, true, &["-f", "-h", "eth0"]);
    d.wait_for_log("home agent data plane on eth0: backend auto");
    d.wait_for_log(&format!("backend {first} (probed)"));
    d.wait_for_log("static-tunnel nemo0 for 2001:240:1:280::beef: accepted and not used on Linux");
    d.wait_for_log(
        "ipv4-dummy-tunnel nemo0 169.254.0.1 169.254.0.2: accepted and not needed on Linux",
    );
    s.write("nemonetd.conf", &HA_CONFIG.replace("auto", "tun"));
    d.signal(Signal::SIGHUP);
    d.wait_for_log("config change: + data-plane tun;");
    d.wait_for_log("home agent data plane on eth0: backend tun");
    s.stop(&mut d);
}

#[test]
fn mobile_router_role() {
    let s = Scratch::new(
        "nemonetd",
        Some("interface mip0 {\n  mobile-network-interface eth1;\n  ipv4-mnp-address 10.0.0.1;\n  prefixtable { 2001:240:1:280::beef 10.0.0.0/24 explicit; };\n};\n"),
    );
    let mut d = s.start(NEMONETD, true, &["-f", "-m", "mip0"]);
    d.wait_for_log("mobile router data plane on mip0: backend auto");
    d.wait_for_log("the router's own IPv4 traffic leaves the tunnel from 10.0.0.1");
    s.stop(&mut d);
}

/// Issue 17 item 4: SHISA's -s and -M have no meaning on this data plane, so nemonetd refuses
/// them at start (a usage error naming the flag, why, and what to do) instead of accepting
/// them and doing nothing; a valid configuration does not change that.
#[test]
fn shisa_static_tunnel_and_multiple_coa_flags_are_refused() {
    let s = Scratch::new("nemonetd", Some(HA_CONFIG));
    for (args, flag, why) in [
        (
            &["-f", "-h", "-s", "eth0"][..],
            "-s (--static-tunnel) is not supported",
            "only the ip6tnl backend has a device per mobile router",
        ),
        (
            &["-f", "-h", "--static-tunnel", "eth0"][..],
            "-s (--static-tunnel) is not supported",
            "run nemonetd without -s",
        ),
        (
            &["-f", "-m", "-M", "mip0"][..],
            "-M (--multiple-coa) is not supported",
            "one care-of address per home address",
        ),
        (
            &["-f", "-m", "--multiple-coa", "mip0"][..],
            "-M (--multiple-coa) is not supported",
            "run nemonetd without -M",
        ),
    ] {
        let out = s.run(NEMONETD, true, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
}
