//! Forged and mismatched Binding Acknowledgements fed to the MR core (issue 17, item 5):
//! each is ignored with a log line naming the reason, the Binding Update List and the
//! outstanding BU stay as they were, and the real BA afterwards is still accepted.

use ipnet::{Ipv4Net, Ipv6Net};
use mip6::{AuthKey, BaFlags, BaStatus, MessageRepr, MhPacket, MobilityOption, ParseContext};
use registration::ha::{HaAction, HomeAgent};
use registration::mr::{BulEntry, MobileRouter, MrAction};
use registration::policy::{HaPolicy, MrPolicy, NodePolicy, PrefixMode};
use registration::{Ipv4Encoding, Now, SecurityAssociation};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HOA: &str = "2001:240:1:280::beef";
const HA: &str = "2001:240:1:280::1";
const COA: &str = "2001:240:0:200::5";
const COA2: &str = "2001:240:0:300::5";
const KEY: &[u8] = b"shared secret";
const SPI: u32 = 300;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn sa() -> SecurityAssociation {
    SecurityAssociation {
        spi: SPI,
        key: KEY.to_vec(),
    }
}

fn policies(auth: bool) -> (HaPolicy, MrPolicy) {
    let mnp6: Ipv6Net = "2001:240:1:281::/64".parse().unwrap();
    let mnp4: Ipv4Net = "10.0.0.0/24".parse().unwrap();
    let ha = HaPolicy {
        home_prefixes: vec!["2001:240:1:280::/64".parse().unwrap()],
        max_lifetime: Duration::from_secs(200),
        nodes: BTreeMap::from([(
            a6(HOA),
            NodePolicy {
                router: true,
                mnp6: vec![(mnp6, PrefixMode::Explicit)],
                mnp4: vec![(mnp4, PrefixMode::Explicit)],
            },
        )]),
        ipv4_mnp_support: true,
        dialect: ParseContext::iana(),
        auth: auth.then(|| BTreeMap::from([(a6(HOA), vec![sa()])])),
        local_addresses: vec![a6(HA)],
        replay_window: Duration::from_secs(7),
    };
    let mr = MrPolicy {
        home_address: a6(HOA),
        home_agent: a6(HA),
        mnp6: vec![(mnp6, PrefixMode::Explicit)],
        mnp4: vec![mnp4],
        ipv4_encoding: Ipv4Encoding::Rfc5555,
        dialect: ParseContext::iana(),
        lifetime: Duration::from_secs(400),
        auth: auth.then(sa),
    };
    (ha, mr)
}

/// A `tracing` writer into a shared buffer, so a test can read what the core logged.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;
    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

/// Runs `f` and returns what it logged (every level).
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

fn deliver(mr: &mut MobileRouter, packet: &[u8], now: Now) -> Vec<MrAction> {
    mr.handle_packet(
        &MhPacket::parse(packet, &ParseContext::iana()).unwrap(),
        now,
    )
}

