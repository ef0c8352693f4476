//! The member handle: join, send, receive, dumps, leave.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nix::unistd::geteuid;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::creds::{enable_passcred, AccessPolicy};
use super::dir::{prepare_dir, restrict_socket, scan, socket_path, valid_name};
use super::seqtrack::{Seen, SeqTracker};
use super::shared::{connect, remove_stale, Connect, Incoming, LeaveReason, Shared};
use super::{receiver, BusError, BusOptions};
use crate::dump::reply_bodies;
use crate::message::{
    BcEntry, Body, BulEntry, DumpReply, DumpRequest, DumpWhat, HaList, MemberJoin, MemberLeave,
};
use crate::wire::{Envelope, Sender};

/// What a member receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message (including [`Body::Unknown`] from newer members, which consumers skip).
    Message(Envelope),
    /// Messages `expected..got` (exclusive) from `sender` were lost for us: resynchronise
    /// with a dump.
    Gap {
        sender: Sender,
        expected: u64,
        got: u64,
    },
    /// A member (re)joined the bus.
    PeerJoined(Sender),
    /// A member left (cleanly, or its socket closed).
    PeerLeft { sender: Sender, reason: LeaveReason },
}

/// How long [`BusMember::request_dump_with`] collects replies.
#[derive(Debug, Clone, Copy)]
pub struct DumpWait {
    /// Give up after this long in any case.
    pub timeout: Duration,
    /// Once every responder so far has sent its last chunk, wait this long for others.
    pub settle: Duration,
}

impl Default for DumpWait {
    fn default() -> Self {
        DumpWait {
            timeout: Duration::from_secs(1),
            settle: Duration::from_millis(100),
        }
    }
}

/// The replies to one dump request, per responder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpResult {
    pub replies: BTreeMap<Sender, Vec<DumpReply>>,
}

impl DumpResult {
    /// Every Binding Cache entry received.
    pub fn bc(&self) -> Vec<BcEntry> {
        self.replies
            .values()
            .flatten()
            .flat_map(|r| r.bc.clone())
            .collect()
    }
    /// Every Binding Update List entry received.
    pub fn bul(&self) -> Vec<BulEntry> {
        self.replies
            .values()
            .flatten()
            .flat_map(|r| r.bul.clone())
            .collect()
    }
    /// Whether every responder sent its last chunk.
    pub fn complete(&self) -> bool {
        self.replies.values().all(|rs| rs.iter().any(|r| r.done))
    }
}

/// Entry point: `Bus::join(dir, name, options)`.
pub struct Bus;

impl Bus {
    /// Joins the bus in `dir` as `name`: creates the directory if needed, binds
    /// `<dir>/<name>.<pid>.sock`, finds the other members and announces itself (JOIN).
    pub async fn join(dir: &Path, name: &str, opts: BusOptions) -> Result<BusMember, BusError> {
        BusMember::join(dir, name, opts).await
    }
}

/// One member of the bus. Dropping it closes its socket (peers see it as gone);
/// [`BusMember::leave`] says goodbye first.
pub struct BusMember {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    tracker: SeqTracker,
    /// Events produced but not returned yet.
    ready: VecDeque<Event>,
    /// Events set aside while a dump request collected its replies.
    deferred: VecDeque<Event>,
    receiver: JoinHandle<()>,
    next_dump_id: u32,
    /// Members that answered our JOIN (only used while joining).
    hellos: HashSet<Sender>,
}

