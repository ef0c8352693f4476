//! MR and HA cores talking through real mip6 bytes: every BU the MR emits is parsed and
//! handed to the HA, every BA back to the MR, as the daemons do over raw sockets.

use ipnet::{Ipv4Net, Ipv6Net};
use mip6::{BaStatus, BuFlags, MessageRepr, MhPacket, MobilityOption, ParseContext};
use registration::ha::{Binding, HaAction, HomeAgent, RemoveReason};
use registration::mr::{DeregReason, MobileRouter, MrAction, MAX_BINDACK_TIMEOUT};
use registration::policy::{HaPolicy, MrPolicy, NodePolicy, PrefixMode};
use registration::{Ipv4Encoding, Now, SecurityAssociation};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::Duration;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn n6(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}
fn n4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

const HOA: &str = "2001:240:1:280::beef";
const HA: &str = "2001:240:1:280::1";
const COA: &str = "2001:240:0:200::5";
const COA2: &str = "2001:240:0:300::5";

fn ha_policy() -> HaPolicy {
    let mut nodes = BTreeMap::new();
    nodes.insert(
        a6(HOA),
        NodePolicy {
            router: true,
            mnp6: vec![(n6("2001:240:1:281::/64"), PrefixMode::Explicit)],
            mnp4: vec![(n4("10.0.0.0/24"), PrefixMode::Explicit)],
        },
    );
    HaPolicy {
        home_prefixes: vec![n6("2001:240:1:280::/64")],
        max_lifetime: Duration::from_secs(200),
        nodes,
        ipv4_mnp_support: true,
        dialect: ParseContext::iana(),
        auth: None,
        local_addresses: vec![a6(HA)],
        replay_window: Duration::from_secs(7),
    }
}

fn mr_policy() -> MrPolicy {
    MrPolicy {
        home_address: a6(HOA),
        home_agent: a6(HA),
        mnp6: vec![(n6("2001:240:1:281::/64"), PrefixMode::Explicit)],
        mnp4: vec![n4("10.0.0.0/24")],
        ipv4_encoding: Ipv4Encoding::Rfc5555,
        dialect: ParseContext::iana(),
        lifetime: Duration::from_secs(400),
        auth: None,
    }
}

