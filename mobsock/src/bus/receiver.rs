//! The member's receiver task: reads its socket, checks credentials, decodes, keeps the
//! peer table current and hands messages to the application's queue.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::UnixDatagram;
use tokio::time::{interval, MissedTickBehavior};

use super::creds::{recv_with_creds, AccessPolicy};
use super::dir::{scan, valid_name};
use super::peers::means_gone;
use super::shared::{connect, remove_stale, Connect, Incoming, LeaveReason, Shared};
use crate::message::Body;
use crate::wire::{Envelope, Sender, MAX_DATAGRAM};

pub(crate) async fn run(shared: Arc<Shared>, sock: UnixDatagram, mut policy: AccessPolicy) {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut tick = interval(shared.opts.maintenance_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Messages dropped because the application's queue was full, per sender, not yet told.
    let mut local_drops: BTreeMap<Sender, (u64, u64)> = BTreeMap::new();
    loop {
        tokio::select! {
            r = recv_with_creds(&sock, &mut buf) => match r {
                Ok(rx) => {
                    if rx.truncated || rx.len > MAX_DATAGRAM {
                        tracing::warn!(len = rx.len, "oversized bus datagram dropped");
                        continue;
                    }
                    let Some(creds) = rx.creds else {
                        tracing::warn!("bus datagram without credentials dropped");
                        continue;
                    };
                    if !policy.allows(creds.uid(), creds.gid()) {
                        shared.rejected.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(uid = creds.uid(), gid = creds.gid(), pid = creds.pid(),
                            "bus message from an unauthorised user dropped");
                        continue;
                    }
                    match Envelope::decode(&buf[..rx.len]) {
                        Ok(env) => deliver(&shared, env, &mut local_drops),
                        Err(e) => tracing::warn!(error = %e, pid = creds.pid(),
                            "undecodable bus datagram skipped"),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bus receive failed");
                    tokio::time::sleep(shared.opts.maintenance_interval).await;
                }
            },
            _ = tick.tick() => {
                if shared.has_room() {
                    flush_local_drops(&shared, &mut local_drops);
                }
                maintain(&shared);
            }
        }
    }
}

fn deliver(shared: &Arc<Shared>, env: Envelope, local_drops: &mut BTreeMap<Sender, (u64, u64)>) {
    if !valid_name(&env.sender.name) || env.sender == shared.me {
        tracing::warn!(sender = ?env.sender, "bus message with an impossible sender skipped");
        return;
    }
    match env.body {
        Body::Leave(_) => {
            flush_local_drops(shared, local_drops);
            shared.remove_peer(&env.sender, LeaveReason::Left, false);
            return;
        }
        Body::Join(_) | Body::Dropped(_) | Body::Hello(_) => {
            shared.ensure_peer(&env.sender);
            if matches!(env.body, Body::Join(_)) {
                shared.greet(&env.sender);
            }
            flush_local_drops(shared, local_drops);
            shared.push_control(Incoming::Envelope(env));
            return;
        }
        _ => shared.ensure_peer(&env.sender),
    }
    if shared.has_room() {
        flush_local_drops(shared, local_drops);
        shared.push_control(Incoming::Envelope(env));
    } else {
        let seq = env.seq;
        local_drops
            .entry(env.sender)
            .and_modify(|r| r.1 = seq)
            .or_insert((seq, seq));
    }
}

fn flush_local_drops(shared: &Shared, local_drops: &mut BTreeMap<Sender, (u64, u64)>) {
    for (sender, (first, last)) in std::mem::take(local_drops) {
        shared.push_control(Incoming::LocalDropped {
            sender,
            first,
            last,
        });
    }
}

/// Finds members that joined without us hearing them, and notices members that died.
fn maintain(shared: &Arc<Shared>) {
    match scan(&shared.dir) {
        Ok(found) => {
            for (sender, path) in found {
                if sender == shared.me || shared.knows(&sender) {
                    continue;
                }
                match connect(&path) {
                    Connect::Ok(sock) => shared.add_connected(sender, path, sock),
                    Connect::Stale => remove_stale(&path),
                    Connect::Gone => {}
                    Connect::Failed(e) => tracing::debug!(path = %path.display(), error = %e,
                        "cannot connect to bus member"),
                }
            }
        }
        Err(e) => {
            tracing::warn!(dir = %shared.dir.display(), error = %e, "cannot scan bus directory")
        }
    }
    for (sender, path) in shared.peer_paths() {
        match std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.connect(&path)) {
            Ok(()) => {}
            Err(e) if means_gone(&e) => shared.remove_peer(&sender, LeaveReason::Gone, true),
            Err(e) => tracing::debug!(peer = %sender, error = %e, "bus peer probe failed"),
        }
    }
}
