//! Detaching from the terminal: double fork, new session, `/`, stdio on /dev/null.
//! The starting process waits on a pipe until the daemon reports ready (or why not).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use nix::sys::stat::{umask, Mode};
use nix::unistd::{chdir, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe, setsid, ForkResult};

/// Held by the detached daemon: reports to the waiting starter.
pub struct StartReport {
    pipe: Option<File>,
}

impl StartReport {
    /// A report that goes nowhere (foreground mode).
    pub fn none() -> Self {
        StartReport { pipe: None }
    }

    /// Tells the starter that start-up succeeded; it exits 0.
    pub fn ready(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"R");
        }
    }

    /// Tells the starter why start-up failed; it prints `message` and exits 1.
    pub fn failed(&mut self, message: &str) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(format!("E{message}").as_bytes());
        }
    }
}

/// Forks into the background. Returns in the daemon only; the starting process exits with
/// 0 once the daemon calls [`StartReport::ready`], 1 otherwise.
///
/// Must be called while the process has a single thread (before any runtime starts).
pub fn daemonize(name: &str) -> nix::Result<StartReport> {
    let (read_end, write_end): (OwnedFd, OwnedFd) = pipe()?;
    // SAFETY: single-threaded at this point (documented precondition), so the child may run
    // arbitrary code after fork.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut report = Vec::new();
            let _ = File::from(read_end).read_to_end(&mut report);
            match report.first() {
                Some(b'R') => std::process::exit(0),
                Some(b'E') => {
                    eprintln!("{name}: {}", String::from_utf8_lossy(&report[1..]));
                    std::process::exit(1)
                }
                _ => {
                    eprintln!("{name}: the daemon exited during start-up");
                    std::process::exit(1)
                }
            }
        }
        ForkResult::Child => {}
    }
    drop(read_end);
    setsid()?;
    // SAFETY: still single-threaded (we are the fresh child).
    match unsafe { fork() }? {
        // The session leader exits so the daemon can never reacquire a terminal.
        ForkResult::Parent { .. } => unsafe { nix::libc::_exit(0) },
        ForkResult::Child => {}
    }
    chdir("/")?;
    umask(Mode::from_bits_truncate(0o022));
    let devnull = File::options().read(true).write(true).open("/dev/null");
    let devnull = devnull.map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(0)))?;
    dup2_stdin(&devnull)?;
    dup2_stdout(&devnull)?;
    dup2_stderr(&devnull)?;
    if devnull.as_raw_fd() <= 2 {
        // /dev/null landed on a standard descriptor (one was closed): keep it open.
        let _ = devnull.into_raw_fd();
    }
    Ok(StartReport {
        pipe: Some(File::from(write_end)),
    })
}
