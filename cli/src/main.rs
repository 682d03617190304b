//! `coalition`: keys and certificates, topology generation, and the local
//! multi-nation mesh. `main` only parses arguments and dispatches.
#![forbid(unsafe_code)]

/// mimalloc rather than glibc malloc: the mesh path allocates and frees
/// many small buffers per record on several threads (docs/architecture.md,
/// "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod attach;
mod audit_cmd;
mod cap;
mod client_cmd;
mod error;
mod exercise_cmd;
mod forward_cmd;
mod keys;
mod paths;
mod policy_cmd;
mod record_json;
mod retry;
mod runner;
mod schema_cmd;
mod tls_cmd;
mod topic_args;
mod topology_cmd;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use error::CliError;

/// Coalition Mesh: sovereign, policy-enforced sharing of tracks and alerts
/// between allied nations' NATS clusters.
#[derive(Parser)]
#[command(name = "coalition", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local multi-nation mesh with producers and subscribers, printing
    /// deliveries and denials live. Ctrl-C stops it.
    Run {
        /// The topology file [default: the repository's
        /// topologies/coalition-3.toml, found from the executable's folder,
        /// whatever the working directory].
        #[arg(long)]
        topology: Option<PathBuf>,
        /// Where to put configs, keys, JetStream data and logs (wiped first).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Publish for this many seconds, wait for the backlog, check
        /// everything and exit non-zero if any check fails.
        #[arg(long)]
        duration: Option<u64>,
        /// Milliseconds between a producer's messages.
        #[arg(long, default_value_t = 250)]
        interval_ms: u64,
        /// Start the mesh and its subscribers but publish nothing, so every
        /// feed is free for `coalition publish` by hand (a feed has one
        /// writer at a time).
        #[arg(long)]
        no_publish: bool,
    },
    /// Publish one signed track (a mesh folder's nation, or a deployed one
    /// with --clients).
    Publish(client_cmd::PublishArgs),
    /// Print verified deliveries, as text or JSON lines (--json).
    Subscribe(client_cmd::SubscribeArgs),
    /// Post each verified alert to a webhook, as JSON or CAP 1.2 XML, at
    /// least once, with retries and a dead-letter file.
    Forward(forward_cmd::ForwardArgs),
    /// Topology files: check, generate configs.
    #[command(subcommand)]
    Topology(topology_cmd::TopologyCommand),
    /// National root keys, the revocation authority (key ceremony) and
    /// producer certificates.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Revoke a translator, a producer key or a product, or suspend or
    /// reinstate a partner: signed with the nation's revocation authority,
    /// on the mesh at once (a mesh folder's nation, or a deployed one with
    /// --clients).
    Revoke(policy_cmd::RevokeArgs),
    /// Sign translators (each of the two nations signs).
    #[command(subcommand)]
    Translator(policy_cmd::TranslatorCommand),
    /// Sign nation policy documents.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Sign schema policies: accepted versions and dual-run windows.
    #[command(subcommand, name = "schema-policy")]
    SchemaPolicy(schema_cmd::SchemaPolicyCommand),
    /// Put a signed policy document, schema policy or translator on the mesh
    /// (a mesh folder's nation, or a deployed one with --clients).
    #[command(subcommand)]
    Control(ControlCommand),
    /// A nation's audit log: verify the chain, show a message's records,
    /// tail the latest (a mesh folder's nation, or a deployed one with
    /// --clients).
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// docker-compose exercises: prepare, run a scenario, cut and degrade
    /// links, verify (docs/exercises.md).
    #[command(subcommand)]
    Exercise(exercise_cmd::ExerciseCommand),
    /// TLS certificates: revoke a client's (CRL), enforced by a reload (a
    /// mesh folder only: it edits the servers' files).
    #[command(subcommand)]
    Tls(tls_cmd::TlsCommand),
}

/// Signed control objects.
#[derive(Subcommand)]
enum ControlCommand {
    /// Publish a signed policy document or translator into a nation's
    /// CONTROL stream; its bridge verifies, applies and forwards it.
    Publish(policy_cmd::PublishControlArgs),
}

/// Unix ms now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    use std::io::IsTerminal as _;
    let rust_log = std::env::var("RUST_LOG").ok();
    let no_colour = std::env::var("NO_COLOR").ok();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(paths::log_filter(rust_log.as_deref()))
                .unwrap_or_else(|_| "error".into()),
        )
        .with_ansi(paths::use_colour(
            std::io::stderr().is_terminal(),
            no_colour.as_deref(),
        ))
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coalition: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn block_on(f: impl std::future::Future<Output = Result<(), CliError>>) -> Result<(), CliError> {
    tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Runtime(format!("cannot start the runtime: {e}")))?
        .block_on(f)
}

fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Run {
            topology,
            dir,
            duration,
            interval_ms,
            no_publish,
        } => {
            if interval_ms == 0 {
                return Err(CliError::Usage("--interval-ms must be at least 1".into()));
            }
            if duration == Some(0) {
                return Err(CliError::Usage(
                    "--duration must be at least 1 second".into(),
                ));
            }
            let topology = paths::topology_here(topology);
            let name = topology
                .file_stem()
                .map_or("mesh".into(), |s| s.to_string_lossy().to_string());
            let dir = dir.unwrap_or_else(|| PathBuf::from("run").join(name));
            block_on(runner::run(runner::RunOptions {
                topology,
                dir,
                duration: duration.map(Duration::from_secs),
                interval: Duration::from_millis(interval_ms),
                publish: !no_publish,
            }))
        }
        Command::Publish(args) => block_on(client_cmd::publish(args)),
        Command::Subscribe(args) => block_on(client_cmd::subscribe(args)),
        Command::Forward(args) => block_on(forward_cmd::forward(args)),
        Command::Topology(cmd) => topology_cmd::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Audit(cmd) => block_on(audit_cmd::run(cmd)),
        Command::Exercise(cmd) => block_on(exercise_cmd::run(cmd)),
        Command::Tls(cmd) => tls_cmd::run(cmd),
        Command::Revoke(args) => block_on(policy_cmd::revoke(args)),
        Command::Translator(cmd) => policy_cmd::translator(cmd),
        Command::Policy(cmd) => policy_cmd::policy(cmd),
        Command::SchemaPolicy(cmd) => schema_cmd::schema_policy(cmd),
        Command::Control(ControlCommand::Publish(args)) => block_on(policy_cmd::publish(args)),
    }
}
