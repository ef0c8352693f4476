//! Helpers for tests that run the real daemon binaries.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Script that gives the daemon a network namespace of its own, with loopback and veth
/// `eth0`/`eth1` links, so tests never touch the host's interfaces, sysctls or nftables.
const PRIVATE_NETNS: &str = "ip link set lo up && \
    ip link add eth0 type veth peer name eth0p && ip link set eth0 up && ip link set eth0p up && \
    ip link add eth1 type veth peer name eth1p && ip link set eth1 up && ip link set eth1p up && \
    ip -6 addr add 2001:240:1:280::1/64 dev eth0 nodad && exec \"$@\"";

/// `bin args` inside a fresh network namespace (`unshare -n` execs, so the pid is the daemon's).
fn in_private_netns(bin: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", PRIVATE_NETNS, "sh", bin])
        .args(args);
    cmd
}

/// Runs `bin args` to completion (it must exit within [`TIMEOUT`]).
pub fn run(bin: &str, args: &[&str]) -> Output {
    let mut child = in_private_netns(bin, args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("{bin} {args:?} did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A daemon running in the foreground; its standard error goes to a file we can read.
pub struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    pub fn spawn(bin: &str, args: &[&str], log: &Path) -> Running {
        let err = File::create(log).expect("log file");
        let child = in_private_netns(bin, args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn");
        Running {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text`; panics with the log otherwise.
    pub fn wait_for_log(&mut self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exited ({status}) before logging {text:?}:\n{}", self.log());
            }
            if start.elapsed() > TIMEOUT {
                panic!("no {text:?} in the log within {TIMEOUT:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("kill");
    }

    /// Waits for the exit (within [`TIMEOUT`]).
    pub fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > TIMEOUT {
                panic!("did not exit within {TIMEOUT:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `path` exists and is non-empty; returns its content.
pub fn wait_for_file(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        if start.elapsed() > TIMEOUT {
            panic!("{} did not appear within {TIMEOUT:?}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A temporary directory with a daemon's configuration, pid file, bus directory and log.
pub struct Scratch {
    dir: PathBuf,
    name: &'static str,
}

impl Scratch {
    /// A fresh directory for daemon `name`, with `NAME.conf` holding `config` (if given).
    pub fn new(name: &'static str, config: Option<&str>) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "shisa-{name}-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("bus")).expect("scratch dir");
        let s = Scratch { dir, name };
        if let Some(text) = config {
            s.write(&format!("{name}.conf"), text);
        }
        s
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    pub fn config_path(&self) -> String {
        self.path(&format!("{}.conf", self.name))
    }

    pub fn pid_path(&self) -> String {
        self.path(&format!("{}.pid", self.name))
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).expect("write");
    }

    /// `--pid-file`, `--bus-dir` (and `-c` when `with_config`) into this directory, then `extra`.
    pub fn args(&self, with_config: bool, extra: &[&str]) -> Vec<String> {
        let mut v = Vec::new();
        if with_config {
            v.extend(["-c".to_string(), self.config_path()]);
        }
        v.extend([
            "--pid-file".to_string(),
            self.pid_path(),
            "--bus-dir".into(),
            self.path("bus"),
        ]);
        if matches!(self.name, "had" | "mrd") {
            v.extend(["--state-file".to_string(), self.path("state")]);
        }
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    pub fn run(&self, bin: &str, with_config: bool, extra: &[&str]) -> Output {
        let args = self.args(with_config, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(bin, &args)
    }

    pub fn spawn(&self, bin: &str, with_config: bool, extra: &[&str]) -> Running {
        let args = self.args(with_config, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Running::spawn(bin, &args, &self.dir.join("log"))
    }

    /// Spawns in the foreground, waits for the pid file, checks it holds the daemon's pid.
    pub fn start(&self, bin: &str, with_config: bool, extra: &[&str]) -> Running {
        let mut d = self.spawn(bin, with_config, extra);
        let pid = wait_for_file(Path::new(&self.pid_path()));
        assert_eq!(
            pid,
            format!("{}\n", d.pid()),
            "pid file holds the daemon's pid"
        );
        d.wait_for_log(&format!("{} started", self.name));
        d
    }

    /// SIGTERM, exit status 0, pid file gone.
    pub fn stop(&self, d: &mut Running) {
        d.signal(Signal::SIGTERM);
        let status = d.wait();
        assert_eq!(status.code(), Some(0), "exit status; log:\n{}", d.log());
        assert!(!Path::new(&self.pid_path()).exists(), "pid file removed");
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Asserts `--help` exits 0 and mentions every string of `must`.
pub fn assert_help_mentions(bin: &str, must: &[&str]) {
    let out = run(bin, &["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for m in must {
        assert!(help.contains(m), "--help lacks {m:?}:\n{help}");
    }
}

/// Asserts exit status `code` and exactly `stderr`.
pub fn assert_fails(out: &Output, code: i32, stderr: &str) {
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        stderr,
        "standard error"
    );
    assert_eq!(out.status.code(), Some(code), "exit status");
}
