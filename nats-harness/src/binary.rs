//! Finds the `nats-server` binary the harness runs.
//!
//! The lookup is a pure function of the `NATS_SERVER` value and the
//! workspace root ([`resolve_nats_server`]), so it can be tested without
//! touching the process environment. This module does not download or
//! install anything: `scripts/install-nats-server.sh` does that.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::HarnessError;

/// The environment variable that overrides the binary location.
pub const NATS_SERVER_ENV: &str = "NATS_SERVER";

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The `nats-server` binary to run: `$NATS_SERVER` if set, else
/// `<workspace root>/tools/bin/nats-server`.
pub fn nats_server_path() -> Result<PathBuf, HarnessError> {
    resolve_nats_server(std::env::var_os(NATS_SERVER_ENV), &workspace_root())
}

/// Pure lookup behind [`nats_server_path`].
///
/// A non-empty `env_value` is used as is and must name an existing file;
/// there is no fallback, so a wrong override is reported rather than
/// silently replaced. An unset or empty value means
/// `<root>/tools/bin/nats-server`.
pub fn resolve_nats_server(
    env_value: Option<OsString>,
    root: &Path,
) -> Result<PathBuf, HarnessError> {
    let candidate = match env_value.filter(|v| !v.is_empty()) {
        Some(value) => PathBuf::from(value),
        None => root.join("tools").join("bin").join("nats-server"),
    };
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(HarnessError::BinaryNotFound {
            tried: vec![candidate],
        })
    }
}
