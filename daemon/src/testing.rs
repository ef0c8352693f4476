//! Helpers for tests that run the real daemon binaries.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `bin args` to completion (it must exit within [`TIMEOUT`]).
pub fn run(bin: &str, args: &[&str]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
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
        let child = Command::new(bin)
            .args(args)
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
