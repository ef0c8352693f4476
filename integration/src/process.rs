//! Background processes owned by a test: killed on drop, output readable line by line.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A child process that is killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct BackgroundProcess {
    child: Child,
    what: String,
}

impl BackgroundProcess {
    /// Spawns `cmd` with stdout piped (take it with [`Self::lines`]) and stderr inherited.
    pub fn spawn(mut cmd: Command, what: &str) -> Result<Self> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        Ok(Self {
            child,
            what: what.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads the child's stdout on a thread, one line at a time.
    pub fn lines(&mut self) -> Result<LineReader> {
        match self.child.stdout.take() {
            Some(out) => Ok(LineReader::new(out)),
            None => bail!("stdout of {} already taken", self.what),
        }
    }

    /// Sends `signal` and waits up to `timeout` for the exit; returns the exit code.
    pub fn stop(&mut self, signal: nix::sys::signal::Signal, timeout: Duration) -> Result<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).with_context(|| format!("signal {}", self.what))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not exit within {timeout:?} after {signal}",
                    self.what
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BackgroundProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a child's stdout, delivered through a channel so reads can time out.
pub struct LineReader {
    rx: Receiver<String>,
}

impl LineReader {
    fn new(out: ChildStdout) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { rx }
    }

    /// Waits for the first line for which `pred` holds, up to `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if pred(&line) => return Ok(line),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => bail!("no matching line within {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => bail!("process closed its output"),
            }
        }
    }

    /// Every line received so far, without waiting.
    pub fn drain(&self) -> Vec<String> {
        self.rx.try_iter().collect()
    }
}
