//! Oracle test for the Neighbor Advertisement encoder: tshark and scapy decode what
//! `mip6::nd` emits (flags, target, link-layer address option, checksum). Both tools are
//! required (`apt-get install tshark python3-scapy`): the test fails when one is missing.

use mip6::nd::{NeighborAdvertisement, ALL_NODES};
use std::io::Write;
use std::net::Ipv6Addr;
use std::process::{Command, Stdio};

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A classic pcap file, linktype 229 (raw IPv6).
fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 229] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, p) in packets.iter().enumerate() {
        let len = u32::try_from(p.len()).unwrap();
        for v in [u32::try_from(i + 1).unwrap(), 0, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(p);
    }
    out
}

fn packets() -> Vec<(NeighborAdvertisement, Vec<u8>)> {
    let ha_ll = ip("fe80::a8bb:ccff:fedd:ee01");
    let home = NeighborAdvertisement::unsolicited(
        ip("2001:db8:1::100"),
        true,
        [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01],
    );
    let link_local =
        NeighborAdvertisement::unsolicited(ip("fe80::100"), false, [0x02, 0x42, 0, 0, 0, 0x07]);
    let solicited = NeighborAdvertisement {
        router: false,
        solicited: true,
        override_flag: false,
        target: ip("2001:db8:1::7"),
        target_lladdr: None,
    };
    [home, link_local, solicited]
        .into_iter()
        .map(|na| (na, na.emit_packet(ha_ll, ALL_NODES)))
        .collect()
}

const FIELDS: &[&str] = &[
    "icmpv6.type",
    "icmpv6.nd.na.flag.r",
    "icmpv6.nd.na.flag.s",
    "icmpv6.nd.na.flag.o",
    "icmpv6.nd.na.target_address",
    "icmpv6.opt.linkaddr",
    "icmpv6.checksum.status",
    "ipv6.hlim",
];

#[test]
fn tshark_decodes_neighbor_advertisements() {
    let packets = packets();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("na.pcap");
    let raw: Vec<_> = packets.iter().map(|(_, p)| p.clone()).collect();
    std::fs::write(&path, pcap(&raw)).unwrap();
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=|"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark must be installed (apt-get install tshark)");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), packets.len(), "{text}");
    let bit = |b: bool| if b { "1" } else { "0" };
    for ((na, _), row) in packets.iter().zip(&rows) {
        assert_eq!(row[0], "136", "{row:?}");
        // tshark 4.0 prints flags as True/False or 1/0 depending on the field type.
        let flag = |s: &str| match s {
            "True" | "1" => "1",
            _ => "0",
        };
        assert_eq!(flag(row[1]), bit(na.router), "R {row:?}");
        assert_eq!(flag(row[2]), bit(na.solicited), "S {row:?}");
        assert_eq!(flag(row[3]), bit(na.override_flag), "O {row:?}");
        assert_eq!(row[4].parse::<Ipv6Addr>().unwrap(), na.target);
        let mac = na
            .target_lladdr
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default();
        assert_eq!(row[5], mac, "{row:?}");
        // tshark verifies ICMPv6 checksums: status 1 is good (0 bad, 2 unverified).
        assert_eq!(row[6], "1", "checksum status good: {row:?}");
        assert_eq!(row[7], "255");
    }
}

#[test]
fn scapy_decodes_neighbor_advertisements() {
    let script = r#"
import sys
from scapy.layers.inet6 import IPv6, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
from scapy.compat import raw
for line in sys.stdin:
    data = bytes.fromhex(line.strip())
    p = IPv6(data)
    na = p[ICMPv6ND_NA]
    stored = na.cksum
    del p[ICMPv6ND_NA].cksum
    again = IPv6(raw(p))[ICMPv6ND_NA].cksum
    ll = p[ICMPv6NDOptDstLLAddr].lladdr if ICMPv6NDOptDstLLAddr in p else "-"
    print(na.R, na.S, na.O, na.tgt, ll, stored == again, p.hlim)
"#;
    let packets = packets();
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed");
    {
        let mut stdin = child.stdin.take().unwrap();
        for (_, p) in &packets {
            let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(stdin, "{hex}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "scapy (apt-get install python3-scapy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), packets.len(), "{text}");
    for ((na, _), line) in packets.iter().zip(lines) {
        let f: Vec<_> = line.split_whitespace().collect();
        assert_eq!(f[0], u8::from(na.router).to_string(), "{line}");
        assert_eq!(f[1], u8::from(na.solicited).to_string(), "{line}");
        assert_eq!(f[2], u8::from(na.override_flag).to_string(), "{line}");
        assert_eq!(f[3].parse::<Ipv6Addr>().unwrap(), na.target, "{line}");
        let mac = na
            .target_lladdr
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_else(|| "-".into());
        assert_eq!(f[4], mac, "{line}");
        assert_eq!(f[5], "True", "scapy computes the same checksum: {line}");
        assert_eq!(f[6], "255");
    }
}
