//! Signals turned into owner-loop events.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// What a stop does with the kernel state the daemon installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Remove what we installed (routes, tunnels, rules, proxy entries); mrd deregisters.
    TearDown,
    /// Leave it in place for the next instance to adopt (graceful restart).
    KeepState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM, SIGINT (mode per `--graceful-restart`) or SIGUSR1 (always `KeepState`).
    Stop {
        mode: StopMode,
        signal: &'static str,
    },
    /// SIGHUP: reload the configuration (babymdd: re-announce).
    Reload,
}

pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
    on_term: StopMode,
}

impl Signals {
    /// Installs the handlers; from now on these signals no longer kill the process.
    /// Must run inside a tokio runtime.
    pub fn install(graceful_restart: bool) -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            on_term: if graceful_restart {
                StopMode::KeepState
            } else {
                StopMode::TearDown
            },
        })
    }

    /// The next signal event.
    pub async fn next(&mut self) -> Event {
        let on_term = self.on_term;
        tokio::select! {
            _ = self.term.recv() => Event::Stop { mode: on_term, signal: "SIGTERM" },
            _ = self.int.recv() => Event::Stop { mode: on_term, signal: "SIGINT" },
            _ = self.usr1.recv() => Event::Stop { mode: StopMode::KeepState, signal: "SIGUSR1" },
            _ = self.hup.recv() => Event::Reload,
        }
    }
}
