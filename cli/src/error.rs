//! The CLI's errors. Each is printed as `coalition: <message>`; usage and
//! configuration errors exit with 2, failures at run time with 1.

/// What went wrong in a `coalition` command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments, or a bad topology, config or key file.
    #[error("{0}")]
    Usage(String),
    /// Something failed while running (the mesh, a bridge, a client).
    #[error("{0}")]
    Runtime(String),
    /// A bounded run finished but one of its checks failed.
    #[error("{0}")]
    CheckFailed(String),
    /// An alert the forwarder cannot put in the requested format (e.g. a
    /// CAP document without a status); the forwarder dead-letters it.
    #[error("cannot map the alert: {0}")]
    Unmappable(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Runtime(_) | CliError::CheckFailed(_) | CliError::Unmappable(_) => 1,
        }
    }
}

impl From<coalition_topology::TopologyError> for CliError {
    fn from(e: coalition_topology::TopologyError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<nats_harness::HarnessError> for CliError {
    fn from(e: nats_harness::HarnessError) -> Self {
        CliError::Runtime(e.to_string())
    }
}

impl From<coalition_bridge::BridgeError> for CliError {
    fn from(e: coalition_bridge::BridgeError) -> Self {
        match e {
            coalition_bridge::BridgeError::Config(m) => CliError::Usage(m),
            other => CliError::Runtime(other.to_string()),
        }
    }
}

impl From<coalition_sdk::SdkError> for CliError {
    /// A key, certificate or label file that is not usable is the caller's
    /// to fix (exit 2, like every other bad file); the rest happened while
    /// running.
    fn from(e: coalition_sdk::SdkError) -> Self {
        match e {
            coalition_sdk::SdkError::Identity(m) => CliError::Usage(m),
            other => CliError::Runtime(other.to_string()),
        }
    }
}
