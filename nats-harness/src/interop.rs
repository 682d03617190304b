//! The pinned Python environment of the interop checks (`interop/python`):
//! tests run the project's independent verifiers (a batch verifier, the
//! OASIS CAP 1.2 schema) with it.
use std::path::PathBuf;
use std::process::Command;

use crate::workspace_root;

/// The interop venv's Python: `COALITION_INTEROP_PYTHON` if set, or the one
/// `scripts/interop-python.sh` makes (and prints last), installing the
/// pinned, hash-checked packages if needed.
pub fn interop_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("COALITION_INTEROP_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/interop-python.sh"))
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cannot run scripts/interop-python.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/interop-python.sh failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8(out.stdout).map_err(|e| format!("not UTF-8: {e}"))?;
    stdout
        .lines()
        .last()
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| "scripts/interop-python.sh printed no path".to_string())
}
