//! Named network namespaces (`ip netns`), removed when their guard is dropped.

use anyhow::{bail, Context, Result};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `<prefix><pid>x<n>`, kept under IFNAMSIZ-1 (15)
/// when `prefix` is at most 3 characters, so it can name interfaces too.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 1_000_000)
}

/// Runs a host command and fails with its stderr when it exits non-zero.
pub fn host(args: &[&str]) -> Result<String> {
    run_checked(Command::new(args[0]).args(&args[1..]), &args.join(" "))
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<String> {
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{what}`"))?;
    if !out.status.success() {
        bail!(
            "`{what}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace that exists as long as this value does.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `ip netns add <unique name>` with loopback up.
    pub fn new(prefix: &str) -> Result<Self> {
        let ns = Self {
            name: unique_name(prefix),
        };
        host(&["ip", "netns", "add", &ns.name])?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs a program in the namespace; fails on a non-zero exit.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let mut cmd = self.command(args[0]);
        cmd.args(&args[1..]);
        run_checked(&mut cmd, &format!("[{}] {}", self.name, args.join(" ")))
    }

    /// Runs a shell command line in the namespace; fails on a non-zero exit.
    pub fn sh(&self, line: &str) -> Result<String> {
        self.run(&["sh", "-c", line])
    }

    /// `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["ip"];
        full.extend_from_slice(args);
        self.run(&full)
    }

    /// Sets a sysctl inside the namespace, e.g. `net.ipv6.conf.all.forwarding=1`.
    pub fn sysctl(&self, setting: &str) -> Result<()> {
        self.run(&["sysctl", "-qw", setting]).map(drop)
    }

    /// Moves the calling thread into this namespace. Sockets opened afterwards on this thread
    /// live in the namespace for good; use it on a thread made for the purpose.
    pub fn enter_current_thread(&self) -> Result<()> {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name))
            .with_context(|| format!("open namespace {}", self.name))?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("setns {}", self.name))
    }

    /// Creates a veth pair with `local` here and `remote` in `peer`, both up.
    pub fn veth(&self, local: &str, peer: &Netns, remote: &str) -> Result<()> {
        self.ip(&[
            "link", "add", local, "type", "veth", "peer", "name", remote, "netns", &peer.name,
        ])?;
        self.ip(&["link", "set", local, "up"])?;
        peer.ip(&["link", "set", remote, "up"])?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes left in the namespace (daemons of a failed test) would keep it alive.
        if let Ok(pids) = host(&["ip", "netns", "pids", &self.name]) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
