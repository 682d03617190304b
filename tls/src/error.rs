//! The one error type of this crate.
use std::path::PathBuf;

/// What went wrong making or loading TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key could not be generated.
    #[error("cannot generate the TLS certificate for {what}: {detail}")]
    Generate {
        /// Whose certificate.
        what: String,
        /// rcgen's reason.
        detail: String,
    },
    /// A PEM file could not be read or holds nothing usable.
    #[error("{}: {detail}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it is unusable, and what to do.
        detail: String,
    },
    /// The files do not make a working client configuration.
    #[error("TLS client configuration ({}): {detail}", certificate.display())]
    Config {
        /// The client certificate named in the configuration.
        certificate: PathBuf,
        /// rustls's reason.
        detail: String,
    },
}
