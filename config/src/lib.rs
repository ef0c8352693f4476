//! SHISA configuration files: the `cftoken.l`/`cfparse.y` grammar of KAME SHISA's daemons,
//! with the dual-stack prefixtable of the paper (IPv4 MNPs) and documented Linux extensions,
//! plus the authentication database. See `README.md` in this crate for the grammar.
//!
//! ```
//! let cfg = shisa_config::parse_str("debug 1;\ninterface mip0 { command-port 7778; };\n", "mrd.conf")?;
//! assert_eq!(cfg.settings_for("mip0").command_port, Some(7778));
//! let err = shisa_config::parse_str("debug x;", "mrd.conf").unwrap_err();
//! assert_eq!(err.to_string(), "mrd.conf:1:7: debug expects a number, found 'x'");
//! # Ok::<(), shisa_config::ConfigError>(())
//! ```

mod ast;
pub mod auth;
mod error;
mod lexer;
mod model;
mod parser;
pub use parser::check_ifname;
mod render;
mod validate;

use std::path::Path;

pub use auth::{check_key_file, AuthDatabase, AuthEntry, AuthSetup, KEYGEN_HINT};
pub use error::{ConfigError, Pos};
pub use model::{
    Authentication, Config, DataPlane, DummyTunnel, Interface, InterfaceRole, Ipv4MnpEncoding,
    PrefixEntry, PrefixMode, Scope, Settings, StaticTunnel, DEFAULT_HOME_REGISTRATION_LIFETIME,
    DEFAULT_TUNNEL_HOP_LIMIT, DEFAULT_TUNNEL_MTU, MAX_TUNNEL_MTU, MIN_TUNNEL_MTU,
};
pub use parser::{KEYWORDS, MAX_LIFETIME_SECS};

/// Default configuration directory, as on SHISA installations.
pub const DEFAULT_DIR: &str = "/etc/shisa";

/// Parses and validates configuration `text`; `file` names it in error messages.
pub fn parse_str(text: &str, file: &str) -> Result<Config, ConfigError> {
    let tokens = lexer::tokenize(text, file)?;
    let stmts = parser::Parser::new(file, tokens).parse_file()?;
    validate::validate(file, stmts)
}

/// Reads, parses and validates the file at `path`; messages name it as given.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read_text(path)?;
    parse_str(&text, &path.display().to_string())
}

pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}
