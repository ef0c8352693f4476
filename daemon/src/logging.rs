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
        // Under systemd, standard error is a journal stream: each line carries its priority
        // as an sd-daemon "<N>" prefix, which journald turns into PRIORITY= (without it every
        // line, errors included, would be logged at the unit's default, info).
        LogTarget::Stderr if stderr_is_journal() => install!(builder
            .without_time()
            .with_level(false)
            .with_writer(JournalStderr)),
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

/// Syslog severity of a tracing level.
fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Whether standard error is the systemd journal: `$JOURNAL_STREAM` is "DEVICE:INODE" of
/// the stream systemd connected (sd_journal_stream_fd(3)), compared with fd 2's.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
    }
}

/// Standard error as a journal stream: one "<severity>line" per event.
struct JournalStderr;

/// One event's line; written to standard error with its prefix when dropped.
struct JournalLine {
    severity: u8,
    buf: Vec<u8>,
}

impl Write for JournalLine {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for JournalLine {
    fn drop(&mut self) {
        let mut line = format!("<{}>", self.severity).into_bytes();
        line.extend_from_slice(self.buf.trim_ascii_end());
        line.push(b'\n');
        let _ = io::stderr().write_all(&line);
    }
}

impl<'a> MakeWriter<'a> for JournalStderr {
    type Writer = JournalLine;

    fn make_writer(&'a self) -> JournalLine {
        JournalLine {
            severity: severity(Level::INFO),
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> JournalLine {
        JournalLine {
            severity: severity(*meta.level()),
            buf: Vec::new(),
        }
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
        SyslogLine {
            prefix: format!(
                "<{}>{}[{}]: ",
                3 * 8 + severity(level),
                self.name,
                std::process::id()
            ),
            buf: Vec::new(),
            socket: self.socket.clone(),
        }
    }
}