fn sent(actions: &[MrAction]) -> Vec<Vec<u8>> {
    actions
        .iter()
        .filter_map(|a| match a {
            MrAction::Send(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn ha_sent(actions: &[HaAction]) -> Vec<Vec<u8>> {
    actions
        .iter()
        .filter_map(|a| match a {
            HaAction::Send(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

/// Delivers each packet to the HA, returns its actions.
fn to_ha(ha: &mut HomeAgent, packets: &[Vec<u8>], ctx: &ParseContext, now: Now) -> Vec<HaAction> {
    packets
        .iter()
        .flat_map(|b| ha.handle_packet(&MhPacket::parse(b, ctx).unwrap(), now))
        .collect()
}

fn to_mr(
    mr: &mut MobileRouter,
    packets: &[Vec<u8>],
    ctx: &ParseContext,
    now: Now,
) -> Vec<MrAction> {
    packets
        .iter()
        .flat_map(|b| mr.handle_packet(&MhPacket::parse(b, ctx).unwrap(), now))
        .collect()
}

fn ba_status(packet: &[u8], ctx: &ParseContext) -> (BaStatus, u16, Duration, Vec<MobilityOption>) {
    match MhPacket::parse(packet, ctx).unwrap().packet.mh {
        MessageRepr::BindingAck {
            status,
            seq,
            lifetime,
            options,
            ..
        } => (status, seq, lifetime, options),
        other => panic!("not a BA: {other:?}"),
    }
}

/// One round trip: MR moves to `coa`, HA answers; returns (MR actions, HA actions).
fn register(
    mr: &mut MobileRouter,
    ha: &mut HomeAgent,
    coa: &str,
    now: Now,
) -> (Vec<MrAction>, Vec<HaAction>) {
    let ctx = mr.policy().dialect;
    let bus = mr.move_to(a6(coa), now);
    let ha_actions = to_ha(ha, &sent(&bus), &ctx, now);
    let mr_actions = to_mr(mr, &ha_sent(&ha_actions), &ctx, now);
    (mr_actions, ha_actions)
}

fn registered(actions: &[MrAction]) -> registration::mr::BulEntry {
    actions
        .iter()
        .find_map(|a| match a {
            MrAction::Registered(e) => Some(e.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no registration in {actions:?}"))
}

fn failed_status(actions: &[MrAction]) -> Option<BaStatus> {
    actions.iter().find_map(|a| match a {
        MrAction::Failed { status, .. } => *status,
        _ => None,
    })
}

#[test]
fn first_registration_carries_both_families_and_caps_the_lifetime() {
    let now = Now::current();
    let mut mr = MobileRouter::new(mr_policy(), 10);
    let mut ha = HomeAgent::new(ha_policy());
    let bu = mr.move_to(a6(COA), now);
    let packets = sent(&bu);
    assert_eq!(packets.len(), 1);
    let parsed = MhPacket::parse(&packets[0], &ParseContext::iana())
        .unwrap()
        .packet;
    assert_eq!(parsed.src, a6(COA));
    assert_eq!(parsed.home_address, Some(a6(HOA)));
    let MessageRepr::BindingUpdate {
        seq,
        flags,
        options,
        ..
    } = &parsed.mh
    else {
        panic!()
    };
    assert_eq!(*seq, 10);
    assert!(flags.contains(BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER));
    assert!(options.contains(&MobilityOption::MobileNetworkPrefix {
        prefix: a6("2001:240:1:281::"),
        prefix_len: 64
    }));
    assert!(options.iter().any(|o| matches!(
        o,
        MobilityOption::Ipv4HomeAddress {
            request_prefix: true,
            prefix_len: 24,
            ..
        }
    )));

    let ha_actions = to_ha(&mut ha, &packets, &ParseContext::iana(), now);
    let binding = ha_actions
        .iter()
        .find_map(|a| match a {
            HaAction::BindingAdded { binding, new: true } => Some(binding.clone()),
            _ => None,
        })
        .expect("binding added");
    assert_eq!(binding.coa, a6(COA));
    assert_eq!(
        binding.lifetime,
        Duration::from_secs(200),
        "capped by max lifetime"
    );
    assert_eq!(binding.mnp6, vec![n6("2001:240:1:281::/64")]);
    assert_eq!(binding.mnp4, vec![n4("10.0.0.0/24")]);
    let bas = ha_sent(&ha_actions);
    let ba = MhPacket::parse(&bas[0], &ParseContext::iana())
        .unwrap()
        .packet;
    assert_eq!(
        (ba.src, ba.dst, ba.rh2_home),
        (a6(HA), a6(COA), Some(a6(HOA)))
    );
    let (status, seq, lifetime, options) = ba_status(&bas[0], &ParseContext::iana());
    assert_eq!(
        (status, seq, lifetime),
        (BaStatus::Accepted, 10, Duration::from_secs(200))
    );
    assert!(options.iter().any(
        |o| matches!(o, MobilityOption::Ipv4AddressAck { status, .. } if status.is_success())
    ));

    let entry = registered(&to_mr(&mut mr, &bas, &ParseContext::iana(), now));
    assert_eq!(entry.coa, a6(COA));
    assert_eq!(entry.lifetime, Duration::from_secs(200));
    assert_eq!(entry.mnp4, vec![n4("10.0.0.0/24")]);
    assert_eq!(mr.next_seq(), 11);
}

#[test]
fn refresh_before_expiry_and_coa_change_update_the_binding() {
    let now = Now::current();
    let mut mr = MobileRouter::new(mr_policy(), 1);
    let mut ha = HomeAgent::new(ha_policy());
    registered(&register(&mut mr, &mut ha, COA, now).0);
    // Refresh due at 80% of 200 s.
    assert_eq!(mr.next_timer(), Some(now.mono + Duration::from_secs(160)));
    assert!(sent(&mr.on_timer(now.after(Duration::from_secs(100)))).is_empty());
    let later = now.after(Duration::from_secs(161));
    let refresh = sent(&mr.on_timer(later));
    assert_eq!(refresh.len(), 1, "refresh BU");
    let ha_actions = to_ha(&mut ha, &refresh, &ParseContext::iana(), later);
    assert!(ha_actions
        .iter()
        .any(|a| matches!(a, HaAction::BindingAdded { new: false, .. })));
    registered(&to_mr(
        &mut mr,
        &ha_sent(&ha_actions),
        &ParseContext::iana(),
        later,
    ));

    let (mr_actions, ha_actions) = register(&mut mr, &mut ha, COA2, later);
    assert_eq!(registered(&mr_actions).coa, a6(COA2));
    assert_eq!(ha.bindings().next().unwrap().coa, a6(COA2));
    assert!(ha_actions
        .iter()
        .any(|a| matches!(a, HaAction::BindingAdded { new: false, .. })));
}

#[test]
fn lost_bas_are_retransmitted_with_exponential_back_off_and_new_sequence_numbers() {
    let now = Now::current();
    let mut mr = MobileRouter::new(mr_policy(), 1);
    let first = sent(&mr.move_to(a6(COA), now));
    assert_eq!(first.len(), 1);
    let mut t = now;
    let mut waits = Vec::new();
    let mut failures = 0;
    for _ in 0..8 {
        let next = mr.next_timer().unwrap();
        waits.push(next - t.mono);
        t = t.after(next - t.mono);
        let actions = mr.on_timer(t);
        assert_eq!(sent(&actions).len(), 1);
        failures += actions
            .iter()
            .filter(|a| matches!(a, MrAction::Failed { status: None, .. }))
            .count();
    }
    let secs: Vec<f64> = waits.iter().map(|d| d.as_secs_f64()).collect();
    assert_eq!(secs, vec![1.5, 3.0, 6.0, 12.0, 24.0, 32.0, 32.0, 32.0]);
    assert_eq!(
        failures, 1,
        "the operator hears once that the HA does not answer"
    );
    assert_eq!(
        mr.next_seq(),
        10,
        "one new sequence number per transmission"
    );

    // The HA finally answers the last one.
    let mut ha = HomeAgent::new(ha_policy());
    let bu = sent(&mr.on_timer(t.after(MAX_BINDACK_TIMEOUT)));
    let ha_actions = to_ha(&mut ha, &bu, &ParseContext::iana(), t);
    registered(&to_mr(
        &mut mr,
        &ha_sent(&ha_actions),
        &ParseContext::iana(),
        t,
    ));
}

#[test]
fn sequence_number_out_of_window_resynchronises_the_mr() {
    let now = Now::current();
    let mut ha = HomeAgent::new(ha_policy());
    // An earlier life of the MR registered with sequence 500.
    registered(&register(&mut MobileRouter::new(mr_policy(), 500), &mut ha, COA, now).0);
    let mut mr = MobileRouter::new(mr_policy(), 7);
    let bu = sent(&mr.move_to(a6(COA2), now));
    let ha_actions = to_ha(&mut ha, &bu, &ParseContext::iana(), now);
    let (status, seq, _, _) = ba_status(&ha_sent(&ha_actions)[0], &ParseContext::iana());
    assert_eq!((status, seq), (BaStatus::SequenceNumberOutOfWindow, 500));
    let retry = sent(&to_mr(
        &mut mr,
        &ha_sent(&ha_actions),
        &ParseContext::iana(),
        now,
    ));
    assert_eq!(retry.len(), 1);
    let MessageRepr::BindingUpdate { seq, .. } = MhPacket::parse(&retry[0], &ParseContext::iana())
        .unwrap()
        .packet
        .mh
    else {
        panic!()
    };
    assert_eq!(seq, 501);
    let ha_actions = to_ha(&mut ha, &retry, &ParseContext::iana(), now);
    assert_eq!(
        registered(&to_mr(
            &mut mr,
            &ha_sent(&ha_actions),
            &ParseContext::iana(),
            now
        ))
        .coa,
        a6(COA2)
    );
}

#[test]
fn unauthorized_prefix_is_refused_with_142() {
    let now = Now::current();
    let mut pol = mr_policy();
    pol.mnp6
        .push((n6("2001:db8:bad::/64"), PrefixMode::Explicit));
    let mut mr = MobileRouter::new(pol, 1);
    let mut ha = HomeAgent::new(ha_policy());
    let (mr_actions, ha_actions) = register(&mut mr, &mut ha, COA, now);
    assert_eq!(
        failed_status(&mr_actions),
        Some(BaStatus::NotAuthorizedForPrefix)
    );
    assert!(ha.bindings().next().is_none());
    assert!(ha_actions.iter().any(|a| matches!(
        a,
        HaAction::Rejected {
            status: BaStatus::NotAuthorizedForPrefix,
            ..
        }
    )));
    // Tries again later, not in a tight loop.
    assert_eq!(mr.next_timer(), Some(now.mono + MAX_BINDACK_TIMEOUT));
}

fn handcrafted_bu(seq: u16, flags: BuFlags, hoa: &str, options: Vec<MobilityOption>) -> Vec<u8> {
    MhPacket {
        src: a6(COA),
        dst: a6(HA),
        home_address: Some(a6(hoa)),
        rh2_home: None,
        hop_limit: 64,
        mh: MessageRepr::BindingUpdate {
            seq,
            flags,
            lifetime: Duration::from_secs(40),
            options,
        },
    }
    .emit(&ParseContext::iana())
    .unwrap()
}

fn status_for(ha: &mut HomeAgent, bu: Vec<u8>) -> BaStatus {
    let actions = to_ha(ha, &[bu], &ParseContext::iana(), Now::current());
    ba_status(&ha_sent(&actions)[0], &ParseContext::iana()).0
}

#[test]
fn rfc_status_codes_for_each_refusal() {
    let all = BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER;
    let mut ha = HomeAgent::new(ha_policy());
    let mnp = |p: &str, l| {
        vec![MobilityOption::MobileNetworkPrefix {
            prefix: a6(p),
            prefix_len: l,
        }]
    };
    assert_eq!(
        status_for(
            &mut ha,
            handcrafted_bu(1, all, HOA, mnp("2001:240:1:281::1", 64))
        ),
        BaStatus::InvalidPrefix
    );
    assert_eq!(
        status_for(&mut ha, handcrafted_bu(1, all, HOA, mnp("fe80::", 64))),
        BaStatus::InvalidPrefix
    );
    assert_eq!(
        status_for(
            &mut ha,
            handcrafted_bu(1, all, HOA, mnp("2001:240:1:282::", 64))
        ),
        BaStatus::NotAuthorizedForPrefix
    );
    assert_eq!(
        status_for(&mut ha, handcrafted_bu(1, all, "2001:db8:99::1", vec![])),
        BaStatus::NotHomeSubnet
    );
    assert_eq!(
        status_for(
            &mut ha,
            handcrafted_bu(1, all, "2001:240:1:280::77", vec![])
        ),
        BaStatus::NotHomeAgentForThisMobileNode
    );
    assert_eq!(
        status_for(
            &mut ha,
            handcrafted_bu(1, BuFlags::ACK | BuFlags::MOBILE_ROUTER, HOA, vec![])
        ),
        BaStatus::AdministrativelyProhibited
    );
    let mut no_router = ha_policy();
    no_router.nodes.get_mut(&a6(HOA)).unwrap().router = false;
    let mut ha2 = HomeAgent::new(no_router);
    assert_eq!(
        status_for(&mut ha2, handcrafted_bu(1, all, HOA, vec![])),
        BaStatus::MobileRouterOperationNotPermitted
    );
    // Implicit mode: no MNP option, the HA takes the table.
    assert_eq!(
        status_for(&mut ha, handcrafted_bu(1, all, HOA, vec![])),
        BaStatus::Accepted
    );
    assert_eq!(
        ha.bindings().next().unwrap().mnp6,
        vec![n6("2001:240:1:281::/64")]
    );
}

#[test]
fn ha_without_ipv4_support_makes_the_mr_give_up_ipv4() {
    let now = Now::current();
    let mut pol = ha_policy();
    pol.ipv4_mnp_support = false;
    let mut ha = HomeAgent::new(pol);
    let mut mr = MobileRouter::new(mr_policy(), 1);
    let (mr_actions, ha_actions) = register(&mut mr, &mut ha, COA, now);
    let (_, _, _, options) = ba_status(&ha_sent(&ha_actions)[0], &ParseContext::iana());
    assert!(!options
        .iter()
        .any(|o| matches!(o, MobilityOption::Ipv4AddressAck { .. })));
    let entry = registered(&mr_actions);
    assert!(entry.mnp4.is_empty(), "IPv4 given up");
    assert_eq!(entry.mnp6.len(), 1, "IPv6 still registered");
    assert!(ha.bindings().next().unwrap().mnp4.is_empty());
}

#[test]
fn draft_encoding_and_configuration_only_both_deliver_the_ipv4_mnp() {
    let now = Now::current();
    let dialect = ParseContext::with_draft_v4(mip6::DraftV4Options::SHISA).unwrap();
    let mut pol = ha_policy();
    pol.dialect = dialect;
    let mut ha = HomeAgent::new(pol);
    let mut mp = mr_policy();
    mp.dialect = dialect;
    mp.ipv4_encoding = Ipv4Encoding::Draft;
    let mut mr = MobileRouter::new(mp, 1);
    let (mr_actions, ha_actions) = register(&mut mr, &mut ha, COA, now);
    let (_, _, _, options) = ba_status(&ha_sent(&ha_actions)[0], &dialect);
    assert!(options
        .iter()
        .any(|o| matches!(o, MobilityOption::DraftIpv4MnpStatus { status: 0, .. })));
    assert_eq!(registered(&mr_actions).mnp4, vec![n4("10.0.0.0/24")]);

    let mut ha = HomeAgent::new(ha_policy());
    let mut mp = mr_policy();
    mp.ipv4_encoding = Ipv4Encoding::ConfigOnly;
    let mut mr = MobileRouter::new(mp, 1);
    let (mr_actions, _) = register(&mut mr, &mut ha, COA, now);
    assert_eq!(registered(&mr_actions).mnp4, vec![n4("10.0.0.0/24")]);
    assert_eq!(ha.bindings().next().unwrap().mnp4, vec![n4("10.0.0.0/24")]);
}

#[test]
fn ipv4_prefix_not_in_the_table_is_refused_by_ack_status() {
    let now = Now::current();
    let mut mp = mr_policy();
    mp.mnp4 = vec![n4("10.0.0.0/24"), n4("10.9.0.0/16")];
    let mut mr = MobileRouter::new(mp, 1);
    let mut ha = HomeAgent::new(ha_policy());
    let (mr_actions, _) = register(&mut mr, &mut ha, COA, now);
    assert_eq!(registered(&mr_actions).mnp4, vec![n4("10.0.0.0/24")]);
}

fn with_auth(key: &[u8]) -> (HaPolicy, MrPolicy) {
    let sa = SecurityAssociation {
        spi: 300,
        key: b"shared secret".to_vec(),
    };
    let mut hp = ha_policy();
    hp.auth = Some(BTreeMap::from([(a6(HOA), vec![sa])]));
    let mut mp = mr_policy();
    mp.auth = Some(SecurityAssociation {
        spi: 300,
        key: key.to_vec(),
    });
    (hp, mp)
}

#[test]
fn authenticated_registration_and_its_failures() {
    let now = Now::current();
    let (hp, mp) = with_auth(b"shared secret");
    let mut ha = HomeAgent::new(hp.clone());
    let mut mr = MobileRouter::new(mp, 1);
    let bu = sent(&mr.move_to(a6(COA), now));
    let ha_actions = to_ha(&mut ha, &bu, &ParseContext::iana(), now);
    let ba = ha_sent(&ha_actions);
    let (_, _, _, options) = ba_status(&ba[0], &ParseContext::iana());
    assert!(
        matches!(
            options.last(),
            Some(MobilityOption::Authentication { spi: 300, .. })
        ),
        "BA is signed"
    );
    registered(&to_mr(&mut mr, &ba, &ParseContext::iana(), now));

    // A replay of the same BU is refused: its timestamp is not newer.
    assert_eq!(status_for(&mut ha, bu[0].clone()), BaStatus::MesgIdRequired);

    // Wrong key: 146.
    let (_, bad) = with_auth(b"wrong secret");
    let mut ha = HomeAgent::new(hp.clone());
    let mut mr = MobileRouter::new(bad, 1);
    let (mr_actions, _) = register(&mut mr, &mut ha, COA, now);
    assert_eq!(failed_status(&mr_actions), Some(BaStatus::AuthFail));

    // Unsigned BU to an HA with an auth database: 146.
    let mut ha = HomeAgent::new(hp.clone());
    assert_eq!(
        status_for(
            &mut ha,
            handcrafted_bu(
                1,
                BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER,
                HOA,
                vec![]
            )
        ),
        BaStatus::AuthFail
    );

    // A clock 60 s off: 145, the MR adopts the HA's clock and succeeds.
    let (hp, mp) = with_auth(b"shared secret");
    let mut ha = HomeAgent::new(hp);
    let mut mr = MobileRouter::new(mp, 1);
    let skewed = Now {
        mono: now.mono,
        wall: now.wall + Duration::from_secs(60),
    };
    let bu = sent(&mr.move_to(a6(COA), skewed));
    let ha_actions = to_ha(&mut ha, &bu, &ParseContext::iana(), now);
    assert_eq!(
        ba_status(&ha_sent(&ha_actions)[0], &ParseContext::iana()).0,
        BaStatus::MesgIdRequired
    );
    let retry = sent(&to_mr(
        &mut mr,
        &ha_sent(&ha_actions),
        &ParseContext::iana(),
        skewed,
    ));
    assert_eq!(retry.len(), 1);
    let ha_actions = to_ha(&mut ha, &retry, &ParseContext::iana(), now);
    registered(&to_mr(
        &mut mr,
        &ha_sent(&ha_actions),
        &ParseContext::iana(),
        skewed,
    ));
}

#[test]
fn returning_home_withdraws_at_once_and_deregisters() {
    let now = Now::current();
    let mut mr = MobileRouter::new(mr_policy(), 1);
    let mut ha = HomeAgent::new(ha_policy());
    registered(&register(&mut mr, &mut ha, COA, now).0);
    let actions = mr.returned_home(now);
    assert!(actions.iter().any(|a| matches!(
        a,
        MrAction::Deregistered {
            reason: DeregReason::Home,
            ..
        }
    )));
    let bu = sent(&actions);
    let p = MhPacket::parse(&bu[0], &ParseContext::iana())
        .unwrap()
        .packet;
    assert_eq!((p.src, p.home_address), (a6(HOA), None));
    let MessageRepr::BindingUpdate { lifetime, .. } = p.mh else {
        panic!()
    };
    assert_eq!(lifetime, Duration::ZERO);
    let ha_actions = to_ha(&mut ha, &bu, &ParseContext::iana(), now);
    assert!(ha_actions.iter().any(|a| matches!(
        a,
        HaAction::BindingRemoved {
            reason: RemoveReason::ReturnedHome,
            ..
        }
    )));
    assert!(ha.bindings().next().is_none());
    let ba = MhPacket::parse(&ha_sent(&ha_actions)[0], &ParseContext::iana())
        .unwrap()
        .packet;
    assert_eq!((ba.dst, ba.rh2_home), (a6(HOA), None));
    assert!(to_mr(&mut mr, &ha_sent(&ha_actions), &ParseContext::iana(), now).is_empty());
    assert_eq!(mr.next_timer(), None, "nothing left to do at home");
}

#[test]
fn bindings_expire_and_survive_a_restore() {
    let now = Now::current();
    let mut ha = HomeAgent::new(ha_policy());
    registered(&register(&mut MobileRouter::new(mr_policy(), 1), &mut ha, COA, now).0);
    let saved: Vec<Binding> = ha.bindings().cloned().collect();
    let (restored, announce) = HomeAgent::restore(
        ha_policy(),
        saved.clone(),
        now.after(Duration::from_secs(10)),
    );
    assert_eq!(announce.len(), 1);
    assert_eq!(restored.bindings().cloned().collect::<Vec<_>>(), saved);
    let (empty, none) = HomeAgent::restore(ha_policy(), saved, now.after(Duration::from_secs(201)));
    assert!(
        none.is_empty() && empty.bindings().next().is_none(),
        "expired entries dropped"
    );
    assert!(ha.expire(now.after(Duration::from_secs(199))).is_empty());
    let gone = ha.expire(now.after(Duration::from_secs(200)));
    assert!(matches!(
        &gone[..],
        [HaAction::BindingRemoved {
            reason: RemoveReason::Expired,
            ..
        }]
    ));
}

#[test]
fn implicit_prefixes_are_not_named_in_the_bu_but_registered_from_the_table() {
    let now = Now::current();
    let mut pol = mr_policy();
    pol.mnp6 = vec![(n6("2001:240:1:281::/64"), PrefixMode::Implicit)];
    let mut mr = MobileRouter::new(pol, 1);
    let bu = sent(&mr.move_to(a6(COA), now));
    let MessageRepr::BindingUpdate { options, .. } = MhPacket::parse(&bu[0], &ParseContext::iana())
        .unwrap()
        .packet
        .mh
    else {
        panic!()
    };
    assert!(!options
        .iter()
        .any(|o| matches!(o, MobilityOption::MobileNetworkPrefix { .. })));
    let mut ha = HomeAgent::new(ha_policy());
    let ha_actions = to_ha(&mut ha, &bu, &ParseContext::iana(), now);
    let entry = registered(&to_mr(
        &mut mr,
        &ha_sent(&ha_actions),
        &ParseContext::iana(),
        now,
    ));
    assert_eq!(entry.mnp6, vec![n6("2001:240:1:281::/64")]);
    assert_eq!(
        ha.bindings().next().unwrap().mnp6,
        vec![n6("2001:240:1:281::/64")]
    );
}

#[test]
fn shutdown_deregisters_from_the_care_of_address() {
    let now = Now::current();
    let mut mr = MobileRouter::new(mr_policy(), 1);
    let mut ha = HomeAgent::new(ha_policy());
    registered(&register(&mut mr, &mut ha, COA, now).0);
    let actions = mr.shutdown(now);
    assert!(actions.iter().any(|a| matches!(
        a,
        MrAction::Deregistered {
            reason: DeregReason::Shutdown,
            ..
        }
    )));
    let bu = sent(&actions);
    let p = MhPacket::parse(&bu[0], &ParseContext::iana())
        .unwrap()
        .packet;
    assert_eq!((p.src, p.home_address), (a6(COA), Some(a6(HOA))));
    let MessageRepr::BindingUpdate {
        lifetime, options, ..
    } = p.mh
    else {
        panic!()
    };
    assert_eq!(lifetime, Duration::ZERO);
    assert!(options.is_empty());
    assert!(mr.awaiting_ack());
    let ha_actions = to_ha(&mut ha, &bu, &ParseContext::iana(), now);
    assert!(ha.bindings().next().is_none());
    assert!(to_mr(&mut mr, &ha_sent(&ha_actions), &ParseContext::iana(), now).is_empty());
    assert!(!mr.awaiting_ack());
}

#[test]
fn unknown_mh_type_gets_a_rate_limited_binding_error() {
    use mip6::BeStatus;
    use registration::ha::{UnrecognizedMh, BINDING_ERRORS_PER_SECOND};
    let ctx = ParseContext::default();
    let mut ha = HomeAgent::new(ha_policy());
    let now = Now::current();
    let rx = UnrecognizedMh {
        mh_type: 42,
        src: a6("2001:db8:200::5"),
        dst: a6("2001:db8:280::1"),
        home_address: Some(a6("2001:db8:280::beef")),
    };
    let out = ha_sent(&ha.unrecognized_mh_type(&rx, now));
    assert_eq!(out.len(), 1);
    let be = MhPacket::parse(&out[0], &ctx).unwrap().packet;
    assert_eq!(
        (be.src, be.dst),
        (rx.dst, rx.src),
        "straight back to the source"
    );
    assert_eq!(be.home_address, None, "no Home Address option");
    assert_eq!(be.rh2_home, None, "no routing header");
    match be.mh {
        MessageRepr::BindingError {
            status,
            home_address,
            ..
        } => {
            assert_eq!(status, BeStatus::UnrecognizedMhType);
            assert_eq!(home_address, a6("2001:db8:280::beef"));
        }
        other => panic!("not a Binding Error: {other:?}"),
    }
    // Rate-limited: the rest of this second's budget, then nothing until the next second.
    let burst: usize = (0..2 * BINDING_ERRORS_PER_SECOND)
        .map(|_| ha.unrecognized_mh_type(&rx, now).len())
        .sum();
    assert_eq!(burst, BINDING_ERRORS_PER_SECOND as usize - 1);
    let later = Now {
        mono: now.mono + Duration::from_secs(1),
        wall: now.wall + Duration::from_secs(1),
    };
    assert_eq!(ha.unrecognized_mh_type(&rx, later).len(), 1);
    // Never to a multicast or unspecified source, nor for a multicast destination.
    for (src, dst) in [
        ("ff02::1", "2001:db8:280::1"),
        ("::", "2001:db8:280::1"),
        ("2001:db8:200::5", "ff02::2"),
    ] {
        let odd = UnrecognizedMh {
            src: a6(src),
            dst: a6(dst),
            home_address: None,
            ..rx
        };
        assert!(
            ha.unrecognized_mh_type(&odd, later).is_empty(),
            "{src} -> {dst}"
        );
    }
    // Without a Home Address option the field is unspecified.
    let plain = UnrecognizedMh {
        home_address: None,
        ..rx
    };
    let out = ha_sent(&ha.unrecognized_mh_type(&plain, later));
    match MhPacket::parse(&out[0], &ctx).unwrap().packet.mh {
        MessageRepr::BindingError { home_address, .. } => {
            assert_eq!(home_address, Ipv6Addr::UNSPECIFIED)
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 16: a care-of address that cannot be the mobile router's is refused with 129 and
/// leaves the binding alone: multicast, unspecified, loopback, link-local, and the home
/// agent's own addresses.
#[test]
fn unusable_care_of_addresses_are_refused_with_129() {
    let all = BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER;
    let mut policy = ha_policy();
    policy.local_addresses = vec![a6(HA), a6("2001:240:0:200::1")];
    let mut ha = HomeAgent::new(policy);
    assert_eq!(
        status_for(&mut ha, handcrafted_bu(1, all, HOA, vec![])),
        BaStatus::Accepted
    );
    let before: Vec<Binding> = ha.bindings().cloned().collect();
    for (seq, coa) in [
        "ff02::1",
        "ff0e::1",
        "::",
        "::1",
        "fe80::5",
        HA,
        "2001:240:0:200::1",
    ]
    .into_iter()
    .enumerate()
    {
        let bu = handcrafted_bu(
            seq as u16 + 2,
            all,
            HOA,
            vec![MobilityOption::AlternateCareOf { address: a6(coa) }],
        );
        assert_eq!(
            status_for(&mut ha, bu),
            BaStatus::AdministrativelyProhibited,
            "care-of address {coa}"
        );
    }
    let after: Vec<Binding> = ha.bindings().cloned().collect();
    assert_eq!(before, after, "the binding is unchanged");
}

/// Issue 16: key rotation. The HA accepts either SPI of a home address while both are in
/// its database and signs its BA with the one that verified the BU; once the old SPI is
/// removed (a reload) its BUs get 146 and the binding made with the new key stays.
#[test]
fn key_rotation_accepts_both_spis_then_refuses_the_removed_one() {
    let now = Now::current();
    let old = SecurityAssociation {
        spi: 300,
        key: b"old secret".to_vec(),
    };
    let new = SecurityAssociation {
        spi: 301,
        key: b"new secret".to_vec(),
    };
    let mut hp = ha_policy();
    hp.auth = Some(BTreeMap::from([(a6(HOA), vec![old.clone(), new.clone()])]));
    let mut ha = HomeAgent::new(hp.clone());
    let signer = |sa: &SecurityAssociation| {
        let mut mp = mr_policy();
        mp.auth = Some(sa.clone());
        mp
    };
    let mut next_seq = 1;
    for (i, sa) in [&old, &new].into_iter().enumerate() {
        // Each BU later than the last: the replay check wants newer timestamps.
        let now = Now {
            mono: now.mono,
            wall: now.wall + Duration::from_millis(100 * i as u64),
        };
        let mut mr = MobileRouter::new(signer(sa), next_seq);
        let bu = sent(&mr.move_to(a6(COA), now));
        let ba = ha_sent(&to_ha(&mut ha, &bu, &ParseContext::iana(), now));
        let (status, _, _, options) = ba_status(&ba[0], &ParseContext::iana());
        assert_eq!(status, BaStatus::Accepted, "SPI {}", sa.spi);
        assert!(
            matches!(options.last(), Some(MobilityOption::Authentication { spi, .. }) if *spi == sa.spi),
            "the BA is signed with the BU's SPI: {options:?}"
        );
        registered(&to_mr(&mut mr, &ba, &ParseContext::iana(), now));
        next_seq = ha.bindings().next().unwrap().seq.wrapping_add(1);
    }
    let binding = ha.bindings().next().unwrap().clone();
    let mut rotated = hp.clone();
    rotated.auth = Some(BTreeMap::from([(a6(HOA), vec![new.clone()])]));
    ha.set_policy(rotated);
    assert_eq!(
        ha.bindings().next(),
        Some(&binding),
        "the reload kept the binding"
    );
    let later = Now {
        mono: now.mono,
        wall: now.wall + Duration::from_secs(1),
    };
    let mut mr = MobileRouter::new(signer(&old), binding.seq.wrapping_add(1));
    let bu = sent(&mr.move_to(a6(COA2), later));
    let actions = to_ha(&mut ha, &bu, &ParseContext::iana(), later);
    let (status, _, _, options) = ba_status(&ha_sent(&actions)[0], &ParseContext::iana());
    assert_eq!(status, BaStatus::AuthFail);
    assert!(
        !options
            .iter()
            .any(|o| matches!(o, MobilityOption::Authentication { .. })),
        "a 146 goes unsigned"
    );
    assert!(actions.iter().any(|a| matches!(a,
        HaAction::Rejected { reason, .. } if reason == "unknown SPI 300 (valid for this home address: 301)")));
    assert_eq!(ha.bindings().next(), Some(&binding));
}
