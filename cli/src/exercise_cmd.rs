//! `coalition exercise`: docker-compose exercises (docs/exercises.md).
//!
//! On the host: `prepare`, `up`, `down`, `run` (one scenario, end to end),
//! `verify` (again, from a folder's ledgers), and the ops actions `cut`,
//! `restore`, `degrade`, `clear`. Inside containers: `link` (the sidecar),
//! `link-ctl` (its control client), `produce` and `alerts` (the agents).
//! The work is in the `coalition-exercise` crate; this file parses
//! arguments and prints.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use coalition_exercise::agents::{self, AgentOptions};
use coalition_exercise::link::{self, LinkOptions};
use coalition_exercise::load::Load;
use coalition_exercise::scenario::{self, Action, Pair, Size};
use coalition_exercise::{docker, driver, plan, teardown, Exercise, ExerciseError};
use tokio::sync::watch;

use crate::error::CliError;

mod scenario_run;
use scenario_run::{run_scenario, verify_again};

/// The narrowest bandwidth `degrade --rate-kbit` takes: below it the
/// bearer is as good as cut.
const MIN_RATE_KBIT: u32 = 8;

/// Exercise commands.
#[derive(Debug, Subcommand)]
pub enum ExerciseCommand {
    /// Write an exercise folder: configs, keys and docker-compose.yml.
    Prepare(PrepareArgs),
    /// Run one scenario end to end: prepare, start the containers, carry
    /// the scenario out, verify, write report.md and timeline.svg, stop.
    /// Exits 1 if an invariant failed.
    Run {
        #[command(flatten)]
        prepare: PrepareArgs,
        /// The scenario: cut-30s, flapping, degraded, narrow-satcom,
        /// bridge-crash, revoke-during-cut, suspend-during-cut or
        /// partner-flood.
        #[arg(long)]
        scenario: String,
        /// `full` (as the runbooks say: 30 s cuts, 1,000 tracks/s per
        /// nation) or `reduced` (CI: 100 tracks/s).
        #[arg(long, default_value = "full")]
        size: String,
        /// Tracks per second per producer, replacing the size's load
        /// (partner-flood keeps its steady load inside the quota).
        #[arg(long)]
        rate: Option<u32>,
        /// Leave the containers running afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Start the containers of a prepared folder and, once the mesh is
    /// ready, the producers' traffic.
    Up {
        #[command(flatten)]
        dir: DirArg,
        /// How long producers publish, seconds.
        #[arg(long, default_value_t = 300)]
        publish_secs: u64,
        /// Tracks per second per producer.
        #[arg(long, default_value_t = scenario::FULL_RATE)]
        rate: u32,
    },
    /// Stop and remove them.
    Down(DirArg),
    /// Verify a run from its folder's ledgers: a finished `run`, or traffic
    /// started by `up` once its producers are done. Dumps the audit logs
    /// first if the containers still run.
    Verify {
        #[command(flatten)]
        dir: DirArg,
        /// The scenario it ran (names the report); by hand: `manual`.
        #[arg(long, default_value = "manual")]
        scenario: String,
        /// The size it ran at (`full` or `reduced`): the report states its
        /// figures.
        #[arg(long, default_value = "full")]
        size: String,
    },
    /// Cut the bearer between two nations (e.g. USA-GBR): both directions.
    Cut(PairArgs),
    /// Restore it.
    Restore(PairArgs),
    /// Degrade it: delay ± jitter each way and packet loss.
    Degrade {
        #[command(flatten)]
        pair: PairArgs,
        /// One-way delay, ms.
        #[arg(long, default_value_t = 200)]
        delay_ms: u64,
        /// Jitter, ± ms.
        #[arg(long, default_value_t = 50)]
        jitter_ms: u64,
        /// Packet loss, percent (0-50).
        #[arg(long, default_value_t = 5)]
        loss_percent: u32,
        /// Bandwidth of each leaf connection, each way, kbit/s (at least
        /// 8); not limited if absent.
        #[arg(long)]
        rate_kbit: Option<u32>,
    },
    /// Remove a degradation.
    Clear(PairArgs),
    /// (In a container) the link sidecar.
    Link {
        /// `<FROM>-<TO>-<i>`.
        #[arg(long)]
        name: String,
        /// Where the receiving nation dials.
        #[arg(long)]
        listen: SocketAddr,
        /// The sending server's leaf port, host:port.
        #[arg(long)]
        upstream: String,
        /// The control port.
        #[arg(long)]
        control: SocketAddr,
        /// The ledger folder.
        #[arg(long)]
        ledger: PathBuf,
    },
    /// (In a container) send one command to a sidecar.
    LinkCtl {
        /// The sidecar's control port.
        #[arg(long)]
        control: SocketAddr,
        /// cut | restore | degrade <delay_ms> <jitter_ms> | clear | status
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// (In a container) the producer agent.
    Produce {
        #[command(flatten)]
        agent: AgentArgs,
        /// Producer id.
        #[arg(long)]
        producer: String,
        /// Feed.
        #[arg(long, default_value = "tracks")]
        feed: String,
    },
    /// (In a container) the alerting subscriber agent.
    Alerts(AgentArgs),
}

/// Where and how to prepare an exercise.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// The exercise folder (replaced if it holds an earlier exercise).
    #[arg(long)]
    pub dir: PathBuf,
    /// The topology file [default: the repository's
    /// topologies/coalition-3.toml, found from the executable's folder,
    /// whatever the working directory].
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Prefix of container and network names.
    #[arg(long, default_value = "cm")]
    pub project: String,
    /// Servers per nation (1 or 3); default: as the topology says.
    #[arg(long)]
    pub servers: Option<usize>,
}

/// An exercise folder.
#[derive(Debug, Args)]
pub struct DirArg {
    /// The exercise folder.
    #[arg(long)]
    pub dir: PathBuf,
}

/// A bearer in an exercise folder.
#[derive(Debug, Args)]
pub struct PairArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Two nations, e.g. USA-GBR.
    pub pair: String,
}

