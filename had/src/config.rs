//! had's configuration: the file plus the auth database it names.

use std::path::{Path, PathBuf};

use shisa_config::{AuthDatabase, Config, ConfigError};
use shisa_daemon::DaemonConfig;

pub struct HadConfig {
    pub config: Config,
    /// `None` when the file names no auth-database: registrations are unauthenticated.
    pub auth: Option<AuthDatabase>,
    pub auth_path: Option<PathBuf>,
}

/// Loads `path` and the auth database named for `homeif` (relative to the file's directory).
pub fn load(path: &Path, homeif: &str) -> Result<HadConfig, ConfigError> {
    let config = shisa_config::load(path)?;
    let auth_path = config.settings_for(homeif).auth_database.map(|p| {
        if p.is_relative() {
            path.parent().unwrap_or(Path::new(".")).join(p)
        } else {
            p
        }
    });
    let auth = auth_path.as_deref().map(AuthDatabase::load).transpose()?;
    Ok(HadConfig {
        config,
        auth,
        auth_path,
    })
}

impl DaemonConfig for HadConfig {
    fn source(&self) -> String {
        self.config.file.clone()
    }
    fn changes(&self, new: &Self) -> Vec<String> {
        let mut out = self.config.changes(&new.config);
        out.extend(shisa_daemon::auth_changes(
            self.auth.as_ref(),
            new.auth.as_ref(),
        ));
        out
    }
    fn bus_directory(&self) -> Option<&Path> {
        self.config.bus_directory()
    }
    fn pid_file(&self) -> Option<&Path> {
        self.config.pid_file()
    }
    fn debug_level(&self) -> Option<u32> {
        self.config.debug_level()
    }
}
