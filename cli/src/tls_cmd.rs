//! `coalition tls`: revoking a client's TLS certificate in a mesh folder.
//!
//! The nation's CRL gains the certificate and the allow list of client keys
//! its servers include is compiled again; then each of the nation's running
//! servers found by its pid file (`logs/<server>.pid`, as `coalition run`
//! lays a mesh out) is asked to reload (SIGHUP). Nothing is
//! restarted: the revoked client is disconnected and refused, every other
//! connection stays up. Servers elsewhere (containers) are named with the
//! command that reloads them.
//!
//! This is the one command that connects to nothing and so has no
//! `--clients` form: it edits files of the mesh folder that the servers
//! read, and signals the server processes found there.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::error::CliError;

/// A mesh folder and one of its nations.
#[derive(Debug, Args)]
pub struct MeshDir {
    /// The mesh folder (e.g. run/coalition-3) whose tls/<NATION>/ files the
    /// nation's servers read.
    #[arg(long)]
    pub dir: PathBuf,
    /// The nation whose CRL to extend.
    #[arg(long)]
    pub nation: String,
}

/// TLS commands.
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Revoke a client's TLS certificate (e.g. a stolen producer's): add it
    /// to the nation's CRL, rewrite the servers' allow list, reload them.
    ///
    /// Takes a mesh folder (--dir/--nation) only, never --clients: it
    /// rewrites the CRL and allow-list files in the folder the nation's
    /// servers read, and signals those servers by their pid files there,
    /// so it runs where the servers' files are. A clients file names
    /// neither.
    Revoke {
        #[command(flatten)]
        mesh: MeshDir,
        /// The NATS user whose certificate to revoke, e.g. USA-producer-radar-1
        /// (the file name under tls/<NATION>/clients/, without .pem).
        #[arg(long)]
        user: String,
        /// Write the files but reload no server.
        #[arg(long)]
        no_reload: bool,
    },
}

/// Runs a `coalition tls` command.
pub fn run(command: TlsCommand) -> Result<(), CliError> {
    match command {
        TlsCommand::Revoke {
            mesh,
            user,
            no_reload,
        } => revoke(&mesh, &user, no_reload),
    }
}

fn revoke(mesh: &MeshDir, user: &str, no_reload: bool) -> Result<(), CliError> {
    let done = coalition_topology::revoke_client_certificate(&mesh.dir, &mesh.nation, user)?;
    if done.already_revoked {
        println!(
            "{user}: already on {}'s CRL (number {})",
            mesh.nation, done.crl_number
        );
    } else {
        println!(
            "{user}: revoked; {}'s CRL is now number {}",
            mesh.nation, done.crl_number
        );
    }
    for path in &done.written {
        println!("  wrote {}", path.display());
    }
    println!(
        "  {} client certificate(s) of {} still accepted",
        done.still_accepted, mesh.nation
    );
    if no_reload {
        println!(
            "not reloaded (--no-reload): reload each of {}'s servers to enforce it",
            mesh.nation
        );
        return Ok(());
    }
    let pid_files = pid_files(&mesh.dir, &mesh.nation);
    if pid_files.is_empty() {
        println!(
            "no running server of {} found under {}/logs/: reload each one to enforce it \
             (nats-server --signal reload=<pid>, or docker kill -s HUP <container>)",
            mesh.nation,
            mesh.dir.display()
        );
        return Ok(());
    }
    for path in pid_files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        let pid: u32 = text.trim().parse().map_err(|_| {
            CliError::Usage(format!(
                "{}: not a process id: {:?}",
                path.display(),
                text.trim()
            ))
        })?;
        // A pid file outlives a killed server: signal only a nats-server
        // running this mesh's config.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !(cmdline.contains("nats-server") && cmdline.contains(&*mesh.dir.to_string_lossy())) {
            println!(
                "  skipped {}: process {pid} is not this mesh's nats-server (stale pid file)",
                path.display()
            );
            continue;
        }
        nats_harness::signal_reload(pid).map_err(|e| {
            CliError::Runtime(format!(
                "{e} (pid from {}); reload it by hand",
                path.display()
            ))
        })?;
        println!("  reloaded nats-server {pid} ({})", path.display());
    }
    Ok(())
}

/// The pid files of `nation`'s servers in a mesh folder laid out by
/// `coalition run` (`logs/<NATION>-<index>.pid`).
fn pid_files(dir: &Path, nation: &str) -> Vec<PathBuf> {
    let prefix = format!("{nation}-");
    let Ok(entries) = std::fs::read_dir(dir.join("logs")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "pid")
                && p.file_stem()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix(&prefix))
                    .is_some_and(|i| i.parse::<usize>().is_ok())
        })
        .collect();
    out.sort();
    out
}
