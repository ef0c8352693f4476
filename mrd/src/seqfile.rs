//! The next BU sequence number on disk, so a restarted mrd never reuses one (the HA would
//! answer 135 and make us resynchronise, costing a round trip).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct SeqFile {
    path: PathBuf,
}

impl SeqFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved number; a random start when there is none (RFC 6275 leaves it free).
    pub fn load(&self) -> u16 {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => match t.trim().parse() {
                Ok(n) => n,
                Err(_) => {
                    tracing::warn!(
                        "{}: not a sequence number; starting afresh",
                        self.path.display()
                    );
                    random_start()
                }
            },
            Err(_) => random_start(),
        }
    }

    pub fn save(&self, next: u16) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let tmp = self.path.with_extension("tmp");
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        writeln!(f, "{next}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("write {}", self.path.display()))
    }
}

fn random_start() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ std::process::id()) as u16
}

#[cfg(test)]
mod tests {
    use super::SeqFile;

    #[test]
    fn the_sequence_number_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/mrd.seq");
        let first = SeqFile::new(path.clone());
        first.save(4242).unwrap();
        assert_eq!(SeqFile::new(path.clone()).load(), 4242);
        first.save(4243).unwrap();
        assert_eq!(SeqFile::new(path.clone()).load(), 4243);
        assert!(!path.with_extension("tmp").exists(), "written atomically");
        std::fs::write(&path, "garbage\n").unwrap();
        let _ = SeqFile::new(path).load(); // starts afresh, no panic
    }
}