/// An agent's mesh folder, nation and ledger.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The mesh folder.
    #[arg(long)]
    pub dir: PathBuf,
    /// The nation.
    #[arg(long)]
    pub nation: String,
    /// The ledger folder.
    #[arg(long)]
    pub ledger: PathBuf,
}

impl From<ExerciseError> for CliError {
    fn from(e: ExerciseError) -> Self {
        match e {
            ExerciseError::Usage(m) => CliError::Usage(m),
            ExerciseError::CheckFailed(m) => CliError::CheckFailed(m),
            other => CliError::Runtime(other.to_string()),
        }
    }
}

/// Runs an exercise command.
pub async fn run(command: ExerciseCommand) -> Result<(), CliError> {
    match command {
        ExerciseCommand::Prepare(args) => {
            let ex = prepare(&args)?;
            println!(
                "prepared exercise {:?} in {}: {} containers; start it with `coalition exercise up --dir {}`",
                ex.plan.project,
                ex.dir.display(),
                ex.plan.services.len(),
                args.dir.display()
            );
            Ok(())
        }
        ExerciseCommand::Run {
            prepare: args,
            scenario,
            size,
            rate,
            keep,
        } => run_scenario(&args, &scenario, &size, rate, keep).await,
        ExerciseCommand::Up {
            dir,
            publish_secs,
            rate,
        } => {
            if publish_secs == 0 {
                return Err(CliError::Usage("--publish-secs must be at least 1".into()));
            }
            let load = Load::steady(rate);
            load.check()
                .map_err(|e| CliError::Usage(format!("--rate {rate}: {e}")))?;
            let ex = Exercise::open(&dir.dir)?;
            require_image().await?;
            // Its own containers only, by label: an unrelated container
            // whose name starts with the project's prefix is not its own.
            let filter = teardown::own_filter(&ex.plan.project);
            let running = docker::docker(&["ps", "-q", "--filter", &filter]).await?;
            if !running.trim().is_empty() {
                return Err(CliError::Usage(format!(
                    "exercise {:?} is already up; stop it first with `coalition exercise down --dir {}`",
                    ex.plan.project,
                    dir.dir.display()
                )));
            }
            ex.reset_run_state()?;
            driver::compose_up(&ex).await?;
            driver::wait_ready(&ex).await?;
            driver::start_traffic(&ex, &load, publish_secs * 1_000)?;
            println!(
                "exercise {:?} is up; producers publish {rate} tracks/s each for {publish_secs} s. Act with `coalition exercise cut|restore|degrade|clear --dir {} A-B`, then `coalition exercise verify --dir {}`",
                ex.plan.project,
                dir.dir.display(),
                dir.dir.display()
            );
            Ok(())
        }
        ExerciseCommand::Down(d) => {
            let ex = Exercise::open(&d.dir)?;
            // Manual mode has no run to save them: keep the containers'
            // logs before they go.
            let saved = driver::save_logs(&ex).await;
            if saved > 0 {
                println!(
                    "saved {saved} container log(s) in {}",
                    ex.dir.join("logs").display()
                );
            }
            let t = driver::compose_down(&ex).await?;
            for note in &t.notes {
                println!("{note}");
            }
            println!(
                "exercise {:?} is down: removed {} container(s), network(s) and volume(s); nothing of it is left",
                ex.plan.project,
                t.removed.len()
            );
            Ok(())
        }
        ExerciseCommand::Verify {
            dir,
            scenario,
            size,
        } => verify_again(&dir, &scenario, &size).await,
        ExerciseCommand::Cut(p) => pair_action(&p, |a, b| Action::Cut { a, b }).await,
        ExerciseCommand::Restore(p) => pair_action(&p, |a, b| Action::Restore { a, b }).await,
        ExerciseCommand::Clear(p) => pair_action(&p, |a, b| Action::Clear { a, b }).await,
        ExerciseCommand::Degrade {
            pair,
            delay_ms,
            jitter_ms,
            loss_percent,
            rate_kbit,
        } => {
            if loss_percent > 50 {
                return Err(CliError::Usage(format!(
                    "--loss-percent {loss_percent}: at most 50; cut the link instead"
                )));
            }
            if rate_kbit.is_some_and(|r| r < MIN_RATE_KBIT) {
                return Err(CliError::Usage(format!(
                    "--rate-kbit {}: at least {MIN_RATE_KBIT}; cut the link instead",
                    rate_kbit.unwrap_or(0)
                )));
            }
            pair_action(&pair, |a, b| Action::Degrade {
                a,
                b,
                delay_ms,
                jitter_ms,
                loss_percent,
                rate_kbit: rate_kbit.unwrap_or(0),
            })
            .await
        }
        ExerciseCommand::Link {
            name,
            listen,
            upstream,
            control,
            ledger,
        } => {
            let opts = LinkOptions {
                name,
                listen,
                upstream,
                control,
                ledger,
            };
            with_shutdown(|s| link::run_link(opts, s)).await
        }
        ExerciseCommand::LinkCtl { control, command } => {
            println!("{}", link::control(control, &command.join(" ")).await?);
            Ok(())
        }
        ExerciseCommand::Produce {
            agent,
            producer,
            feed,
        } => {
            let opts = agent_options(agent);
            with_shutdown(|s| async move { agents::produce(&opts, &producer, &feed, s).await })
                .await
        }
        ExerciseCommand::Alerts(agent) => {
            let opts = agent_options(agent);
            with_shutdown(|s| async move { agents::alerts(&opts, s).await }).await
        }
    }
}

