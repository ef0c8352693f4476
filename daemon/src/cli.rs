//! Command-line flags every daemon shares. Each daemon adds its SHISA flags around these.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};

/// Default bus directory (same as `mobsock::DEFAULT_BUS_DIR`).
pub const DEFAULT_BUS_DIR: &str = "/run/shisa";

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Stay in the foreground.
    ///
    /// Without -f the daemon detaches (double fork, new session, working directory /, standard
    /// input and output on /dev/null). The starting process exits 0 only once the daemon has
    /// written its pid file, and 1 with the reason otherwise. Use -f under systemd.
    #[arg(short = 'f', long = "foreground")]
    pub foreground: bool,

    /// Raise logging: -d logs debug events, -dd (or -D) also trace events.
    ///
    /// Without -d the level comes from the configuration's `debug N;` (1 = debug, 2 = trace),
    /// else info. The RUST_LOG environment variable, when set, overrides both.
    #[arg(short = 'd', long = "debug", action = ArgAction::Count)]
    pub debug: u8,

    /// Log everything, including trace events (same as -dd).
    #[arg(short = 'D', long = "trace")]
    pub trace: bool,

    /// Directory of the mobility bus sockets [default: /run/shisa].
    ///
    /// All daemons of one node must use the same directory; give each node its own directory
    /// to run two nodes on one machine (each in its own network namespace). Overrides the
    /// configuration's `bus-directory "DIR";`.
    #[arg(long = "bus-dir", value_name = "DIR")]
    pub bus_dir: Option<PathBuf>,

    /// Pid file [default: /run/NAME.pid].
    ///
    /// Created at start (refused if a live process of the same name holds it; a stale file is
    /// replaced) and removed at exit. Overrides the configuration's `pid-file "PATH";`.
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,

    /// Graceful restart: on SIGTERM/SIGINT leave installed state in place.
    ///
    /// Without this flag a stop removes what the daemon installed (routes, tunnels, rules,
    /// proxy neighbour entries) and, for mrd, deregisters. With it, the daemon exits leaving
    /// that state, so traffic keeps flowing and the next instance adopts the state it finds
    /// (routes carry the suite's route protocol number). SIGUSR1 always stops this way,
    /// with or without the flag: the systemd units use it for `systemctl restart`.
    #[arg(short = 'g', long = "graceful-restart")]
    pub graceful_restart: bool,

    /// Write the log to FILE instead of standard error (or syslog when detached).
    #[arg(long = "log-file", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

impl CommonArgs {
    /// Log verbosity from the flags: 0 info, 1 debug, 2 trace.
    pub fn verbosity(&self) -> u8 {
        if self.trace {
            2
        } else {
            self.debug.min(2)
        }
    }

    /// Bus directory: command line, else configuration, else [`DEFAULT_BUS_DIR`].
    pub fn bus_dir_or(&self, from_config: Option<&Path>) -> PathBuf {
        self.bus_dir
            .clone()
            .or_else(|| from_config.map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BUS_DIR))
    }

    /// Pid file: command line, else configuration, else `/run/NAME.pid`.
    pub fn pid_file_or(&self, from_config: Option<&Path>, name: &str) -> PathBuf {
        self.pid_file
            .clone()
            .or_else(|| from_config.map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from(format!("/run/{name}.pid")))
    }
}

/// Text for the end of every daemon's `--help`: signals, files, exit status.
pub fn after_help(name: &str, config_default: &str) -> String {
    format!(
        "SIGNALS:
  SIGTERM, SIGINT  stop; remove installed state unless -g/--graceful-restart was given
  SIGUSR1          stop and leave installed state for the next instance (graceful restart)
  SIGHUP           {hup}

FILES:
  {config_default}
      configuration (SHISA grammar; see the shisa-config README and etc/ samples)
  /run/{name}.pid
      pid file (--pid-file)
  /run/shisa/
      mobility bus directory (--bus-dir)

EXIT STATUS:
  0 clean stop, 1 configuration or start-up error (FILE:LINE:COL: message), 2 bad command line",
        hup = if name == "babymdd" {
            "re-announce the current movement state (home/foreign, care-of address) on the bus"
        } else {
            "reload the configuration; the log lists what changed, or why the new file was
                   refused (the running configuration stays)"
        }
    )
}
