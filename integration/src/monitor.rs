//! `mipsock monitor --json` on a bus directory, read as JSON values.

use crate::{bins, BackgroundProcess, LineReader};
use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub struct Monitor {
    _process: BackgroundProcess,
    lines: LineReader,
    /// Every message seen so far, in order.
    pub seen: Vec<Value>,
}

impl Monitor {
    /// Starts the monitor and waits until it is on the bus.
    pub fn start(bus_dir: &Path) -> Result<Self> {
        let mut cmd = Command::new(bins::path("mipsock")?);
        cmd.arg("--bus-dir")
            .arg(bus_dir)
            .args(["monitor", "--json"]);
        let mut process = BackgroundProcess::spawn(cmd, "mipsock monitor")?;
        let lines = process.lines()?;
        let mon = Self {
            _process: process,
            lines,
            seen: Vec::new(),
        };
        // The monitor's socket appearing in the directory means it has joined.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !std::fs::read_dir(bus_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().starts_with("mipsock"))
            })
            .unwrap_or(false)
        {
            if std::time::Instant::now() > deadline {
                return Err(anyhow!(
                    "mipsock monitor did not join {}",
                    bus_dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(mon)
    }

    /// Waits for the next message of `kind` (e.g. "BUL_ADD") for which `pred` holds.
    pub fn wait_for(
        &mut self,
        kind: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let seen = &mut self.seen;
        let line = self
            .lines
            .wait_for(timeout, |line| {
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    return false;
                };
                let hit = v["type"] == kind && pred(&v);
                seen.push(v);
                hit
            })
            .with_context(|| format!("waiting for {kind}; saw {:?}", types(seen)))?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Reads what arrived without waiting.
    pub fn drain(&mut self) -> &[Value] {
        for line in self.lines.drain() {
            if let Ok(v) = serde_json::from_str(&line) {
                self.seen.push(v);
            }
        }
        &self.seen
    }
}

fn types(seen: &[Value]) -> Vec<String> {
    seen.iter()
        .map(|v| v["type"].as_str().unwrap_or("?").to_string())
        .collect()
}
