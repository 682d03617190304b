//! One `nats-server` process under the harness's control.
//!
//! [`ServerProcess`] starts `nats-server -c <config>` with stdout and stderr
//! appended to a log file, waits for it to become healthy, kills and
//! restarts it, and kills it on drop. It only ever signals the PID it
//! started itself; it never looks processes up by name.
//!
//! It uses `std::process` rather than `tokio::process` so that `Drop` can
//! kill and reap the child synchronously, even outside a runtime. It does
//! not write or validate configs, and it cannot clean up after a parent
//! that is itself killed with SIGKILL (the server is then orphaned).
//!
//! The server must log to stdout/stderr (no `log_file` or `syslog` in the
//! config): readiness and error reports are read from the log file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::monitor::{healthz_ok, POLL_INTERVAL};
use crate::{nats_server_path, HarnessError};

/// Lines of log quoted in errors.
const ERROR_TAIL_LINES: usize = 40;

/// At most this much of the current run's log is read back.
const MAX_LOG_READ: u64 = 1024 * 1024;

/// What nats-server logs when a listener cannot bind.
const ADDR_IN_USE: &str = "address already in use";

/// What nats-server logs once every listener is up.
const READY_LINE: &str = "Server is ready";

/// A running (or stopped) `nats-server` started by the harness.
#[derive(Debug)]
pub struct ServerProcess {
    /// Names the server in errors and log markers.
    name: String,
    /// Resolved once, so a restart runs the same binary.
    binary: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    /// Where `/healthz` is polled; must match the config's `http:` port.
    monitor_port: u16,
    /// The child this value started; `None` once the harness killed it.
    child: Option<Child>,
    /// Log length when the current child started: its output begins here,
    /// so errors never quote an earlier run.
    run_offset: u64,
}

impl ServerProcess {
    /// Starts `nats-server -c config_path` (binary from
    /// [`nats_server_path`]), appending its output to `log_path`.
    ///
    /// Returns as soon as the process is started; call
    /// [`wait_healthy`](Self::wait_healthy) before using it.
    pub fn spawn(
        name: &str,
        config_path: &Path,
        log_path: &Path,
        monitor_port: u16,
    ) -> Result<Self, HarnessError> {
        let binary = nats_server_path()?;
        Self::spawn_with_binary(&binary, name, config_path, log_path, monitor_port)
    }

    /// Like [`spawn`](Self::spawn) with an explicit binary.
    pub fn spawn_with_binary(
        binary: &Path,
        name: &str,
        config_path: &Path,
        log_path: &Path,
        monitor_port: u16,
    ) -> Result<Self, HarnessError> {
        let mut server = Self {
            name: name.to_string(),
            binary: binary.to_path_buf(),
            config_path: config_path.to_path_buf(),
            log_path: log_path.to_path_buf(),
            monitor_port,
            child: None,
            run_offset: 0,
        };
        server.start()?;
        Ok(server)
    }

