//! The paper's verification topology (Fig. 6) in network namespaces, with the real daemons.
//!
//! ```text
//!   node B  198.51.100.2  2001:db8:b::2          ("the Internet")
//!     |
//!   router rt --- home link 2001:240:1:280::/64, 192.168.64.0/25 --- HA ::1 / .1
//!     |   \------ foreign link 1 2001:240:1:200::/64 (IPv6 only, radvd)
//!     |    \----- foreign link 2 2001:240:1:300::/64 (IPv6 only, radvd)
//!   (links are bridges in a switch namespace; the MR's uplink port moves between them)
//!   MR  home address 2001:240:1:280::beef, uplink eth0, mobile network on eth1
//!     |   2001:240:1:281::/64 and 10.0.0.0/24
//!   node A  10.0.0.2  2001:240:1:281::2
//! ```
//!
//! The MR runs babymdd, mrd and nemonetd -m; the HA runs had and nemonetd -h; each node has
//! its own bus directory and a `mipsock monitor --json` on it. The router learns the mobile
//! network prefixes from the HA by BGP (BIRD 2 on both: `etc/bird.conf` on the HA, whose
//! nemonetd announces them in table 168). [`Options`] add a second home agent (ha2,
//! 2001:240:1:280::2) and leave `home-agent-address` out (DHAAD); both HAs then send
//! H-flag Router Advertisements (radvd). Everything is removed when the [`Lab`] is dropped.

use crate::backends::{self, Backend};
use crate::bird::{self, Bird};
use crate::netns::host;
use crate::{bins, BackgroundProcess, Monitor, Netns, Radvd, Switch};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const HOA: &str = "2001:240:1:280::beef";
pub const HA6: &str = "2001:240:1:280::1";
pub const HA4: &str = "192.168.64.1";
/// The second home agent ([`Options::second_ha`]).
pub const HA2_6: &str = "2001:240:1:280::2";
pub const HA2_4: &str = "192.168.64.2";
/// The router's address on the home link (its BGP address).
pub const RT_HOME6: &str = "2001:240:1:280::fe";
/// Where the HAs' nemonetd announce the prefixes they serve (`announce-table`).
pub const ANNOUNCE_TABLE: u32 = 168;
/// Home agent preferences in the RAs and had.conf (DHAAD lists ha first).
pub const HA_PREFERENCE: i16 = 20;
pub const HA2_PREFERENCE: i16 = 10;
pub const A6: &str = "2001:240:1:281::2";
pub const A4: &str = "10.0.0.2";
pub const MR_IN4: &str = "10.0.0.1";
pub const B6: &str = "2001:db8:b::2";
pub const B4: &str = "198.51.100.2";
pub const MNP6: &str = "2001:240:1:281::/64";
pub const MNP4: &str = "10.0.0.0/24";
/// The links the MR's uplink can be on, with the prefix advertised there.
pub const HOME: (&str, &str) = ("home", "2001:240:1:280::/64");
pub const FOREIGN1: (&str, &str) = ("fgn1", "2001:240:1:200::/64");
pub const FOREIGN2: (&str, &str) = ("fgn2", "2001:240:1:300::/64");
/// Whether the home link's router advertises the home prefix with the A flag (SLAAC): it
/// does not.
pub const HOME_SLAAC: bool = false;
/// The switch ports the lab captures on for the whole run (they never move): the router's
/// on each link (everything on a foreign link crosses it) and the HA's.
pub const CAPTURE_PORTS: [(&str, &str); 4] = [
    ("s-rhome", "home link, router port"),
    ("s-ha", "home link, HA port"),
    ("s-rf1", "foreign link 1"),
    ("s-rf2", "foreign link 2"),
];

const AUTH_KEY: &str = "0x6e656d6f2d6c61622d6b65792d30303031";

/// How long to wait for the daemons to react.
pub const WAIT: Duration = Duration::from_secs(15);

/// What the lab is built with.
#[derive(Debug, Clone)]
pub struct Options {
    /// `auto` or a backend name (the configurations' `data-plane`).
    pub backend: String,
    /// No `home-agent-address` in mrd.conf: mrd finds its home agent by DHAAD.
    pub dhaad: bool,
    /// A second home agent, ha2, on the home link (preference 10, below ha's 20).
    pub second_ha: bool,
    /// mrd's `home-registration-lifetime` in seconds.
    pub lifetime: u32,
}

