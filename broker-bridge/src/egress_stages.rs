//! Starts, for one lane (tracks or alerts), the two stages that release
//! this nation's producers' batches: egress (the lane's OUTBOUND) and paced
//! (the lane's PACED: what egress deferred because a producer was over its
//! rate, [`crate::rate`]).
//!
//! They write on the same RELEASED subjects, never at the same time for
//! one producer (a producer's batches go through PACED while any of them
//! wait there), and each looks up its continuity state again after the
//! other wrote. The paced stage holds a lock while it stores a cycle, which
//! the egress stage takes to recount PACED when it (re)starts.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::jetstream::{self, stream};
use coalition_core::feed_position::ForwardWindow;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use coalition_topology::{streams, subjects, Kind};

use crate::egress::{EgressStage, Mode};
use crate::pacing::{Limiter, Pacer};
use crate::pipeline::run_stage;
use crate::rate::paced_producer;
use crate::shared::Shared;
use crate::shell::{Shell, Source};
use crate::stage::Target;
use crate::time::now_ms;
use crate::{bus, BridgeError};

/// Creates a lane's PACED stream (work-queue retention: it stays in HOME,
/// and what is left in it is what still waits) if missing.
async fn ensure_paced_stream(
    js: &jetstream::Context,
    kind: Kind,
    replicas: usize,
) -> Result<stream::Stream, BridgeError> {
    js.get_or_create_stream(stream::Config {
        name: streams::paced(kind).into(),
        subjects: vec![subjects::lane_filter("paced", kind)],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        duplicate_window: std::time::Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| BridgeError::js(format!("create stream {}", streams::paced(kind)), e))
}

/// How many batches of each producer a PACED stream holds.
async fn count_waiting(
    paced: &stream::Stream,
    kind: Kind,
) -> Result<HashMap<String, i64>, BridgeError> {
    let mut counts = HashMap::new();
    let mut subjects = paced
        .info_with_subjects(subjects::lane_filter("paced", kind))
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

/// Creates a lane's egress and paced consumers and spawns both stages.
pub(crate) async fn start(
    shared: &Arc<Shared>,
    kind: Kind,
    outbound: jetstream::stream::Stream,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, BridgeError> {
    let paced = bus::patiently("PACED stream", || {
        ensure_paced_stream(&shared.home_js, kind, shared.replicas)
    })
    .await?;
    let guard = Arc::new(tokio::sync::Mutex::new(()));
    let stage = |mode| {
        let control = shared.control.clone();
        EgressStage {
            name: format!("{} {} ({kind})", shared.nation, mode_name(mode)),
            nation: shared.nation.clone(),
            kind,
            state: shared.control.state.clone(),
            links: shared
                .release
                .iter()
                .map(|(p, ceiling, _)| (p.clone(), ceiling.clone()))
                .collect(),
            pacing: shared.pacing.clone(),
            mode,
            window: shared.window,
            caught_up: Box::new(move || control.home_caught_up()),
            guard: None,
            chains_stale: Box::new(|| false),
            on_open: None,
            clock: Arc::new(now_ms),
        }
    };
    let mut fresh = stage(Mode::Fresh);
    let (pacing, seen) = (shared.pacing.clone(), AtomicU64::new(0));
    fresh.chains_stale = Box::new(move || {
        let now = pacing.epoch();
        seen.swap(now, Ordering::SeqCst) != now
    });
    let (pacing, paced_stream, paced_guard) = (shared.pacing.clone(), paced.clone(), guard.clone());
    fresh.on_open = Some(Box::new(move || {
        let (pacing, paced, guard) = (pacing.clone(), paced_stream.clone(), paced_guard.clone());
        Box::pin(async move {
            let _paced_stage_idle = guard.lock().await;
            pacing.reset(count_waiting(&paced, kind).await?);
            Ok(())
        })
    }));
    let mut slow = stage(Mode::Paced);
    slow.guard = Some(guard);
    slow.chains_stale = Box::new(|| true);
    let fresh = spawn(shared, fresh, outbound, shutdown).await?;
    let slow = spawn(shared, slow, paced, shutdown).await?;
    Ok(vec![fresh, slow])
}

fn mode_name(mode: Mode) -> &'static str {
    mode.stage()
}

/// Creates `stage`'s durable consumer on `source` and spawns it.
async fn spawn(
    shared: &Arc<Shared>,
    stage: EgressStage,
    source: stream::Stream,
    shutdown: &watch::Receiver<bool>,
) -> Result<JoinHandle<()>, BridgeError> {
    let (durable, max_ack_pending) = match stage.mode {
        Mode::Fresh => (streams::EGRESS_CONSUMER, bus::UNPACED_MAX_ACK_PENDING),
        Mode::Paced => (streams::PACED_CONSUMER, shared.pacing.window),
    };
    let consumer = bus::patiently("egress consumer", || {
        bus::durable_consumer(&source, durable, max_ack_pending)
    })
    .await?;
    let mut targets = HashMap::from([(Target::Home, shared.home_js.clone())]);
    for (partner, _, js) in &shared.release {
        targets.insert(Target::Partner(partner.clone()), js.clone());
    }
    let shell = Shell {
        nation: shared.nation.clone(),
        source: Source {
            consumer,
            stream: source,
        },
        targets,
        certificates_from: shared.home_js.clone(),
        cache: shared.control.state.certificates.clone(),
        auditor: shared.auditor.clone(),
        lease: shared.lease.clone(),
        pacing: shared.pacing.clone(),
        hold: shared.hold_at_egress,
        pacer: (stage.mode == Mode::Paced).then(|| {
            Pacer::new(
                &shared.nation,
                "paced",
                Limiter::Producers(shared.pacing.clone()),
            )
        }),
    };
    Ok(tokio::spawn(run_stage(
        Arc::new(stage),
        shell,
        shutdown.clone(),
    )))
}

/// The forward window of the bridge's config.
pub(crate) fn forward_window(feeds: &coalition_topology::FeedLimits) -> ForwardWindow {
    ForwardWindow {
        seqs: feeds.forward_window_seqs,
        seqs_per_second: feeds.forward_window_seqs_per_second,
    }
}
