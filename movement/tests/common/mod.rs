//! Namespace lab for the watcher tests: routers running radvd, a switch with one bridge per
//! link, and the watcher on its own thread inside the MR's namespace.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use anyhow::{anyhow, bail, Context, Result};
use integration::{BackgroundProcess, Netns};
use movement::{watch, Change, Decision, MovementPolicy, WatchOptions};
use std::net::Ipv6Addr;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const HOME: &str = "2001:db8:1::/64";
pub const FOREIGN_A: &str = "2001:db8:200::/64";
pub const FOREIGN_B: &str = "2001:db8:300::/64";

/// radvd advertising `prefix` on `ifname` every 30-70 ms, inside `ns`.
pub struct Radvd {
    _process: BackgroundProcess,
    _dir: tempfile::TempDir,
}

impl Radvd {
    pub fn start(ns: &Netns, interfaces: &[(&str, &str)]) -> Result<Self> {
        let with_slaac: Vec<_> = interfaces.iter().map(|(i, p)| (*i, *p, true)).collect();
        Self::start_with(ns, &with_slaac)
    }

    /// Like [`Self::start`], each prefix with its A flag (`AdvAutonomous`): off for a link
    /// without SLAAC (managed or static addressing).
    pub fn start_with(ns: &Netns, interfaces: &[(&str, &str, bool)]) -> Result<Self> {
        ns.sysctl("net.ipv6.conf.all.forwarding=1")?;
        let dir = tempfile::tempdir()?;
        let mut conf = String::new();
        for (ifname, prefix, autonomous) in interfaces {
            let autonomous = if *autonomous { "on" } else { "off" };
            conf.push_str(&format!(
                "interface {ifname} {{\n AdvSendAdvert on;\n AdvIntervalOpt on;\n \
                 MinRtrAdvInterval 0.03;\n MaxRtrAdvInterval 0.07;\n MinDelayBetweenRAs 0.03;\n \
                 prefix {prefix} {{ AdvOnLink on; AdvAutonomous {autonomous}; }};\n}};\n"
            ));
        }
        let conf_path = dir.path().join("radvd.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = ns.command("radvd");
        cmd.arg("-n")
            .arg("-m")
            .arg("none")
            .arg("-C")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path().join("radvd.pid"));
        let process = BackgroundProcess::spawn(cmd, "radvd")?;
        Ok(Self {
            _process: process,
            _dir: dir,
        })
    }
}

/// A mobile router namespace: forwarding on, as an MR is.
pub fn mobile_router() -> Result<Netns> {
    let mr = Netns::new("mr")?;
    mr.sysctl("net.ipv6.conf.all.forwarding=1")?;
    Ok(mr)
}

/// Creates uplink `ifname` in `mr` (down, accept_ra=2) with its peer `peer_name` up in `peer`.
pub fn uplink(mr: &Netns, ifname: &str, peer: &Netns, peer_name: &str) -> Result<()> {
    mr.ip(&[
        "link",
        "add",
        ifname,
        "type",
        "veth",
        "peer",
        "name",
        peer_name,
        "netns",
        peer.name(),
    ])?;
    mr.sysctl(&format!("net.ipv6.conf.{ifname}.accept_ra=2"))?;
    peer.ip(&["link", "set", peer_name, "up"])?;
    Ok(())
}

/// A switch namespace holding one bridge per link, each with its own radvd.
pub struct Switch {
    pub ns: Netns,
    _radvd: Option<Radvd>,
}

impl Switch {
    /// Bridges `(name, prefix)`, each advertising its prefix.
    pub fn new(links: &[(&str, &str)]) -> Result<Self> {
        let with_slaac: Vec<_> = links.iter().map(|(b, p)| (*b, *p, true)).collect();
        Self::new_with(&with_slaac)
    }

    /// Bridges `(name, prefix, SLAAC on)`.
    pub fn new_with(links: &[(&str, &str, bool)]) -> Result<Self> {
        let ns = Netns::new("sw")?;
        for (bridge, _, _) in links {
            ns.ip(&["link", "add", bridge, "type", "bridge"])?;
            ns.ip(&["link", "set", bridge, "up"])?;
        }
        let radvd = Radvd::start_with(&ns, links)?;
        Ok(Self {
            ns,
            _radvd: Some(radvd),
        })
    }

    /// Moves `port` to `bridge` the way a re-association looks to the MR: carrier drops and
    /// returns.
    pub fn move_port(&self, port: &str, bridge: &str) -> Result<()> {
        self.ns.sh(&format!(
            "ip link set {port} down && ip link set {port} master {bridge} && ip link set {port} up"
        ))?;
        Ok(())
    }
}

/// What the test thread can ask of the watcher thread.
enum Request {
    Reannounce,
    /// Blocks the watcher's runtime thread for a while (to provoke a netlink overrun).
    Stall(Duration),
    Overruns(std_mpsc::Sender<u64>),
}

