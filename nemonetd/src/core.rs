//! nemonetd's decisions, I/O-free in the style of `registration`: bus messages, dump
//! answers, the outcome of each apply and the time go in; [`Action`]s come out (ask for a
//! dump, apply this desired state, restore a path MTU, preset the tunnel source), for the
//! daemon glue in `plane.rs` to carry out with the bus and the [`dataplane::DataPlane`].
//!
//! It owns what the data plane must carry (the MR's registration or the HA's bindings, the
//! mobile routers at home) and the convergence: a failed apply or dump is retried with
//! back-off until one succeeds, the first failure logged at warn and repeats at a lower
//! rate, with how long the kernel has been diverged. The tunnel MTU itself is the data
//! plane's; the core keeps only when a Packet Too Big lowered it, to restore the configured
//! one after [`PMTU_RAISE_AFTER`].

use crate::cli::Role;
use dataplane::{HaBinding, HomeRouter, MrRegistration};
use mobsock::{Body, DumpResult, DumpWhat, HaList, MdCommand, NodeType, NodeTypeInfo};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// How long a lowered path MTU stands before the configured one is tried again
/// (RFC 8201 section 4: at least 5 minutes, 10 recommended). A path that is still narrow
/// answers the next large packet with another Packet Too Big.
pub const PMTU_RAISE_AFTER: Duration = Duration::from_secs(600);

/// The first retry after a failure; each further failure doubles it up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// While an attempt keeps failing the same way, it is logged at warn at most this often.
pub const REPEAT_WARN_EVERY: Duration = Duration::from_secs(60);

/// What the core is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub role: Role,
    /// The backend has a tunnel source to set ahead of a registration (seg6).
    pub has_tunnel_source: bool,
    /// MR: `home-agent-address`, where IPv4 goes at home (else the one mrd names).
    pub home_agent: Option<Ipv6Addr>,
    /// HA: the mobile routers of the prefixtable: one without a binding is on its home link
    /// (NEMO's definition of home), so its prefixes are routed to it there.
    pub table_home: BTreeMap<Ipv6Addr, HomeRouter>,
    /// The configured tunnel MTU (`tunnel-mtu`).
    pub tunnel_mtu: u32,
}

/// What the data plane must be made equal to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// MR registered: the tunnel through the uplink holding the care-of address.
    MrRegistered(MrRegistration),
    /// MR on its home link (babymdd's DEREGHOME), on the uplink with this interface index:
    /// no tunnel; IPv4 to the home agent `ha` on that link (`None`: none known, no routes).
    MrHome {
        ifindex: Option<u32>,
        ha: Option<Ipv6Addr>,
    },
    /// MR neither registered nor (known to be) at home: no tunnel.
    MrNone,
    /// HA: the tunnels of the bindings, and the prefixes of the mobile routers at home.
    Ha {
        bindings: Vec<HaBinding>,
        at_home: Vec<HomeRouter>,
    },
}

/// What the glue must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the owner of the state (mrd: BUL, had: BC) for a dump; answer with
    /// [`Core::dump_answered`] or [`Core::dump_failed`].
    RequestDump(DumpWhat),
    /// Reconcile the data plane to this; answer with [`Core::apply_succeeded`] or
    /// [`Core::apply_failed`].
    Apply(Target),
    /// Set the seg6 tunnel source to a new care-of address ahead of its registration.
    PresetTunnelSource(Ipv6Addr),
    /// A lowered path MTU is old enough: back to the configured one (MR: `None`, the whole
    /// tunnel; HA: towards this care-of address). A failure is an apply failure.
    RestorePathMtu(Option<Ipv6Addr>),
}

/// Retries with exponential back-off, and the logging of a run of failures.
#[derive(Debug, Default)]
struct Retry {
    failures: u32,
    since: Option<Instant>,
    at: Option<Instant>,
    last_error: Option<String>,
    last_warned: Option<Instant>,
}

impl Retry {
    fn delay(failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        (RETRY_FIRST * 2u32.pow(doublings)).min(RETRY_MAX)
    }

    /// Records a failure at `now` and schedules the next attempt.
    fn failed(&mut self, what: &str, error: &str, now: Instant) {
        self.failures += 1;
        let since = *self.since.get_or_insert(now);
        let delay = Self::delay(self.failures);
        self.at = Some(now + delay);
        let new_error = self.last_error.as_deref() != Some(error);
        let warn_due = self
            .last_warned
            .is_none_or(|t| now.saturating_duration_since(t) >= REPEAT_WARN_EVERY);
        let diverged = now.saturating_duration_since(since);
        if self.failures == 1 || new_error || warn_due {
            tracing::warn!(
                diverged_secs = diverged.as_secs(),
                failures = self.failures,
                "{what} failed: {error}; retrying in {delay:?} (diverged for {diverged:.1?}, {} failed attempts)",
                self.failures
            );
            self.last_warned = Some(now);
        } else {
            tracing::debug!(
                failures = self.failures,
                "{what} failed again: {error}; retrying in {delay:?}"
            );
        }
        self.last_error = Some(error.to_string());
    }

    /// Records a success; logs the end of a run of failures.
    fn succeeded(&mut self, what: &str, now: Instant) {
        if let Some(since) = self.since {
            tracing::info!(
                "{what} succeeded after {} failed attempts: converged after {:.1?} diverged",
                self.failures,
                now.saturating_duration_since(since)
            );
        }
        *self = Retry::default();
    }

    fn due(&self, now: Instant) -> bool {
        self.at.is_some_and(|t| t <= now)
    }
}

/// What this node's data plane must carry.
#[derive(Debug)]
enum Desired {
    Mr(Option<MrRegistration>),
    Ha(BTreeMap<Ipv6Addr, HaBinding>),
}

