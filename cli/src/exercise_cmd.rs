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
use coalition_exercise::scenario::{self, Action, Pair, Size};
use coalition_exercise::{docker, driver, plan, teardown, Exercise, ExerciseError};
use tokio::sync::watch;

use crate::error::CliError;

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
        /// The scenario: cut-30s, flapping, degraded, bridge-crash,
        /// revoke-during-cut or suspend-during-cut.
        #[arg(long)]
        scenario: String,
        /// `full` (as the runbooks say: 30 s cuts) or `reduced` (CI).
        #[arg(long, default_value = "full")]
        size: String,
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
        /// Milliseconds between two tracks of one producer.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
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
            keep,
        } => run_scenario(&args, &scenario, &size, keep).await,
        ExerciseCommand::Up {
            dir,
            publish_secs,
            interval_ms,
        } => {
            if interval_ms == 0 || publish_secs == 0 {
                return Err(CliError::Usage(
                    "--publish-secs and --interval-ms must be at least 1".into(),
                ));
            }
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
            driver::start_traffic(&ex, interval_ms, publish_secs * 1_000)?;
            println!(
                "exercise {:?} is up; producers publish for {publish_secs} s. Act with `coalition exercise cut|restore|degrade|clear --dir {} A-B`, then `coalition exercise verify --dir {}`",
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
        } => {
            if loss_percent > 50 {
                return Err(CliError::Usage(format!(
                    "--loss-percent {loss_percent}: at most 50; cut the link instead"
                )));
            }
            pair_action(&pair, |a, b| Action::Degrade {
                a,
                b,
                delay_ms,
                jitter_ms,
                loss_percent,
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
    Ok(Exercise::prepare(
        &args.dir,
        &crate::paths::topology_here(args.topology.clone()),
        &args.project,
        args.servers,
    )?)
}

fn pair_of(ex: &Exercise) -> Result<Pair, CliError> {
    let link = ex
        .plan
        .topology
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

async fn run_scenario(
    args: &PrepareArgs,
    name: &str,
    size_name: &str,
    keep: bool,
) -> Result<(), CliError> {
    let size = size(size_name)?;
    // Check the scenario before touching anything.
    scenario::scenario(
        name,
        size,
        &Pair {
            a: "A".into(),
            b: "B".into(),
        },
    )
    .map_err(CliError::Usage)?;
    require_image().await?;
    let ex = prepare(args)?;
    let s = scenario::scenario(name, size, &pair_of(&ex)?).map_err(CliError::Usage)?;
    println!(
        "prepared {} ({} containers); starting them",
        ex.dir.display(),
        ex.plan.services.len()
    );
    // A leftover exercise of the same name would hold the container names,
    // and a broken network left behind would break this run too.
    if let Err(e) = driver::compose_down(&ex).await {
        return Err(CliError::Runtime(format!(
            "an earlier exercise {:?} could not be removed, so this one does not start:\n{e}",
            ex.plan.project
        )));
    }
    driver::compose_up(&ex).await?;
    let outcome = driver::run(&ex, &s).await;
    let teardown = if keep {
        println!(
            "containers left running; stop them with `coalition exercise down --dir {}`",
            args.dir.display()
        );
        None
    } else {
        Some(driver::compose_down(&ex).await.map(|_| ()))
    };
    let verdict = outcome.map(|r| r.failures).map_err(CliError::from);
    final_result(name, verdict, teardown)
}

/// What `run` exits with. A teardown that left something behind makes
/// the run fail (exit 1) even if the exercise passed, with what is left
/// and what to do: the next run on this machine would trip over it.
fn final_result(
    name: &str,
    verdict: Result<Vec<String>, CliError>,
    teardown: Option<Result<(), ExerciseError>>,
) -> Result<(), CliError> {
    let left = match teardown {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    match (verdict, left) {
        (Ok(failures), None) if failures.is_empty() => Ok(()),
        (Ok(failures), None) => Err(CliError::CheckFailed(format!(
            "exercise {name} failed: {}",
            failures.join("; ")
        ))),
        (Ok(failures), Some(left)) => {
            let verdict = if failures.is_empty() {
                "passed".to_string()
            } else {
                format!("failed ({})", failures.join("; "))
            };
            Err(CliError::Runtime(format!(
                "exercise {name} {verdict}, but its teardown did not finish:\n{left}"
            )))
        }
        (Err(e), None) => Err(e),
        (Err(e), Some(left)) => Err(CliError::Runtime(format!(
            "{e}\nand the teardown did not finish:\n{left}"
        ))),
    }
}

async fn verify_again(dir: &DirArg, name: &str, size_name: &str) -> Result<(), CliError> {
    let size = size(size_name)?;
    let ex = Exercise::open(&dir.dir)?;
    let s = match name {
        "manual" => scenario::Scenario {
            name: "manual",
            summary: "actions taken by hand".into(),
            publish_ms: 0,
            interval_ms: 0,
            steps: Vec::new(),
        },
        other => scenario::scenario(other, size, &pair_of(&ex)?).map_err(CliError::Usage)?,
    };
    // Never report unfinished work as loss: wait for the producers.
    loop {
        match driver::readiness_now(&ex)? {
            driver::Readiness::Ready => break,
            driver::Readiness::Publishing { left_s } => {
                return Err(CliError::Usage(format!(
                    "producers still publishing, about {left_s} s left; run `coalition exercise verify --dir {}` again after that (nothing is counted before they finish)",
                    dir.dir.display()
                )))
            }
            driver::Readiness::Finishing => {
                println!("producers finishing; waiting for them to say they are done");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
    }
    // Nor a backlog still arriving after a cut.
    driver::wait_for_backlog(&ex).await?;
    if let Err(e) = driver::dump_audit(&ex).await {
        println!(
            "audit logs not dumped again (are the containers down?), using the last dump: {e}"
        );
    }
    let evidence = driver::load_evidence(&ex)?;
    let report = coalition_exercise::verify::verify(&ex.plan.topology, &evidence);
    driver::write_report(&ex, &s, &evidence, &report)?;
    if report.passed() {
        Ok(())
    } else {
        Err(CliError::CheckFailed(format!(
            "exercise {name} failed: {}",
            report.failures.join("; ")
        )))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn left() -> Option<Result<(), ExerciseError>> {
        Some(Err(ExerciseError::Runtime(
            "teardown left 1 thing(s) of exercise \"cm\" behind:\n  network cm-gbr: has active endpoints".into(),
        )))
    }

    #[test]
    fn a_run_whose_teardown_left_something_fails_and_says_what() {
        let clean = Some(Ok(()));
        assert!(final_result("cut-30s", Ok(vec![]), clean).is_ok());
        assert!(final_result("cut-30s", Ok(vec![]), None).is_ok(), "--keep");
        let e = final_result("cut-30s", Ok(vec![]), left()).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let text = e.to_string();
        assert!(
            text.contains("exercise cut-30s passed, but its teardown did not finish"),
            "{text}"
        );
        assert!(text.contains("network cm-gbr"), "{text}");
        let e = final_result("cut-30s", Ok(vec!["1 message(s) lost".into()]), left()).unwrap_err();
        assert!(e
            .to_string()
            .contains("failed (1 message(s) lost), but its teardown"));
        let e = final_result(
            "cut-30s",
            Ok(vec!["1 message(s) lost".into()]),
            Some(Ok(())),
        )
        .unwrap_err();
        assert!(matches!(e, CliError::CheckFailed(_)));
        let e = final_result("cut-30s", Err(CliError::Runtime("boom".into())), left()).unwrap_err();
        assert!(e
            .to_string()
            .contains("boom\nand the teardown did not finish"));
    }
}
