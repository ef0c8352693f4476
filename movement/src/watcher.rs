//! The I/O part: one owner task that dumps links and addresses, follows the kernel's
//! multicast notifications (links, IPv6 addresses, RA prefixes; no polling), keeps the
//! [`LinkState`] current and sends a [`Change`] whenever the decision changes.

use crate::detector::{Change, Detector};
use crate::error::WatchError;
use crate::netlink::{address, event_from_message, link_info};
use crate::policy::MovementPolicy;
use crate::ra::{parse_router_advertisement, RaReceiver};
use crate::snapshot::{LinkEvent, LinkState};
use crate::uplink::RouterSolicitor;
use futures::channel::mpsc::UnboundedReceiver;
use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::AsyncSocket;
use rtnetlink::{Handle, MulticastGroup};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A big receive buffer makes overruns (ENOBUFS) rare; they are handled anyway.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Knobs of the watcher that are not part of the decision.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Send a Router Solicitation on an uplink as soon as its carrier comes up, so the
    /// router answers before the kernel's own solicitation (sent only after link-local DAD).
    pub solicit_on_link_up: bool,
    /// Receive buffer of the netlink socket in bytes; `None`: 4 MiB. A small one makes
    /// overruns likely (tests).
    pub receive_buffer: Option<usize>,
    /// Apply [`crate::uplink::prepare_uplink`] to every listed uplink present at start and
    /// to each one that appears later (a USB modem plugged in): the kernel creates an
    /// interface's sysctls with the defaults. The writes go to `/proc/sys/net` of the
    /// runtime thread's namespace, so the runtime must live in the MR's namespace.
    pub prepare_uplinks: bool,
}

enum Command {
    Reannounce,
    SetPolicy(MovementPolicy),
    Snapshot(oneshot::Sender<LinkState>),
    Overruns(oneshot::Sender<u64>),
}

/// Handle on the running watcher. Dropping it stops the watcher.
pub struct Watcher {
    changes: mpsc::Receiver<Result<Change, WatchError>>,
    commands: mpsc::UnboundedSender<Command>,
    tasks: [JoinHandle<()>; 2],
}

/// Starts watching. Opens its sockets in the network namespace of the calling thread and
/// spawns its tasks on the current tokio runtime. The first [`Change`] is the decision on
/// the initial dump (kind `Initial`, possibly `Disconnected`); after that one per change.
pub fn watch(policy: MovementPolicy, options: WatchOptions) -> Result<Watcher, WatchError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| WatchError::NoRuntime)?;
    let (mut connection, handle, messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Ipv6Prefix,
    ])
    .map_err(WatchError::Socket)?;
    connection
        .socket_mut()
        .socket_mut()
        .set_rx_buf_sz(options.receive_buffer.unwrap_or(RECEIVE_BUFFER))
        .map_err(WatchError::Socket)?;
    let solicitor = if options.solicit_on_link_up {
        Some(RouterSolicitor::new().map_err(|e| match e {
            crate::error::UplinkError::Solicit(io) => WatchError::Socket(io),
            other => WatchError::Socket(std::io::Error::other(other.to_string())),
        })?)
    } else {
        None
    };
    // Whole Router Advertisements tell the home link (see crate::ra). Without CAP_NET_RAW
    // the address rule alone decides.
    let ra = match RaReceiver::new() {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(
                "movement: no Router Advertisement socket ({e}): home is known by addresses only"
            );
            None
        }
    };
    let (tx, changes) = mpsc::channel(64);
    let (commands, command_rx) = mpsc::unbounded_channel();
    let conn_task = runtime.spawn(connection);
    let owner = Owner {
        detector: Detector::new(policy),
        state: LinkState::new(),
        handle,
        solicitor,
        tx,
        overruns: 0,
        prepare_uplinks: options.prepare_uplinks,
    };
    let owner_task = runtime.spawn(owner.run(messages, command_rx, ra));
    Ok(Watcher {
        changes,
        commands,
        tasks: [conn_task, owner_task],
    })
}

impl Watcher {
    /// The next announcement; `None` once the watcher stopped (after an `Err`).
    pub async fn next(&mut self) -> Option<Result<Change, WatchError>> {
        self.changes.recv().await
    }

