//! The Binding Cache on disk, so a restarted had keeps its bindings: JSON written to a
//! temporary file, synced and renamed over the old one (atomic: a crash leaves either the
//! old or the new file, never half of one).

use anyhow::{Context, Result};
use registration::ha::Binding;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
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

    pub fn save<'a>(&self, bindings: impl Iterator<Item = &'a Binding>) -> Result<()> {
        let all: Vec<&Binding> = bindings.collect();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let tmp = self.path.with_extension("tmp");
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        serde_json::to_writer_pretty(&mut f, &all)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("rename {} to {}", tmp.display(), self.path.display()))
    }
}