/// The watcher running in the MR's namespace on its own thread and runtime.
pub struct WatchThread {
    changes: std_mpsc::Receiver<(Instant, Result<Change, String>)>,
    requests: Option<mpsc::UnboundedSender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl WatchThread {
    /// Starts the watcher inside `mr`. With `fast`, the watcher applies
    /// [`movement::prepare_uplink`] to every uplink and sends a Router Solicitation at link-up.
    pub fn start(mr: &Netns, policy: MovementPolicy, fast: bool) -> Result<Self> {
        Self::start_with(mr, policy, fast, None)
    }

    /// [`Self::start`] with the netlink receive buffer size.
    pub fn start_with(
        mr: &Netns,
        policy: MovementPolicy,
        fast: bool,
        receive_buffer: Option<usize>,
    ) -> Result<Self> {
        let (tx, changes) = std_mpsc::channel();
        let (requests, mut request_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let ns_path = Arc::new(mr.name().to_string());
        let enter = move || -> Result<(), String> {
            let file =
                std::fs::File::open(format!("/run/netns/{ns_path}")).map_err(|e| e.to_string())?;
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())
        };
        let thread = std::thread::spawn(move || {
            if let Err(e) = enter() {
                let _ = ready_tx.send(Err(e));
                return;
            }
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let options = WatchOptions {
                    solicit_on_link_up: fast,
                    prepare_uplinks: fast,
                    receive_buffer,
                };
                let mut watcher = match watch(policy, options) {
                    Ok(w) => w,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                loop {
                    tokio::select! {
                        change = watcher.next() => {
                            let Some(change) = change else { return };
                            let item = change.map_err(|e| e.to_string());
                            if tx.send((Instant::now(), item)).is_err() {
                                return;
                            }
                        }
                        request = request_rx.recv() => match request {
                            Some(Request::Reannounce) => watcher.reannounce(),
                            Some(Request::Stall(d)) => std::thread::sleep(d),
                            Some(Request::Overruns(reply)) => {
                                let _ = reply.send(watcher.overruns().await.unwrap_or(0));
                            }
                            None => return,
                        },
                    }
                }
            });
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("watcher did not start: {e}"),
            Err(_) => bail!("watcher did not start in time"),
        }
        Ok(Self {
            changes,
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Waits for the first change whose decision satisfies `pred`; returns it with the time
    /// it was produced. Fails on watcher errors and timeouts.
    pub fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Decision) -> bool,
    ) -> Result<(Instant, Change)> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.changes.recv_timeout(left) {
                Ok((at, Ok(change))) => {
                    if pred(&change.current) {
                        return Ok((at, change));
                    }
                    seen.push(change.current);
                }
                Ok((_, Err(e))) => bail!("watcher failed: {e}"),
                Err(_) => bail!("no {what} within {timeout:?}; saw {seen:?}"),
            }
        }
    }

    /// Every change announced within `period`.
    pub fn collect(&self, period: Duration) -> Result<Vec<Change>> {
        let deadline = Instant::now() + period;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.changes.recv_timeout(left) {
                Ok((_, Ok(c))) => out.push(c),
                Ok((_, Err(e))) => bail!("watcher failed: {e}"),
                Err(std_mpsc::RecvTimeoutError::Timeout) => return Ok(out),
                Err(e) => return Err(anyhow!("watcher thread gone: {e}")),
            }
        }
    }

    fn request(&self, r: Request) -> Result<()> {
        self.requests
            .as_ref()
            .context("watcher stopped")?
            .send(r)
            .map_err(|_| anyhow!("watcher thread gone"))
    }

    pub fn reannounce(&self) -> Result<()> {
        self.request(Request::Reannounce)
    }

    /// Blocks the watcher thread for `d` (returns at once; the stall happens there).
    pub fn stall(&self, d: Duration) -> Result<()> {
        self.request(Request::Stall(d))
    }

    /// How many overruns the watcher recovered from.
    pub fn overruns(&self) -> Result<u64> {
        let (tx, rx) = std_mpsc::channel();
        self.request(Request::Overruns(tx))?;
        rx.recv_timeout(Duration::from_secs(5))
            .context("no answer from the watcher")
    }
}

impl Drop for WatchThread {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn net(s: &str) -> ipnet::Ipv6Net {
    s.parse().expect("test prefix")
}

/// Foreign with a CoA in `prefix` on `ifindex` (any index if `None`).
pub fn foreign_in(prefix: &str, ifindex: Option<u32>) -> impl Fn(&Decision) -> bool {
    let p = net(prefix);
    move |d| match d {
        Decision::Foreign { coa, ifindex: i } => {
            p.contains(coa) && ifindex.is_none_or(|want| want == *i)
        }
        _ => false,
    }
}

/// The interface index of `ifname` in `ns`.
pub fn ifindex(ns: &Netns, ifname: &str) -> Result<u32> {
    let out = ns.sh(&format!("cat /sys/class/net/{ifname}/ifindex"))?;
    out.trim().parse().context("ifindex")
}

pub fn coa_of(d: &Decision) -> Option<Ipv6Addr> {
    match d {
        Decision::Foreign { coa, .. } => Some(*coa),
        _ => None,
    }
}

/// Seconds since midnight UTC now (to compare with `ip -ts` timestamps).
pub fn seconds_of_day_now() -> f64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (since.as_secs() % 86_400) as f64 + f64::from(since.subsec_micros()) / 1e6
}

/// Parses the time of day of an `ip -ts monitor` line: `[YYYY-MM-DDTHH:MM:SS.ffffff] ...`.
pub fn monitor_line_seconds_of_day(line: &str) -> Option<f64> {
    let stamp = line.strip_prefix('[')?.split(']').next()?;
    let time = stamp.split('T').nth(1)?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// `ip -ts monitor link` in `ns` (UTC timestamps), to see when the kernel reported the link
/// running; the watcher's own view is not exposed to tests.
pub fn link_monitor(
    ns: &Netns,
) -> Result<(integration::BackgroundProcess, integration::LineReader)> {
    let mut cmd = ns.command("ip");
    cmd.env("TZ", "UTC").args(["-ts", "monitor", "link"]);
    let mut p = integration::BackgroundProcess::spawn(cmd, "ip monitor")?;
    let lines = p.lines()?;
    Ok((p, lines))
}

/// The time of day (as [`seconds_of_day_now`]) at which `at` happened.
pub fn seconds_of_day_at(at: Instant) -> f64 {
    seconds_of_day_now() - at.elapsed().as_secs_f64()
}
