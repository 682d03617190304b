//! The bridge's errors: configuration problems (exit with a usage code) and
//! runtime failures of the bus (logged, retried or fatal as documented).

/// Why the bridge could not start or keep running.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The configuration file or a file it names is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Cannot connect to a NATS account.
    #[error("cannot connect to {account} at {servers} as {user}: {detail}")]
    Connect {
        /// The account.
        account: String,
        /// The URLs.
        servers: String,
        /// The user.
        user: String,
        /// The client's error.
        detail: String,
    },
    /// A JetStream operation failed.
    #[error("JetStream {what}: {detail}")]
    JetStream {
        /// What was being done.
        what: String,
        /// The server's answer.
        detail: String,
    },
    /// The metrics endpoint could not be started.
    #[error("metrics endpoint {addr}: {detail}")]
    Metrics {
        /// The address.
        addr: String,
        /// Why.
        detail: String,
    },
}

impl BridgeError {
    pub(crate) fn js(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        BridgeError::JetStream {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}
