//! One line per event through `tracing`: to standard error, a file, or syslog when detached.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Where log lines go.
pub enum LogTarget<'a> {
    Stderr,
    File(&'a Path),
    /// The local syslog socket (`/dev/log`), facility daemon.
    Syslog,
}

/// Level name for a verbosity: 0 info, 1 debug, 2 or more trace.
pub fn level_name(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `verbosity`.
pub fn init(name: &'static str, verbosity: u8, target: LogTarget<'_>) -> io::Result<()> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level_name(verbosity)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    // The handle's type depends on the writer, so each branch stores a closure.
    macro_rules! install {
        ($b:expr) => {{
            let b = $b.with_filter_reloading();
            let handle = b.reload_handle();
            let _ = SET_FILTER.set(Box::new(move |f| {
                let _ = handle.reload(f);
            }));
            // A second init (tests) keeps the first subscriber; that is fine.
            let _ = b.try_init();
        }};
    }
    match target {
        LogTarget::Stderr => install!(builder.with_writer(io::stderr)),
        LogTarget::File(path) => {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            install!(builder.with_writer(Arc::new(file)))
        }
        LogTarget::Syslog => install!(builder
            .without_time()
            .with_level(false)
            .with_writer(SyslogWriter::new(name))),
    }
    Ok(())
}

type SetFilter = Box<dyn Fn(EnvFilter) + Send + Sync>;
static SET_FILTER: OnceLock<SetFilter> = OnceLock::new();

/// Changes the level at run time (a reload changed `debug N;`); a no-op under `RUST_LOG`.
pub fn set_verbosity(verbosity: u8) {
    if std::env::var_os("RUST_LOG").is_some() {
        return;
    }
    if let Some(set) = SET_FILTER.get() {
        set(EnvFilter::new(level_name(verbosity)));
    }
}

/// Sends each formatted event as one datagram to /dev/log (RFC 3164 style, local socket).
#[derive(Clone)]
struct SyslogWriter {
    name: &'static str,
    socket: Option<Arc<UnixDatagram>>,
}

impl SyslogWriter {
    fn new(name: &'static str) -> Self {
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.connect("/dev/log").map(|()| s))
            .ok()
            .map(Arc::new);
        SyslogWriter { name, socket }
    }
}

/// One event's line; sent when dropped (tracing writes an event, then drops the writer).
struct SyslogLine {
    prefix: String,
    buf: Vec<u8>,
    socket: Option<Arc<UnixDatagram>>,
}

impl Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        if let Some(socket) = &self.socket {
            let mut msg = self.prefix.clone().into_bytes();
            msg.extend_from_slice(self.buf.trim_ascii_end());
            let _ = socket.send(&msg);
        }
    }
}

impl<'a> MakeWriter<'a> for SyslogWriter {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> SyslogLine {
        self.line(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> SyslogLine {
        self.line(*meta.level())
    }
}

impl SyslogWriter {
    fn line(&self, level: Level) -> SyslogLine {
        // Facility daemon (3) * 8 + severity.
        let severity = match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            _ => 7,
        };
        SyslogLine {
            prefix: format!(
                "<{}>{}[{}]: ",
                3 * 8 + severity,
                self.name,
                std::process::id()
            ),
            buf: Vec::new(),
            socket: self.socket.clone(),
        }
    }
}