/// nemonetd's state and decisions.
#[derive(Debug)]
pub struct Core {
    settings: Settings,
    desired: Desired,
    /// MR: on the home link (babymdd's DEREGHOME): the uplink's interface index there, and
    /// the home agent IPv4 goes to.
    home: Option<(Option<u32>, Option<Ipv6Addr>)>,
    /// MR: the home agent mrd last named, by its HA_LIST (the one in use, found by DHAAD
    /// also at home) or a registration; kept when the registration ends.
    mrd_ha: Option<Ipv6Addr>,
    /// HA: mobile routers that deregistered from their home link, or whose home routes a
    /// restarted nemonetd found in place, by home address.
    at_home: BTreeMap<Ipv6Addr, HomeRouter>,
    apply: Retry,
    dump: Retry,
    /// A dump is wanted (its retry time is `dump.at`).
    dump_wanted: bool,
    /// MR: when a Packet Too Big last lowered the tunnel MTU.
    lowered_at: Option<Instant>,
    /// HA: the same, per care-of address.
    peers_lowered_at: BTreeMap<Ipv6Addr, Instant>,
}

impl Core {
    pub fn new(settings: Settings) -> Self {
        if !settings.table_home.is_empty() {
            tracing::info!(
                "{} mobile router(s) in the prefixtable: without a binding their prefixes go to their home addresses on the home link",
                settings.table_home.len()
            );
        }
        let desired = match settings.role {
            Role::MobileRouter => Desired::Mr(None),
            Role::HomeAgent => Desired::Ha(BTreeMap::new()),
        };
        Self {
            settings,
            desired,
            home: None,
            mrd_ha: None,
            at_home: BTreeMap::new(),
            apply: Retry::default(),
            dump: Retry::default(),
            dump_wanted: false,
            lowered_at: None,
            peers_lowered_at: BTreeMap::new(),
        }
    }

    fn dump_what(&self) -> DumpWhat {
        match self.settings.role {
            Role::MobileRouter => DumpWhat::Bul,
            Role::HomeAgent => DumpWhat::Bc,
        }
    }

    fn request_dump(&mut self) -> Vec<Action> {
        self.dump_wanted = true;
        self.dump.at = None;
        vec![Action::RequestDump(self.dump_what())]
    }

    /// Start (or restart): take the owner's state as a whole.
    pub fn start(&mut self) -> Vec<Action> {
        self.request_dump()
    }

    /// Lost bus messages: take the owner's state as a whole again.
    pub fn gap(&mut self) -> Vec<Action> {
        self.request_dump()
    }

    /// The dump request could not be sent or answered: retried with back-off.
    pub fn dump_failed(&mut self, error: &str, now: Instant) -> Vec<Action> {
        self.dump.failed("dump request", error, now);
        Vec::new()
    }

    /// The owner's answer to a dump. No answer at all: the owner is restarting and will
    /// announce, so the kernel keeps what is installed.
    pub fn dump_answered(&mut self, dump: &DumpResult, now: Instant) -> Vec<Action> {
        self.dump.succeeded("dump request", now);
        self.dump_wanted = false;
        if dump.replies.is_empty() {
            tracing::info!(
                "no {} answered the dump: keeping what is installed until it announces",
                match self.settings.role {
                    Role::MobileRouter => "mrd",
                    Role::HomeAgent => "had",
                }
            );
            return Vec::new();
        }
        match &mut self.desired {
            Desired::Mr(reg) => {
                let new = dump.bul().into_iter().next().map(|e| MrRegistration {
                    hoa: e.hoa,
                    coa: e.coa,
                    ha: e.ha,
                    mnp6: e.mnp6,
                    mnp4: e.mnp4,
                });
                if new.as_ref().map(|r| r.coa) != reg.as_ref().map(|r| r.coa) {
                    self.lowered_at = None;
                }
                if let Some(r) = &new {
                    self.home = None;
                    self.mrd_ha = Some(r.ha);
                }
                *reg = new;
            }
            Desired::Ha(map) => {
                *map = dump
                    .bc()
                    .into_iter()
                    .map(|e| {
                        (
                            e.hoa,
                            HaBinding {
                                hoa: e.hoa,
                                coa: e.coa,
                                mnp6: e.mnp6,
                                mnp4: e.mnp4,
                            },
                        )
                    })
                    .collect();
                for hoa in map.keys() {
                    self.at_home.remove(hoa);
                }
                let coas: Vec<Ipv6Addr> = map.values().map(|b| b.coa).collect();
                self.peers_lowered_at.retain(|c, _| coas.contains(c));
            }
        }
        self.apply_now()
    }

    /// A message from the bus.
    pub fn bus_message(&mut self, body: &Body) -> Vec<Action> {
        if self.owner_started(body) {
            // had has just started: take its state as a whole, which also covers the case
            // it has nothing to announce.
            return self.request_dump();
        }
        let mut actions = Vec::new();
        if let (Desired::Mr(_), Body::MdInfo(md)) = (&self.desired, body) {
            // A new care-of address: the registration follows in a round trip. Setting
            // the seg6 tunnel source waits for an RCU grace period (~10 ms), so it starts
            // now, beside the exchange, instead of delaying the routes after it.
            if let (MdCommand::Rereg, Some(coa), true) =
                (md.command, md.coa, self.settings.has_tunnel_source)
            {
                actions.push(Action::PresetTunnelSource(coa));
            }
        }
        if self.learn(body) {
            actions.extend(self.apply_now());
        }
        actions
    }

    /// HA: whether `body` is had's start announcement (NODETYPE_INFO). had restores its
    /// Binding Cache before it announces, so its dump is complete; on a home agent that
    /// starts empty this is what installs the routes of the mobile routers at home. (Not on
    /// an MR: mrd starts with an empty Binding Update List and registers again, and the
    /// tunnel must stay meanwhile.)
    fn owner_started(&self, body: &Body) -> bool {
        self.settings.role == Role::HomeAgent
            && matches!(
                body,
                Body::NodeTypeInfo(NodeTypeInfo {
                    node_type: NodeType::HomeAgent,
                    enabled: true
                })
            )
    }

