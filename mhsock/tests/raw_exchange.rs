//! Two namespaces exchange hand-built Mobility Header packets through `MhSocket`, and the
//! kernel's Parameter Problem answer to a Home Address option is kept from the sender only
//! while the filter is installed.

use integration::Netns;
use mhsock::{proto, MhSocket, ParamProblemFilter, Received};
use std::net::Ipv6Addr;
use std::time::Duration;

const MR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const HA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const HOA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0xbeef);

/// IPv6 header + Destination Options (HAO) + an 8-byte BU Mobility Header, by hand.
fn bu_with_hao() -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 24 + 16, proto::DEST_OPTS, 64];
    p.extend_from_slice(&MR.octets());
    p.extend_from_slice(&HA.octets());
    // Destination options: next 135, len 2 (24 bytes), PadN(2)... HAO at 8n+6.
    p.extend_from_slice(&[proto::MOBILITY, 2, 1, 2, 0, 0, 0xc9, 16]);
    p.extend_from_slice(&HOA.octets());
    // MH: payload 59, len 1 (16 bytes), type 5 (BU), reserved, checksum, seq 7, flags A|H|R, lifetime.
    p.extend_from_slice(&[59, 1, 5, 0, 0, 0, 0, 7, 0xc4, 0, 0, 10, 1, 2, 0, 0]);
    p
}

fn two_nodes() -> (Netns, Netns) {
    let mr = Netns::new("mhs").unwrap();
    let ha = Netns::new("mhs").unwrap();
    mr.veth("v0", &ha, "v1").unwrap();
    mr.ip(&["-6", "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad"])
        .unwrap();
    ha.ip(&["-6", "addr", "add", "2001:db8::2/64", "dev", "v1", "nodad"])
        .unwrap();
    (mr, ha)
}

/// Runs `f` on a fresh thread inside `ns` with a current-thread tokio runtime.
fn in_ns<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let name = ns.name().to_string();
    let file = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
}

fn receive_one(ha: &Netns) -> std::thread::JoinHandle<Received> {
    in_ns(ha, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let sock = MhSocket::open().unwrap();
            tokio::time::timeout(Duration::from_secs(5), sock.recv())
                .await
                .expect("no MH received")
                .unwrap()
        })
    })
}

fn send_from(mr: &Netns, packet: Vec<u8>) {
    in_ns(mr, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { MhSocket::open().unwrap().send(&packet).unwrap() })
    })
    .join()
    .unwrap();
}

fn param_problems_received(ns: &Netns) -> u64 {
    let out = ns.run(&["nstat", "-az", "Icmp6InParmProblems"]).unwrap();
    out.lines()
        .find(|l| l.starts_with("Icmp6InParmProblems"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("nstat output")
}

#[test]
fn bu_with_hao_arrives_on_the_destination_options_socket_and_its_error_is_filtered() {
    let (mr, ha) = two_nodes();
    let filter = in_ns(&ha, || ParamProblemFilter::install("shisa_test"))
        .join()
        .unwrap()
        .unwrap();
    let rx = receive_one(&ha);
    std::thread::sleep(Duration::from_millis(200)); // let the receiver open its sockets
    send_from(&mr, bu_with_hao());
    let got = rx.join().unwrap();
    assert_eq!(got.src, MR);
    assert_eq!(got.dst, HA);
    assert_eq!(got.first_header, proto::DEST_OPTS);
    assert_eq!(
        got.ipv6_packet(),
        bu_with_hao()[..].to_vec().tap_hop_limit(64)
    );
    std::thread::sleep(Duration::from_millis(200));
    let dropped = in_ns(&ha, move || filter.dropped().unwrap())
        .join()
        .unwrap();
    assert_eq!(
        dropped, 1,
        "the kernel answered the HAO and the filter dropped it"
    );
    assert_eq!(param_problems_received(&mr), 0);
}

#[test]
fn without_the_filter_the_sender_would_see_a_parameter_problem() {
    // The control experiment: proves the first test's assertion can fail.
    let (mr, ha) = two_nodes();
    let rx = receive_one(&ha);
    std::thread::sleep(Duration::from_millis(200));
    send_from(&mr, bu_with_hao());
    rx.join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(param_problems_received(&mr), 1);
}

#[test]
fn filter_table_is_removed_on_drop() {
    let ns = Netns::new("mhs").unwrap();
    in_ns(&ns, || {
        drop(ParamProblemFilter::install("shisa_gone").unwrap())
    })
    .join()
    .unwrap();
    assert!(!ns
        .run(&["nft", "list", "tables"])
        .unwrap()
        .contains("shisa_gone"));
    in_ns(&ns, || {
        ParamProblemFilter::install("shisa_kept").unwrap().keep()
    })
    .join()
    .unwrap();
    assert!(ns
        .run(&["nft", "list", "tables"])
        .unwrap()
        .contains("shisa_kept"));
}

trait TapHopLimit {
    fn tap_hop_limit(self, hl: u8) -> Self;
}
impl TapHopLimit for Vec<u8> {
    fn tap_hop_limit(mut self, hl: u8) -> Self {
        self[7] = hl;
        self
    }
}
