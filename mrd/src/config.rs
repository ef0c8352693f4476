//! mrd's configuration: the file plus the key it signs with.

use std::path::{Path, PathBuf};

use shisa_config::{AuthDatabase, AuthSetup, Config, ConfigError, KEYGEN_HINT};
use shisa_daemon::DaemonConfig;

pub struct MrdConfig {
    pub config: Config,
    /// `None` only with the file's explicit `authentication none;` (for a home agent that
    /// does not support RFC 4285, e.g. UMIP): Binding Updates go unsigned.
    pub auth: Option<AuthDatabase>,
    pub auth_path: Option<PathBuf>,
}

/// Loads `path` and the auth database named for `mipif`. Refuses a file that configures no
/// authentication for `mipif` (neither an auth-database nor `authentication none;`), and an
/// auth database without a key for the home address of the prefixtable.
pub fn load(path: &Path, mipif: &str) -> Result<MrdConfig, ConfigError> {
    let config = shisa_config::load(path)?;
    let auth_path = match config.auth_setup(mipif, path)? {
        AuthSetup::Database(p) => Some(p),
        AuthSetup::None => None,
    };
    let auth = auth_path.as_deref().map(AuthDatabase::load).transpose()?;
    if let (Some(db), Some(p)) = (&auth, &auth_path) {
        for hoa in config.home_addresses() {
            if db.by_home_address(hoa).is_none() {
                return Err(ConfigError::File {
                    file: p.display().to_string(),
                    message: format!("no key for home address {hoa}; {KEYGEN_HINT}"),
                });
            }
        }
    }
    Ok(MrdConfig {
        config,
        auth,
        auth_path,
    })
}

impl DaemonConfig for MrdConfig {
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