impl BusMember {
    async fn join(dir: &Path, name: &str, opts: BusOptions) -> Result<BusMember, BusError> {
        if !valid_name(name) {
            return Err(BusError::InvalidName(name.to_owned()));
        }
        prepare_dir(dir, opts.group).map_err(|e| BusError::io("prepare bus directory", dir, e))?;
        let me = Sender {
            name: name.to_owned(),
            pid: std::process::id(),
        };
        let own_path = socket_path(dir, &me);
        remove_stale(&own_path);
        let std_sock = std::os::unix::net::UnixDatagram::bind(&own_path)
            .map_err(|e| BusError::io("bind member socket", &own_path, e))?;
        restrict_socket(&own_path, opts.group)
            .map_err(|e| BusError::io("restrict member socket", &own_path, e))?;
        std_sock
            .set_nonblocking(true)
            .map_err(|e| BusError::io("configure member socket", &own_path, e))?;
        let sock = UnixDatagram::from_std(std_sock)
            .map_err(|e| BusError::io("register member socket", &own_path, e))?;
        enable_passcred(&sock).map_err(|e| BusError::io("enable SO_PASSCRED on", &own_path, e))?;

        let (tx, rx) = mpsc::unbounded_channel();
        let policy = AccessPolicy::new(geteuid(), opts.group);
        let shared = Arc::new(Shared::new(me.clone(), dir.to_owned(), own_path, opts, tx));
        let found = scan(dir).map_err(|e| BusError::io("read bus directory", dir, e))?;
        for (sender, path) in found {
            if sender == me {
                continue;
            }
            match connect(&path) {
                Connect::Ok(s) => shared.add_connected(sender, path, s),
                Connect::Stale => remove_stale(&path),
                Connect::Gone => {}
                Connect::Failed(e) => return Err(BusError::io("connect to bus member", path, e)),
            }
        }
        shared.broadcast(Body::Join(MemberJoin {}))?;
        let receiver = tokio::spawn(receiver::run(shared.clone(), sock, policy));
        let expected = shared.peers();
        let mut member = BusMember {
            shared,
            rx,
            tracker: SeqTracker::default(),
            ready: VecDeque::new(),
            deferred: VecDeque::new(),
            receiver,
            next_dump_id: 1,
            hellos: HashSet::new(),
        };
        member.await_hellos(expected).await?;
        tracing::debug!(member = %me, peers = member.peers().len(), "joined the bus");
        Ok(member)
    }

