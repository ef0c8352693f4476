//! Oracle test for the ICMPv6 side (`mip6::icmp`): what mip6 emits, tshark decodes to the
//! same values (checksum included); what scapy builds (its own DHAAD / mobile prefix / Home
//! Agent Information classes), mip6 parses to the same values. Both tools are required
//! (`apt-get install tshark python3-scapy`): the test fails, it does not skip.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::process::Command;

use mip6::icmp::{HomeAgentAdvertisement, IcmpRepr, PrefixInformation};

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A classic pcap file, linktype 229 (LINKTYPE_IPV6).
fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&229u32.to_le_bytes());
    for (i, packet) in packets.iter().enumerate() {
        let len = u32::try_from(packet.len()).unwrap();
        out.extend_from_slice(&u32::try_from(i + 1).unwrap().to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(packet);
    }
    out
}

const FIELDS: &[&str] = &[
    "icmpv6.type",
    "icmpv6.checksum.status",
    "icmpv6.mip6.identifier",
    "icmpv6.mip6.home_agent_address",
    "icmpv6.mip6.flag.o",
    "icmpv6.opt.prefix",
    "icmpv6.opt.prefix.length",
    "icmpv6.opt.prefix.valid_lifetime",
    "icmpv6.nd.ra.flag.h",
    "icmpv6.opt.home_agent_preference",
    "icmpv6.opt.home_agent_lifetime",
    "_ws.malformed",
];

fn tshark(packets: &[Vec<u8>]) -> Vec<HashMap<String, String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("icmp.pcap");
    std::fs::write(&path, pcap(packets)).unwrap();
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&path).args([
        "-o",
        "icmpv6.checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark must be installed");
    // Older tsharks lack the checksum preference: retry without it.
    let out = if out.status.success() {
        out
    } else {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&path).args([
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ]);
        for f in FIELDS {
            cmd.args(["-e", f]);
        }
        cmd.output().unwrap()
    };
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<_> = text
        .lines()
        .map(|l| {
            FIELDS
                .iter()
                .map(|f| f.to_string())
                .zip(l.split('|').map(str::to_string))
                .collect::<HashMap<_, _>>()
        })
        .collect();
    assert_eq!(rows.len(), packets.len(), "{text}");
    rows
}

#[test]
fn tshark_decodes_what_mip6_emits() {
    let (coa, ha1, ha2) = (
        addr("2001:db8:200::5"),
        addr("2001:db8:1::1"),
        addr("2001:db8:1::2"),
    );
    let anycast = addr("2001:db8:1:0:fdff:ffff:ffff:fffe");
    let ra = HomeAgentAdvertisement {
        home_agent: true,
        router_lifetime: 1800,
        info: Some(mip6::icmp::HomeAgentInformation {
            mobile_router: true,
            preference: 20,
            lifetime: 30,
        }),
        prefixes: vec![PrefixInformation {
            prefix: ha1,
            prefix_len: 64,
            on_link: true,
            autonomous: false,
            router_address: true,
            valid_lifetime: 86400,
            preferred_lifetime: 14400,
        }],
    };
    let ll = addr("fe80::1");
    let all_nodes = addr("ff02::1");
    let packets = vec![
        IcmpRepr::DhaadRequest {
            id: 0x1234,
            mobile_router: true,
        }
        .emit_packet(coa, anycast, 64),
        IcmpRepr::DhaadReply {
            id: 0x1234,
            mobile_router: true,
            home_agents: vec![ha1, ha2],
        }
        .emit_packet(ha2, coa, 64),
        IcmpRepr::MobilePrefixSolicitation { id: 77 }.emit_packet(coa, ha1, 64),
        IcmpRepr::MobilePrefixAdvertisement {
            id: 77,
            managed: false,
            other: true,
            prefixes: vec![PrefixInformation {
                prefix: addr("2001:db8:1::"),
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                router_address: false,
                valid_lifetime: 600,
                preferred_lifetime: 600,
            }],
        }
        .emit_packet(ha1, coa, 64),
        mip6::icmp::ipv6_packet(ll, all_nodes, 255, &ra.emit(ll, all_nodes)),
    ];
    let rows = tshark(&packets);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["_ws.malformed"], "", "packet {i} malformed: {r:?}");
        // 1 = PROTO_CHECKSUM_E_GOOD.
        assert_eq!(r["icmpv6.checksum.status"], "1", "packet {i}: {r:?}");
    }
    assert_eq!(rows[0]["icmpv6.type"], "144");
    assert_eq!(rows[0]["icmpv6.mip6.identifier"], "4660");
    assert_eq!(rows[1]["icmpv6.type"], "145");
    assert_eq!(
        rows[1]["icmpv6.mip6.home_agent_address"],
        "2001:db8:1::1,2001:db8:1::2"
    );
    assert_eq!(rows[2]["icmpv6.type"], "146");
    assert_eq!(rows[2]["icmpv6.mip6.identifier"], "77");
    assert_eq!(rows[3]["icmpv6.type"], "147");
    assert_eq!(rows[3]["icmpv6.opt.prefix"], "2001:db8:1::");
    assert_eq!(rows[3]["icmpv6.opt.prefix.length"], "64");
    assert_eq!(rows[3]["icmpv6.opt.prefix.valid_lifetime"], "600");
    assert_eq!(rows[3]["icmpv6.mip6.flag.o"], "1");
    assert_eq!(rows[4]["icmpv6.type"], "134");
    assert_eq!(rows[4]["icmpv6.nd.ra.flag.h"], "1");
    assert_eq!(rows[4]["icmpv6.opt.home_agent_preference"], "20");
    assert_eq!(rows[4]["icmpv6.opt.home_agent_lifetime"], "30");
    assert_eq!(rows[4]["icmpv6.opt.prefix"], "2001:db8:1::1");
}

