//! The end of a run: when the ledgers can be verified (producers done,
//! the backlog drained), and waiting for it with the progress line going.
use std::time::{Duration, Instant};

use super::load_evidence;
use crate::ledger::{AlertsRecord, ProducerRecord, StartSignal};
use crate::plan::Role;
use crate::progress::Progress;
use crate::verify::{verify, Evidence};
use crate::{now_ms, Exercise, ExerciseError};

/// Deliveries stop counting as in progress after this long without one.
pub(super) const QUIET: Duration = Duration::from_secs(20);
/// The longest wait for the backlog after producers finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// Whether the ledgers can be verified yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Every producer finished, none started, or they are long overdue
    /// (the verifier then says which did not finish).
    Ready,
    /// Producers are still publishing, for about this many seconds.
    Publishing {
        /// Seconds until the last track is due, rounded up.
        left_s: u64,
    },
    /// The run's end has passed but not every producer has said it is
    /// done; this is normal for a few seconds.
    Finishing,
}

/// How long after the run's end a producer may take to say it is done.
pub const FINISH_GRACE_MS: i64 = 30_000;

/// Whether to verify now: producers told to publish from `start`
/// (t0 and duration, ms) of which `ready` connected and `done` finished.
/// Unfinished work is never counted: while producers publish, the answer
/// is to wait.
pub fn readiness(start: Option<(i64, u64)>, ready: usize, done: usize, now_ms: i64) -> Readiness {
    let Some((t0_ms, duration_ms)) = start else {
        return Readiness::Ready;
    };
    if ready > 0 && done >= ready {
        return Readiness::Ready;
    }
    let end = t0_ms + duration_ms as i64;
    if now_ms < end {
        let left_s = (end - now_ms + 999) / 1_000;
        return Readiness::Publishing {
            left_s: left_s as u64,
        };
    }
    if now_ms < end + FINISH_GRACE_MS {
        return Readiness::Finishing;
    }
    Readiness::Ready
}

/// [`readiness`] of `ex` now, from its start signal and producer ledgers.
pub fn readiness_now(ex: &Exercise) -> Result<Readiness, ExerciseError> {
    let start = std::fs::read_to_string(ex.ledger().start())
        .ok()
        .and_then(|t| serde_json::from_str::<StartSignal>(&t).ok())
        .map(|s| (s.t0_ms, s.duration_ms));
    let evidence = load_evidence(ex)?;
    let count = |f: fn(&ProducerRecord) -> bool| evidence.published.iter().filter(|r| f(r)).count();
    let ready = count(|r| matches!(r, ProducerRecord::Ready { .. }));
    let done = count(|r| matches!(r, ProducerRecord::Done { .. }));
    Ok(readiness(start, ready, done, now_ms()))
}

/// True while a backlog is still arriving: some releasable messages are
/// not delivered (`pending`) and the last delivery came less than
/// [`QUIET`] ago. Verifying then would count the backlog as lost.
pub fn still_draining(pending: u64, last_delivery_ms: Option<i64>, now_ms: i64) -> bool {
    pending > 0 && last_delivery_ms.is_some_and(|t| now_ms - t < QUIET.as_millis() as i64)
}

/// Waits while [`still_draining`] (at most [`DRAIN_LIMIT`]), saying so.
pub async fn wait_for_backlog(ex: &Exercise) -> Result<(), ExerciseError> {
    let started = Instant::now();
    loop {
        let mut evidence = load_evidence(ex)?;
        // Denials are known only from a fresh audit dump; without it a
        // denied message counts as pending, which only makes this wait.
        evidence.audit.clear();
        let pending = verify(&ex.plan.topology, &evidence).total.lost;
        let last = evidence.delivery_times().max();
        if !still_draining(pending, last, now_ms()) || started.elapsed() > DRAIN_LIMIT {
            return Ok(());
        }
        println!(
            "backlog still arriving ({pending} not yet delivered, last delivery {:.0} s ago); waiting",
            (now_ms() - last.unwrap_or(0)) as f64 / 1000.0
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits for producers to finish, then for the backlog to drain: every
/// delivery the labels allow has arrived, or none arrived for [`QUIET`].
pub(super) async fn finish(
    ex: &Exercise,
    progress: &mut Progress,
    publish_end: i64,
) -> Result<(), ExerciseError> {
    let producers = ex
        .plan
        .services
        .iter()
        .filter(|s| matches!(s.role, Role::Producer { .. }))
        .count();
    loop {
        let evidence = load_evidence(ex)?;
        let done = evidence
            .published
            .iter()
            .filter(|r| matches!(r, ProducerRecord::Done { .. }))
            .count();
        if done >= producers {
            break;
        }
        if now_ms() > publish_end + DRAIN_LIMIT.as_millis() as i64 {
            return Err(ExerciseError::Runtime(format!(
                "only {done} of {producers} producers finished; see their ledgers in {}",
                ex.ledger().0.display()
            )));
        }
        progress.tick(ex, "");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "{:>7.1}s  producers done; waiting for the backlog",
        progress.secs()
    );
    let drain_started = Instant::now();
    let (mut last_count, mut last_change) = (0usize, Instant::now());
    loop {
        let mut evidence = load_evidence(ex)?;
        evidence.audit.clear();
        let count = delivered_lines(&evidence);
        if count != last_count {
            (last_count, last_change) = (count, Instant::now());
        }
        let pending = verify(&ex.plan.topology, &evidence).total.lost;
        if pending == 0 {
            println!(
                "{:>7.1}s  every releasable delivery arrived",
                progress.secs()
            );
            return Ok(());
        }
        if last_change.elapsed() > QUIET || drain_started.elapsed() > DRAIN_LIMIT {
            println!(
                "{:>7.1}s  no delivery for {}s; {pending} releasable not delivered (the audit logs say whether they were denied)",
                progress.secs(),
                QUIET.as_secs()
            );
            return Ok(());
        }
        progress.tick(
            ex,
            &crate::progress::undelivered_label(pending, &evidence.events),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn delivered_lines(e: &Evidence) -> usize {
    e.delivered
        .values()
        .map(|v| {
            v.iter()
                .filter(|r| matches!(r, AlertsRecord::Delivered { .. }))
                .count()
        })
        .sum()
}
