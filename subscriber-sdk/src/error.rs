//! The SDK's errors. Each says what went wrong and what the caller can do.
use coalition_core::DenyReason;

/// Errors from producing and subscribing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// Cannot reach or authenticate to NATS.
    #[error("cannot connect to NATS at {servers}: {detail}. Check the URLs and credentials, and that the servers run")]
    Connect {
        /// The URLs tried.
        servers: String,
        /// The client's error.
        detail: String,
    },
    /// The TLS files given to the client are unusable.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] coalition_tls::TlsError),
    /// The bridge has not created the streams this client needs.
    #[error("stream {stream} is not available: {detail}. Start the nation's bridge first; it creates the streams")]
    StreamUnavailable {
        /// The stream.
        stream: String,
        /// The server's answer.
        detail: String,
    },
    /// Publishing failed; the message may not be stored. Retry with the same
    /// sequence number (the SDK does, on the next publish).
    #[error("publish to {subject} failed: {detail}")]
    Publish {
        /// The subject.
        subject: String,
        /// The server's answer.
        detail: String,
    },
    /// Consuming failed.
    #[error("consuming {stream} failed: {detail}")]
    Consume {
        /// The stream.
        stream: String,
        /// The server's answer.
        detail: String,
    },
    /// A key, certificate or label given to the SDK is not usable.
    #[error("{0}")]
    Identity(String),
    /// A delivery did not verify; it is not handed to the application. The
    /// bridge should never let this happen: report it to the nation's ops.
    #[error("delivery on {subject} failed verification: {reason}")]
    Verification {
        /// The subject it arrived on.
        subject: String,
        /// Why.
        reason: DenyReason,
    },
    /// The nation's schema policy in force does not accept this version
    /// (not yet, or no longer): nothing was published. Publish in the
    /// version the policy accepts (docs/schemas.md).
    #[error("{message_type} schema version {version} is refused by your nation's schema policy in force ({reason}); nothing was published. Publish in a version the policy accepts (see docs/schemas.md)")]
    SchemaVersionRefused {
        /// `track` or `alert`.
        message_type: &'static str,
        /// The version refused.
        version: u32,
        /// `schema_version_retired`, `schema_version_not_yet_accepted` or
        /// `unknown_schema_version`.
        reason: DenyReason,
    },
    /// The payload did not decode as its schema.
    #[error("payload on {subject} does not decode as {schema}: {detail}")]
    Payload {
        /// The subject.
        subject: String,
        /// The schema.
        schema: String,
        /// The decoder's error.
        detail: String,
    },
}
