//! had's configuration: the file plus the auth database it names.

use std::path::{Path, PathBuf};

use shisa_config::{AuthDatabase, AuthSetup, Config, ConfigError, KEYGEN_HINT};
use shisa_daemon::DaemonConfig;

pub struct HadConfig {
    pub config: Config,
    /// `None` only with the file's explicit `authentication none;`: registrations are
    /// unauthenticated (and each is logged as such).
    pub auth: Option<AuthDatabase>,
    pub auth_path: Option<PathBuf>,
}

/// Loads `path` and the auth database named for `homeif` (relative to the file's directory).
/// Refuses a file that configures no authentication for `homeif` (neither an auth-database
/// nor `authentication none;`), and an auth database without a key for a mobile router of
/// the prefixtable.
pub fn load(path: &Path, homeif: &str) -> Result<HadConfig, ConfigError> {
    let config = shisa_config::load(path)?;
    let auth_path = match config.auth_setup(homeif, path)? {
        AuthSetup::Database(p) => Some(p),
        AuthSetup::None => None,
    };
    let auth = auth_path.as_deref().map(AuthDatabase::load).transpose()?;
    if let (Some(db), Some(p)) = (&auth, &auth_path) {
        for hoa in config.home_addresses() {
            if db.all_for(hoa).next().is_none() {
                return Err(ConfigError::File {
                    file: p.display().to_string(),
                    message: format!(
                        "no key for home address {hoa} (a mobile router of the prefixtable of \
                         {}, interface {homeif}); {KEYGEN_HINT}",
                        config.file
                    ),
                });
            }
        }
    }
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
