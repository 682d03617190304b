//! The real `coalition forward` (cli/src/forward_cmd.rs), run as a
//! subprocess against the benchmark's mesh, as an operator runs it: the
//! mesh folder's GBR clients file and trust anchors (`--dir --nation
//! GBR`), one webhook, one format, a durable subscription name.
//!
//! **Which binary.** `--coalition PATH` if given. Otherwise the
//! `coalition` next to this executable (`target/<profile>/`), and when the
//! benchmark runs under `cargo run` (cargo sets `CARGO`) it is built there
//! first with the same profile, so it is never older than the source. A
//! missing binary stops the run before the mesh starts, naming the build
//! command.
//!
//! The process is killed by its PID when it is stopped or dropped (an
//! error path included). Its output goes to `<out>/forward-<name>.log`.
//! It measures nothing itself.
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::Failure;

/// The CLI's executable name.
const BINARY: &str = "coalition";

/// Finds (and under cargo, builds) the `coalition` binary; see the module
/// doc.
pub fn locate(given: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!("--coalition {}: no such file", path.display()).into())
        };
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or("this executable has no folder")?
        .to_path_buf();
    let path = dir.join(BINARY);
    let release = !cfg!(debug_assertions);
    if let Some(cargo) = std::env::var_os("CARGO") {
        build(&cargo, &dir, release)?;
    }
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build{} -p coalition-cli`, or give --coalition PATH",
            path.display(),
            if release { " --release" } else { "" }
        )
        .into())
    }
}

/// `cargo build -p coalition-cli --bin coalition` into the target folder
/// holding `profile_dir`, in the profile this benchmark was built in.
fn build(cargo: &std::ffi::OsStr, profile_dir: &Path, release: bool) -> Result<(), Failure> {
    let target_dir = profile_dir
        .parent()
        .ok_or("this executable's folder has no parent")?;
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(nats_harness::workspace_root())
        .args(["build", "--quiet", "-p", "coalition-cli", "--bin", BINARY])
        .arg("--target-dir")
        .arg(target_dir);
    if release {
        cmd.arg("--release");
    }
    eprintln!(
        "building the coalition CLI for the forwarder runs (cargo build -p coalition-cli) ..."
    );
    let status = cmd.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build -p coalition-cli failed ({status})").into())
    }
}

/// What one forwarder is told.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    pub binary: &'a Path,
    /// The mesh folder (`--dir`).
    pub mesh_dir: &'a Path,
    pub webhook: String,
    /// `json` or `cap`.
    pub format: &'a str,
    /// The durable subscription's name.
    pub durable: &'a str,
    pub dead_letter: PathBuf,
    pub log: PathBuf,
}

/// A running `coalition forward`.
pub struct Forwarder {
    child: Child,
    pid: Option<u32>,
    pub log: PathBuf,
}

impl Forwarder {
    /// Starts it, subscribing as GBR's alerting system would.
    pub fn start(o: &Options<'_>) -> Result<Forwarder, Failure> {
        let log = std::fs::File::create(&o.log)?;
        let mut cmd = Command::new(o.binary);
        cmd.arg("forward")
            .arg("--dir")
            .arg(o.mesh_dir)
            .args(["--nation", "GBR", "--webhook", &o.webhook])
            .args(["--format", o.format, "--durable", o.durable])
            .arg("--dead-letter")
            .arg(&o.dead_letter)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        Ok(Forwarder {
            pid: child.id(),
            child,
            log: o.log.clone(),
        })
    }

    /// Its PID (None once it has been waited for).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Resolves if the process ends by itself: it should not.
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => format!("{status}"),
            Err(e) => format!("cannot wait for it: {e}"),
        }
    }

    /// Kills it (SIGKILL, by its PID) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
