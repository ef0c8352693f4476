//! Packet captures in a namespace (tcpdump), decoded afterwards by tshark: an independent
//! decoder for what the daemons put on the wire.

use crate::{BackgroundProcess, Netns};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Capture {
    process: BackgroundProcess,
    file: PathBuf,
}

impl Capture {
    /// Captures everything on `ifname` in `ns` into `file` (unbuffered), once tcpdump listens.
    pub fn start(ns: &Netns, ifname: &str, file: &Path) -> Result<Self> {
        Self::start_truncated(ns, ifname, file, 0)
    }

    /// [`Self::start`] keeping the first `snaplen` bytes of each frame (0: all), for long
    /// captures where the headers are what counts.
    pub fn start_truncated(ns: &Netns, ifname: &str, file: &Path, snaplen: u32) -> Result<Self> {
        let mut cmd = ns.command("tcpdump");
        let snaplen = snaplen.to_string();
        cmd.args(["-i", ifname, "--immediate-mode", "-U", "-s", &snaplen, "-w"])
            .arg(file);
        cmd.stderr(std::process::Stdio::piped());
        let process = BackgroundProcess::spawn(cmd, "tcpdump")?;
        // tcpdump writes the file header once it is capturing.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(file).map(|m| m.len()).unwrap_or(0) < 24 {
            if std::time::Instant::now() > deadline {
                bail!("tcpdump did not start on {ifname}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        Ok(Self {
            process,
            file: file.to_path_buf(),
        })
    }

    /// Stops tcpdump (letting it flush) and returns the capture file.
    pub fn finish(mut self) -> Result<PathBuf> {
        std::thread::sleep(Duration::from_millis(200));
        let _ = self
            .process
            .stop(nix::sys::signal::Signal::SIGINT, Duration::from_secs(5));
        Ok(self.file.clone())
    }
}

/// `tshark -r FILE -Y FILTER -T fields -e F1 -e F2 ...`: one Vec of field values per packet.
pub fn tshark_fields(file: &Path, filter: &str, fields: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-E", "occurrence=a"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().context("run tshark (Debian package tshark)")?;
    if !out.status.success() {
        bail!("tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}
