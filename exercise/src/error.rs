//! The exercise crate's one error type. Every variant says what was being
//! done and, where there is one, which file or command failed.

/// What went wrong in an exercise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExerciseError {
    /// A bad argument, scenario name or plan.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a file or folder failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A ledger line is not what an agent writes.
    #[error("{path}:{line}: {detail}")]
    Ledger {
        /// The ledger file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// Why it was refused.
        detail: String,
    },
    /// A `docker` or `docker-compose` command failed.
    #[error("`{command}` failed: {detail}")]
    Docker {
        /// The command line.
        command: String,
        /// Its exit status and the end of its output.
        detail: String,
    },
    /// Publishing, subscribing or a control command failed.
    #[error("{0}")]
    Runtime(String),
    /// The verifier found a broken invariant (the report says which).
    #[error("{0}")]
    CheckFailed(String),
}

impl ExerciseError {
    /// An [`ExerciseError::Io`] builder for `map_err`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExerciseError {
        let what = what.into();
        move |source| ExerciseError::Io { what, source }
    }
}

impl From<coalition_topology::TopologyError> for ExerciseError {
    fn from(e: coalition_topology::TopologyError) -> Self {
        ExerciseError::Usage(e.to_string())
    }
}

impl From<crate::plan::PlanError> for ExerciseError {
    fn from(e: crate::plan::PlanError) -> Self {
        ExerciseError::Usage(e.0)
    }
}

impl From<nats_harness::HarnessError> for ExerciseError {
    fn from(e: nats_harness::HarnessError) -> Self {
        ExerciseError::Runtime(e.to_string())
    }
}

impl From<coalition_sdk::SdkError> for ExerciseError {
    fn from(e: coalition_sdk::SdkError) -> Self {
        ExerciseError::Runtime(e.to_string())
    }
}
