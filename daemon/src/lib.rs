//! Process lifecycle shared by the daemons: the common command-line flags, configuration
//! loading with `DAEMON: FILE:LINE:COL: message` errors, pid file, detaching, logging,
//! signals, and SIGHUP reload with a summary of what changed.
//!
//! A daemon's `main` parses its flags and calls [`launch`] with a configuration loader and
//! its async owner loop; the loop receives a [`Daemon`] and waits on [`Daemon::next_event`]
//! next to its own sockets and timers:
//!
//! ```no_run
//! # use shisa_daemon::{launch, CommonArgs, Daemon, Event};
//! # #[derive(clap::Parser)]
//! # struct Cli { #[command(flatten)] common: CommonArgs }
//! # fn main() -> std::process::ExitCode {
//! # let common = <Cli as clap::Parser>::parse_from(["mrd", "-f"]).common;
//! let path = std::path::PathBuf::from("/etc/shisa/mrd.conf");
//! launch("mrd", &common, move || shisa_config::load(&path), |mut d: Daemon<shisa_config::Config>| async move {
//!     loop {
//!         match d.next_event().await {
//!             Event::Stop { .. } => return Ok(()),
//!             Event::Reload => { d.reload(); }
//!         }
//!     }
//! })
//! # }
//! ```

mod cli;
mod daemonize;
pub mod logging;
mod notes;
mod pidfile;
mod reload;
mod signals;
mod systemd;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use shisa_config::ConfigError;

pub use cli::{after_help, CommonArgs, DEFAULT_BUS_DIR};
pub use daemonize::{daemonize, StartReport};
pub use notes::log_config_notes;
pub use pidfile::{PidFile, PidFileError};
pub use reload::{auth_changes, DaemonConfig, Reload, Reloader};
pub use signals::{Event, Signals, StopMode};

/// A running daemon: its configuration, paths and signal events, handed to the owner loop.
pub struct Daemon<C> {
    pub name: &'static str,
    pub bus_dir: PathBuf,
    pub pid_file: PathBuf,
    signals: Signals,
    reloader: Reloader<C>,
    /// Verbosity from -d/-D; the configuration's `debug N;` can only raise it.
    flag_verbosity: u8,
}

impl<C: DaemonConfig> Daemon<C> {
    /// The configuration in force.
    pub fn config(&self) -> &C {
        self.reloader.current()
    }

    /// Waits for the next signal event.
    pub async fn next_event(&mut self) -> Event {
        let event = self.signals.next().await;
        if let Event::Stop { mode, signal } = event {
            systemd::notify("STOPPING=1");
            let what = match mode {
                StopMode::TearDown => "removing installed state",
                StopMode::KeepState => "leaving installed state for the next instance",
            };
            tracing::info!("{signal}: stopping, {what}");
        }
        event
    }

    /// Reads the configuration again; logs what changed, or why it was refused (the old
    /// configuration then stays in force).
    pub fn reload(&mut self) -> Reload {
        let before = self.config().debug_level();
        let outcome = self.reloader.reload();
        let after = self.config().debug_level();
        if before != after {
            let level = self.flag_verbosity.max(config_verbosity(after));
            logging::set_verbosity(level);
            tracing::info!("log level now {}", logging::level_name(level));
        }
        outcome
    }
}

/// `debug N;` as a verbosity: 0 info, 1 debug, 2 or more trace.
fn config_verbosity(debug: Option<u32>) -> u8 {
    debug.map(|d| d.min(2) as u8).unwrap_or(0)
}

/// Runs a daemon: loads the configuration (errors go to standard error as
/// `NAME: FILE:LINE:COL: message`, exit 1), checks the pid file, detaches unless `-f`,
/// starts logging, installs signal handlers, writes the pid file, then runs `owner` until it
/// returns; removes the pid file and returns the exit code (0 on a clean stop).
pub fn launch<C, L, R, F>(name: &'static str, common: &CommonArgs, load: L, owner: R) -> ExitCode
where
    C: DaemonConfig,
    L: Fn() -> Result<C, ConfigError> + Send + 'static,
    R: FnOnce(Daemon<C>) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let config = match load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(1);
        }
    };
    let pid_path = common.pid_file_or(config.pid_file(), name);
    let bus_dir = common.bus_dir_or(config.bus_directory());
    if let Err(e) = PidFile::check(&pid_path, name) {
        eprintln!("{name}: {e}");
        return ExitCode::from(1);
    }
    let mut report = if common.foreground {
        StartReport::none()
    } else {
        match daemonize(name) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{name}: cannot detach: {e}");
                return ExitCode::from(1);
            }
        }
    };
    let verbosity = common
        .verbosity()
        .max(config_verbosity(config.debug_level()));
    let target = match (&common.log_file, common.foreground) {
        (Some(path), _) => logging::LogTarget::File(path),
        (None, true) => logging::LogTarget::Stderr,
        (None, false) => logging::LogTarget::Syslog,
    };
    let fail = |report: &mut StartReport, message: String| {
        report.failed(&message);
        eprintln!("{name}: {message}");
        ExitCode::from(1)
    };
    if let Err(e) = logging::init(name, verbosity, target) {
        return fail(&mut report, format!("cannot open log: {e}"));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&mut report, format!("cannot start runtime: {e}")),
    };
    runtime.block_on(async move {
        // Handlers first: a signal that arrives once the pid file exists must not kill us.
        let signals = match Signals::install(common.graceful_restart) {
            Ok(s) => s,
            Err(e) => return fail(&mut report, format!("cannot install signal handlers: {e}")),
        };
        let pid_file = match PidFile::create(&pid_path, name) {
            Ok(p) => p,
            Err(e) => return fail(&mut report, e.to_string()),
        };
        let source = config.source();
        tracing::info!(
            "{name} started: pid {}, config {source}, pid file {}, bus {}, log level {}{}",
            std::process::id(),
            pid_path.display(),
            bus_dir.display(),
            logging::level_name(verbosity),
            if common.graceful_restart {
                ", graceful restart on SIGTERM"
            } else {
                ""
            },
        );
        let daemon = Daemon {
            name,
            bus_dir,
            pid_file: pid_path,
            signals,
            reloader: Reloader::new(config, Box::new(load)),
            flag_verbosity: common.verbosity(),
        };
        report.ready();
        systemd::notify("READY=1");
        let result = owner(daemon).await;
        drop(pid_file);
        match result {
            Ok(()) => {
                tracing::info!("{name} stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("{name} failed: {e:#}");
                ExitCode::from(1)
            }
        }
    })
}
