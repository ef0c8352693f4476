//! The lab (`integration/src/lab.rs`) with an MR configured without `home-agent-address`
//! (issue 15): a file of its own so that it does not run beside the per-backend labs of
//! `tests/lab.rs` (test binaries run one after the other; three labs at once on two cores
//! miss the lab's 1 s deadlines).

use integration::experiment;
use integration::lab::Lab;

/// The lab with an MR configured without `home-agent-address` (data-plane auto): DHAAD
/// finds the home agent (which sends H-flag Router Advertisements, radvd) already at home,
/// and every check passes, the at-home IPv4 ones before the first registration and the BGP
/// ones included.
#[test]
fn dhaad_paper_experiment() {
    let mut opts = integration::lab::Options::new("auto");
    opts.dhaad = true;
    let mut lab = Lab::build_with(opts).unwrap();
    let mut out = Vec::new();
    let result = experiment::run(&mut lab, &mut out);
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    let report = result.unwrap_or_else(|e| panic!("{e:#}\n--- mrd ---\n{}", lab.log("mrd-mr")));
    let failed: Vec<_> = report.failed().iter().map(|c| c.name.clone()).collect();
    assert!(failed.is_empty(), "failed checks: {failed:?}\n{text}");
    for name in [
        "DHAAD at home finds the home agent",
        "at home, before any registration: the MR sends IPv4 to the HA",
        "at home, before any registration: IPv4 ping A -> B",
        "DHAAD found the home agent",
    ] {
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.name.contains(name) && c.passed),
            "{name}\n{text}"
        );
    }
    assert!(report.bgp_follow.is_some() && report.bgp_withdraw.is_some());
}