impl Options {
    pub fn new(backend: &str) -> Self {
        Self {
            backend: backend.to_string(),
            dhaad: false,
            second_ha: false,
            lifetime: 120,
        }
    }
}

/// The second home agent of [`Options::second_ha`].
pub struct SecondHa {
    pub ns: Netns,
    pub bus: Monitor,
    pub bird: Bird,
}

pub struct Lab {
    pub options: Options,
    /// The backend asked for: `auto` or a backend name (the configurations' `data-plane`).
    pub backend: String,
    /// The backend nemonetd runs on (from its log), once the daemons are started.
    pub running: Option<Backend>,
    pub switch: Switch,
    pub rt: Netns,
    pub ha: Netns,
    pub mr: Netns,
    pub a: Netns,
    pub b: Netns,
    pub dir: PathBuf,
    _radvd: Radvd,
    /// The home agents' own Router Advertisements (H flag), with DHAAD or a second HA.
    _ha_radvd: Vec<BackgroundProcess>,
    /// BIRD on the router and on the HA.
    pub rt_bird: Bird,
    pub ha_bird: Bird,
    pub ha2: Option<SecondHa>,
    daemons: Vec<(String, Vec<String>, BackgroundProcess)>,
    pub mr_bus: Monitor,
    pub ha_bus: Monitor,
    /// The bridge the MR's uplink is on.
    pub mr_link: &'static str,
    /// The bpffs the nemonetds pin into (bpf backend): mounted here, in the host's mount
    /// namespace, because `ip netns exec` hides the host's /sys/fs/bpf and a bpffs a daemon
    /// mounted itself would go with the daemon (no adoption after `kill -9`).
    _bpffs: Option<Bpffs>,
    /// Last field: fields drop in order, so the files go after the monitors reading them.
    _files: RemoveOnDrop,
}

/// How [`Lab::restart_after`] stops a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGUSR1: graceful, the kernel state stays (`systemctl restart`).
    Graceful,
    /// SIGTERM: clean stop, the daemon removes what it installed.
    Clean,
    /// SIGKILL: a crash; nothing is cleaned up.
    Kill,
}

/// A bpffs mounted for the lab's lifetime.
struct Bpffs(PathBuf);

impl Bpffs {
    fn mount(at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let at_str = at.to_str()?;
        match host(&["mount", "-t", "bpf", "bpf", at_str]) {
            Ok(_) => Some(Self(at.to_path_buf())),
            Err(e) => {
                eprintln!("no bpffs for the lab ({e}): nemonetd uses its default");
                None
            }
        }
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        if let Some(p) = self.0.to_str() {
            let _ = host(&["umount", p]);
        }
    }
}

/// Removes the lab's directory (unless `NEMO_LAB_KEEP` is set).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if std::env::var_os("NEMO_LAB_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `bpf-directory` when the lab mounted one.
fn bpf_directory(bpffs: Option<&Path>) -> String {
    bpffs.map_or_else(String::new, |p| {
        format!("bpf-directory \"{}\";\n", p.display())
    })
}

fn mrd_conf(opts: &Options, bpffs: Option<&Path>) -> String {
    let backend = &opts.backend;
    let lifetime = opts.lifetime;
    let home_agent = if opts.dhaad {
        "\x20   # No home-agent-address: DHAAD finds one.\n".to_string()
    } else {
        format!("\x20   home-agent-address {HA6};\n")
    };
    format!(
        "# The mobile router of the lab (paper Fig. 5/6 numbers).\n\
         ipv4-mnp-encoding rfc5555;\n\
         data-plane {backend};\n\
         {}\
         auth-database \"auth.db\";\n\
         interface mip0 {{\n\
         {home_agent}\
         \x20   home-prefix 2001:240:1:280::/64;\n\
         \x20   home-registration-lifetime {lifetime};\n\
         \x20   mobile-network-interface eth1;\n\
         \x20   ipv4-mnp-address {MR_IN4};\n\
         \x20   prefixtable {{\n\
         \x20       {HOA} {MNP6} explicit;\n\
         \x20       {HOA} {MNP4} explicit;\n\
         \x20   }};\n\
         }};\n\
         # Accepted for SHISA compatibility; Linux tunnels are unnumbered.\n\
         ipv4-dummy-tunnel {{\n\
         \x20   nemo0 169.254.0.1 169.254.0.2;\n\
         }};\n",
        bpf_directory(bpffs)
    )
}

