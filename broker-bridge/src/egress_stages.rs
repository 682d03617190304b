//! Starts the two stages that release this nation's producers' messages:
//! egress (OUTBOUND) and paced (PACED: what egress deferred because a
//! producer was over its rate, [`crate::rate`]).
//!
//! They write on the same RELEASED subjects, never at the same time for
//! one producer (a producer's messages go through PACED while any of them
//! wait there), and each looks up its continuity state again after the
//! other wrote. The paced stage holds a lock while it stores a batch, which
//! the egress stage takes to recount PACED when it (re)starts.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use coalition_topology::streams;

use crate::egress::{self, EgressContext, Mode};
use crate::pacing::{Limiter, Pacer};
use crate::pipeline::{run_stage, Decide, Sinks, Source};
use crate::rate::{paced_producer, ProducerPacing};
use crate::{bus, now_ms, stage_hooks, BridgeError, Shared};

/// Creates PACED (work-queue retention: it stays in HOME, and what is left
/// in it is what still waits) if missing.
async fn ensure_paced_stream(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<stream::Stream, BridgeError> {
    js.get_or_create_stream(stream::Config {
        name: streams::PACED.into(),
        subjects: vec!["paced.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        duplicate_window: std::time::Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| BridgeError::js("create stream PACED", e))
}

/// How many messages of each producer PACED holds.
async fn count_waiting(paced: &stream::Stream) -> Result<HashMap<String, i64>, BridgeError> {
    let mut counts = HashMap::new();
    let mut subjects = paced
        .info_with_subjects("paced.>")
        .await
        .map_err(|e| BridgeError::js("PACED subjects", e))?;
    while let Some(item) = subjects.next().await {
        let (subject, n) = item.map_err(|e| BridgeError::js("PACED subjects", e))?;
        if let Some(producer) = paced_producer(&subject) {
            *counts.entry(producer.to_string()).or_default() += n as i64;
        }
    }
    Ok(counts)
}

/// Creates the egress and paced consumers and spawns both stages.
pub(crate) async fn start(
    shared: &Arc<Shared>,
    release: Vec<(String, String, jetstream::Context)>,
    outbound: jetstream::stream::Stream,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, BridgeError> {
    let mut targets = vec![shared.home_js.clone()];
    let mut links = Vec::new();
    for (partner, ceiling, js) in release {
        targets.push(js);
        links.push((partner, ceiling));
    }
    let paced = bus::patiently("PACED stream", || {
        ensure_paced_stream(&shared.home_js, shared.replicas)
    })
    .await?;
    let context = |mode| {
        Arc::new(EgressContext {
            nation: shared.nation.clone(),
            state: shared.control.state.clone(),
            cache: shared.cache.clone(),
            links: links.clone(),
            pacing: shared.pacing.clone(),
            mode,
        })
    };
    let guard = Arc::new(tokio::sync::Mutex::new(()));
    let fresh = spawn(
        shared,
        context(Mode::Fresh),
        outbound,
        &targets,
        shutdown,
        |hooks| {
            let paced = paced.clone();
            let (pacing, seen) = (shared.pacing.clone(), AtomicU64::new(0));
            hooks.chains_stale = Box::new(move || {
                let now = pacing.epoch();
                seen.swap(now, Ordering::SeqCst) != now
            });
            let (pacing, paced, guard) = (shared.pacing.clone(), paced.clone(), guard.clone());
            hooks.on_open = Some(Box::new(move || {
                let (pacing, paced, guard) = (pacing.clone(), paced.clone(), guard.clone());
                Box::pin(async move {
                    let _paced_stage_idle = guard.lock().await;
                    pacing.reset(count_waiting(&paced).await?);
                    Ok(())
                })
            }));
        },
    )
    .await?;
    let slow = spawn(
        shared,
        context(Mode::Paced),
        paced,
        &targets,
        shutdown,
        |hooks| {
            let limiter = Limiter::Producers(shared.pacing.clone());
            hooks.pacer = Some(Pacer::new(&shared.nation, "paced", limiter));
            hooks.guard = Some(guard.clone());
            hooks.chains_stale = Box::new(|| true);
        },
    )
    .await?;
    Ok(vec![fresh, slow])
}

/// Creates `ctx`'s durable consumer on `source` and spawns its stage.
async fn spawn(
    shared: &Arc<Shared>,
    ctx: Arc<EgressContext>,
    source: stream::Stream,
    targets: &[jetstream::Context],
    shutdown: &watch::Receiver<bool>,
    tweak: impl FnOnce(&mut crate::pipeline::Hooks),
) -> Result<JoinHandle<()>, BridgeError> {
    let stage = ctx.mode.stage();
    let (durable, max_ack_pending) = match ctx.mode {
        Mode::Fresh => (streams::EGRESS_CONSUMER, bus::UNPACED_MAX_ACK_PENDING),
        Mode::Paced => (streams::PACED_CONSUMER, shared.pacing.window),
    };
    let consumer = bus::patiently("egress consumer", || {
        bus::durable_consumer(&source, durable, max_ack_pending)
    })
    .await?;
    let control = shared.control.clone();
    let ready = Box::new(move || {
        if control.home_caught_up() {
            Ok(())
        } else {
            Err("this nation's CONTROL stream is still being read".to_string())
        }
    });
    let mut hooks = stage_hooks(shared, stage, None, ready);
    tweak(&mut hooks);
    let name = format!("{} {stage}", shared.nation);
    let decide: Decide = Arc::new(move |inputs| egress::decide(&ctx, inputs, &now_ms));
    let sinks = Sinks {
        targets: targets.to_vec(),
        auditor: shared.auditor.clone(),
    };
    let source = Source {
        consumer,
        stream: source,
    };
    Ok(tokio::spawn(run_stage(
        name,
        source,
        sinks,
        decide,
        shutdown.clone(),
        hooks,
    )))
}

/// Keeps the waiting counts as stored batches report them.
pub(crate) fn count(pacing: &ProducerPacing, counted: &[crate::pipeline::Counted]) {
    use crate::pipeline::Counted;
    for c in counted {
        match c {
            Counted::Deferred { producer } => pacing.deferred(producer, 1),
            Counted::Drained { producer } => pacing.drained(producer, 1),
            _ => {}
        }
    }
}
