//! Errors for topology and bridge-config files: each says which file, which
//! line and what to change.
use std::path::PathBuf;

/// A topology or generated-config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the expected shape.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file (or `<input>` for text given directly).
        path: PathBuf,
        /// 1-based line of the offending item.
        line: usize,
        /// What is wrong, from the TOML parser.
        message: String,
    },
    /// The file parses, but says something inconsistent.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending item (0 when not tied to one).
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A TLS file of a generated mesh is missing or unusable.
    #[error("{path}: {message}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// An [`crate::Addressing`] does not cover every server or link endpoint.
    #[error("addressing is incomplete: {0}")]
    Addressing(String),
}
