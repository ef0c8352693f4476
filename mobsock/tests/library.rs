//! The client library in one process: loopback, dumps, unknown kinds, local overflow.

use std::time::Duration;

use mobsock::*;
use tokio::time::timeout;

fn bus_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bus = tmp.path().join("bus");
    (tmp, bus)
}

async fn next(m: &mut BusMember) -> Event {
    timeout(Duration::from_secs(5), m.recv())
        .await
        .expect("event within 5 s")
        .expect("bus open")
}

fn bc(i: u16) -> BcEntry {
    BcEntry {
        hoa: std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i),
        coa: std::net::Ipv6Addr::LOCALHOST,
        lifetime: 40,
        mnp6: vec!["2001:db8:281::/64".parse().unwrap()],
        mnp4: vec!["10.0.0.0/24".parse().unwrap()],
        ha: None,
        bu_seq: Some(i),
        flags: 0,
    }
}

#[tokio::test]
async fn join_send_receive_and_loopback() {
    let (_tmp, bus) = bus_dir();
    let mut a = Bus::join(
        &bus,
        "a",
        BusOptions {
            loopback: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut b = Bus::join(&bus, "b", BusOptions::default()).await.unwrap();
    assert_eq!(next(&mut a).await, Event::PeerJoined(b.me().clone()));
    let seq = a.send(Body::BcAdd(bc(1))).unwrap();
    assert_eq!(seq, 2, "JOIN is sequence 1");
    for m in [&mut a, &mut b] {
        match next(m).await {
            Event::Message(env) => {
                assert_eq!(env.seq, 2);
                assert_eq!(env.body, Body::BcAdd(bc(1)));
                assert_eq!(env.sender.name, "a");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let b_id = b.me().clone();
    b.leave().await.unwrap();
    assert_eq!(
        next(&mut a).await,
        Event::PeerLeft {
            sender: b_id,
            reason: LeaveReason::Left
        }
    );
    assert!(a.peers().is_empty());
}

#[tokio::test]
async fn a_dropped_member_is_noticed_as_gone() {
    let (_tmp, bus) = bus_dir();
    let mut a = Bus::join(&bus, "a", BusOptions::default()).await.unwrap();
    let b = Bus::join(&bus, "b", BusOptions::default()).await.unwrap();
    let b_id = b.me().clone();
    assert_eq!(next(&mut a).await, Event::PeerJoined(b_id.clone()));
    drop(b); // no LEAVE: like a crash
    assert_eq!(
        next(&mut a).await,
        Event::PeerLeft {
            sender: b_id,
            reason: LeaveReason::Gone
        }
    );
}

#[tokio::test]
async fn dumps_are_answered_by_owners_and_other_events_are_kept() {
    let (_tmp, bus) = bus_dir();
    let mut owner = Bus::join(&bus, "had", BusOptions::default()).await.unwrap();
    let other = Bus::join(&bus, "mrd", BusOptions::default()).await.unwrap();
    let mut asker = Bus::join(&bus, "mipsock", BusOptions::default())
        .await
        .unwrap();
    let table: Vec<BcEntry> = (0..70).map(bc).collect();
    let owner_task = tokio::spawn(async move {
        loop {
            if let Event::Message(Envelope {
                body: Body::DumpRequest(req),
                ..
            }) = owner.recv().await.unwrap()
            {
                owner.answer_dump(&req, &table, &[]).unwrap();
            }
        }
    });
    // Another member talks while the dump is collected.
    other.send(Body::BulFlush).unwrap();
    let result = asker.request_dump(DumpWhat::Bc).await.unwrap();
    assert!(result.complete());
    assert_eq!(result.replies.len(), 1, "only had answers");
    assert_eq!(result.bc(), (0..70).map(bc).collect::<Vec<_>>());
    // The BUL_FLUSH that arrived during the dump is still delivered.
    let mut saw_flush = false;
    while let Ok(Ok(ev)) = timeout(Duration::from_millis(300), asker.recv()).await {
        if matches!(&ev, Event::Message(e) if e.body == Body::BulFlush) {
            saw_flush = true;
        }
    }
    assert!(saw_flush);
    owner_task.abort();
}

#[tokio::test]
async fn a_dump_without_owner_times_out_empty() {
    let (_tmp, bus) = bus_dir();
    let mut m = Bus::join(&bus, "mipsock", BusOptions::default())
        .await
        .unwrap();
    let wait = DumpWait {
        timeout: Duration::from_millis(200),
        settle: Duration::from_millis(50),
    };
    let r = m.request_dump_with(DumpWhat::Bul, wait).await.unwrap();
    assert!(r.replies.is_empty());
}

/// Postcard layout of a frame, written by hand as a newer member would.
fn raw_frame(name: &str, pid: u32, seq: u64, kind: u16, body: &[u8]) -> Vec<u8> {
    postcard::to_stdvec(&(1u8, 7u8, (name, pid), seq, kind, body)).unwrap()
}

#[tokio::test]
async fn unknown_kinds_and_garbage_are_skipped_without_breaking_the_stream() {
    let (_tmp, bus) = bus_dir();
    let mut m = Bus::join(&bus, "had", BusOptions::default()).await.unwrap();
    let path = bus.join(format!("had.{}.sock", m.me().pid));
    let raw = std::os::unix::net::UnixDatagram::unbound().unwrap();
    raw.send_to(&[0xff, 0x00, 0x13], &path).unwrap(); // unsupported major version
    raw.send_to(&raw_frame("future", 77, 1, 999, &[9, 9, 9]), &path)
        .unwrap();
    let mut flush = postcard::to_stdvec(&(1u8, 7u8, ("future", 77u32), 2u64, 5u16)).unwrap();
    flush.extend(postcard::to_stdvec(&Vec::<u8>::new()).unwrap());
    flush.extend([1, 2, 3]); // a newer minor's trailing extension
    raw.send_to(&flush, &path).unwrap();
    match next(&mut m).await {
        Event::Message(e) => {
            assert_eq!(e.body, Body::Unknown { kind: 999 });
            assert_eq!(e.version, (1, 7));
        }
        other => panic!("unexpected {other:?}"),
    }
    match next(&mut m).await {
        Event::Message(e) => assert_eq!((e.seq, e.body), (2, Body::BcFlush)),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_application_that_does_not_read_learns_what_it_lost() {
    let (_tmp, bus) = bus_dir();
    let opts = BusOptions {
        event_queue: 100,
        ..Default::default()
    };
    let mut slow = Bus::join(&bus, "slow", opts).await.unwrap();
    let fast = Bus::join(&bus, "fast", BusOptions::default())
        .await
        .unwrap();
    for i in 0..1000u16 {
        fast.send(Body::BcAdd(bc(i))).unwrap();
    }
    assert!(fast.flush(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(next(&mut slow).await, Event::PeerJoined(fast.me().clone()));
    let mut seqs = Vec::new();
    let gap = loop {
        match next(&mut slow).await {
            Event::Message(e) => seqs.push(e.seq),
            Event::Gap {
                sender,
                expected,
                got,
            } => break (sender, expected, got),
            other => panic!("unexpected {other:?}"),
        }
    };
    // JOIN took the first queue slot: 99 messages (seq 2..=100) fit, the rest were lost.
    assert_eq!(seqs, (2..=100).collect::<Vec<u64>>());
    assert_eq!(gap, (fast.me().clone(), 101, 1002));
}

#[test]
fn handles_can_move_between_tasks() {
    fn send<T: Send + 'static>() {}
    send::<BusMember>();
    send::<Event>();
    send::<BusError>();
}
