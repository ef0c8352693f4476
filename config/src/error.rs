//! The one error type of this crate: every message names the file, line and column.

use std::fmt;
use std::path::PathBuf;

/// A position in a configuration file, 1-based like compilers print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Why a configuration (or auth database) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all; names the path.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A whole file refused (an insecure key file, a missing authentication choice): names
    /// the file.
    #[error("{file}: {message}")]
    File { file: String, message: String },
    /// A syntax or validation error at a position in the file.
    #[error("{file}:{pos}: {message}")]
    At {
        file: String,
        pos: Pos,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn at(file: &str, pos: Pos, message: impl Into<String>) -> Self {
        ConfigError::At {
            file: file.to_string(),
            pos,
            message: message.into(),
        }
    }

    pub(crate) fn file(file: impl std::fmt::Display, message: impl Into<String>) -> Self {
        ConfigError::File {
            file: file.to_string(),
            message: message.into(),
        }
    }

    /// The position of the error, if it has one.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            ConfigError::At { pos, .. } => Some(*pos),
            ConfigError::Io { .. } | ConfigError::File { .. } => None,
        }
    }
}
