//! The path MTU state of the data plane in namespaces, without the daemons: the seg6
//! oversize path appears with a registration, follows a run-time path MTU change, and goes
//! with teardown; the tun backend gets only the Packet Too Big rate bound. Hosts at 1500.

mod common;

use anyhow::{Context, Result};
use common::*;
use dataplane::{Backend, OVERSIZE_LINK};
use integration::Netns;

const PMTU_TABLE: &str = "nemodp_pmtu";

fn pmtu_state(ns: &Netns) -> (String, String, String) {
    let run = |args: &[&str]| {
        ns.command(args[0])
            .args(&args[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    (
        run(&["ip", "-o", "link", "show"]),
        run(&["ip", "rule", "show"]) + &run(&["ip", "-6", "rule", "show"]),
        run(&["nft", "list", "table", "inet", PMTU_TABLE]),
    )
}

fn set_path_mtu(t: &Topology, mtu: u32) -> Result<bool> {
    t.mr_node.run(move |rt, dp| -> Result<bool> {
        let dp = dp.as_mut().context("no data plane")?;
        Ok(rt.block_on(dp.set_path_mtu(mtu))?)
    })?
}

/// `ping -M do` from `ns`: its output (whatever the status).
fn ping_df(ns: &Netns, size: &str, dst: &str) -> String {
    ns.command("ping")
        .args(["-n", "-M", "do", "-s", size, "-c", "1", "-W", "2", dst])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default()
}

#[test]
fn seg6_oversize_path_life_cycle() -> Result<()> {
    let t = Topology::new()?;
    t.register(Backend::Seg6, COA1)?;
    ping(&t.a, &[B4])?;
    let (links, rules, nft) = pmtu_state(&t.mr);
    assert!(
        links.contains(&format!("{OVERSIZE_LINK}@")) && links.contains("mtu 1460"),
        "{links}"
    );
    assert_eq!(
        rules.matches("fwmark 0xa8 lookup 16880").count(),
        2,
        "{rules}"
    );
    assert!(nft.contains("meta length > 1460"), "{nft}");
    let out = ping_df(&t.a, "1472", B4);
    assert!(out.contains("mtu = 1460"), "{out}");

    // A narrower path at run time: routes, the oversize link, the rules and the clamp follow.
    assert!(set_path_mtu(&t, 1400)?);
    assert!(!set_path_mtu(&t, 1400)?, "same MTU: no change");
    assert!(set_path_mtu(&t, 1300).is_err(), "tunnel MTU below 1280");
    let (links, _, nft) = pmtu_state(&t.mr);
    assert!(links.contains("mtu 1360"), "{links}");
    assert!(nft.contains("meta length > 1360"), "{nft}");
    let routes = t.mr.ip(&["route", "show", "default"])?;
    assert!(routes.contains("mtu 1360"), "{routes}");
    let clamp = t.mr.run(&["nft", "list", "table", "inet", NFT_TABLE])?;
    assert!(clamp.contains("maxseg size set 1320"), "{clamp}");
    let out = ping_df(&t.a, "1432", B4);
    assert!(out.contains("mtu = 1360"), "{out}");

    // Teardown takes all of it away.
    t.mr_node.teardown()?;
    let (links, rules, nft) = pmtu_state(&t.mr);
    assert!(!links.contains(OVERSIZE_LINK), "{links}");
    assert!(!rules.contains("fwmark 0xa8"), "{rules}");
    assert!(nft.is_empty(), "{nft}");
    Ok(())
}

#[test]
fn tun_backend_bounds_the_rate_and_needs_no_oversize_link() -> Result<()> {
    let t = Topology::new()?;
    t.register(Backend::Tun, COA1)?;
    ping(&t.a, &[B4])?;
    let (links, rules, nft) = pmtu_state(&t.mr);
    assert!(!links.contains(OVERSIZE_LINK), "{links}");
    assert!(!rules.contains("fwmark 0xa8"), "{rules}");
    assert!(
        nft.contains("limit rate over 100/second") && !nft.contains("mark set"),
        "{nft}"
    );
    let out = ping_df(&t.a, "1472", B4);
    assert!(out.contains("mtu = 1460"), "{out}");
    assert!(set_path_mtu(&t, 1400)?);
    let link = t.mr.ip(&["link", "show", "nemo0"])?;
    assert!(link.contains("mtu 1360"), "{link}");
    Ok(())
}