    fn start(&mut self) -> Result<(), HarnessError> {
        let log_what = || format!("opening log file {}", self.log_path.display());
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| HarnessError::io(log_what(), e))?;
        let offset = log
            .metadata()
            .map_err(|e| HarnessError::io(log_what(), e))?
            .len();
        writeln!(
            log,
            "--- nats-harness: starting '{}': {} -c {} ---",
            self.name,
            self.binary.display(),
            self.config_path.display()
        )
        .map_err(|e| HarnessError::io(log_what(), e))?;
        let stderr_log = log
            .try_clone()
            .map_err(|e| HarnessError::io(log_what(), e))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config_path)
            // Beside the log: where `coalition tls revoke` finds the
            // process to reload.
            .arg("--pid")
            .arg(self.pid_file())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr_log))
            .spawn()
            .map_err(|e| {
                let what = format!(
                    "starting nats-server '{}' ({} -c {})",
                    self.name,
                    self.binary.display(),
                    self.config_path.display()
                );
                HarnessError::io(what, e)
            })?;
        tracing::debug!(name = %self.name, pid = child.id(), "started nats-server");
        self.child = Some(child);
        self.run_offset = offset;
        Ok(())
    }

    /// Waits until `/healthz` answers ok on the monitor port and this
    /// process has logged that it is ready, for at most `timeout`.
    ///
    /// Fails early with [`HarnessError::PortInUse`] or
    /// [`HarnessError::ServerExited`] if the process exits meanwhile, and
    /// with [`HarnessError::Timeout`] otherwise. Checking the log as well as
    /// `/healthz` means a different server that happens to hold the same
    /// monitor port is never mistaken for this one.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let poll = async {
            loop {
                self.check_alive()?;
                if healthz_ok(self.monitor_port).await && self.logged_ready() {
                    return self.check_alive();
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        };
        match tokio::time::timeout(timeout, poll).await {
            Ok(result) => result,
            Err(_) => {
                self.check_alive()?;
                Err(HarnessError::Timeout {
                    what: format!(
                        "nats-server '{}' to become healthy (GET http://127.0.0.1:{}/healthz ok \
                         and '{READY_LINE}' in {}); the config must set `http: 127.0.0.1:{}` \
                         and must not set `log_file`",
                        self.name,
                        self.monitor_port,
                        self.log_path.display(),
                        self.monitor_port
                    ),
                    waited: timeout,
                })
            }
        }
    }

    /// Ok while the child runs; the matching error once it has exited.
    fn check_alive(&mut self) -> Result<(), HarnessError> {
        let Some(child) = self.child.as_mut() else {
            return Err(HarnessError::ServerExited {
                name: self.name.clone(),
                status: "killed by the harness; call restart() to start it again".to_string(),
                log_tail: self.log_tail(ERROR_TAIL_LINES),
            });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exit_error(status)),
            Err(e) => Err(HarnessError::io(
                format!("checking whether nats-server '{}' is running", self.name),
                e,
            )),
        }
    }

    fn exit_error(&self, status: ExitStatus) -> HarnessError {
        let output = self.run_output();
        let log_tail = tail(&output, ERROR_TAIL_LINES);
        if output.contains(ADDR_IN_USE) {
            HarnessError::PortInUse {
                name: self.name.clone(),
                log_tail,
            }
        } else {
            HarnessError::ServerExited {
                name: self.name.clone(),
                status: status.to_string(),
                log_tail,
            }
        }
    }

    /// True once this PID has logged its ready line (log lines start with
    /// `[pid]`).
    fn logged_ready(&self) -> bool {
        let Some(pid) = self.pid() else {
            return false;
        };
        let prefix = format!("[{pid}]");
        self.run_output()
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains(READY_LINE))
    }

    /// Sends SIGKILL to the child and reaps it. Does nothing if the harness
    /// already killed it; safe to call any number of times.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill() {
                tracing::debug!(name = %self.name, error = %e, "kill: child already gone");
            }
            if let Err(e) = child.wait() {
                tracing::warn!(name = %self.name, error = %e, "could not reap nats-server");
            }
        }
    }

    /// Kills the server (if running) and starts it again with the same
    /// binary, config and log file. Call [`wait_healthy`](Self::wait_healthy)
    /// afterwards.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill();
        self.start()
    }

    /// Asks the running server to reload its config (SIGHUP), as
    /// `nats-server --signal reload` does. Returns the PID signalled.
    pub fn signal_reload(&self) -> Result<u32, HarnessError> {
        let pid = self.pid().ok_or_else(|| HarnessError::Config {
            what: format!("{} is not running: nothing to reload", self.name),
        })?;
        signal_reload(pid)?;
        Ok(pid)
    }

    /// The file nats-server writes its process id to: the log's path with
    /// `.pid` for `.log`.
    pub fn pid_file(&self) -> PathBuf {
        self.log_path.with_extension("pid")
    }

    /// The PID of the child started last, unless the harness killed it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the child started last has neither exited nor been killed.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The last `lines` lines the current run wrote to the log (since the
    /// last spawn or restart).
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.run_output(), lines)
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The monitoring port polled for health.
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// The config file the server runs with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The log file the server's output is appended to.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The current run's part of the log (at most its last [`MAX_LOG_READ`]
    /// bytes), or a note saying why it could not be read.
    fn run_output(&self) -> String {
        read_from(&self.log_path, self.run_offset)
            .unwrap_or_else(|e| format!("(could not read {}: {e})", self.log_path.display()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_from(path: &Path, offset: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = offset.max(len.saturating_sub(MAX_LOG_READ));
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(MAX_LOG_READ).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends SIGHUP (config reload) to the nats-server with `pid`.
pub fn signal_reload(pid: u32) -> Result<(), HarnessError> {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .map_err(|e| HarnessError::io(format!("kill -HUP {pid}"), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::Config {
            what: format!("kill -HUP {pid} failed ({status}): is that nats-server still running?"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a\nb", 5), "a\nb");
        assert_eq!(tail("", 3), "");
        assert_eq!(tail("a\nb", 0), "");
    }
}