#[test]
fn mip6_parses_what_scapy_builds() {
    let script = r#"
from scapy.layers.inet6 import *
req = IPv6(src="2001:db8:200::5", dst="2001:db8:1:0:fdff:ffff:ffff:fffe") / ICMPv6HAADRequest(id=4660, R=1)
rep = IPv6(src="2001:db8:1::2", dst="2001:db8:200::5") / ICMPv6HAADReply(id=4660, R=1, addresses=["2001:db8:1::1", "2001:db8:1::2"])
sol = IPv6(src="2001:db8:200::5", dst="2001:db8:1::1") / ICMPv6MPSol(id=77)
adv = (IPv6(src="2001:db8:1::1", dst="2001:db8:200::5") / ICMPv6MPAdv(id=77, flags=1)
       / ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::", prefixlen=64, validlifetime=600, preferredlifetime=600))
ra = (IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA(H=1, routerlifetime=1800)
      / ICMPv6NDOptPrefixInfo(prefix="2001:db8:1::1", prefixlen=64, R=1)
      / ICMPv6NDOptHAInfo(pref=20, lifetime=30))
for p in (req, rep, sol, adv, ra):
    print(bytes(p).hex())
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "scapy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packets: Vec<Vec<u8>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    let src_dst = |p: &[u8]| {
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&p[8..24]);
        d.copy_from_slice(&p[24..40]);
        (Ipv6Addr::from(s), Ipv6Addr::from(d))
    };
    let parse = |p: &[u8]| IcmpRepr::parse(&p[40..], Some(src_dst(p))).unwrap();
    assert_eq!(
        parse(&packets[0]),
        IcmpRepr::DhaadRequest {
            id: 4660,
            mobile_router: true
        }
    );
    assert_eq!(
        parse(&packets[1]),
        IcmpRepr::DhaadReply {
            id: 4660,
            mobile_router: true,
            home_agents: vec![addr("2001:db8:1::1"), addr("2001:db8:1::2")]
        }
    );
    assert_eq!(
        parse(&packets[2]),
        IcmpRepr::MobilePrefixSolicitation { id: 77 }
    );
    let IcmpRepr::MobilePrefixAdvertisement {
        id,
        other,
        prefixes,
        ..
    } = parse(&packets[3])
    else {
        panic!()
    };
    assert_eq!((id, other), (77, true));
    assert_eq!(prefixes[0].prefix, addr("2001:db8:1::"));
    assert_eq!(prefixes[0].valid_lifetime, 600);
    let ra = HomeAgentAdvertisement::parse(&packets[4][40..]).unwrap();
    let info = ra.as_home_agent().unwrap();
    assert_eq!((info.preference, info.lifetime), (20, 30));
    assert_eq!(
        ra.router_addresses().collect::<Vec<_>>(),
        vec![addr("2001:db8:1::1")]
    );
}
