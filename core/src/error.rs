//! Errors for building and loading keys, certificates and envelopes.
//! Verification failures of received data are [`crate::DenyReason`]s instead.

/// Something local went wrong: a key file, a certificate being issued, an
/// envelope being sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A key file does not hold a key of the expected shape.
    #[error("invalid key file: {0}")]
    InvalidKey(String),
    /// A certificate cannot be issued as asked.
    #[error("cannot issue certificate: {0}")]
    InvalidCertificate(String),
    /// An envelope cannot be sealed as asked.
    #[error("cannot seal envelope: {0}")]
    Seal(String),
    /// A signed control-plane object is malformed, badly signed or not
    /// allowed (see [`crate::signed`]).
    #[error("invalid {kind}: {detail}")]
    InvalidObject {
        /// What kind of object.
        kind: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// ML-DSA signing failed (context too long, or no randomness).
    #[error("ML-DSA signing failed")]
    Signing,
}