    /// Waits (at most `join_timeout`) until every member we found has answered our JOIN,
    /// or has gone: from then on every live member sends to us.
    async fn await_hellos(&mut self, expected: Vec<Sender>) -> Result<(), BusError> {
        let deadline = Instant::now() + self.shared.opts.join_timeout;
        loop {
            let current = self.shared.peers();
            let waiting: Vec<&Sender> = expected
                .iter()
                .filter(|s| !self.hellos.contains(*s) && current.contains(s))
                .collect();
            if waiting.is_empty() {
                break;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_elapsed) => {
                    tracing::debug!(?waiting, "members did not answer our JOIN in time");
                    break;
                }
                Ok(None) => return Err(BusError::Closed),
                Ok(Some(item)) => {
                    self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                    self.process(item);
                }
            }
        }
        self.hellos = HashSet::new();
        Ok(())
    }

    /// This member's identity.
    pub fn me(&self) -> &Sender {
        &self.shared.me
    }

    /// The members this one currently sends to.
    pub fn peers(&self) -> Vec<Sender> {
        self.shared.peers()
    }

    /// Datagrams refused so far because of the sender's credentials.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    /// Broadcasts a message and returns its sequence number. Never waits: the message is
    /// queued for every peer; a peer whose queue is full loses it (and is told later).
    pub fn send(&self, body: Body) -> Result<u64, BusError> {
        let env = self.shared.broadcast(body)?;
        let seq = env.seq;
        if self.shared.opts.loopback {
            self.shared.push_control(Incoming::Envelope(env));
        }
        Ok(seq)
    }

    /// Waits until everything sent so far has been handed to the kernel for every peer
    /// (or dropped for a stuck one), at most `timeout`. Returns whether it got there.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = self.shared.last_seq();
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.settled(target) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Says goodbye (LEAVE), flushes, and closes.
    pub async fn leave(self) -> Result<(), BusError> {
        // Unlink first, so that nobody rediscovers us after our goodbye.
        remove_stale(&self.shared.own_path);
        self.shared.broadcast(Body::Leave(MemberLeave {}))?;
        self.flush(Duration::from_millis(500)).await;
        Ok(())
    }

    /// The next event. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Event, BusError> {
        if let Some(ev) = self.deferred.pop_front() {
            return Ok(ev);
        }
        self.next_event().await
    }

    async fn next_event(&mut self) -> Result<Event, BusError> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Ok(ev);
            }
            let item = self.rx.recv().await.ok_or(BusError::Closed)?;
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            self.process(item);
        }
    }

    /// Turns a transport item into events, tracking per-sender sequence numbers.
    fn process(&mut self, item: Incoming) {
        match item {
            Incoming::Left(sender, reason) => {
                self.tracker.forget(&sender);
                self.ready.push_back(Event::PeerLeft { sender, reason });
            }
            Incoming::LocalDropped {
                sender,
                first,
                last,
            } => self.note_drop(sender, first, last),
            Incoming::Envelope(env) => match env.body {
                Body::Join(_) => {
                    self.tracker.joined(&env.sender, env.seq);
                    self.ready.push_back(Event::PeerJoined(env.sender));
                }
                Body::Dropped(d) => self.note_drop(env.sender, d.first, d.last),
                Body::Hello(_) => {
                    self.tracker.joined(&env.sender, env.seq);
                    self.hellos.insert(env.sender);
                }
                _ => {
                    match self.tracker.observe(&env.sender, env.seq) {
                        Seen::Gap { expected, got } => self.ready.push_back(Event::Gap {
                            sender: env.sender.clone(),
                            expected,
                            got,
                        }),
                        Seen::Restarted => {
                            tracing::debug!(sender = %env.sender, seq = env.seq, "sender restarted")
                        }
                        Seen::First | Seen::InOrder => {}
                    }
                    self.ready.push_back(Event::Message(env));
                }
            },
        }
    }

    fn note_drop(&mut self, sender: Sender, first: u64, last: u64) {
        if let Some((expected, got)) = self.tracker.dropped(&sender, first, last) {
            self.ready.push_back(Event::Gap {
                sender,
                expected,
                got,
            });
        }
    }

    /// Asks the owners of state for a dump and collects their replies (default wait).
    pub async fn request_dump(&mut self, what: DumpWhat) -> Result<DumpResult, BusError> {
        self.request_dump_with(what, DumpWait::default()).await
    }

    /// Asks the owners of state for a dump; other events arriving meanwhile are kept for
    /// [`BusMember::recv`].
    pub async fn request_dump_with(
        &mut self,
        what: DumpWhat,
        wait: DumpWait,
    ) -> Result<DumpResult, BusError> {
        let id = self.next_dump_id ^ (self.shared.me.pid << 12);
        self.next_dump_id = self.next_dump_id.wrapping_add(1);
        self.send(Body::DumpRequest(DumpRequest { what, id }))?;
        let deadline = Instant::now() + wait.timeout;
        let mut result = DumpResult::default();
        let mut last_reply = Instant::now();
        loop {
            let until = if !result.replies.is_empty() && result.complete() {
                deadline.min(last_reply + wait.settle)
            } else {
                deadline
            };
            let ev = match tokio::time::timeout_at(until, self.next_event()).await {
                Err(_elapsed) => break,
                Ok(ev) => ev?,
            };
            match ev {
                Event::Message(Envelope {
                    sender,
                    body: Body::DumpReply(reply),
                    ..
                }) if reply.request_id == id => {
                    result.replies.entry(sender).or_default().push(reply);
                    last_reply = Instant::now();
                }
                other => self.deferred.push_back(other),
            }
        }
        Ok(result)
    }

    /// Asks the owners of Home Agents Lists (had, mrd) for theirs: HA_LIST answers per
    /// sender, waiting as [`Self::request_dump_with`] does.
    pub async fn request_ha_lists(
        &mut self,
        wait: DumpWait,
    ) -> Result<BTreeMap<Sender, HaList>, BusError> {
        let id = self.next_dump_id ^ (self.shared.me.pid << 12);
        self.next_dump_id = self.next_dump_id.wrapping_add(1);
        self.send(Body::DumpRequest(DumpRequest {
            what: DumpWhat::Ha,
            id,
        }))?;
        let deadline = Instant::now() + wait.timeout;
        let mut lists = BTreeMap::new();
        let mut last_reply = Instant::now();
        loop {
            let until = if lists.is_empty() {
                deadline
            } else {
                deadline.min(last_reply + wait.settle)
            };
            let ev = match tokio::time::timeout_at(until, self.next_event()).await {
                Err(_elapsed) => break,
                Ok(ev) => ev?,
            };
            match ev {
                Event::Message(Envelope {
                    sender,
                    body: Body::HaList(list),
                    ..
                }) if list.request_id == Some(id) => {
                    lists.insert(sender, list);
                    last_reply = Instant::now();
                }
                other => self.deferred.push_back(other),
            }
        }
        Ok(lists)
    }

    /// Answers a dump request as an owner of state: sends `bc` and/or `bul` (as the
    /// request asks) in chunks, the last one marked done.
    pub fn answer_dump(
        &self,
        request: &DumpRequest,
        bc: &[BcEntry],
        bul: &[BulEntry],
    ) -> Result<(), BusError> {
        if request.what == DumpWhat::Ha {
            // Answered with HA_LIST by the owners of such lists, not with DUMP_REPLY.
            return Ok(());
        }
        let bc = if request.what.includes(DumpWhat::Bc) {
            bc
        } else {
            &[]
        };
        let bul = if request.what.includes(DumpWhat::Bul) {
            bul
        } else {
            &[]
        };
        for body in reply_bodies(request.id, bc, bul) {
            self.send(body)?;
        }
        Ok(())
    }
}

impl Drop for BusMember {
    fn drop(&mut self) {
        self.receiver.abort();
        self.shared.clear_peers();
        remove_stale(&self.shared.own_path);
    }
}
