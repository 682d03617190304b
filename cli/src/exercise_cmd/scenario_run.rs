//! `coalition exercise run` and `verify`: one scripted scenario end to
//! end, and the verdict again from a folder's ledgers.
use coalition_exercise::scenario::{self, Pair};
use coalition_exercise::{driver, Exercise, ExerciseError};

use super::{pair_in, pair_of, prepare_with_quota, require_image, size, DirArg, PrepareArgs};
use crate::error::CliError;

pub(super) async fn run_scenario(
    args: &PrepareArgs,
    name: &str,
    size_name: &str,
    rate: Option<u32>,
    keep: bool,
) -> Result<(), CliError> {
    let size = size(size_name)?;
    // Check the scenario and its load before touching anything.
    let check = scenario::scenario(
        name,
        size,
        &Pair {
            a: "A".into(),
            b: "B".into(),
        },
        rate,
    )
    .map_err(CliError::Usage)?;
    check
        .load
        .check()
        .map_err(|e| CliError::Usage(format!("--rate: {e}")))?;
    require_image().await?;
    let topology = crate::paths::topology_here(args.topology.clone());
    let pair = pair_in(&coalition_topology::parse_topology_file(&topology)?)?;
    let s = scenario::scenario(name, size, &pair, rate).map_err(CliError::Usage)?;
    let ex = prepare_with_quota(args, s.quota.as_ref())?;
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

pub(super) async fn verify_again(
    dir: &DirArg,
    name: &str,
    size_name: &str,
) -> Result<(), CliError> {
    let size = size(size_name)?;
    let ex = Exercise::open(&dir.dir)?;
    let s = match name {
        "manual" => scenario::Scenario {
            name: "manual",
            summary: "actions taken by hand".into(),
            publish_ms: 0,
            load: coalition_exercise::load::Load::steady(1),
            quota: None,
            steps: Vec::new(),
        },
        other => scenario::scenario(other, size, &pair_of(&ex)?, None).map_err(CliError::Usage)?,
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
