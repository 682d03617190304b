//! Where each lane's CPU work runs.
//!
//! The mesh's CPU goes mostly to ML-DSA: a producer signs each batch, and
//! egress, ingress and every subscriber verify it. Track batches arrive by
//! the hundred per second; an alert batch carries one or a few alerts that
//! someone is waiting for. If both lanes shared one pool of threads at one
//! priority, an alert's signature or verification would queue for a core
//! behind whatever track work was running, and under track load its
//! latency would be the track backlog's.
//!
//! So the two lanes run their CPU work apart:
//!
//! - [`Lane::Bulk`] (tracks): a process-wide pool of threads, one per core,
//!   each of which lowers its own scheduling priority at start (Linux niceness
//!   [`BULK_NICENESS_OFFSET`] above the process's; a thread may always
//!   lower its own). Jobs
//!   queue in arrival order.
//! - [`Lane::Urgent`] (alerts): tokio's blocking pool, at the process's own
//!   priority, so the kernel runs an alert's work ahead of track work
//!   whenever both want a core.
//!
//! Niceness only orders work inside one machine's scheduler: track work
//! still gets every core an alert does not use, so track throughput is
//! unchanged when no alert is waiting. If the priority cannot be lowered
//! (another OS, a sandbox refusing `setpriority`), the pool runs at normal
//! priority and says so once in the log.
#![forbid(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

/// How much lower the bulk pool's threads run than the process (in Linux
/// niceness, 19 at most): a thread 10 nicer than another gets about a
/// tenth of a core's time while the other wants it.
pub const BULK_NICENESS_OFFSET: i32 = 10;

/// Which lane a piece of CPU work belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Track batches: throughput matters, a few milliseconds do not.
    Bulk,
    /// Alerts: latency matters.
    Urgent,
}

impl From<coalition_topology::Kind> for Lane {
    /// Tracks are bulk, alerts urgent.
    fn from(kind: coalition_topology::Kind) -> Lane {
        match kind {
            coalition_topology::Kind::Track => Lane::Bulk,
            coalition_topology::Kind::Alert => Lane::Urgent,
        }
    }
}

/// Why a job returned no result.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// The job panicked; the message is the panic's, if it was a string.
    #[error("CPU job panicked: {0}")]
    Panicked(String),
    /// The bulk pool could not start a thread, or the runtime is shutting
    /// down.
    #[error("CPU pool unavailable: {0}")]
    Unavailable(String),
}

/// Runs `work` on `lane`'s threads and waits for its result.
pub async fn run<T, F>(lane: Lane, work: F) -> Result<T, CpuError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match lane {
        Lane::Urgent => tokio::task::spawn_blocking(work).await.map_err(|e| {
            if e.is_panic() {
                CpuError::Panicked(panic_message(e.into_panic().as_ref()))
            } else {
                CpuError::Unavailable(e.to_string())
            }
        }),
        Lane::Bulk => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let job: Job = Box::new(move || {
                let result = catch_unwind(AssertUnwindSafe(work))
                    .map_err(|p| CpuError::Panicked(panic_message(p.as_ref())));
                // The caller may have stopped waiting; nothing to do then.
                let _ = tx.send(result);
            });
            bulk_pool()?
                .send(job)
                .map_err(|_| CpuError::Unavailable("the bulk pool has stopped".into()))?;
            rx.await
                .map_err(|_| CpuError::Unavailable("the bulk pool dropped a job".into()))?
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The bulk pool's queue, its threads started on first use.
fn bulk_pool() -> Result<&'static mpsc::Sender<Job>, CpuError> {
    static POOL: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();
    POOL.get_or_init(start_bulk_pool)
        .as_ref()
        .map_err(|e| CpuError::Unavailable(e.clone()))
}

fn start_bulk_pool() -> Result<mpsc::Sender<Job>, String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..threads {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("bulk-cpu-{i}"))
            .spawn(move || bulk_worker(i, &rx))
            .map_err(|e| format!("cannot start a bulk CPU thread: {e}"))?;
    }
    Ok(tx)
}

fn bulk_worker(index: usize, jobs: &Mutex<mpsc::Receiver<Job>>) {
    match lower_own_priority() {
        Ok(()) => {}
        Err(e) if index == 0 => tracing::warn!(
            error = %e,
            "track CPU work runs at normal priority: alerts may queue behind it"
        ),
        Err(_) => {}
    }
    loop {
        // A poisoned lock means another worker panicked outside a job,
        // which `catch_unwind` rules out; take the queue anyway.
        let next = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Raises the calling thread's niceness by [`BULK_NICENESS_OFFSET`]. On
/// Linux, `setpriority(PRIO_PROCESS, 0)` applies to the calling thread
/// only.
fn lower_own_priority() -> std::io::Result<()> {
    let own = rustix::process::getpriority_process(None)?;
    rustix::process::setpriority_process(None, bulk_niceness(own))?;
    Ok(())
}

/// The bulk threads' niceness in a process running at `own`.
fn bulk_niceness(own: i32) -> i32 {
    own.saturating_add(BULK_NICENESS_OFFSET).min(19)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(not a string)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_lanes_return_the_jobs_result() {
        assert_eq!(run(Lane::Bulk, || 6 * 7).await.unwrap(), 42);
        assert_eq!(run(Lane::Urgent, || "alert").await.unwrap(), "alert");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_is_an_error_and_the_pool_goes_on() {
        for lane in [Lane::Bulk, Lane::Urgent] {
            let err = run(lane, || -> u8 { panic!("boom") }).await.unwrap_err();
            assert!(
                matches!(&err, CpuError::Panicked(m) if m == "boom"),
                "{lane:?}: {err}"
            );
            assert_eq!(
                run(lane, || 1u8).await.unwrap(),
                1,
                "{lane:?} after a panic"
            );
        }
    }

    #[test]
    fn tracks_are_bulk_and_alerts_urgent() {
        use coalition_topology::Kind;
        assert_eq!(Lane::from(Kind::Track), Lane::Bulk);
        assert_eq!(Lane::from(Kind::Alert), Lane::Urgent);
    }

    #[test]
    fn bulk_threads_run_ten_nicer_than_the_process_and_never_past_19() {
        for (own, bulk) in [(0, 10), (5, 15), (-5, 5), (9, 19), (15, 19), (19, 19)] {
            assert_eq!(bulk_niceness(own), bulk, "process at {own}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulk_threads_run_at_the_lowered_priority_and_urgent_ones_do_not() {
        let own = || rustix::process::getpriority_process(None).unwrap();
        let bulk = run(Lane::Bulk, own).await.unwrap();
        let urgent = run(Lane::Urgent, own).await.unwrap();
        assert_eq!(bulk, bulk_niceness(urgent), "bulk thread's niceness");
        if urgent < 19 {
            assert!(urgent < bulk, "urgent {urgent} runs ahead of bulk {bulk}");
        }
    }
}
