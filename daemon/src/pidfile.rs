//! Pid files: one live instance per file, stale files replaced, removed on drop.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("{}: another instance is running (pid {pid})", path.display())]
    AlreadyRunning { path: PathBuf, pid: i32 },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A pid file we created; removed when dropped, if it still holds our pid.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

/// What an existing pid file says.
enum Holder {
    Live(i32),
    Stale,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PidFileError + '_ {
    move |source| PidFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A pid is live if the process exists and, when /proc tells us, runs a program of our name
/// (a recycled pid of some other program does not block us).
fn holder(path: &Path, name: &str) -> Result<Holder, PidFileError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Holder::Stale),
        Err(e) => return Err(io_err(path)(e)),
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(Holder::Stale);
    };
    if pid <= 0 || pid as u32 == std::process::id() {
        return Ok(Holder::Stale);
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return Ok(Holder::Stale),
    }
    match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) if comm.trim() != name => Ok(Holder::Stale),
        _ => Ok(Holder::Live(pid)),
    }
}

impl PidFile {
    /// Fails if a live `name` process holds `path`; does not create anything.
    pub fn check(path: &Path, name: &str) -> Result<(), PidFileError> {
        match holder(path, name)? {
            Holder::Live(pid) => Err(PidFileError::AlreadyRunning {
                path: path.to_path_buf(),
                pid,
            }),
            Holder::Stale => Ok(()),
        }
    }

    /// Creates `path` holding our pid; a stale file is replaced, a live holder refuses.
    pub fn create(path: &Path, name: &str) -> Result<PidFile, PidFileError> {
        let pid = std::process::id();
        // Two rounds: the second follows the removal of a stale file.
        for _ in 0..2 {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(path)
            {
                Ok(mut file) => {
                    let written = writeln!(file, "{pid}").and_then(|()| file.sync_all());
                    if let Err(e) = written {
                        let _ = fs::remove_file(path);
                        return Err(io_err(path)(e));
                    }
                    return Ok(PidFile {
                        path: path.to_path_buf(),
                        pid,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Self::check(path, name)?;
                    tracing::warn!(path = %path.display(), "replacing stale pid file");
                    match fs::remove_file(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io_err(path)(e)),
                    }
                }
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        Err(io_err(path)(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "pid file keeps reappearing",
        )))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = fs::read_to_string(&self.path)
            .map(|t| t.trim() == self.pid.to_string())
            .unwrap_or(false);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_writes_our_pid_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        let pf = PidFile::create(&path, "x").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(pf);
        assert!(!path.exists());
    }

    #[test]
    fn stale_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        // Pid numbers wrap far below i32::MAX on Linux: this one cannot exist.
        fs::write(&path, "2147483000\n").unwrap();
        let _pf = PidFile::create(&path, "x").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn live_holder_of_our_name_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sleep.pid");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // Until the child has exec'd, its name is still ours.
        let comm = format!("/proc/{}/comm", child.id());
        while fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        fs::write(&path, format!("{}\n", child.id())).unwrap();
        let err = PidFile::create(&path, "sleep").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: another instance is running (pid {})",
                path.display(),
                child.id()
            )
        );
        // The same live pid running another program is a recycled pid: stale.
        assert!(PidFile::check(&path, "mrd").is_ok());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn drop_leaves_a_file_that_is_no_longer_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        let pf = PidFile::create(&path, "x").unwrap();
        fs::write(&path, "1\n").unwrap();
        drop(pf);
        assert!(path.exists());
    }
}