    /// Announce the current decision again (SIGHUP).
    pub fn reannounce(&self) {
        let _ = self.commands.send(Command::Reannounce);
    }

    /// Use a new policy (configuration reload); announces if the decision changes.
    pub fn set_policy(&self, policy: MovementPolicy) {
        let _ = self.commands.send(Command::SetPolicy(policy));
    }

    /// A copy of the current snapshot (for logs and `show` commands).
    pub async fn snapshot(&self) -> Option<LinkState> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Snapshot(tx)).ok()?;
        rx.await.ok()
    }

    /// How many netlink overruns (ENOBUFS) the watcher recovered from by dumping again.
    pub async fn overruns(&self) -> Option<u64> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Overruns(tx)).ok()?;
        rx.await.ok()
    }
}

/// The same announcements as [`Watcher::next`], as a stream.
impl futures::Stream for Watcher {
    type Item = Result<Change, WatchError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.changes.poll_recv(cx)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Owner {
    detector: Detector,
    state: LinkState,
    handle: Handle,
    solicitor: Option<RouterSolicitor>,
    tx: mpsc::Sender<Result<Change, WatchError>>,
    overruns: u64,
    prepare_uplinks: bool,
}

type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>;

impl Owner {
    async fn run(
        mut self,
        mut messages: Messages,
        mut commands: mpsc::UnboundedReceiver<Command>,
        ra: Option<RaReceiver>,
    ) {
        // Subscribed before dumping: what changes during the dump is queued and applied
        // after it, so the snapshot converges on the kernel's state.
        if let Err(e) = self.dump().await {
            let _ = self.tx.send(Err(e)).await;
            return;
        }
        // Routers on a home link without SLAAC may advertise only every few minutes: ask
        // now rather than wait to learn where we are.
        self.solicit_on_running_uplinks();
        if !self.decide().await {
            return;
        }
        loop {
            let expiry = self.state.next_expiry();
            tokio::select! {
                received = recv_ra(ra.as_ref()) => {
                    if !self.on_router_advertisement(received).await {
                        return;
                    }
                }
                _ = sleep_until(expiry) => {
                    let now = std::time::Instant::now();
                    if self.state.apply(LinkEvent::Expire { now }) && !self.decide().await {
                        return;
                    }
                }
                message = messages.next() => {
                    let Some((message, _)) = message else {
                        let _ = self.tx.send(Err(WatchError::ConnectionClosed)).await;
                        return;
                    };
                    if !self.on_message(message).await {
                        return;
                    }
                }
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    if !self.on_command(command).await {
                        return;
                    }
                }
            }
        }
    }

    /// Replaces the snapshot with a dump of all links and IPv6 addresses.
    async fn dump(&mut self) -> Result<(), WatchError> {
        let links: Vec<_> = self
            .handle
            .link()
            .get()
            .execute()
            .map_ok(|m| link_info(&m))
            .try_collect()
            .await
            .map_err(WatchError::Dump)?;
        let addresses: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_filter_map(|m| async move { Ok(address(&m)) })
            .try_collect()
            .await
            .map_err(WatchError::Dump)?;
        tracing::debug!(
            links = links.len(),
            addresses = addresses.len(),
            "movement: dumped links and addresses"
        );
        if self.prepare_uplinks {
            for info in &links {
                self.prepare_if_uplink(&info.name);
            }
        }
        self.state.replace_with_dump(links, addresses);
        Ok(())
    }

    /// Returns false when the receiver is gone (stop).
    async fn on_message(&mut self, message: NetlinkMessage<RouteNetlinkMessage>) -> bool {
        match message.payload {
            NetlinkPayload::Overrun(_) => {
                self.overruns += 1;
                tracing::warn!("movement: netlink overrun, dumping again");
                if let Err(e) = self.dump().await {
                    let _ = self.tx.send(Err(e)).await;
                    return false;
                }
                self.decide().await
            }
            NetlinkPayload::InnerMessage(inner) => {
                let Some(event) = event_from_message(&inner) else {
                    return true;
                };
                if let LinkEvent::Link(info) = &event {
                    let is_new = self.state.interface(info.index).is_none();
                    if is_new && self.prepare_uplinks {
                        self.prepare_if_uplink(&info.name);
                    }
                }
                self.solicit_if_link_came_up(&event);
                if self.state.apply(event) {
                    self.decide().await
                } else {
                    true
                }
            }
            _ => true,
        }
    }