    /// Takes in a bus message; true when the desired state changed.
    fn learn(&mut self, body: &Body) -> bool {
        match (&mut self.desired, body) {
            (Desired::Mr(reg), Body::MdInfo(md)) => match md.command {
                MdCommand::DeregHome => {
                    let ha = self.settings.home_agent.or(self.mrd_ha);
                    let was = self.home;
                    self.home = Some((md.ifindex, ha));
                    // Applied once the registration has ended (BUL_REMOVE).
                    reg.is_none() && self.home != was
                }
                MdCommand::Rereg => self.home.take().is_some() && reg.is_none(),
                _ => false,
            },
            (Desired::Mr(reg), Body::BulAdd(e)) => {
                tracing::info!("registration via {} with {}", e.coa, e.ha);
                self.home = None;
                self.mrd_ha = Some(e.ha);
                if reg.as_ref().is_none_or(|r| r.coa != e.coa) {
                    // Another care-of address is another path: the data plane starts it
                    // from the configured MTU.
                    self.lowered_at = None;
                }
                let new = MrRegistration {
                    hoa: e.hoa,
                    coa: e.coa,
                    ha: e.ha,
                    mnp6: e.mnp6.clone(),
                    mnp4: e.mnp4.clone(),
                };
                // Also an unchanged one: a refresh or a restarted mrd registering again is
                // a moment to converge on what the kernel may have dropped meanwhile (a
                // local route goes with its address when mrd places it again). One
                // registration: a cheap reconcile.
                reg.replace(new.clone());
                true
            }
            (Desired::Mr(reg), Body::HaList(list)) => {
                let Some(ha) = in_use(list) else {
                    // mrd has found none (yet): the one known stays.
                    return false;
                };
                if self.mrd_ha != Some(ha) {
                    tracing::info!("mrd's home agent: {ha}");
                }
                self.mrd_ha = Some(ha);
                if self.settings.home_agent.is_some() {
                    return false;
                }
                // At home and not registered: IPv4 follows to this one now.
                match &mut self.home {
                    Some((_, known)) if *known != Some(ha) => {
                        *known = Some(ha);
                        reg.is_none()
                    }
                    _ => false,
                }
            }
            (Desired::Mr(reg), Body::BulRemove(r)) => {
                tracing::info!("registration of {} ended ({})", r.hoa, r.reason.as_str());
                reg.take().is_some()
            }
            (Desired::Mr(reg), Body::BulFlush) => reg.take().is_some(),
            (Desired::Ha(map), Body::BcAdd(e)) => {
                let b = HaBinding {
                    hoa: e.hoa,
                    coa: e.coa,
                    mnp6: e.mnp6.clone(),
                    mnp4: e.mnp4.clone(),
                };
                let left_home = self.at_home.remove(&b.hoa).is_some();
                let old = map.insert(b.hoa, b.clone());
                if let Some(old) = &old {
                    if old.coa != b.coa {
                        self.peers_lowered_at.remove(&old.coa);
                    }
                }
                old != Some(b) || left_home
            }
            (Desired::Ha(map), Body::BcRemove(r)) => {
                let removed = map.remove(&r.hoa);
                if let Some(b) = &removed {
                    self.peers_lowered_at.remove(&b.coa);
                }
                // Deregistered from its home address: it is on the home link.
                if let (Some(b), true) = (&removed, r.coa == Some(r.hoa)) {
                    tracing::info!(
                        "{} is at home: its prefixes go to it on the home link",
                        r.hoa
                    );
                    self.at_home.insert(
                        b.hoa,
                        HomeRouter {
                            hoa: b.hoa,
                            mnp6: b.mnp6.clone(),
                            mnp4: b.mnp4.clone(),
                        },
                    );
                }
                removed.is_some()
            }
            (Desired::Ha(map), Body::BcFlush) => {
                self.peers_lowered_at.clear();
                let had = !map.is_empty();
                map.clear();
                had
            }
            _ => false,
        }
    }

    /// HA: a new data plane found routes of mobile routers at home in place (a restarted
    /// nemonetd keeps routing them). True when that changed the target.
    pub fn home_routers_found(&mut self, found: Vec<HomeRouter>) -> bool {
        let Desired::Ha(map) = &self.desired else {
            return false;
        };
        let mut changed = false;
        for h in found {
            if map.contains_key(&h.hoa) || self.at_home.contains_key(&h.hoa) {
                continue;
            }
            tracing::info!("{} is at home (routes found in place)", h.hoa);
            self.at_home.insert(h.hoa, h);
            changed = true;
        }
        changed
    }

    /// What the data plane must be made equal to now.
    pub fn target(&self) -> Target {
        match &self.desired {
            Desired::Mr(Some(reg)) => Target::MrRegistered(reg.clone()),
            Desired::Mr(None) => match self.home {
                Some((ifindex, ha)) => Target::MrHome { ifindex, ha },
                None => Target::MrNone,
            },
            Desired::Ha(map) => {
                let mut homes = self.settings.table_home.clone();
                for hoa in map.keys() {
                    homes.remove(hoa);
                }
                for (hoa, h) in &self.at_home {
                    homes.entry(*hoa).or_insert_with(|| h.clone());
                }
                Target::Ha {
                    bindings: map.values().cloned().collect(),
                    at_home: homes.into_values().collect(),
                }
            }
        }
    }

    fn apply_now(&mut self) -> Vec<Action> {
        // A pending retry is overtaken by this attempt.
        self.apply.at = None;
        vec![Action::Apply(self.target())]
    }