fn prepare(args: &PrepareArgs) -> Result<Exercise, CliError> {
    prepare_with_quota(args, None)
}

fn prepare_with_quota(
    args: &PrepareArgs,
    quota: Option<&scenario::PartnerQuota>,
) -> Result<Exercise, CliError> {
    Ok(Exercise::prepare_with_quota(
        &args.dir,
        &crate::paths::topology_here(args.topology.clone()),
        &args.project,
        args.servers,
        quota,
    )?)
}

fn pair_of(ex: &Exercise) -> Result<Pair, CliError> {
    pair_in(&ex.plan.topology)
}

/// The bearer every scenario acts on: the topology's first link.
fn pair_in(topology: &coalition_topology::Topology) -> Result<Pair, CliError> {
    let link = topology
        .links
        .first()
        .ok_or_else(|| CliError::Usage("the topology has no link to exercise".into()))?;
    Ok(Pair {
        a: link.from.clone(),
        b: link.to.clone(),
    })
}

fn size(name: &str) -> Result<Size, CliError> {
    match name {
        "full" => Ok(Size::Full),
        "reduced" => Ok(Size::Reduced),
        other => Err(CliError::Usage(format!(
            "--size {other:?}: use full or reduced"
        ))),
    }
}

async fn require_image() -> Result<(), CliError> {
    if docker::image_exists(plan::IMAGE).await {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "no image {}: build it with `bash compose/build-image.sh` (no registry needed)",
        plan::IMAGE
    )))
}

async fn pair_action(
    p: &PairArgs,
    make: impl FnOnce(String, String) -> Action,
) -> Result<(), CliError> {
    let ex = Exercise::open(&p.dir.dir)?;
    let (a, b) = p.pair.split_once('-').ok_or_else(|| {
        CliError::Usage(format!(
            "{:?}: name a bearer as two nations, e.g. USA-GBR",
            p.pair
        ))
    })?;
    for n in [a, b] {
        if ex.plan.topology.nation(n).is_none() {
            return Err(CliError::Usage(format!(
                "{n} is not a nation of this exercise"
            )));
        }
    }
    let record = driver::act(&ex, &make(a.to_string(), b.to_string())).await?;
    let mut events = coalition_exercise::ledger::JsonlWriter::append(&ex.ledger().events())?;
    events.write(&record)?;
    println!("{}", record.action);
    Ok(())
}

fn agent_options(a: AgentArgs) -> AgentOptions {
    AgentOptions {
        dir: a.dir,
        nation: a.nation,
        ledger: a.ledger,
    }
}

/// Runs `f` until it returns or SIGTERM/Ctrl-C arrives (containers stop
/// with SIGTERM).
async fn with_shutdown<F, Fut>(f: F) -> Result<(), CliError>
where
    F: FnOnce(watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = Result<(), ExerciseError>>,
{
    use tokio::signal::unix::{signal, SignalKind};
    let (stop, shutdown) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CliError::Runtime(format!("cannot handle SIGTERM: {e}")))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = stop.send(true);
    });
    Ok(f(shutdown).await?)
}