fn had_conf(backend: &str, bpffs: Option<&Path>, preference: i16) -> String {
    format!(
        "# The home agent of the lab.\n\
         data-plane {backend};\n\
         {}\
         # nemonetd: the served prefixes in table {ANNOUNCE_TABLE}, for BIRD (etc/bird.conf).\n\
         announce-table {ANNOUNCE_TABLE};\n\
         interface eth0 {{\n\
         \x20   home-prefix 2001:240:1:280::/64;\n\
         \x20   preference {preference};\n\
         \x20   max-binding-lifetime 600;\n\
         \x20   auth-database \"auth.db\";\n\
         \x20   prefixtable {{\n\
         \x20       {HOA} {MNP6} explicit;\n\
         \x20       {HOA} {MNP4} explicit;\n\
         \x20   }};\n\
         }};\n",
        bpf_directory(bpffs)
    )
}

impl Lab {
    /// Builds the topology with the MR on its home link; no daemons yet.
    pub fn build(backend: &str) -> Result<Lab> {
        Self::build_with(Options::new(backend))
    }

    /// [`Lab::build`] with [`Options`].
    pub fn build_with(opts: Options) -> Result<Lab> {
        anyhow::ensure!(
            bird::available(),
            "bird (Debian's bird2) is not installed: scripts/install-deps installs it"
        );
        let backend = opts.backend.as_str();
        let switch = Switch::new(&[HOME.0, FOREIGN1.0, FOREIGN2.0])?;
        let rt = Netns::new("lrt")?;
        let ha = Netns::new("lha")?;
        let mr = Netns::new("lmr")?;
        let a = Netns::new("la")?;
        let b = Netns::new("lb")?;
        for ns in [&rt, &ha, &mr] {
            ns.sysctl("net.ipv6.conf.all.forwarding=1")?;
            ns.sysctl("net.ipv4.ip_forward=1")?;
        }
        // Router: one port on each link, and node B behind it.
        for (rif, port, bridge) in [
            ("r-home", "s-rhome", HOME.0),
            ("r-f1", "s-rf1", FOREIGN1.0),
            ("r-f2", "s-rf2", FOREIGN2.0),
        ] {
            rt.veth(rif, &switch.ns, port)?;
            switch.ns.ip(&["link", "set", port, "master", bridge])?;
        }
        rt.ip(&[
            "addr",
            "add",
            "2001:240:1:280::fe/64",
            "dev",
            "r-home",
            "nodad",
        ])?;
        rt.ip(&["addr", "add", "192.168.64.126/25", "dev", "r-home"])?;
        rt.ip(&[
            "addr",
            "add",
            "2001:240:1:200::1/64",
            "dev",
            "r-f1",
            "nodad",
        ])?;
        rt.ip(&[
            "addr",
            "add",
            "2001:240:1:300::1/64",
            "dev",
            "r-f2",
            "nodad",
        ])?;
        rt.veth("r-b", &b, "eth0")?;
        rt.ip(&["addr", "add", "2001:db8:b::1/64", "dev", "r-b", "nodad"])?;
        rt.ip(&["addr", "add", "198.51.100.1/24", "dev", "r-b"])?;
        // No static routes to the MNPs: the router learns them from the HA(s) by BGP.
        b.ip(&["addr", "add", &format!("{B6}/64"), "dev", "eth0", "nodad"])?;
        b.ip(&["addr", "add", &format!("{B4}/24"), "dev", "eth0"])?;
        b.ip(&["-6", "route", "add", "default", "via", "2001:db8:b::1"])?;
        b.ip(&["route", "add", "default", "via", "198.51.100.1"])?;
        // Router Advertisements every 30-70 ms; a short router lifetime so the router of
        // a link the MR left stops being its default router quickly. The home link has no
        // SLAAC (A flag off, as home links with managed or static addressing): the MR
        // knows it is home by the home prefix in the RA (RFC 6275 11.5.1), and its only
        // address there is the home address mrd places. The foreign links give CoAs by
        // SLAAC.
        let radvd = Radvd::start_links(
            &rt,
            &[
                ("r-home", HOME.1, HOME_SLAAC),
                ("r-f1", FOREIGN1.1, true),
                ("r-f2", FOREIGN2.1, true),
            ],
            "AdvDefaultLifetime 2;",
        )?;
        // Home agent(s) on the home link.
        let ha2 = if opts.second_ha {
            Some(Netns::new("lh2")?)
        } else {
            None
        };
        let mut has = vec![(&ha, "s-ha", HA6, HA4, HA_PREFERENCE)];
        if let Some(ns) = &ha2 {
            has.push((ns, "s-ha2", HA2_6, HA2_4, HA2_PREFERENCE));
        }
        for (ns, port, a6, a4, _) in &has {
            ns.sysctl("net.ipv6.conf.all.forwarding=1")?;
            ns.sysctl("net.ipv4.ip_forward=1")?;
            ns.veth("eth0", &switch.ns, port)?;
            switch.ns.ip(&["link", "set", port, "master", HOME.0])?;
            ns.ip(&["addr", "add", &format!("{a6}/64"), "dev", "eth0", "nodad"])?;
            ns.ip(&["addr", "add", &format!("{a4}/25"), "dev", "eth0"])?;
            ns.ip(&["-6", "route", "add", "default", "via", RT_HOME6])?;
            ns.ip(&["route", "add", "default", "via", "192.168.64.126"])?;
        }
        // Mobile router: uplink on the home link, mobile network on eth1 with node A.
        mr.ip(&[
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "s-mr",
            "netns",
            switch.ns.name(),
        ])?;
        switch.ns.ip(&["link", "set", "s-mr", "master", HOME.0])?;
        switch.ns.ip(&["link", "set", "s-mr", "up"])?;
        mr.ip(&["link", "set", "eth0", "up"])?;
        mr.veth("eth1", &a, "eth0")?;
        mr.ip(&[
            "addr",
            "add",
            "2001:240:1:281::1/64",
            "dev",
            "eth1",
            "nodad",
        ])?;
        mr.ip(&["addr", "add", &format!("{MR_IN4}/24"), "dev", "eth1"])?;
        a.ip(&["addr", "add", &format!("{A6}/64"), "dev", "eth0", "nodad"])?;
        a.ip(&["addr", "add", &format!("{A4}/24"), "dev", "eth0"])?;
        a.ip(&["-6", "route", "add", "default", "via", "2001:240:1:281::1"])?;
        a.ip(&["route", "add", "default", "via", MR_IN4])?;

        let dir = std::env::temp_dir().join(format!("nemo-lab-{}", mr.name()));
        std::fs::create_dir_all(dir.join("mrbus"))?;
        std::fs::create_dir_all(dir.join("habus"))?;
        let bpffs = Bpffs::mount(&dir.join("bpf"));
        let bpf_dir = bpffs.as_ref().map(|b| b.0.as_path());
        std::fs::write(dir.join("mrd.conf"), mrd_conf(&opts, bpf_dir))?;
        std::fs::write(
            dir.join("had.conf"),
            had_conf(backend, bpf_dir, HA_PREFERENCE),
        )?;
        std::fs::write(
            dir.join("had2.conf"),
            had_conf(backend, bpf_dir, HA2_PREFERENCE),
        )?;
        std::fs::write(
            dir.join("auth.db"),
            format!("# lab key\n{HOA} 1000 {AUTH_KEY}\n"),
        )?;
        // Key files must be private (had and mrd refuse them otherwise).
        std::fs::set_permissions(
            dir.join("auth.db"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
        let mr_bus = Monitor::start(&dir.join("mrbus"))?;
        let ha_bus = Monitor::start(&dir.join("habus"))?;
        // BGP: the router peers with each home agent, which runs the shipped sample.
        let peers: Vec<(&str, &str)> = has
            .iter()
            .enumerate()
            .map(|(i, (_, _, a6, _, _))| (if i == 0 { "ha1" } else { "ha2" }, *a6))
            .collect();
        let rt_bird = Bird::start(
            &rt,
            &dir,
            "rt",
            &bird::router_config(RT_HOME6, "r-home", &peers, &dir.join("rt.bird.log")),
        )?;
        let mut birds = Vec::new();
        for (i, (ns, _, a6, a4, _)) in has.iter().enumerate() {
            let tag = if i == 0 { "ha" } else { "ha2" };
            let log = dir.join(format!("{tag}.bird.log"));
            birds.push(Bird::start(
                ns,
                &dir,
                tag,
                &bird::ha_config(a6, a4, RT_HOME6, &log),
            )?);
        }
        // Several home agents or DHAAD: each HA says so in Router Advertisements of its own
        // (H flag, Home Agent Information), which had's home agents list is made of.
        let mut ha_radvd = Vec::new();
        if opts.dhaad || opts.second_ha {
            for (i, (ns, _, a6, _, pref)) in has.iter().enumerate() {
                ha_radvd.push(crate::radvd::home_agent_radvd(
                    ns,
                    &dir,
                    &format!("ha{}", i + 1),
                    "eth0",
                    a6,
                    *pref,
                )?);
            }
        }
        let ha_bird = birds.remove(0);
        let ha2 = match ha2 {
            Some(ns) => {
                std::fs::create_dir_all(dir.join("ha2bus"))?;
                Some(SecondHa {
                    ns,
                    bus: Monitor::start(&dir.join("ha2bus"))?,
                    bird: birds.remove(0),
                })
            }
            None => None,
        };
        Ok(Lab {
            options: opts.clone(),
            _ha_radvd: ha_radvd,
            rt_bird,
            ha_bird,
            ha2,
            backend: backend.to_string(),
            running: None,
            switch,
            rt,
            ha,
            mr,
            a,
            b,
            dir: dir.clone(),
            _radvd: radvd,
            daemons: Vec::new(),
            mr_bus,
            ha_bus,
            mr_link: HOME.0,
            _bpffs: bpffs,
            _files: RemoveOnDrop(dir),
        })
    }

    fn daemon(&mut self, node: &str, name: &'static str, args: &[&str]) -> Result<()> {
        let (ns, bus, conf) = match (node, &self.ha2) {
            ("mr", _) => (&self.mr, "mrbus", "mrd.conf"),
            ("ha2", Some(h)) => (&h.ns, "ha2bus", "had2.conf"),
            ("ha", _) => (&self.ha, "habus", "had.conf"),
            _ => bail!("no node {node}"),
        };
        let tag = format!("{name}-{node}");
        let d = &self.dir;
        let mut cmd = ns.command(bins::path(name)?.to_str().context("path")?);
        cmd.arg("-f").arg("-c").arg(d.join(conf));
        cmd.arg("--bus-dir").arg(d.join(bus));
        cmd.arg("--pid-file").arg(d.join(format!("{tag}.pid")));
        cmd.arg("--log-file").arg(d.join(format!("{tag}.log")));
        if matches!(name, "had" | "mrd") {
            cmd.arg("--state-file").arg(d.join(format!("{tag}.state")));
        }
        cmd.args(args);
        let log = d.join(format!("{tag}.log"));
        // The log is appended to across restarts: wait for one more start line.
        let starts = read(&log).matches(&format!("{name} started")).count();
        let p = BackgroundProcess::spawn(cmd, &tag)?;
        let start = Instant::now();
        while read(&log).matches(&format!("{name} started")).count() <= starts {
            if start.elapsed() > WAIT {
                bail!("{tag} did not start:\n{}", read(&log));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.daemons
            .push((tag, args.iter().map(|s| s.to_string()).collect(), p));
        Ok(())
    }

    /// Restarts a daemon (`"nemonetd-mr"`, ...): stops it with SIGUSR1 (graceful: it leaves
    /// what it installed) or SIGTERM (clean stop), then starts it with the same arguments.
    pub fn restart(&mut self, tag: &str, graceful: bool) -> Result<()> {
        self.restart_after(
            tag,
            if graceful {
                Stop::Graceful
            } else {
                Stop::Clean
            },
        )
    }

    /// Stops the daemon `tag` as `how` says and starts it again with the same arguments.
    pub fn restart_after(&mut self, tag: &str, how: Stop) -> Result<()> {
        let i = self
            .daemons
            .iter()
            .position(|(t, _, _)| t == tag)
            .with_context(|| format!("no daemon {tag}"))?;
        let (tag, args, mut p) = self.daemons.remove(i);
        let signal = match how {
            Stop::Graceful => nix::sys::signal::Signal::SIGUSR1,
            Stop::Clean => nix::sys::signal::Signal::SIGTERM,
            Stop::Kill => nix::sys::signal::Signal::SIGKILL,
        };
        let code = p.stop(signal, WAIT)?;
        if how != Stop::Kill {
            anyhow::ensure!(code == 0, "{tag} exited with {code}:\n{}", self.log(&tag));
        }
        let (name, node) = tag.split_once('-').context("tag")?;
        let name: &'static str = match name {
            "had" => "had",
            "mrd" => "mrd",
            "babymdd" => "babymdd",
            _ => "nemonetd",
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.daemon(node, name, &args)
    }

    /// Starts every daemon: the HA's first, then the MR's (nemonetd before the signaling
    /// daemons, as the systemd units order them).
    /// Also learns the backend nemonetd runs on ([`Lab::running`]).
    pub fn start_daemons(&mut self) -> Result<()> {
        self.daemon("ha", "nemonetd", &["-h", "eth0"])?;
        self.daemon("ha", "had", &["eth0"])?;
        if self.ha2.is_some() {
            self.daemon("ha2", "nemonetd", &["-h", "eth0"])?;
            self.daemon("ha2", "had", &["eth0"])?;
            // The home agents know each other (from their RAs) before the MR starts, as
            // they would have long before an MR comes: a DHAAD at home lists both.
            for (i, other) in [(0, HA2_6), (1, HA6)] {
                let bus = match i {
                    0 => &mut self.ha_bus,
                    _ => &mut self.ha2.as_mut().expect("checked").bus,
                };
                bus.wait_for("HA_LIST", WAIT, |v| {
                    v["entries"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|x| x["address"] == other))
                })
                .with_context(|| format!("home agent {} never listed {other}", i + 1))?;
            }
        }
        self.daemon("mr", "nemonetd", &["-m", "mip0"])?;
        self.daemon("mr", "mrd", &["mip0"])?;
        self.daemon("mr", "babymdd", &["-h", "mip0", "eth0"])?;
        let (mr, ha) = (
            self.backend_of("nemonetd-mr")?,
            self.backend_of("nemonetd-ha")?,
        );
        anyhow::ensure!(
            mr == ha,
            "nemonetd runs the {mr} backend on the MR and {ha} on the HA"
        );
        self.running = Some(mr);
        Ok(())
    }

    /// The backend a nemonetd (`"nemonetd-mr"`, `"nemonetd-ha"`) chose, from its log.
    pub fn backend_of(&self, tag: &str) -> Result<Backend> {
        let start = Instant::now();
        loop {
            if let Some(b) = backends::from_log(&self.log(tag)) {
                return Ok(b);
            }
            if start.elapsed() > WAIT {
                bail!("{tag} logged no backend:\n{}", self.log(tag));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log of a daemon (`"mrd-mr"`, `"had-ha"`, `"nemonetd-mr"`, ...).
    pub fn log(&self, tag: &str) -> String {
        read(&self.dir.join(format!("{tag}.log")))
    }

    /// Moves the MR's uplink to another link (an L2 move: carrier drops and returns).
    pub fn move_mr(&mut self, link: &'static str) -> Result<()> {
        self.switch.move_port("s-mr", link)?;
        self.mr_link = link;
        Ok(())
    }

    /// Runs `args` in `ns`; its output whatever the exit status, and whether it succeeded.
    pub fn try_run(ns: &Netns, args: &[&str]) -> (bool, String) {
        match ns.command(args[0]).args(&args[1..]).output() {
            Ok(o) => (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr),
            ),
            Err(e) => (false, e.to_string()),
        }
    }

    /// `ip route` and `ip -6 route` of a node, like the paper's Fig. 7.
    pub fn routing_tables(ns: &Netns) -> Result<String> {
        Ok(format!(
            "Internet:\n{}Internet6:\n{}",
            ns.ip(&["route", "show"])?,
            ns.ip(&["-6", "route", "show"])?
        ))
    }

    pub fn bus_dir(&self, node: &str) -> PathBuf {
        self.dir.join(match node {
            "mr" => "mrbus",
            "ha2" => "ha2bus",
            _ => "habus",
        })
    }

    /// `kill -9` of a daemon (`"had-ha"`, ...): a crash, not restarted.
    pub fn kill(&mut self, tag: &str) -> Result<()> {
        let i = self
            .daemons
            .iter()
            .position(|(t, _, _)| t == tag)
            .with_context(|| format!("no daemon {tag}"))?;
        let (_, _, mut p) = self.daemons.remove(i);
        p.stop(nix::sys::signal::Signal::SIGKILL, WAIT)?;
        Ok(())
    }

    /// The router's kernel routes to the mobile network prefixes (BIRD's, `proto bird`).
    pub fn router_mnp_routes(&self) -> Result<String> {
        Ok(self.rt.ip(&["route", "show", MNP4])? + &self.rt.ip(&["-6", "route", "show", MNP6])?)
    }

    /// Waits until the router's routes to both MNPs (from BGP) go via `next_hop` (`None`:
    /// until it has none); returns how long that took.
    pub fn wait_router_routes(
        &self,
        next_hop: Option<&str>,
        timeout: Duration,
    ) -> Result<Duration> {
        let start = Instant::now();
        loop {
            let v4 = self.rt.ip(&["route", "show", MNP4])?;
            let v6 = self.rt.ip(&["-6", "route", "show", MNP6])?;
            let done = match next_hop {
                Some(nh) => [&v4, &v6].iter().all(|r| {
                    r.contains("proto bird")
                        && (r.contains(&format!("via inet6 {nh} "))
                            || r.contains(&format!("via {nh} ")))
                }),
                None => v4.trim().is_empty() && v6.trim().is_empty(),
            };
            if done {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!(
                    "the router's routes to the MNPs do not go via {next_hop:?}:\n{v4}{v6}\n{}",
                    self.rt_bird
                        .birdc(&["show", "route", "all"])
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Daemons first; the namespaces and then the files go with the fields.
        self.daemons.clear();
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// A service on node A for the checks: sshd, and an HTTP server with a file to download.
pub struct Services {
    _sshd: BackgroundProcess,
    _http: BackgroundProcess,
    pub key: PathBuf,
    pub file_sha256: String,
}

impl Services {
    /// `ssh` arguments for a non-interactive login as root on `target` with the client key,
    /// running `command`.
    pub fn ssh_command(&self, target: &str, command: &str) -> Vec<String> {
        let key = self.key.display().to_string();
        [
            "ssh",
            "-i",
            &key,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
            &format!("root@{target}"),
            command,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Starts OpenSSH's sshd (on both families) and python3's http.server serving a
    /// `size`-byte random file, in `ns`.
    pub fn start(ns: &Netns, dir: &Path, size: usize) -> Result<Services> {
        let d = dir.join("svc");
        std::fs::create_dir_all(d.join("www"))?;
        let status = |c: &mut Command| -> Result<()> {
            let out = c.output()?;
            if !out.status.success() {
                bail!("{c:?}: {}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(())
        };
        status(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join("host_key")),
        )?;
        status(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join("client_key")),
        )?;
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))?;
        std::fs::create_dir_all("/run/sshd")?;
        let sshd_conf = format!(
            "Port 22\nListenAddress 0.0.0.0\nListenAddress ::\nHostKey {}\nAuthorizedKeysFile {}\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\nStrictModes no\n\
             PidFile {}\n",
            d.join("host_key").display(),
            d.join("authorized_keys").display(),
            d.join("sshd.pid").display()
        );
        std::fs::write(d.join("sshd_config"), sshd_conf)?;
        let mut sshd = ns.command("/usr/sbin/sshd");
        sshd.args(["-D", "-e", "-f"]).arg(d.join("sshd_config"));
        sshd.stderr(std::process::Stdio::null());
        let sshd = BackgroundProcess::spawn(sshd, "sshd")?;

        let data: Vec<u8> = {
            // A deterministic pseudo-random file: incompressible, checkable by hash.
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            (0..size)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        std::fs::write(d.join("www/file.bin"), &data)?;
        let sum = Command::new("sha256sum")
            .arg(d.join("www/file.bin"))
            .output()?;
        let file_sha256 = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let mut http = ns.command("/usr/bin/python3");
        http.args(["-m", "http.server", "--bind", "::", "8080", "--directory"])
            .arg(d.join("www"));
        http.stderr(std::process::Stdio::null());
        let http = BackgroundProcess::spawn(http, "http.server")?;
        // Both listen once their ports are open.
        let start = Instant::now();
        loop {
            let (ok, out) = Lab::try_run(ns, &["ss", "-Hltn"]);
            if ok && out.contains(":22 ") && out.contains(":8080 ") {
                break;
            }
            if start.elapsed() > WAIT {
                bail!("sshd/http.server did not start: {out}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Services {
            _sshd: sshd,
            _http: http,
            key: d.join("client_key"),
            file_sha256,
        })
    }
}
