//! Carries a scenario out against running containers (started by compose
//! or by testcontainers: containers are addressed by name), with progress
//! on the console, then gathers the evidence, verifies it and writes the
//! report. This is the only part that acts; the decisions about what
//! happened are [`crate::verify`]'s.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::ledger::{
    read_jsonl, AlertsRecord, EventRecord, JsonlWriter, LinkSample, ProducerRecord, StartSignal,
};
use crate::link::bandwidth;
use crate::load::Load;
use crate::plan::{Role, BIN, LINK_CONTROL_PORT, MESH_MOUNT};
use crate::progress::Progress;
use crate::scenario::{Action, Scenario};
use crate::teardown::{self, Teardown};
use crate::verify::{verify, Evidence, Report};
use crate::{docker, now_ms, plot, report, Exercise, ExerciseError};

mod finish;
use finish::finish;
pub use finish::{
    readiness, readiness_now, still_draining, wait_for_backlog, Readiness, FINISH_GRACE_MS,
};

/// How long the mesh may take to come up in containers.
const READY_TIMEOUT: Duration = Duration::from_secs(240);

/// Brings every container of the exercise up with compose.
pub async fn compose_up(ex: &Exercise) -> Result<(), ExerciseError> {
    docker::compose(
        &ex.plan.project,
        &ex.compose_file(),
        &["up", "-d", "--no-build"],
    )
    .await?;
    Ok(())
}

/// Stops and removes every container, network and volume of the
/// exercise, as far as Docker lets it; an error lists what is left and
/// what to try (see [`crate::teardown`]).
pub async fn compose_down(ex: &Exercise) -> Result<Teardown, ExerciseError> {
    let t = teardown::down(&ex.plan).await;
    if t.is_clean() {
        Ok(t)
    } else {
        Err(ExerciseError::Runtime(t.advice(&ex.plan.project)))
    }
}

/// Runs `scenario` on the running exercise; returns the verifier's report
/// (also written to `report.md`, `timeline.svg` and `timeline.png`).
pub async fn run(ex: &Exercise, scenario: &Scenario) -> Result<Report, ExerciseError> {
    println!("== exercise {}: {} ==", scenario.name, scenario.summary);
    let started = Instant::now();
    wait_ready(ex).await?;
    println!("mesh ready after {:.1}s", started.elapsed().as_secs_f64());
    let t0 = start_traffic(ex, &scenario.load, scenario.publish_ms)?;
    let mut events = JsonlWriter::append(&ex.ledger().events())?;
    let mut progress = Progress::new(t0);
    for step in &scenario.steps {
        let due = t0 + step.at_ms as i64;
        while now_ms() < due {
            progress.tick(ex, "");
            let left = (due - now_ms()).clamp(0, 1_000) as u64;
            tokio::time::sleep(Duration::from_millis(left)).await;
        }
        let record = act(ex, &step.action).await?;
        println!("{:>7.1}s  >> {}", progress.secs(), record.action);
        events.write(&record)?;
    }
    finish(ex, &mut progress, t0 + scenario.publish_ms as i64).await?;
    dump_audit(ex).await?;
    save_logs(ex).await;
    let evidence = load_evidence(ex)?;
    let report = verify(&ex.plan.topology, &evidence);
    write_report(ex, scenario, &evidence, &report)?;
    Ok(report)
}

/// Tells the producers to publish `load` for `publish_ms`, starting in a
/// second; returns that instant (Unix ms).
pub fn start_traffic(ex: &Exercise, load: &Load, publish_ms: u64) -> Result<i64, ExerciseError> {
    let t0 = now_ms() + 1_000;
    let signal = StartSignal {
        t0_ms: t0,
        load: load.clone(),
        duration_ms: publish_ms,
    };
    let json = serde_json::to_vec(&signal).map_err(|e| ExerciseError::Runtime(e.to_string()))?;
    let start = ex.ledger().start();
    std::fs::write(&start, json)
        .map_err(ExerciseError::io(format!("write {}", start.display())))?;
    Ok(t0)
}

