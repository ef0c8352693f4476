//! The Binding Cache on disk, so a restarted had keeps its bindings: JSON written to a
//! temporary file, synced and renamed over the old one (atomic: a crash leaves either the
//! old or the new file, never half of one). Writing happens on a thread of its own, so a
//! large cache never stalls the owner loop; when snapshots queue up only the newest is
//! written.

use anyhow::{Context, Result};
use registration::ha::Binding;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

pub struct Store {
    path: PathBuf,
    writer: Option<(mpsc::Sender<Vec<Binding>>, JoinHandle<()>)>,
}

impl Store {
    pub fn new(path: PathBuf) -> Self {
        Self { path, writer: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved bindings; none when the file does not exist yet.
    pub fn load(&self) -> Result<Vec<Binding>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("read {}", self.path.display())),
        };
        serde_json::from_str(&text).with_context(|| format!("parse {}", self.path.display()))
    }

    /// Hands a snapshot to the writer thread (started on first use).
    pub fn save(&mut self, snapshot: Vec<Binding>) {
        let path = self.path.clone();
        let (tx, _) = self.writer.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<Vec<Binding>>();
            let thread = std::thread::spawn(move || {
                while let Ok(mut latest) = rx.recv() {
                    while let Ok(newer) = rx.try_recv() {
                        latest = newer;
                    }
                    if let Err(e) = write_atomically(&path, &latest) {
                        tracing::error!("saving the Binding Cache: {e:#}");
                    }
                }
            });
            (tx, thread)
        });
        let _ = tx.send(snapshot);
    }

    /// Waits until every snapshot handed over is on disk.
    pub fn flush(&mut self) {
        if let Some((tx, thread)) = self.writer.take() {
            drop(tx);
            let _ = thread.join();
        }
    }
}

fn write_atomically(path: &Path, bindings: &[Binding]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?,
    );
    serde_json::to_writer(&mut f, bindings)?;
    f.write_all(b"\n")?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("rename {} to {}", tmp.display(), path.display()))
}
