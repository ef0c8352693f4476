//! Running the real binaries: spawn, collect stdout lines, wait for conditions, clean up.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MEMBER: &str = env!("CARGO_BIN_EXE_mobsock-member");
pub const MIPSOCK: &str = env!("CARGO_BIN_EXE_mipsock");

/// A child process whose stdout (and stderr) lines are collected in the background.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub out: Arc<Mutex<Vec<String>>>,
    pub err: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let out = collect(child.stdout.take().expect("stdout"));
        let err = collect(child.stderr.take().expect("stderr"));
        Proc {
            name: name.to_owned(),
            child,
            out,
            err,
        }
    }

    pub fn member(bus: &Path, name: &str, extra: &[&str]) -> Proc {
        let mut cmd = Command::new(MEMBER);
        cmd.arg("--bus-dir")
            .arg(bus)
            .arg("--name")
            .arg(name)
            .args(extra);
        let p = Proc::spawn(name, cmd);
        p.wait_line(|l| l.starts_with("READY "), Duration::from_secs(10));
        p
    }

    pub fn monitor(bus: &Path, json: bool) -> Proc {
        let mut cmd = Command::new(MIPSOCK);
        cmd.arg("--bus-dir").arg(bus).arg("monitor");
        if json {
            cmd.arg("--json");
        }
        let p = Proc::spawn("monitor", cmd);
        p.wait(
            |p| p.err_lines().iter().any(|l| l.contains("monitoring")),
            Duration::from_secs(10),
            "monitor start",
        );
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn lines(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    pub fn err_lines(&self) -> Vec<String> {
        self.err.lock().unwrap().clone()
    }

    /// Waits until `cond` holds, or fails the test with the process's output.
    pub fn wait(&self, cond: impl Fn(&Proc) -> bool, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = self.lines();
        let tail = &out[out.len().saturating_sub(20)..];
        panic!(
            "{}: timed out waiting for {what}\nstdout tail: {tail:#?}\nstderr: {:#?}",
            self.name,
            self.err_lines()
        );
    }

    pub fn wait_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        self.wait(
            |p| p.lines().iter().any(|l| pred(l)),
            timeout,
            "a matching line",
        );
        self.lines()
            .into_iter()
            .find(|l| pred(l))
            .unwrap_or_default()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig)
            .unwrap_or_else(|e| panic!("signal {}: {e}", self.name));
    }

    /// SIGTERM and wait for exit.
    pub fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        // Let the reader threads drain the pipes.
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh bus directory under a temporary directory others may traverse.
pub fn bus_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("mobsock-test-")
        .tempdir()
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bus = tmp.path().join("bus");
    (tmp, bus)
}

/// `(name, pid, seq)` of every `MSG` line.
pub fn msgs(lines: &[String]) -> Vec<(String, u32, u64)> {
    lines
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            match f.as_slice() {
                ["MSG", name, pid, seq, _] => {
                    Some((name.to_string(), pid.parse().ok()?, seq.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

/// Sequence numbers seen from one sender, in arrival order.
pub fn seqs_from(lines: &[String], name: &str, pid: u32) -> Vec<u64> {
    msgs(lines)
        .into_iter()
        .filter(|(n, p, _)| n == name && *p == pid)
        .map(|(_, _, s)| s)
        .collect()
}

/// Whether `seqs` is exactly `first, first+1, ..., first+len-1`.
pub fn contiguous(seqs: &[u64]) -> bool {
    seqs.windows(2).all(|w| w[1] == w[0] + 1)
}