    /// Returns false when the receiver is gone (stop).
    async fn on_router_advertisement(
        &mut self,
        received: std::io::Result<crate::ra::Received>,
    ) -> bool {
        let r = match received {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("movement: receiving Router Advertisements: {e}");
                return true;
            }
        };
        let ra = match parse_router_advertisement(&r.message, r.source, r.hop_limit) {
            Ok(ra) => ra,
            Err(e) => {
                tracing::debug!(source = %r.source, ifindex = r.ifindex, "movement: ignored RA: {e}");
                return true;
            }
        };
        let event = LinkEvent::RouterAdvertisement {
            index: r.ifindex,
            ra,
            at: std::time::Instant::now(),
        };
        if self.state.apply(event) {
            if let Some(i) = self.state.interface(r.ifindex) {
                tracing::debug!(ifname = %i.name, prefixes = ?i.advertised, "movement: on-link prefixes from RA");
            }
            self.decide().await
        } else {
            true
        }
    }

    async fn on_command(&mut self, command: Command) -> bool {
        let change = match command {
            Command::Reannounce => self.detector.reannounce(),
            Command::SetPolicy(policy) => self.detector.set_policy(policy, &self.state),
            Command::Snapshot(reply) => {
                let _ = reply.send(self.state.clone());
                None
            }
            Command::Overruns(reply) => {
                let _ = reply.send(self.overruns);
                None
            }
        };
        match change {
            Some(c) => self.send(c).await,
            None => true,
        }
    }

    async fn decide(&mut self) -> bool {
        match self.detector.update(&self.state) {
            Some(c) => self.send(c).await,
            None => true,
        }
    }

    async fn send(&mut self, change: Change) -> bool {
        tracing::info!(kind = ?change.kind, decision = ?change.current, "movement");
        self.tx.send(Ok(change)).await.is_ok()
    }

    fn prepare_if_uplink(&self, ifname: &str) {
        let listed = self
            .detector
            .policy()
            .uplinks
            .iter()
            .any(|u| u.name == ifname);
        if !listed {
            return;
        }
        match crate::uplink::prepare_uplink(ifname) {
            Ok(()) => tracing::debug!(ifname, "movement: uplink prepared"),
            Err(e) => tracing::warn!(ifname, "movement: {e}"),
        }
    }

    /// Sends a Router Solicitation on every running uplink (at start).
    fn solicit_on_running_uplinks(&self) {
        let Some(solicitor) = &self.solicitor else {
            return;
        };
        let policy = self.detector.policy();
        for i in policy.candidates(&self.state) {
            if !i.is_running() || i.loopback {
                continue;
            }
            match solicitor.send(i.index, i.link_local()) {
                Ok(()) => tracing::debug!(ifname = %i.name, "movement: sent Router Solicitation"),
                Err(e) => tracing::warn!(ifname = %i.name, "movement: {e}"),
            }
        }
    }

    /// Sends a Router Solicitation when an uplink's carrier comes up.
    fn solicit_if_link_came_up(&self, event: &LinkEvent) {
        let (Some(solicitor), LinkEvent::Link(info)) = (&self.solicitor, event) else {
            return;
        };
        let was_running = self
            .state
            .interface(info.index)
            .is_some_and(|i| i.is_running());
        if was_running || !info.admin_up || !info.carrier || info.loopback {
            return;
        }
        let policy = self.detector.policy();
        let is_uplink =
            policy.uplinks.is_empty() || policy.uplinks.iter().any(|u| u.name == info.name);
        if !is_uplink {
            return;
        }
        let source = self
            .state
            .interface(info.index)
            .and_then(|i| i.link_local());
        match solicitor.send(info.index, source) {
            Ok(()) => tracing::debug!(ifname = %info.name, "movement: sent Router Solicitation"),
            Err(e) => tracing::warn!(ifname = %info.name, "movement: {e}"),
        }
    }
}

/// The next RA; never ready without a receiver.
async fn recv_ra(ra: Option<&RaReceiver>) -> std::io::Result<crate::ra::Received> {
    match ra {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