    /// The data plane now matches the last [`Action::Apply`] (or restore).
    pub fn apply_succeeded(&mut self, now: Instant) {
        self.apply.succeeded("data plane apply", now);
    }

    /// The data plane refused: the kernel is diverged; the whole target is applied again
    /// after a back-off.
    pub fn apply_failed(&mut self, error: &str, now: Instant) {
        self.apply.failed("data plane apply", error, now);
    }

    /// Since when the kernel has differed from the desired state (`None`: it matches as
    /// far as nemonetd knows).
    pub fn diverged_since(&self) -> Option<Instant> {
        self.apply.since
    }

    /// A Packet Too Big lowered the tunnel MTU towards `peer` to `tunnel_mtu` (the data
    /// plane did it); the configured one is tried again after [`PMTU_RAISE_AFTER`].
    pub fn path_mtu_lowered(&mut self, peer: Ipv6Addr, tunnel_mtu: u32, now: Instant) {
        if tunnel_mtu >= self.settings.tunnel_mtu {
            return;
        }
        match self.settings.role {
            Role::MobileRouter => self.lowered_at = Some(now),
            Role::HomeAgent => {
                self.peers_lowered_at.insert(peer, now);
            }
        }
    }

    /// When [`Core::tick`] has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let raise = self
            .lowered_at
            .iter()
            .chain(self.peers_lowered_at.values())
            .map(|t| *t + PMTU_RAISE_AFTER);
        let dump = self.dump.at.filter(|_| self.dump_wanted);
        raise.chain(self.apply.at).chain(dump).min()
    }

    /// The time passes: retries and path MTU restores that are due.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.dump_wanted && self.dump.due(now) {
            self.dump.at = None;
            actions.push(Action::RequestDump(self.dump_what()));
        }
        if self.lowered_at.is_some_and(|t| now >= t + PMTU_RAISE_AFTER) {
            self.lowered_at = None;
            tracing::info!("path MTU lowered {PMTU_RAISE_AFTER:?} ago: trying the configured one");
            actions.push(Action::RestorePathMtu(None));
        }
        let due: Vec<Ipv6Addr> = self
            .peers_lowered_at
            .iter()
            .filter(|(_, t)| now >= **t + PMTU_RAISE_AFTER)
            .map(|(coa, _)| *coa)
            .collect();
        for coa in due {
            self.peers_lowered_at.remove(&coa);
            tracing::info!("path MTU towards {coa} lowered {PMTU_RAISE_AFTER:?} ago: trying the configured one");
            actions.push(Action::RestorePathMtu(Some(coa)));
        }
        if self.apply.due(now) {
            actions.extend(self.apply_now());
        }
        actions
    }
}

/// The home agent an HA_LIST names: mrd's marks the one in use; before it chose, its
/// first (the one it will use). (Only mrd keeps a list on a mobile router's bus.)
fn in_use(list: &HaList) -> Option<Ipv6Addr> {
    list.entries
        .iter()
        .find(|e| e.own)
        .or(list.entries.first())
        .map(|e| e.address)
}

#[cfg(test)]
mod tests {
    //! Each test names the decision it covers (`// decision N`); the report counts them.
    use super::*;
    use mobsock::{
        BcEntry, BcRemove, BulEntry, BulRemove, DumpReply, HaListEntry, MdInfo, RemoveReason,
        Sender,
    };

    const CONFIGURED: u32 = 1460;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn settings(role: Role) -> Settings {
        Settings {
            role,
            has_tunnel_source: true,
            home_agent: None,
            table_home: BTreeMap::new(),
            tunnel_mtu: CONFIGURED,
        }
    }

    fn mr() -> Core {
        Core::new(settings(Role::MobileRouter))
    }

    fn ha() -> Core {
        Core::new(settings(Role::HomeAgent))
    }

    fn bul(coa: &str) -> BulEntry {
        BulEntry {
            hoa: a("2001:db8:280::beef"),
            coa: a(coa),
            ha: a("2001:db8:280::1"),
            lifetime: 60,
            mnp6: vec!["2001:db8:281::/64".parse().unwrap()],
            mnp4: vec!["10.0.0.0/24".parse().unwrap()],
            flags: 0,
        }
    }

    fn reg(coa: &str) -> MrRegistration {
        let e = bul(coa);
        MrRegistration {
            hoa: e.hoa,
            coa: e.coa,
            ha: e.ha,
            mnp6: e.mnp6,
            mnp4: e.mnp4,
        }
    }

    fn bc(hoa: &str, coa: &str) -> BcEntry {
        BcEntry {
            hoa: a(hoa),
            coa: a(coa),
            lifetime: 60,
            mnp6: vec![],
            mnp4: vec!["10.0.0.0/24".parse().unwrap()],
            ha: None,
            bu_seq: None,
            flags: 0,
        }
    }

    fn binding(hoa: &str, coa: &str) -> HaBinding {
        let e = bc(hoa, coa);
        HaBinding {
            hoa: e.hoa,
            coa: e.coa,
            mnp6: e.mnp6,
            mnp4: e.mnp4,
        }
    }

    fn home(hoa: &str) -> HomeRouter {
        HomeRouter {
            hoa: a(hoa),
            mnp6: vec![],
            mnp4: vec!["10.0.0.0/24".parse().unwrap()],
        }
    }

    fn md(command: MdCommand, coa: Option<&str>, ifindex: Option<u32>) -> Body {
        Body::MdInfo(MdInfo {
            command,
            hint: None,
            coa: coa.map(a),
            ifindex,
        })
    }

    fn dump(bul: Vec<BulEntry>, bc: Vec<BcEntry>) -> DumpResult {
        let mut d = DumpResult::default();
        d.replies.insert(
            Sender {
                name: "owner".into(),
                pid: 1,
            },
            vec![DumpReply {
                request_id: 1,
                bc,
                bul,
                done: true,
            }],
        );
        d
    }