fn sent(actions: &[MrAction]) -> Vec<u8> {
    actions
        .iter()
        .find_map(|a| match a {
            MrAction::Send(b) => Some(b.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no packet in {actions:?}"))
}

fn ha_reply(ha: &mut HomeAgent, bu: &[u8], now: Now) -> Vec<u8> {
    let rx = MhPacket::parse(bu, &ParseContext::iana()).unwrap();
    ha.handle_packet(&rx, now)
        .into_iter()
        .find_map(|a| match a {
            HaAction::Send(b) => Some(b),
            _ => None,
        })
        .expect("the home agent answers")
}

/// (sequence, replay protection timestamp) of a BU.
fn seq_and_timestamp(bu: &[u8]) -> (u16, Option<u64>) {
    match MhPacket::parse(bu, &ParseContext::iana())
        .unwrap()
        .packet
        .mh
    {
        MessageRepr::BindingUpdate { seq, options, .. } => (
            seq,
            options.iter().find_map(|o| match o {
                MobilityOption::ReplayProtection { timestamp } => Some(*timestamp),
                _ => None,
            }),
        ),
        other => panic!("not a BU: {other:?}"),
    }
}

/// The state the forgeries try to change: registered at COA, a BU for COA2 outstanding.
struct Scene {
    mr: MobileRouter,
    now: Now,
    registered: BulEntry,
    /// The outstanding BU's sequence number and timestamp.
    seq: u16,
    timestamp: Option<u64>,
    /// The home agent's real answer to it, held back until the end.
    real_ba: Vec<u8>,
}

impl Scene {
    fn new(auth: bool) -> Scene {
        let now = Now::current();
        let (hp, mp) = policies(auth);
        let mut ha = HomeAgent::new(hp);
        let mut mr = MobileRouter::new(mp, 1000);
        let bu = sent(&mr.move_to(a6(COA), now));
        let ba = ha_reply(&mut ha, &bu, now);
        let registered = match deliver(&mut mr, &ba, now).as_slice() {
            [MrAction::Registered(e)] => e.clone(),
            other => panic!("first registration: {other:?}"),
        };
        let later = now.after(Duration::from_secs(1));
        let bu = sent(&mr.move_to(a6(COA2), later));
        let (seq, timestamp) = seq_and_timestamp(&bu);
        assert_eq!(seq, 1001);
        assert_eq!(timestamp.is_some(), auth);
        let real_ba = ha_reply(&mut ha, &bu, later);
        Scene {
            mr,
            now: later,
            registered,
            seq,
            timestamp,
            real_ba,
        }
    }

    /// Feeds a forged BA; asserts it changed nothing and the log gives `reason`.
    fn reject(&mut self, what: &str, forged: &[u8], reason: &str) {
        let timer = self.mr.next_timer();
        let (actions, log) = logged(|| deliver(&mut self.mr, forged, self.now));
        assert!(actions.is_empty(), "{what}: {actions:?}");
        assert!(log.contains(reason), "{what}: log {log:?} lacks {reason:?}");
        assert_eq!(self.mr.current(), Some(&self.registered), "{what}: BUL");
        assert!(
            self.mr.awaiting_ack(),
            "{what}: the BU is still outstanding"
        );
        assert_eq!(self.mr.next_seq(), self.seq.wrapping_add(1), "{what}");
        assert_eq!(self.mr.next_timer(), timer, "{what}: retransmission timer");
    }

    /// After the forgeries the home agent's real BA still registers COA2.
    fn accept_real(mut self) {
        match deliver(&mut self.mr, &self.real_ba, self.now).as_slice() {
            [MrAction::Registered(e)] => assert_eq!(e.coa, a6(COA2)),
            other => panic!("real BA after the forgeries: {other:?}"),
        }
        assert!(!self.mr.awaiting_ack());
    }
}

/// A Binding Acknowledgement (status 0, lifetime 200 s) as an attacker builds it.
struct Forge<'a> {
    src: &'a str,
    home: &'a str,
    seq: u16,
    timestamp: Option<u64>,
    key: Option<(u32, &'a [u8])>,
}

impl Forge<'_> {
    fn emit(&self) -> Vec<u8> {
        let packet = MhPacket {
            src: a6(self.src),
            dst: a6(COA2),
            home_address: None,
            rh2_home: Some(a6(self.home)),
            hop_limit: 64,
            mh: MessageRepr::BindingAck {
                status: BaStatus::Accepted,
                flags: BaFlags::MOBILE_ROUTER,
                seq: self.seq,
                lifetime: Duration::from_secs(200),
                options: self
                    .timestamp
                    .map(|timestamp| MobilityOption::ReplayProtection { timestamp })
                    .into_iter()
                    .collect(),
            },
        };
        packet
            .emit_with(
                &ParseContext::iana(),
                self.key.map(|(spi, key)| AuthKey { spi, key }),
            )
            .unwrap()
    }
}

#[test]
fn forged_bas_are_ignored_when_authentication_is_configured() {
    let mut s = Scene::new(true);
    let good = Forge {
        src: HA,
        home: HOA,
        seq: s.seq,
        timestamp: s.timestamp,
        key: Some((SPI, KEY)),
    };
    // Sanity: `good` itself would be accepted (checked on a copy of the scene below), so
    // each forgery differs from an acceptable BA in exactly one respect.
    let ts = s.timestamp.unwrap();
    s.reject(
        "wrong source",
        &Forge {
            src: "2001:240:0:200::66",
            ..good
        }
        .emit(),
        "BA from 2001:240:0:200::66 ignored: not our home agent",
    );
    s.reject(
        "another home address",
        &Forge {
            home: "2001:240:1:280::bad",
            ..good
        }
        .emit(),
        "BA for another home address ignored",
    );
    s.reject(
        "no authenticator",
        &Forge { key: None, ..good }.emit(),
        "BA failed authentication (no MN-HA mobility message authentication option)",
    );
    s.reject(
        "wrong authenticator",
        &Forge {
            key: Some((SPI, b"guessed secret")),
            ..good
        }
        .emit(),
        "BA failed authentication (mobility message authenticator mismatch)",
    );
    s.reject(
        "unknown SPI",
        &Forge {
            key: Some((SPI + 1, KEY)),
            ..good
        }
        .emit(),
        "BA signed with unknown SPI 301 ignored",
    );
    s.reject(
        "wrong timestamp echo",
        &Forge {
            timestamp: Some(ts - 1),
            ..good
        }
        .emit(),
        "BA does not echo our replay protection timestamp; ignored",
    );
    s.reject(
        "no timestamp echo",
        &Forge {
            timestamp: None,
            ..good
        }
        .emit(),
        "BA does not echo our replay protection timestamp; ignored",
    );
    s.reject(
        "sequence of the previous BU (a replay)",
        &Forge {
            seq: s.seq - 1,
            ..good
        }
        .emit(),
        "BA for sequence 1000 ignored: the outstanding Binding Update has sequence 1001",
    );
    s.reject(
        "sequence not yet sent",
        &Forge {
            seq: s.seq + 1,
            ..good
        }
        .emit(),
        "BA for sequence 1002 ignored: the outstanding Binding Update has sequence 1001",
    );
    s.accept_real();

    // The control: the same construction, unforged, is accepted.
    let mut s = Scene::new(true);
    let genuine = Forge {
        seq: s.seq,
        timestamp: s.timestamp,
        ..good
    }
    .emit();
    match deliver(&mut s.mr, &genuine, s.now).as_slice() {
        [MrAction::Registered(e)] => assert_eq!(e.coa, a6(COA2)),
        other => panic!("the unforged control BA: {other:?}"),
    }
}

#[test]
fn forged_bas_are_ignored_without_authentication() {
    let mut s = Scene::new(false);
    let good = Forge {
        src: HA,
        home: HOA,
        seq: s.seq,
        timestamp: None,
        key: None,
    };
    s.reject(
        "wrong source",
        &Forge {
            src: "2001:240:0:200::66",
            ..good
        }
        .emit(),
        "not our home agent",
    );
    s.reject(
        "wrong sequence",
        &Forge {
            seq: s.seq.wrapping_sub(1),
            ..good
        }
        .emit(),
        "BA for sequence 1000 ignored: the outstanding Binding Update has sequence 1001",
    );
    s.accept_real();
}

#[test]
fn a_ba_with_no_bu_outstanding_is_ignored() {
    let s = Scene::new(true);
    let mut mr = s.mr;
    deliver(&mut mr, &s.real_ba, s.now);
    assert!(!mr.awaiting_ack());
    let registered = mr.current().cloned();
    let (actions, log) = logged(|| deliver(&mut mr, &s.real_ba, s.now));
    assert!(actions.is_empty(), "{actions:?}");
    assert!(
        log.contains("BA (sequence 1001) ignored: no Binding Update outstanding"),
        "{log}"
    );
    assert_eq!(mr.current().cloned(), registered);
}
