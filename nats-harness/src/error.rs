//! The one error type of the harness.
//!
//! Every variant says what went wrong and what to do about it, because the
//! reader is usually a developer looking at a failed test. This module only
//! defines the type; it does not log or retry.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting, probing or linking servers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// No usable `nats-server` binary was found.
    #[error(
        "nats-server binary not found (tried: {}); run scripts/install-nats-server.sh \
         from the workspace root, or set NATS_SERVER to the path of a nats-server v2.15.1 binary",
        display_paths(.tried)
    )]
    BinaryNotFound {
        /// Every path that was checked, in the order checked.
        tried: Vec<PathBuf>,
    },

    /// An operating-system call failed.
    #[error("{what} failed: {source}")]
    Io {
        /// What the harness was doing, including the path or address.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A port the server (or a link proxy) needed was already taken.
    /// Callers may retry with fresh ports from `free_loopback_ports`.
    #[error(
        "'{name}' could not bind a port (address already in use); another process took it \
         between port selection and start: pick fresh ports with free_loopback_ports and \
         start again\n--- log tail ---\n{log_tail}"
    )]
    PortInUse {
        /// The server or proxy name.
        name: String,
        /// The end of the server's log for this run, or the bind error of a proxy.
        log_tail: String,
    },

    /// The server process exited before it became healthy.
    #[error(
        "nats-server '{name}' exited ({status}) before becoming healthy; the log tail below \
         says why (often a config error: fix the config and start again)\n--- log tail ---\n{log_tail}"
    )]
    ServerExited {
        /// The server name.
        name: String,
        /// The exit status as reported by the OS.
        status: String,
        /// The end of the server's log for this run.
        log_tail: String,
    },

    /// A bounded wait ran out.
    #[error(
        "timed out after {waited:?} waiting for {what}; check the server logs, or raise \
         the timeout if the machine is heavily loaded"
    )]
    Timeout {
        /// The condition that was awaited.
        what: String,
        /// How long the harness waited.
        waited: Duration,
    },

    /// The monitoring endpoint could not be reached or answered unexpectedly.
    #[error(
        "monitoring request http://127.0.0.1:{port}{path} failed: {detail}; check that the \
         server is running and that its `http:` option listens on 127.0.0.1:{port}"
    )]
    Monitor {
        /// The monitoring port.
        port: u16,
        /// The request path, such as `/varz`.
        path: String,
        /// What went wrong, including the response body when there was one.
        detail: String,
    },

    /// A harness configuration (topology, ports, paths) is unusable.
    #[error("invalid harness configuration: {what}; fix it and start again")]
    Config {
        /// What is wrong with the configuration.
        what: String,
    },
}

impl HarnessError {
    /// Builds an [`HarnessError::Io`] from a description and an I/O error.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}