    fn ha_target(bindings: Vec<HaBinding>, at_home: Vec<HomeRouter>) -> Action {
        Action::Apply(Target::Ha { bindings, at_home })
    }

    #[test]
    fn start_and_gaps_ask_the_owner_for_a_dump() {
        // decision 1: start asks mrd (BUL) / had (BC) for its state
        assert_eq!(mr().start(), vec![Action::RequestDump(DumpWhat::Bul)]);
        assert_eq!(ha().start(), vec![Action::RequestDump(DumpWhat::Bc)]);
        // decision 2: lost bus messages: the state as a whole again
        assert_eq!(mr().gap(), vec![Action::RequestDump(DumpWhat::Bul)]);
    }

    #[test]
    fn an_unanswered_dump_keeps_what_is_installed() {
        // decision 3: nobody answered (owner restarting): no apply, no retry
        let t0 = Instant::now();
        let mut c = mr();
        c.start();
        assert!(c.dump_answered(&DumpResult::default(), t0).is_empty());
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn a_dump_is_applied_as_a_whole() {
        // decision 4: MR: the dumped registration is the target
        let t0 = Instant::now();
        let mut c = mr();
        c.start();
        assert_eq!(
            c.dump_answered(&dump(vec![bul("2001:db8:200::5")], vec![]), t0),
            vec![Action::Apply(Target::MrRegistered(reg("2001:db8:200::5")))]
        );
        // decision 5: an answered dump without a registration removes the tunnel
        assert_eq!(
            c.dump_answered(&dump(vec![], vec![]), t0),
            vec![Action::Apply(Target::MrNone)]
        );
        // decision 6: HA: the dumped Binding Cache replaces what it had
        let mut c = ha();
        c.bus_message(&Body::BcAdd(bc("2001:db8:280::a", "2001:db8:200::a")));
        assert_eq!(
            c.dump_answered(
                &dump(vec![], vec![bc("2001:db8:280::b", "2001:db8:200::b")]),
                t0
            ),
            vec![ha_target(
                vec![binding("2001:db8:280::b", "2001:db8:200::b")],
                vec![]
            )]
        );
    }

    #[test]
    fn a_failed_dump_is_retried_with_back_off() {
        // decision 7: a dump that fails is asked again after a back-off that doubles
        let t0 = Instant::now();
        let mut c = ha();
        c.start();
        assert!(c.dump_failed("bus closed", t0).is_empty());
        assert_eq!(c.next_deadline(), Some(t0 + RETRY_FIRST));
        assert!(c.tick(t0 + RETRY_FIRST / 2).is_empty());
        assert_eq!(
            c.tick(t0 + RETRY_FIRST),
            vec![Action::RequestDump(DumpWhat::Bc)]
        );
        let t1 = t0 + RETRY_FIRST;
        c.dump_failed("bus closed", t1);
        assert_eq!(c.next_deadline(), Some(t1 + RETRY_FIRST * 2));
        c.dump_answered(&DumpResult::default(), t1);
        assert_eq!(c.next_deadline(), None, "answered: no more retries");
    }

    #[test]
    fn mr_registration_events() {
        let mut c = mr();
        // decision 8: BUL_ADD applies the registration
        let add = Body::BulAdd(bul("2001:db8:200::5"));
        assert_eq!(
            c.bus_message(&add),
            vec![Action::Apply(Target::MrRegistered(reg("2001:db8:200::5")))]
        );
        // decision 9: the same registration again (a refresh, a restarted mrd) reconciles
        // again: the kernel may have dropped a route meanwhile
        assert_eq!(
            c.bus_message(&add),
            vec![Action::Apply(Target::MrRegistered(reg("2001:db8:200::5")))]
        );
        // decision 10: a new care-of address is applied (a refresh from another CoA)
        assert_eq!(
            c.bus_message(&Body::BulAdd(bul("2001:db8:201::5"))),
            vec![Action::Apply(Target::MrRegistered(reg("2001:db8:201::5")))]
        );
        // decision 11: BUL_REMOVE removes the tunnel
        let remove = Body::BulRemove(BulRemove {
            hoa: a("2001:db8:280::beef"),
            ha: None,
            reason: RemoveReason::Expired,
        });
        assert_eq!(c.bus_message(&remove), vec![Action::Apply(Target::MrNone)]);
        // decision 12: removing what is not there changes nothing; a flush neither
        assert!(c.bus_message(&remove).is_empty());
        assert!(c.bus_message(&Body::BulFlush).is_empty());
        // decision 13: messages of the other role are not ours
        assert!(c
            .bus_message(&Body::BcAdd(bc("2001:db8:280::a", "2001:db8:200::a")))
            .is_empty());
    }

    #[test]
    fn a_new_care_of_address_presets_the_tunnel_source() {
        // decision 14: MD REREG with a CoA on a backend with a tunnel source: preset it
        let mut c = mr();
        assert_eq!(
            c.bus_message(&md(MdCommand::Rereg, Some("2001:db8:200::5"), Some(2))),
            vec![Action::PresetTunnelSource(a("2001:db8:200::5"))]
        );
        // decision 15: not on a backend without one
        let mut c = Core::new(Settings {
            has_tunnel_source: false,
            ..settings(Role::MobileRouter)
        });
        assert!(c
            .bus_message(&md(MdCommand::Rereg, Some("2001:db8:200::5"), Some(2)))
            .is_empty());
    }

    #[test]
    fn mr_at_home() {
        let mut c = mr();
        c.bus_message(&Body::BulAdd(bul("2001:db8:200::5")));
        // decision 16: DEREGHOME while registered: nothing until the registration ends
        assert!(c
            .bus_message(&md(MdCommand::DeregHome, None, Some(3)))
            .is_empty());
        // decision 17: then the home routes, IPv4 to the last registration's HA
        let remove = Body::BulRemove(BulRemove {
            hoa: a("2001:db8:280::beef"),
            ha: None,
            reason: RemoveReason::Deregistered,
        });
        assert_eq!(
            c.bus_message(&remove),
            vec![Action::Apply(Target::MrHome {
                ifindex: Some(3),
                ha: Some(a("2001:db8:280::1"))
            })]
        );
        // decision 18: the same report again changes nothing (and keeps the HA)
        assert!(c
            .bus_message(&md(MdCommand::DeregHome, None, Some(3)))
            .is_empty());
        // decision 19: leaving home (REREG) unregistered: no tunnel, no home routes
        assert_eq!(
            c.bus_message(&md(MdCommand::Rereg, None, Some(2))),
            vec![Action::Apply(Target::MrNone)]
        );
        // decision 20: home-agent-address wins over the last registration's HA; at home
        // before any registration the home routes come at once
        let mut c = Core::new(Settings {
            home_agent: Some(a("2001:db8:280::99")),
            ..settings(Role::MobileRouter)
        });
        assert_eq!(
            c.bus_message(&md(MdCommand::DeregHome, None, Some(4))),
            vec![Action::Apply(Target::MrHome {
                ifindex: Some(4),
                ha: Some(a("2001:db8:280::99"))
            })]
        );
        // decision 21: a registration ends being at home
        assert_eq!(
            c.bus_message(&Body::BulAdd(bul("2001:db8:200::5"))),
            vec![Action::Apply(Target::MrRegistered(reg("2001:db8:200::5")))]
        );
        assert_eq!(c.target(), Target::MrRegistered(reg("2001:db8:200::5")));
    }

    fn ha_list(entries: &[(&str, bool)]) -> Body {
        Body::HaList(HaList {
            request_id: None,
            ifname: "mip0".into(),
            entries: entries
                .iter()
                .map(|(address, own)| HaListEntry {
                    address: a(address),
                    preference: None,
                    lifetime: None,
                    mobile_router: true,
                    own: *own,
                })
                .collect(),
        })
    }

    fn at_home(ha: Option<&str>) -> Vec<Action> {
        vec![Action::Apply(Target::MrHome {
            ifindex: Some(3),
            ha: ha.map(a),
        })]
    }

    #[test]
    fn mr_at_home_learns_the_home_agent_from_mrd() {
        let mut c = mr();
        // decision 47: at home before any registration, no HA known: home without IPv4
        assert_eq!(
            c.bus_message(&md(MdCommand::DeregHome, None, Some(3))),
            at_home(None)
        );
        // decision 48: mrd's HA_LIST (DHAAD at home) names the one in use: IPv4 to it
        let list = ha_list(&[("2001:db8:280::1", false), ("2001:db8:280::2", true)]);
        assert_eq!(c.bus_message(&list), at_home(Some("2001:db8:280::2")));
        assert!(c.bus_message(&list).is_empty(), "the same again: nothing");
        // decision 49: mrd moved to another HA: IPv4 follows
        assert_eq!(
            c.bus_message(&ha_list(&[("2001:db8:280::1", true)])),
            at_home(Some("2001:db8:280::1"))
        );
        // decision 50: a list with none in use names its first (the one mrd will use); an
        // empty one (mrd found none yet) keeps the one known
        assert_eq!(
            c.bus_message(&ha_list(&[("2001:db8:280::3", false)])),
            at_home(Some("2001:db8:280::3"))
        );
        assert!(c.bus_message(&ha_list(&[])).is_empty());
        assert_eq!(
            c.target(),
            Target::MrHome {
                ifindex: Some(3),
                ha: Some(a("2001:db8:280::3"))
            }
        );
        // decision 51: registered, a list changes nothing now; it is the HA at home later
        c.bus_message(&Body::BulAdd(bul("2001:db8:200::5")));
        assert!(c
            .bus_message(&ha_list(&[("2001:db8:280::2", true)]))
            .is_empty());
        c.bus_message(&md(MdCommand::DeregHome, None, Some(3)));
        let remove = Body::BulRemove(BulRemove {
            hoa: a("2001:db8:280::beef"),
            ha: None,
            reason: RemoveReason::Deregistered,
        });
        assert_eq!(c.bus_message(&remove), at_home(Some("2001:db8:280::2")));
        // decision 52: a restarted nemonetd: the list mrd sends with its dump answer comes
        // before babymdd's DEREGHOME, which then has the HA
        let mut c = mr();
        c.start();
        c.dump_answered(&dump(vec![], vec![]), Instant::now());
        assert!(c
            .bus_message(&ha_list(&[("2001:db8:280::1", true)]))
            .is_empty());
        assert_eq!(
            c.bus_message(&md(MdCommand::DeregHome, None, Some(3))),
            at_home(Some("2001:db8:280::1"))
        );
        // decision 53: home-agent-address wins over mrd's list
        let mut c = Core::new(Settings {
            home_agent: Some(a("2001:db8:280::99")),
            ..settings(Role::MobileRouter)
        });
        c.bus_message(&md(MdCommand::DeregHome, None, Some(3)));
        assert!(c
            .bus_message(&ha_list(&[("2001:db8:280::1", true)]))
            .is_empty());
        assert_eq!(
            c.target(),
            Target::MrHome {
                ifindex: Some(3),
                ha: Some(a("2001:db8:280::99"))
            }
        );
        // decision 54: an HA's nemonetd takes no list (had's own, on its bus)
        assert!(ha()
            .bus_message(&ha_list(&[("2001:db8:280::1", true)]))
            .is_empty());
    }

    #[test]
    fn ha_registration_events_and_home() {
        let mut c = Core::new(Settings {
            table_home: [(a("2001:db8:280::c"), home("2001:db8:280::c"))].into(),
            ..settings(Role::HomeAgent)
        });
        let b = binding("2001:db8:280::a", "2001:db8:200::a");
        // decision 22: BC_ADD applies all bindings; a prefixtable router without a binding
        // is at home
        assert_eq!(
            c.bus_message(&Body::BcAdd(bc("2001:db8:280::a", "2001:db8:200::a"))),
            vec![ha_target(vec![b.clone()], vec![home("2001:db8:280::c")])]
        );
        // decision 23: the same binding again changes nothing
        assert!(c
            .bus_message(&Body::BcAdd(bc("2001:db8:280::a", "2001:db8:200::a")))
            .is_empty());
        // decision 24: a prefixtable router with a binding is not at home
        let c_bound = binding("2001:db8:280::c", "2001:db8:200::c");
        assert_eq!(
            c.bus_message(&Body::BcAdd(bc("2001:db8:280::c", "2001:db8:200::c"))),
            vec![ha_target(vec![b.clone(), c_bound], vec![])]
        );
        // decision 25: deregistered from its home address: at home on the home link
        let dereg_home = Body::BcRemove(BcRemove {
            hoa: a("2001:db8:280::a"),
            coa: Some(a("2001:db8:280::a")),
            reason: RemoveReason::Deregistered,
        });
        let after = c.bus_message(&dereg_home);
        assert_eq!(
            after,
            vec![ha_target(
                vec![binding("2001:db8:280::c", "2001:db8:200::c")],
                vec![home("2001:db8:280::a")]
            )]
        );
        // decision 26: registering again leaves home
        assert_eq!(
            c.bus_message(&Body::BcAdd(bc("2001:db8:280::a", "2001:db8:200::a"))),
            vec![ha_target(
                vec![b, binding("2001:db8:280::c", "2001:db8:200::c")],
                vec![]
            )]
        );
        // decision 27: an expiry is not a return home
        let expired = Body::BcRemove(BcRemove {
            hoa: a("2001:db8:280::a"),
            coa: Some(a("2001:db8:200::a")),
            reason: RemoveReason::Expired,
        });
        assert_eq!(
            c.bus_message(&expired),
            vec![ha_target(
                vec![binding("2001:db8:280::c", "2001:db8:200::c")],
                vec![]
            )]
        );
        // decision 28: a flush removes every binding (the table's routers are home again)
        assert_eq!(
            c.bus_message(&Body::BcFlush),
            vec![ha_target(vec![], vec![home("2001:db8:280::c")])]
        );
        assert!(c.bus_message(&Body::BcFlush).is_empty());
    }

    #[test]
    fn had_restarting_is_a_resync_and_mrd_restarting_is_not() {
        let started = Body::NodeTypeInfo(NodeTypeInfo {
            node_type: NodeType::HomeAgent,
            enabled: true,
        });
        // decision 29: had announcing its start: take its state as a whole
        assert_eq!(
            ha().bus_message(&started),
            vec![Action::RequestDump(DumpWhat::Bc)]
        );
        // decision 30: on an MR that is nothing (the tunnel stays while mrd registers again)
        assert!(mr().bus_message(&started).is_empty());
        let disabled = Body::NodeTypeInfo(NodeTypeInfo {
            node_type: NodeType::HomeAgent,
            enabled: false,
        });
        assert!(ha().bus_message(&disabled).is_empty());
    }

    #[test]
    fn a_restarted_ha_keeps_routing_the_routers_it_finds_at_home() {
        let mut c = ha();
        c.bus_message(&Body::BcAdd(bc("2001:db8:280::a", "2001:db8:200::a")));
        // decision 31: home routes found in place join the target; a bound router's do not
        assert!(c.home_routers_found(vec![home("2001:db8:280::d"), home("2001:db8:280::a")]));
        assert_eq!(
            c.target(),
            Target::Ha {
                bindings: vec![binding("2001:db8:280::a", "2001:db8:200::a")],
                at_home: vec![home("2001:db8:280::d")]
            }
        );
        assert!(
            !c.home_routers_found(vec![home("2001:db8:280::d")]),
            "known"
        );
        // decision 32: not on an MR
        assert!(!mr().home_routers_found(vec![home("2001:db8:280::d")]));
    }

    #[test]
    fn a_failed_apply_is_retried_until_it_succeeds() {
        let t0 = Instant::now();
        let mut c = mr();
        let want = vec![Action::Apply(Target::MrRegistered(reg("2001:db8:200::5")))];
        assert_eq!(c.bus_message(&Body::BulAdd(bul("2001:db8:200::5"))), want);
        // decision 33: a failure: diverged since then, the same target again after 100 ms
        c.apply_failed("Invalid argument", t0);
        assert_eq!(c.diverged_since(), Some(t0));
        assert_eq!(c.next_deadline(), Some(t0 + RETRY_FIRST));
        assert!(c.tick(t0).is_empty(), "not yet");
        let mut t = t0 + RETRY_FIRST;
        assert_eq!(c.tick(t), want);
        // decision 34: each further failure doubles the wait, up to RETRY_MAX
        let mut waits = Vec::new();
        for _ in 0..12 {
            c.apply_failed("Invalid argument", t);
            let next = c.next_deadline().unwrap();
            waits.push(next - t);
            t = next;
            assert_eq!(c.tick(t), want);
        }
        assert_eq!(waits[0], RETRY_FIRST * 2);
        assert_eq!(waits[1], RETRY_FIRST * 4);
        assert_eq!(*waits.last().unwrap(), RETRY_MAX);
        assert!(waits.iter().all(|w| *w <= RETRY_MAX));
        assert_eq!(
            c.diverged_since(),
            Some(t0),
            "diverged since the first failure"
        );
        // decision 35: success ends it: converged, no retry left
        c.apply_succeeded(t);
        assert_eq!(c.diverged_since(), None);
        assert_eq!(c.next_deadline(), None);
        assert!(c.tick(t + RETRY_MAX).is_empty());
        // decision 36: a later failure starts again from the first wait
        c.apply_failed("No buffer space available", t);
        assert_eq!(c.next_deadline(), Some(t + RETRY_FIRST));
    }

    #[test]
    fn a_new_event_overtakes_a_pending_retry_with_the_new_target() {
        let t0 = Instant::now();
        let mut c = mr();
        c.bus_message(&Body::BulAdd(bul("2001:db8:200::5")));
        c.apply_failed("No buffer space available", t0);
        // decision 37: a registration event while diverged: applied now, the retry with it
        assert_eq!(
            c.bus_message(&Body::BulAdd(bul("2001:db8:201::5"))),
            vec![Action::Apply(Target::MrRegistered(reg("2001:db8:201::5")))]
        );
        assert_eq!(c.next_deadline(), None, "the retry was overtaken");
        assert_eq!(
            c.diverged_since(),
            Some(t0),
            "still diverged until a success"
        );
        // decision 38: a failed path MTU restore is retried as a whole apply
        c.apply_failed("restoring the path MTU: Invalid argument", t0);
        assert_eq!(
            c.tick(t0 + RETRY_FIRST * 2),
            vec![Action::Apply(Target::MrRegistered(reg("2001:db8:201::5")))]
        );
    }

    #[test]
    fn mr_path_mtu_is_restored_after_ten_minutes() {
        let t0 = Instant::now();
        let mut c = mr();
        c.bus_message(&Body::BulAdd(bul("2001:db8:200::5")));
        // decision 39: a Packet Too Big lowered the MTU: restore it after 10 minutes
        c.path_mtu_lowered(a("2001:db8:280::1"), 1400, t0);
        assert_eq!(c.next_deadline(), Some(t0 + PMTU_RAISE_AFTER));
        assert!(c.tick(t0 + PMTU_RAISE_AFTER / 2).is_empty());
        assert_eq!(
            c.tick(t0 + PMTU_RAISE_AFTER),
            vec![Action::RestorePathMtu(None)]
        );
        assert_eq!(c.next_deadline(), None, "once");
        // decision 40: a Packet Too Big at or above the configured MTU sets no timer
        c.path_mtu_lowered(a("2001:db8:280::1"), CONFIGURED, t0);
        assert_eq!(c.next_deadline(), None);
        // decision 41: a new care-of address is a new path: the timer goes with the old one
        c.path_mtu_lowered(a("2001:db8:280::1"), 1400, t0);
        c.bus_message(&Body::BulAdd(bul("2001:db8:201::5")));
        assert_eq!(c.next_deadline(), None);
        // decision 42: a refresh from the same care-of address keeps it
        c.path_mtu_lowered(a("2001:db8:280::1"), 1400, t0);
        let mut refresh = bul("2001:db8:201::5");
        refresh.lifetime = 30;
        c.bus_message(&Body::BulAdd(refresh));
        assert_eq!(c.next_deadline(), Some(t0 + PMTU_RAISE_AFTER));
    }

    #[test]
    fn ha_path_mtu_is_per_mobile_router() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(60);
        let mut c = ha();
        c.bus_message(&Body::BcAdd(bc("2001:db8:280::a", "2001:db8:200::a")));
        c.bus_message(&Body::BcAdd(bc("2001:db8:280::b", "2001:db8:200::b")));
        // decision 43: each care-of address has its own restore time
        c.path_mtu_lowered(a("2001:db8:200::a"), 1400, t0);
        c.path_mtu_lowered(a("2001:db8:200::b"), 1300, t1);
        assert_eq!(c.next_deadline(), Some(t0 + PMTU_RAISE_AFTER));
        assert_eq!(
            c.tick(t0 + PMTU_RAISE_AFTER),
            vec![Action::RestorePathMtu(Some(a("2001:db8:200::a")))]
        );
        assert_eq!(c.next_deadline(), Some(t1 + PMTU_RAISE_AFTER));
        // decision 44: a binding that moves takes its lowered MTU (and timer) with it
        c.bus_message(&Body::BcAdd(bc("2001:db8:280::b", "2001:db8:200::bb")));
        assert_eq!(c.next_deadline(), None);
        // decision 45: so does one that ends, and a flush
        c.path_mtu_lowered(a("2001:db8:200::a"), 1400, t1);
        c.bus_message(&Body::BcRemove(BcRemove {
            hoa: a("2001:db8:280::a"),
            coa: Some(a("2001:db8:200::a")),
            reason: RemoveReason::Expired,
        }));
        assert_eq!(c.next_deadline(), None);
        c.path_mtu_lowered(a("2001:db8:200::bb"), 1400, t1);
        c.bus_message(&Body::BcFlush);
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn deadlines_combine() {
        // decision 46: the next deadline is the earliest of retry, dump retry and restore
        let t0 = Instant::now();
        let mut c = mr();
        c.bus_message(&Body::BulAdd(bul("2001:db8:200::5")));
        c.path_mtu_lowered(a("2001:db8:280::1"), 1400, t0);
        c.apply_failed("x", t0);
        c.start();
        c.dump_failed("y", t0 + Duration::from_millis(50));
        assert_eq!(c.next_deadline(), Some(t0 + RETRY_FIRST));
        let actions = c.tick(t0 + Duration::from_millis(150));
        assert_eq!(
            actions,
            vec![
                Action::RequestDump(DumpWhat::Bul),
                Action::Apply(Target::MrRegistered(reg("2001:db8:200::5")))
            ]
        );
        assert_eq!(c.next_deadline(), Some(t0 + PMTU_RAISE_AFTER));
    }
}
