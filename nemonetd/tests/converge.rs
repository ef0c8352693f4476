//! Issue 17 item 1: the real `nemonetd` binary converges. The kernel refuses one of the
//! routes of a registration for a while (the MR's IPv4 default route names
//! `src ipv4-mnp-address`, and IPv4 refuses a preferred source that is no local address:
//! "Invalid prefsrc address"); once the address is there, nemonetd's retry installs the
//! route without any further registration event.
//!
//! Runs as root (a network namespace of its own per daemon, the `tun` backend).

use mobsock::{Body, BulEntry, Bus, BusOptions};
use shisa_daemon::testing::{Running, Scratch};
use std::time::{Duration, Instant};

const NEMONETD: &str = env!("CARGO_BIN_EXE_nemonetd");

/// The daemon's namespace has `eth0` with 2001:240:1:280::1 (the care-of address here) and
/// `eth1` (the mobile network) without IPv4.
const MR_CONFIG: &str = "data-plane tun;
interface mip0 {
    mobile-network-interface eth1;
    ipv4-mnp-address 10.0.0.1;
    prefixtable {
        2001:240:1:280::beef 10.0.0.0/24 explicit;
        2001:240:1:280::beef 2001:240:1:281::/64 explicit;
    };
};
";

/// `ip ARGS` in the daemon's network namespace.
fn ip_in(d: &Running, args: &[&str]) -> String {
    let out = std::process::Command::new("nsenter")
        .args(["-t", &d.pid().to_string(), "-n", "ip"])
        .args(args)
        .output()
        .expect("nsenter");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ipv4_default_installed(d: &Running) -> bool {
    ip_in(d, &["-4", "route", "show", "proto", "168"]).contains("default dev nemo0")
}

#[test]
fn a_refused_route_is_retried_until_the_kernel_takes_it() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let s = Scratch::new("nemonetd", Some(MR_CONFIG));
    let mut d = s.start(NEMONETD, true, &["-f", "-m", "mip0"]);
    d.wait_for_log("backend tun (forced by data-plane)");
    // No mrd: the dump at start goes unanswered.
    d.wait_for_log("no mrd answered the dump");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bus_dir = std::path::PathBuf::from(s.path("bus"));
    let mrd = rt
        .block_on(Bus::join(&bus_dir, "mrd", BusOptions::default()))
        .expect("join the bus");
    mrd.send(Body::BulAdd(BulEntry {
        hoa: "2001:240:1:280::beef".parse().unwrap(),
        coa: "2001:240:1:280::1".parse().unwrap(),
        ha: "2001:240:1:280::2".parse().unwrap(),
        lifetime: 3600,
        mnp6: vec!["2001:240:1:281::/64".parse().unwrap()],
        mnp4: vec!["10.0.0.0/24".parse().unwrap()],
        flags: 0,
    }))
    .expect("send BUL_ADD");
    rt.block_on(mrd.flush(Duration::from_secs(2)));

    // The kernel refuses the IPv4 default route (no 10.0.0.1 anywhere yet).
    d.wait_for_log("registration via 2001:240:1:280::1");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !ipv4_default_installed(&d),
        "the kernel took a route with a foreign prefsrc?\n{}",
        d.log()
    );

    // The refusal is lifted: no registration event follows, the retry must do it.
    ip_in(&d, &["addr", "add", "10.0.0.1/24", "dev", "eth1"]);
    let start = Instant::now();
    while !ipv4_default_installed(&d) {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no IPv4 default route 40 s after the refusal was lifted: the data plane did not converge\n{}\n{}",
            ip_in(&d, &["-4", "route", "show", "proto", "168"]),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.log();
    assert!(
        log.contains("Invalid prefsrc")
            || log.contains("invalid argument")
            || log.contains("Invalid argument"),
        "the refusal was logged:\n{log}"
    );
    d.wait_for_log("converged after");
    // The rest of the registration is there too.
    let v6 = ip_in(&d, &["-6", "route", "show", "proto", "168"]);
    assert!(v6.contains("from 2001:240:1:281::/64"), "{v6}");
    drop(mrd);
    s.stop(&mut d);
}
