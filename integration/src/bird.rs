//! BIRD 2 (Debian's `bird2`) in a namespace: one `bird -f` per node with its own
//! configuration, control socket and log in the lab's directory, killed on drop; `birdc`
//! talks to it over the socket. The home agents run `etc/bird.conf` (the shipped sample,
//! with their own addresses put in); the router gets a configuration written here.

use crate::{BackgroundProcess, Netns};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The shipped sample for a home agent.
pub const HA_SAMPLE: &str = include_str!("../../etc/bird.conf");
/// The sample's addresses (the paper's topology).
const SAMPLE_HA: &str = "2001:240:1:280::1";
const SAMPLE_ROUTER_ID: &str = "192.168.64.1";

/// Whether `bird` is installed (scripts/install-deps installs Debian's bird2).
pub fn available() -> bool {
    Command::new("bird")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `etc/bird.conf` for the home agent at `local` (router id `router_id`) peering with
/// `neighbor`, logging to `log`.
pub fn ha_config(local: &str, router_id: &str, neighbor: &str, log: &Path) -> String {
    HA_SAMPLE
        .replace(
            &format!("router id {SAMPLE_ROUTER_ID};"),
            &format!("router id {router_id};"),
        )
        .replace(
            &format!("local {SAMPLE_HA} as"),
            &format!("local {local} as"),
        )
        .replace(
            "neighbor 2001:240:1:280::fe as",
            &format!("neighbor {neighbor} as"),
        )
        .replace(
            "log syslog all;",
            &format!("log \"{}\" all;", log.display()),
        )
        .replace(
            "interval 100 ms;",
            &format!("interval {} ms;", bfd_interval_ms()),
        )
}

/// BFD's interval: 100 ms, ten times that under software emulation (`SHISA_EMULATED`, set by
/// the VM stage: TCG runs about ten times slower, and a 300 ms detection time would see
/// sessions flap there).
fn bfd_interval_ms() -> u32 {
    if std::env::var_os("SHISA_EMULATED").is_some() {
        1000
    } else {
        100
    }
}

/// The home link's router: one BGP session per home agent (`(name, address)`), both
/// families on each, BFD, and every route it learns written to its main table.
pub fn router_config(
    local: &str,
    ifname: &str,
    home_agents: &[(&str, &str)],
    log: &Path,
) -> String {
    let bfd = bfd_interval_ms();
    let mut conf = format!(
        "router id 192.168.64.126;\n\
         log \"{}\" all;\n\
         protocol device {{ }}\n\
         # The BGP routes into the kernel's main table (IPv4 ones with IPv6 next hops).\n\
         protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; }}\n\
         protocol kernel {{ ipv6 {{ import none; export where source = RTS_BGP; }}; }}\n\
         protocol bfd {{ interface \"{ifname}\" {{ min rx interval {bfd} ms; min tx interval {bfd} ms; multiplier 3; }}; }}\n\
         template bgp home_agent {{\n\
         \x20   local {local} as 65000;\n\
         \x20   bfd on;\n\
         \x20   connect delay time 1;\n\
         \x20   connect retry time 5;\n\
         \x20   ipv4 {{ extended next hop on; import all; export none; }};\n\
         \x20   ipv6 {{ import all; export none; }};\n\
         }}\n",
        log.display()
    );
    for (name, addr) in home_agents {
        conf.push_str(&format!(
            "protocol bgp {name} from home_agent {{ neighbor {addr} as 65001; }}\n"
        ));
    }
    conf
}

/// A running `bird -f`.
pub struct Bird {
    process: Option<BackgroundProcess>,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub config: PathBuf,
}

impl Bird {
    /// Writes `config` to `DIR/TAG.bird.conf` and starts bird in `ns` with it; returns once
    /// its control socket answers.
    pub fn start(ns: &Netns, dir: &Path, tag: &str, config: &str) -> Result<Bird> {
        let conf = dir.join(format!("{tag}.bird.conf"));
        let socket = dir.join(format!("{tag}.bird.ctl"));
        let log = dir.join(format!("{tag}.bird.log"));
        std::fs::write(&conf, config)?;
        let mut cmd = ns.command("bird");
        cmd.arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join(format!("{tag}.bird.pid")));
        let process = BackgroundProcess::spawn(cmd, &format!("bird ({tag})"))?;
        let bird = Bird {
            process: Some(process),
            socket,
            log,
            config: conf,
        };
        let start = Instant::now();
        while bird.birdc(&["show", "status"]).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!(
                    "bird ({tag}) did not start:\n{}",
                    crate::lab::read(&bird.log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(bird)
    }

    /// `birdc -s SOCKET ARGS`: its output, or an error when birdc fails.
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .context("run birdc")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || text.contains("Unable to connect") {
            bail!(
                "birdc {}: {text}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(text)
    }

    /// Waits until BGP protocol `name` is Established.
    pub fn wait_established(&self, name: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let out = self.birdc(&["show", "protocols", name])?;
            if out.contains("Established") {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("BGP session {name} not established:\n{out}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kill -9`: a crash (the kernel closes its TCP sessions).
    pub fn kill(&mut self) {
        self.process.take();
    }
}
