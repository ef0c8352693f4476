//! Configuration reload on SIGHUP: report what changed, or why the new file was refused.

use std::path::Path;

use shisa_config::{AuthDatabase, Config, ConfigError};

/// What a daemon's configuration must offer the lifecycle.
pub trait DaemonConfig: Send + 'static {
    /// Where it came from, for messages (a path, or a description).
    fn source(&self) -> String;
    /// Human-readable changes from `self` to `new` (`- old`, `+ new` lines); empty if none.
    fn changes(&self, new: &Self) -> Vec<String>;
    fn bus_directory(&self) -> Option<&Path> {
        None
    }
    fn pid_file(&self) -> Option<&Path> {
        None
    }
    /// `debug N;` of the file.
    fn debug_level(&self) -> Option<u32> {
        None
    }
}

impl DaemonConfig for Config {
    fn source(&self) -> String {
        self.file.clone()
    }
    fn changes(&self, new: &Self) -> Vec<String> {
        Config::changes(self, new)
    }
    fn bus_directory(&self) -> Option<&Path> {
        self.global.settings.bus_directory.as_deref()
    }
    fn pid_file(&self) -> Option<&Path> {
        self.global.settings.pid_file.as_deref()
    }
    fn debug_level(&self) -> Option<u32> {
        self.global.settings.debug
    }
}

/// No configuration file (babymdd without one).
impl<T: DaemonConfig> DaemonConfig for Option<T> {
    fn source(&self) -> String {
        match self {
            Some(c) => c.source(),
            None => "(no configuration file)".to_string(),
        }
    }
    fn changes(&self, new: &Self) -> Vec<String> {
        match (self, new) {
            (Some(a), Some(b)) => a.changes(b),
            (None, None) => Vec::new(),
            (None, Some(b)) => vec![format!("+ configuration {}", b.source())],
            (Some(a), None) => vec![format!("- configuration {}", a.source())],
        }
    }
    fn bus_directory(&self) -> Option<&Path> {
        self.as_ref().and_then(T::bus_directory)
    }
    fn pid_file(&self) -> Option<&Path> {
        self.as_ref().and_then(T::pid_file)
    }
    fn debug_level(&self) -> Option<u32> {
        self.as_ref().and_then(T::debug_level)
    }
}

/// Changes of an auth database, naming home addresses and SPIs, never keys. Entries are
/// matched by SPI (a home address may have several during a key rotation).
pub fn auth_changes(old: Option<&AuthDatabase>, new: Option<&AuthDatabase>) -> Vec<String> {
    let empty = AuthDatabase::default();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut out = Vec::new();
    for e in &old.entries {
        match new.by_spi(e.spi) {
            Some(n) if n.home_address == e.home_address && n.key == e.key => {}
            Some(n) if n.home_address == e.home_address => out.push(format!(
                "~ auth {} spi {} (key changed)",
                e.home_address, e.spi
            )),
            _ => out.push(format!("- auth {} spi {}", e.home_address, e.spi)),
        }
    }
    for e in &new.entries {
        match old.by_spi(e.spi) {
            Some(o) if o.home_address == e.home_address => {}
            _ => out.push(format!("+ auth {} spi {}", e.home_address, e.spi)),
        }
    }
    out
}

/// Outcome of one reload.
#[derive(Debug)]
pub enum Reload {
    /// The new configuration is in force; these are the changes (possibly none).
    Applied(Vec<String>),
    /// The new file was refused; the old configuration stays.
    Refused(ConfigError),
}

/// Holds the configuration in force and the way to read it again.
pub struct Reloader<C> {
    current: C,
    load: Box<dyn Fn() -> Result<C, ConfigError> + Send>,
}

impl<C: DaemonConfig> Reloader<C> {
    pub fn new(current: C, load: Box<dyn Fn() -> Result<C, ConfigError> + Send>) -> Self {
        Reloader { current, load }
    }

    pub fn current(&self) -> &C {
        &self.current
    }

    /// Reads the configuration again, logs the outcome, and returns it.
    pub fn reload(&mut self) -> Reload {
        match (self.load)() {
            Ok(new) => {
                let changes = self.current.changes(&new);
                let source = new.source();
                if changes.is_empty() {
                    tracing::info!("reloaded {source}: no changes");
                } else {
                    tracing::info!("reloaded {source}: {} change(s)", changes.len());
                    for c in &changes {
                        tracing::info!("config change: {c}");
                    }
                }
                if new.bus_directory() != self.current.bus_directory()
                    || new.pid_file() != self.current.pid_file()
                {
                    tracing::warn!(
                        "bus-directory and pid-file changes take effect at the next start"
                    );
                }
                self.current = new;
                Reload::Applied(changes)
            }
            Err(e) => {
                tracing::warn!("reload refused, keeping the running configuration: {e}");
                Reload::Refused(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn refused_reload_keeps_the_old_config_and_good_one_replaces_it() {
        let text = Arc::new(Mutex::new("debug 1;".to_string()));
        let source = text.clone();
        let load = Box::new(move || {
            let t = source.lock().map(|t| t.clone()).unwrap_or_default();
            shisa_config::parse_str(&t, "r.conf")
        });
        let first = load().unwrap();
        let mut r = Reloader::new(first, load);
        *text.lock().unwrap() = "debug x;".into();
        match r.reload() {
            Reload::Refused(e) => assert_eq!(
                e.to_string(),
                "r.conf:1:7: debug expects a number, found 'x'"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.current().global.settings.debug, Some(1));
        *text.lock().unwrap() = "debug 3;".into();
        match r.reload() {
            Reload::Applied(c) => assert_eq!(c, vec!["- debug 1;", "+ debug 3;"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.current().global.settings.debug, Some(3));
    }

    #[test]
    fn auth_changes_never_show_keys() {
        let a = AuthDatabase::parse_str("2001:db8::1 300 aabb\n2001:db8::2 301 ccdd", "a").unwrap();
        let b = AuthDatabase::parse_str("2001:db8::1 300 aabc\n2001:db8::3 302 eeff", "b").unwrap();
        assert_eq!(
            auth_changes(Some(&a), Some(&b)),
            vec![
                "~ auth 2001:db8::1 spi 300 (key changed)",
                "- auth 2001:db8::2 spi 301",
                "+ auth 2001:db8::3 spi 302",
            ]
        );
        // A rotation: the new SPI added next to the old one, then the old one removed.
        let c = AuthDatabase::parse_str(
            "2001:db8::1 300 aabc
2001:db8::1 310 0011",
            "c",
        )
        .unwrap();
        assert_eq!(
            auth_changes(Some(&b), Some(&c)),
            vec!["- auth 2001:db8::3 spi 302", "+ auth 2001:db8::1 spi 310"]
        );
        let d = AuthDatabase::parse_str("2001:db8::1 310 0011", "d").unwrap();
        assert_eq!(
            auth_changes(Some(&c), Some(&d)),
            vec!["- auth 2001:db8::1 spi 300"]
        );
    }
}
