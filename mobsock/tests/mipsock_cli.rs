//! `mipsock` as an operator uses it: send by hand, monitor, show the tables.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn mipsock(bus: &std::path::Path, args: &[&str]) -> Output {
    Command::new(MIPSOCK)
        .arg("--bus-dir")
        .arg(bus)
        .args(args)
        .output()
        .expect("run mipsock")
}

#[test]
fn send_prints_on_the_monitor_in_ip_monitor_style() {
    let (_tmp, bus) = bus_dir();
    let mut text = Proc::monitor(&bus, false);
    let mut json = Proc::monitor(&bus, true);
    let out = mipsock(
        &bus,
        &[
            "send",
            "bc-add",
            "hoa",
            "2001:db8::beef",
            "coa",
            "2001:db8:200::5",
            "lifetime",
            "40",
            "mnp",
            "2001:db8:281::/64",
            "10.0.0.0/24",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = "BC_ADD hoa 2001:db8::beef coa 2001:db8:200::5 lifetime 40s mnp 2001:db8:281::/64 10.0.0.0/24 from mipsock[";
    let line = text.wait_line(|l| l.contains(" BC_ADD "), Duration::from_secs(5));
    // `2026-11-26T15:40:00.123Z ` then the message, then `from mipsock[PID] seq 2`.
    let (time, rest) = line.split_once(' ').expect("timestamp");
    assert_eq!(time.len(), 24, "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    assert!(rest.starts_with(expected), "{rest}");
    assert!(rest.ends_with("] seq 2"), "{rest}");
    let j = json.wait_line(|l| l.contains("\"BC_ADD\""), Duration::from_secs(5));
    let v: Value = serde_json::from_str(&j).expect("JSON line");
    assert_eq!(v["from"]["name"], "mipsock");
    assert_eq!(v["mnp4"], serde_json::json!(["10.0.0.0/24"]));
    assert_eq!(v["seq"], 2);
    // The sender's arrival and departure are shown too.
    text.wait_line(
        |l| l.contains(" LEAVE from mipsock[") && l.ends_with("reason left"),
        Duration::from_secs(5),
    );
    text.stop();
    json.stop();
}

#[test]
fn bad_words_are_refused_with_a_clear_error() {
    let (_tmp, bus) = bus_dir();
    let out = mipsock(
        &bus,
        &["send", "bc-add", "hoa", "2001:db8::1", "coa", "nope"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"nope\" is not a valid IPv6 address"),
        "{err}"
    );
    let out = mipsock(&bus, &["send", "frobnicate"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown message kind"));
}

#[test]
fn show_asks_the_owner_and_prints_its_table() {
    let (_tmp, bus) = bus_dir();
    let owner = Proc::member(&bus, "had", &["--owner", "--count", "5", "--quiet"]);
    owner.wait_line(|l| l.starts_with("SENT"), Duration::from_secs(5));
    let out = mipsock(&bus, &["show", "bc"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("HOA "), "{table}");
    assert_eq!(rows.len(), 6, "{table}");
    assert!(rows[1].starts_with("2001:db8::1 "), "{table}");
    assert!(rows[1].contains("2001:db8:281:1::/64"), "{table}");
    assert!(
        rows[1].ends_with(&format!("had[{}]", owner.pid())),
        "{table}"
    );

    let out = mipsock(&bus, &["show", "bc", "--json"]);
    let entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[4]["hoa"], "2001:db8::5");

    // Nobody owns a Binding Update List here.
    let out = mipsock(&bus, &["show", "bul", "--timeout-ms", "300"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is mrd running?"));
}

/// Issue 16: `mipsock keygen HOME-ADDRESS` prints one auth database line with 160 random bits
/// and a usable SPI; two runs differ.
#[test]
fn keygen_makes_a_fresh_key_line_the_auth_database_takes() {
    let run = || {
        let out = Command::new(MIPSOCK)
            .args(["keygen", "2001:db8:1::beef"])
            .output()
            .expect("run mipsock");
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("both the mobile router and its home agent"));
        String::from_utf8(out.stdout).unwrap()
    };
    let (a, b) = (run(), run());
    assert_ne!(a, b);
    for line in [&a, &b] {
        assert_eq!(line.lines().count(), 1, "{line}");
        let db = shisa_config::AuthDatabase::parse_str(line, "keygen").unwrap();
        let e = &db.entries[0];
        assert_eq!(
            e.home_address,
            "2001:db8:1::beef".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert!(e.spi >= 256, "{line}");
        assert_eq!(e.key.len(), 20, "160 bits: {line}");
    }
    let both = shisa_config::AuthDatabase::parse_str(&format!("{a}{b}"), "keygen").unwrap();
    assert_eq!(
        both.entries.len(),
        2,
        "a rotation: two SPIs for one home address"
    );
    let bad = Command::new(MIPSOCK)
        .args(["keygen", "10.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