/// Waits until every producer and subscriber has connected and every
/// sidecar forwards a leaf connection.
pub async fn wait_ready(ex: &Exercise) -> Result<(), ExerciseError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let missing = not_ready(ex)?;
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ExerciseError::Runtime(format!(
                "not ready after {}s: {}; see `docker logs <container>` (names in {})",
                READY_TIMEOUT.as_secs(),
                missing.join(", "),
                ex.compose_file().display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn not_ready(ex: &Exercise) -> Result<Vec<String>, ExerciseError> {
    let ledger = ex.ledger();
    let mut missing = Vec::new();
    // A receiving nation dials one of the sending nation's servers (each
    // of its own servers may), so a link is up once any of its sidecars
    // forwards a connection.
    let mut links: BTreeMap<(String, String), bool> = BTreeMap::new();
    for s in &ex.plan.services {
        let ready = match &s.role {
            Role::Producer { producer, .. } => {
                read_jsonl::<ProducerRecord>(&ledger.producer(&s.nation, producer))?
                    .iter()
                    .any(|r| matches!(r, ProducerRecord::Ready { .. }))
            }
            Role::Alerts => read_jsonl::<AlertsRecord>(&ledger.alerts(&s.nation))?
                .iter()
                .any(|r| matches!(r, AlertsRecord::Ready { .. })),
            Role::Link { from, to, index } => {
                let live = read_jsonl::<LinkSample>(&ledger.link(&format!("{from}-{to}-{index}")))?
                    .last()
                    .is_some_and(|l| l.live > 0);
                *links.entry((from.clone(), to.clone())).or_default() |= live;
                true
            }
            Role::Server { .. } | Role::Bridge => true,
        };
        if !ready {
            missing.push(s.name.clone());
        }
    }
    for ((from, to), up) in links {
        if !up {
            missing.push(format!("the leaf link {from}->{to}"));
        }
    }
    Ok(missing)
}

/// Does one step; returns what the event ledger records of it.
pub async fn act(ex: &Exercise, action: &Action) -> Result<EventRecord, ExerciseError> {
    let plan = &ex.plan;
    let t_ms = now_ms();
    let mut notice = None;
    match action {
        Action::Cut { a, b } => link_all(ex, a, b, "cut").await?,
        Action::Restore { a, b } => link_all(ex, a, b, "restore").await?,
        Action::Degrade {
            a,
            b,
            delay_ms,
            jitter_ms,
            loss_percent,
            rate_kbit,
        } => {
            link_all(
                ex,
                a,
                b,
                &format!("degrade {delay_ms} {jitter_ms} {rate_kbit}"),
            )
            .await?;
            let p = format!("{:.4}", f64::from(*loss_percent) / 100.0);
            for s in plan.sidecars_between(a, b, false) {
                let rule = [
                    "-A",
                    "INPUT",
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &p,
                    "-j",
                    "DROP",
                ];
                docker::iptables_in(&s.name, &rule).await?;
                if *rate_kbit > 0 {
                    for dev in sidecar_interfaces(&s.name).await? {
                        tc_in(&s.name, &bandwidth::limit(&dev, *rate_kbit)).await?;
                    }
                }
            }
        }
        Action::Clear { a, b } => {
            link_all(ex, a, b, "clear").await?;
            for s in plan.sidecars_between(a, b, false) {
                docker::iptables_in(&s.name, &["-F", "INPUT"]).await?;
                for dev in sidecar_interfaces(&s.name).await? {
                    match tc_in(&s.name, &bandwidth::unlimit(&dev)).await {
                        Err(e) if bandwidth::nothing_to_remove(&e.to_string()) => {}
                        other => {
                            other?;
                        }
                    }
                }
            }
        }
        // The producers follow the scenario's load; the flood's instants
        // are recorded for the report and the picture.
        Action::Flood { .. } | Action::FloodEnd { .. } => {}
        Action::KillBridge { nation } => {
            docker::docker(&[
                "kill",
                "--signal",
                "KILL",
                &plan.container(nation, "bridge"),
            ])
            .await?;
        }
        Action::StartBridge { nation } => {
            docker::docker(&["start", &plan.container(nation, "bridge")]).await?;
        }
        Action::RevokeTranslator { by, id } => {
            notice = Some(revoke(ex, by, &["translator", "--id", id]).await?);
        }
        Action::Suspend { by, partner } => {
            notice = Some(revoke(ex, by, &["suspend", "--partner", partner]).await?);
        }
        Action::Reinstate { by, partner } => {
            notice = Some(revoke(ex, by, &["reinstate", "--partner", partner]).await?);
        }
    }
    Ok(EventRecord {
        t_ms,
        action: action.describe(),
        event: action.clone(),
        notice,
    })
}

/// A sidecar's network interfaces, loopback left out.
async fn sidecar_interfaces(container: &str) -> Result<Vec<String>, ExerciseError> {
    let listing = docker::in_netns(container, "ip", &["-o", "link", "show"]).await?;
    Ok(bandwidth::interfaces(&listing))
}

/// Runs `tc ARGS` in a sidecar's network namespace.
async fn tc_in(container: &str, args: &[String]) -> Result<String, ExerciseError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker::in_netns(container, "tc", &args).await
}

/// Sends `command` to every sidecar between `a` and `b`.
pub async fn link_all(ex: &Exercise, a: &str, b: &str, command: &str) -> Result<(), ExerciseError> {
    let sidecars = ex.plan.sidecars_between(a, b, false);
    if sidecars.is_empty() {
        return Err(ExerciseError::Usage(format!(
            "no link between {a} and {b} in this exercise"
        )));
    }
    let control = format!("127.0.0.1:{LINK_CONTROL_PORT}");
    for s in sidecars {
        docker::exec(
            &s.name,
            &[
                &format!("{BIN}/coalition"),
                "exercise",
                "link-ctl",
                "--control",
                &control,
                command,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Issues a notice as nation `by` from inside its alerting container (on
/// its own network, signed by its own revocation authority, as an operator
/// would: `coalition revoke`'s default); returns (name, effective ms).
async fn revoke(ex: &Exercise, by: &str, what: &[&str]) -> Result<(String, i64), ExerciseError> {
    let mut args = vec![
        format!("{BIN}/coalition"),
        "revoke".into(),
        "--dir".into(),
        MESH_MOUNT.into(),
    ];
    args.extend([
        "--nation".into(),
        by.to_string(),
        "--reason".into(),
        "exercise".into(),
    ]);
    args.extend(what.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = docker::exec(&ex.plan.container(by, "alerts"), &refs).await?;
    parse_published_notice(&out).ok_or_else(|| {
        ExerciseError::Runtime(format!(
            "`coalition revoke` printed {out:?}, not the notice it published"
        ))
    })
}

/// `published GBR#1: revoke translator USA-GBR (all versions), effective 1764..`
pub fn parse_published_notice(out: &str) -> Option<(String, i64)> {
    let line = out.lines().find(|l| l.starts_with("published "))?;
    let name = line
        .strip_prefix("published ")?
        .split(':')
        .next()?
        .to_string();
    let effective = line.rsplit("effective ").next()?.trim().parse().ok()?;
    Some((name, effective))
}

/// Dumps every nation's audit log into the ledger.
pub async fn dump_audit(ex: &Exercise) -> Result<(), ExerciseError> {
    for n in &ex.plan.topology.nations {
        let out = format!("/ledger/audit-{}.jsonl", n.code);
        docker::exec(
            &ex.plan.container(&n.code, "alerts"),
            &[
                &format!("{BIN}/coalition"),
                "audit",
                "dump",
                "--dir",
                MESH_MOUNT,
                "--nation",
                &n.code,
                "--out",
                &out,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Saves every container's log under `logs/`, overwriting what an earlier
/// save left; returns how many were saved. A container that does not exist
/// (never started, or already removed) is skipped; other failures are only
/// reported.
pub async fn save_logs(ex: &Exercise) -> usize {
    let mut saved = 0;
    for s in &ex.plan.services {
        let path = ex.dir.join("logs").join(format!("{}.log", s.name));
        let logs = tokio::process::Command::new("docker")
            .args(["logs", "--timestamps", &s.name])
            .output()
            .await;
        match logs {
            Ok(o) if o.status.success() => {
                let mut text = o.stdout;
                text.extend_from_slice(&o.stderr);
                match std::fs::write(&path, text) {
                    Ok(()) => saved += 1,
                    Err(e) => eprintln!("cannot save {}: {e}", path.display()),
                }
            }
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr);
                if !why.contains("No such container") {
                    eprintln!("cannot read the logs of {}: {}", s.name, why.trim());
                }
            }
            Err(e) => eprintln!("cannot read the logs of {}: {e}", s.name),
        }
    }
    saved
}

/// Reads every ledger of the exercise.
pub fn load_evidence(ex: &Exercise) -> Result<Evidence, ExerciseError> {
    let ledger = ex.ledger();
    let mut evidence = Evidence::default();
    if let Ok(text) = std::fs::read_to_string(ledger.start()) {
        let start: StartSignal =
            serde_json::from_str(&text).map_err(|e| ExerciseError::Ledger {
                path: ledger.start().display().to_string(),
                line: 1,
                detail: e.to_string(),
            })?;
        evidence.t0_ms = start.t0_ms;
        evidence.load = Some(start.load);
    }
    let mut delivered = BTreeMap::new();
    for s in &ex.plan.services {
        match &s.role {
            Role::Producer { producer, .. } => {
                evidence.published.extend(read_jsonl::<ProducerRecord>(
                    &ledger.producer(&s.nation, producer),
                )?)
            }
            Role::Alerts => {
                delivered.insert(s.nation.clone(), read_jsonl(&ledger.alerts(&s.nation))?);
            }
            Role::Link { from, to, index } => {
                let name = format!("{from}-{to}-{index}");
                evidence
                    .links
                    .insert(name.clone(), read_jsonl(&ledger.link(&name))?);
            }
            Role::Server { .. } | Role::Bridge => {}
        }
    }
    evidence.delivered = delivered;
    for n in &ex.plan.topology.nations {
        evidence.audit.extend(read_jsonl(&ledger.audit(&n.code))?);
    }
    evidence.events = read_jsonl(&ledger.events())?;
    Ok(evidence)
}

/// Writes `report.md`, `timeline.svg` and `timeline.png` and prints the
/// summary. A PNG that cannot be rendered is said and skipped (the SVG
/// has the same picture); one rendered without fonts has no text, and
/// that is said too.
pub fn write_report(
    ex: &Exercise,
    scenario: &Scenario,
    evidence: &Evidence,
    report: &Report,
) -> Result<(), ExerciseError> {
    let summary = report::summary(scenario.name, report);
    print!("{summary}");
    let svg = plot::timeline_svg(
        &format!("exercise {}: {}", scenario.name, scenario.summary),
        evidence,
        report,
    );
    let write = |name: &str, bytes: &[u8]| {
        let path = ex.dir.join(name);
        std::fs::write(&path, bytes)
            .map_err(ExerciseError::io(format!("write {}", path.display())))
            .map(|()| path)
    };
    let svg_path = write("timeline.svg", svg.as_bytes())?;
    let png = match plot::png::render(&svg, &plot::Fonts::system(), plot::PNG_SCALE) {
        Ok(png) => {
            if !png.has_text {
                println!("note: no fonts found (install fonts-dejavu-core): timeline.png has no text; timeline.svg has it");
            }
            Some(write("timeline.png", &png.bytes)?)
        }
        Err(e) => {
            println!("note: timeline.png not written: {e}; timeline.svg has the picture");
            None
        }
    };
    let md = report::markdown(scenario.name, &scenario.summary, report, "timeline.svg");
    let md_path = write("report.md", md.as_bytes())?;
    println!(
        "report: {}\nplot:   {}",
        md_path.display(),
        svg_path.display()
    );
    if let Some(png) = png {
        println!("        {}", png.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::finish::QUIET;
    use super::*;

    #[test]
    fn verify_waits_while_producers_publish_and_never_counts_unfinished_work() {
        let start = Some((100_000, 60_000)); // publishing until 160 000
                                             // (start, ready, done, now, answer)
        let table = [
            (None, 0, 0, 0, Readiness::Ready),
            (start, 3, 3, 120_000, Readiness::Ready),
            (start, 3, 0, 100_000, Readiness::Publishing { left_s: 60 }),
            (start, 3, 1, 159_001, Readiness::Publishing { left_s: 1 }),
            (start, 3, 2, 145_500, Readiness::Publishing { left_s: 15 }),
            (start, 0, 0, 150_000, Readiness::Publishing { left_s: 10 }),
            (start, 3, 2, 160_000, Readiness::Finishing),
            (
                start,
                3,
                2,
                160_000 + FINISH_GRACE_MS - 1,
                Readiness::Finishing,
            ),
            (start, 3, 2, 160_000 + FINISH_GRACE_MS, Readiness::Ready),
        ];
        for (start, ready, done, now, want) in table {
            assert_eq!(
                readiness(start, ready, done, now),
                want,
                "{start:?} ready {ready} done {done} at {now}"
            );
        }
    }

    #[test]
    fn verify_waits_while_a_backlog_is_still_arriving() {
        let now = 100_000;
        let quiet = QUIET.as_millis() as i64;
        // (pending, last delivery, still draining)
        let table = [
            (0, Some(now - 1_000), false),
            (5, Some(now - 1_000), true),
            (5, Some(now - quiet + 1), true),
            (5, Some(now - quiet), false),
            (5, None, false),
        ];
        for (pending, last, want) in table {
            assert_eq!(
                still_draining(pending, last, now),
                want,
                "{pending} {last:?}"
            );
        }
    }

    #[test]
    fn the_revoke_command_s_output_gives_the_notice_and_its_instant() {
        let out =
            "published GBR#3: revoke translator USA-GBR (all versions), effective 1764590000123\n";
        assert_eq!(
            parse_published_notice(out),
            Some(("GBR#3".into(), 1_764_590_000_123))
        );
        assert_eq!(parse_published_notice("error: nope"), None);
    }
}
