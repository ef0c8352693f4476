//! The paper's experiment as the project's integration test (issue 7), for each data-plane
//! backend: every check of `nemo-lab` must pass, and the routing tables must hold the
//! entries of the paper's Fig. 7.

use integration::backend_tests;
use integration::backends::{tunnel_marker, Backend};
use integration::experiment;
use integration::lab::Lab;

fn lab(backend: Backend) -> anyhow::Result<()> {
    let mut lab = Lab::build(backend.name())?;
    let mut out = Vec::new();
    let result = experiment::run(&mut lab, &mut out);
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    let report = result.unwrap_or_else(|e| {
        panic!(
            "{e:#}\n--- mrd ---\n{}\n--- had ---\n{}\n--- nemonetd (MR) ---\n{}",
            lab.log("mrd-mr"),
            lab.log("had-ha"),
            lab.log("nemonetd-mr")
        )
    });
    let failed: Vec<_> = report.failed().iter().map(|c| c.name.clone()).collect();
    assert!(failed.is_empty(), "failed checks: {failed:?}\n{text}");
    assert!(report.checks.len() >= 20, "{text}");

    // Fig. 7, HA: the IPv4 MNP, the IPv6 MNP and the home address into the tunnel.
    let tunnel = tunnel_marker(backend);
    let ha_line = |dst: &str| {
        report
            .ha_tables
            .lines()
            .any(|l| l.starts_with(dst) && l.contains(tunnel) && l.contains("proto 168"))
    };
    assert!(
        ha_line("10.0.0.0/24"),
        "HA IPv4 MNP route:\n{}",
        report.ha_tables
    );
    assert!(
        ha_line("2001:240:1:281::/64"),
        "HA IPv6 MNP route:\n{}",
        report.ha_tables
    );
    assert!(
        ha_line("2001:240:1:280::beef"),
        "HA home address route:\n{}",
        report.ha_tables
    );
    // Fig. 7, MR: IPv4 default into the tunnel, from the MR's inside address; IPv6 default
    // for traffic from the mobile network.
    let mr_line = |start: &str, extra: &str| {
        report
            .mr_tables
            .lines()
            .any(|l| l.starts_with(start) && l.contains(tunnel) && l.contains(extra))
    };
    assert!(
        mr_line("default", "src 10.0.0.1"),
        "MR IPv4 default:\n{}",
        report.mr_tables
    );
    assert!(
        mr_line("default from 2001:240:1:281::/64", "proto 168"),
        "MR IPv6 default:\n{}",
        report.mr_tables
    );
    assert!(report.registration.is_some() && report.handover.is_some());
    assert_eq!(
        report.backend,
        Some(backend),
        "nemonetd ran on another backend"
    );
    Ok(())
}

backend_tests! {
    lab: seg6_paper_experiment, ip6tnl_paper_experiment, bpf_paper_experiment, tun_paper_experiment;
}
