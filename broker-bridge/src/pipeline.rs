//! The shell every bridge stage runs in: pull a batch from a durable
//! consumer, hand it to a pure decision function on the blocking pool, publish
//! what the decision returned, wait until every publish is stored, and only
//! then acknowledge the inputs.
//!
//! If any publish fails, nothing in the batch is acknowledged: the batch is
//! negatively acknowledged and redelivered, and JetStream's `Nats-Msg-Id`
//! de-duplication absorbs what was already stored. So a message is never
//! acknowledged before its outcome (release, admission or dead letter) is
//! durable. Inputs are processed in source-stream order ([`crate::gate`]).
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, consumer::pull, consumer::PullConsumer, AckKind};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use coalition_core::DenyReason;
use coalition_schemas::v1::AuditRecord;

use crate::audit::Auditor;
use crate::continuity::{Break, ChainState};
use crate::deadletter::HOME;
use crate::gate::{Gate, Offer};
use crate::pacing::Pacer;
use crate::BridgeError;

/// Largest batch taken from a consumer at once.
pub(crate) const MAX_BATCH: usize = 256;

/// One consumed message, as the decision function sees it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub subject: String,
    pub headers: Option<HeaderMap>,
    pub payload: Bytes,
    /// Sequence in the source stream (for dead-letter ids).
    pub stream_seq: u64,
}

/// One message the decision wants published. `target` indexes the
/// JetStream contexts given to [`run_stage`].
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub target: usize,
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
    /// The feed seq, for a message on a feed's subject: it is chained
    /// ([`crate::continuity`]). `None` for dead letters.
    pub chain_seq: Option<u64>,
}

/// What a batch's decision counts; recorded only once the batch is stored,
/// so a redelivered batch is never counted twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Counted {
    Released {
        partner: String,
    },
    Denied {
        partner: String,
        reason: DenyReason,
    },
    Admitted {
        partner: String,
        transit_ms: i64,
    },
    Rejected {
        stage: &'static str,
        partner: String,
        reason: DenyReason,
    },
    /// A verified producer's message over its rate, stored in PACED.
    Deferred {
        producer: String,
    },
    /// A verified producer's message refused because its PACED backlog
    /// is full (also counted as `Rejected` with `rate_limited`).
    Refused {
        producer: String,
    },
    /// A PACED message decided (released, denied or refused) and so no
    /// longer waiting.
    Drained {
        producer: String,
    },
}

/// The outcome of deciding a batch.
#[derive(Debug, Default)]
pub(crate) struct Decided {
    pub outputs: Vec<Outgoing>,
    pub counted: Vec<Counted>,
    /// One audit record per decision, appended before the inputs are
    /// acknowledged.
    pub audit: Vec<AuditRecord>,
}

/// A pure, synchronous decision over a batch.
pub(crate) type Decide = Arc<dyn Fn(&[Incoming]) -> Decided + Send + Sync>;

/// Where a stage reads from: a durable consumer over a whole stream.
pub(crate) struct Source {
    pub consumer: PullConsumer,
    pub stream: jetstream::stream::Stream,
}

/// Called with the seconds a stored batch took and what it counted.
pub(crate) type BatchHook = Box<dyn Fn(f64, &[Counted]) + Send + Sync>;

/// Called with `Some(why)` when a stage starts holding, `None` when it resumes.
pub(crate) type HoldingHook = Box<dyn Fn(Option<&str>) + Send + Sync>;

/// Run before a stage places its gate: at start and after a lease takeover.
pub(crate) type OpenHook =
    Box<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), BridgeError>> + Send + Sync>;

/// What a stage reports as it goes.
pub(crate) struct Hooks {
    /// Seconds a stored batch took, and what it counted.
    pub batch: BatchHook,
    /// Messages that aged out of the source before they could be read.
    pub aged_out: Box<dyn Fn(u64) + Send + Sync>,
    /// Whether the stage may decide now; `Err(why)` holds every message
    /// (unacknowledged, so nothing is lost) until it may.
    pub ready: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    /// Called when the stage starts (`Some(why)`) or stops (`None`) holding.
    pub holding: HoldingHook,
    /// Whether this instance holds the nation's lease ([`crate::lease`]); an
    /// inactive stage does not read its source at all.
    pub active: Box<dyn Fn() -> bool + Send + Sync>,
    /// Released messages found missing upstream ([`crate::continuity`]).
    pub broken: Box<dyn Fn(&Break) + Send + Sync>,
    /// The stage's rate limit, if any ([`crate::pacing`]).
    pub pacer: Option<Pacer>,
    /// Held while a batch is decided, stored and counted (the paced stage,
    /// so that the egress stage's recount of PACED never sees half a batch).
    pub guard: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Asked after each decision: whether another stage wrote on this
    /// stage's output subjects since, so their continuity state must be
    /// looked up again ([`crate::rate`]).
    pub chains_stale: Box<dyn Fn() -> bool + Send + Sync>,
    /// Run before the gate is placed.
    pub on_open: Option<OpenHook>,
}

/// Where a stage writes: its target contexts and the audit log.
pub(crate) struct Sinks {
    /// JetStream contexts indexed by [`Outgoing::target`].
    pub targets: Vec<jetstream::Context>,
    /// The nation's audit log.
    pub auditor: Arc<Auditor>,
}

/// How long the gate may wait for a missing message before checking
/// whether it aged out of the source stream. Longer than the ack wait, so a
/// message stranded on a dead pull request is redelivered first.
const STALL_CHECK: Duration = Duration::from_secs(12);

/// Runs one stage until `shutdown` turns true. Errors of the consumer
/// stream are logged and the stream is re-opened; a stage only returns on
/// shutdown. Messages are processed in source-stream order ([`Gate`]).
pub(crate) async fn run_stage(
    name: String,
    source: Source,
    sinks: Sinks,
    decide: Decide,
    mut shutdown: watch::Receiver<bool>,
    mut hooks: Hooks,
) {
    let mut pacer = hooks.pacer.take();
    let window = pacer.as_ref().map_or(MAX_BATCH, Pacer::window);
    let mut gate: Option<Gate<jetstream::Message>> = None;
    let mut chains = ChainState::default();
    let mut held: Option<String> = None;
    while !*shutdown.borrow() {
        if !(hooks.active)() {
            // A standby, or an instance that lost the lease: forget where we
            // were; the active instance's consumer position is the truth.
            gate = None;
            chains = ChainState::default();
            if pause(&mut shutdown, Duration::from_millis(200)).await {
                return;
            }
            continue;
        }
        let messages = match open(&source, &mut gate, window, &hooks).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(stage = %name, error = %e, "cannot open consumer; retrying");
                if pause(&mut shutdown, Duration::from_millis(500)).await {
                    return;
                }
                continue;
            }
        };
        let Some(gate) = gate.as_mut() else { continue };
        let mut chunks = messages.ready_chunks(MAX_BATCH);
        let mut stalled_since: Option<Instant> = None;
        // How long the rate limit makes the next message wait, if it does.
        let mut wait: Option<Duration> = None;
        let stage = Stage {
            name: &name,
            sinks: &sinks,
            decide: &decide,
            hooks: &hooks,
        };
        loop {
            if !(hooks.active)() {
                tracing::warn!(stage = %name, "no longer the active instance; stopped reading");
                break;
            }
            let full = wait.is_some() && gate.ready_len(window) >= window;
            let chunk = tokio::select! {
                _ = shutdown.changed() => return,
                chunk = next_chunk(&mut chunks, full, wait) => chunk,
            };
            match chunk {
                None => break,
                Some(chunk) => offer_all(&name, gate, chunk).await,
            }
            if !may_decide(&name, &hooks, &mut held) {
                continue;
            }
            let ready = match pacer.as_mut() {
                Some(p) => {
                    let (ready, next_wait) = p.take(gate, |m| m.subject.as_str());
                    wait = next_wait;
                    ready
                }
                None => gate.take_ready(),
            };
            decide_ready(&stage, gate, ready, &mut chains).await;
            check_stall(&name, &source, gate, &mut stalled_since, &hooks).await;
        }
        if pause(&mut shutdown, Duration::from_millis(200)).await {
            return;
        }
    }
}

type Chunks = futures::stream::ReadyChunks<pull::Stream>;
type Pulled = Vec<Result<jetstream::Message, pull::MessagesError>>;

/// The next chunk from the consumer, waiting at most `wait` (1 s if no rate
/// limit is waiting); empty if nothing came, `None` if the consumer's
/// stream ended. A rate-limited stage whose window is `full` does not read
/// at all while it waits, so nothing more is pulled (and left to exceed its
/// ack wait) meanwhile.
async fn next_chunk(chunks: &mut Chunks, full: bool, wait: Option<Duration>) -> Option<Pulled> {
    let wait = wait.unwrap_or(Duration::from_secs(1));
    if full {
        tokio::time::sleep(wait).await;
        return Some(Vec::new());
    }
    tokio::time::timeout(wait, chunks.next())
        .await
        .unwrap_or_else(|_idle| Some(Vec::new()))
}

/// What [`decide_ready`] needs of its stage.
struct Stage<'a> {
    name: &'a str,
    sinks: &'a Sinks,
    decide: &'a Decide,
    hooks: &'a Hooks,
}

/// Decides and stores the messages taken from the gate (in order), then
/// moves the gate past them; if storing fails, naks them for redelivery.
async fn decide_ready(
    stage: &Stage<'_>,
    gate: &mut Gate<jetstream::Message>,
    ready: Vec<(u64, jetstream::Message)>,
    chains: &mut ChainState,
) {
    let Some(&(last, _)) = ready.last() else {
        return;
    };
    let batch: Vec<_> = ready.into_iter().map(|(_, m)| m).collect();
    let started = Instant::now();
    let hooks = stage.hooks;
    let _guard = match &hooks.guard {
        Some(g) => Some(g.lock().await),
        None => None,
    };
    match process(&batch, stage.sinks, stage.decide, chains, hooks).await {
        Ok(counted) => {
            gate.processed(last);
            (hooks.batch)(started.elapsed().as_secs_f64(), &counted);
        }
        Err(e) => {
            tracing::warn!(stage = %stage.name, error = %e, size = batch.len(), "batch not stored; redelivering");
            for m in &batch {
                let _ = m
                    .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                    .await;
            }
        }
    }
}

/// Asks the stage's `ready` hook; reports transitions into and out of
/// holding. Messages that wait are redelivered after the ack wait and
/// replace their held copies in the gate.
fn may_decide(name: &str, hooks: &Hooks, held: &mut Option<String>) -> bool {
    match (hooks.ready)() {
        Ok(()) => {
            if held.take().is_some() {
                tracing::info!(stage = %name, "resuming");
                (hooks.holding)(None);
            }
            true
        }
        Err(why) => {
            if held.as_deref() != Some(why.as_str()) {
                if held.is_none() {
                    (hooks.holding)(Some(&why));
                }
                tracing::warn!(stage = %name, %why, "holding: nothing is decided until this clears");
                *held = Some(why);
            }
            false
        }
    }
}

/// Opens the consumer's message stream, placing the gate on first use
/// after the consumer's acknowledged floor (or the stream's first message).
async fn open(
    source: &Source,
    gate: &mut Option<Gate<jetstream::Message>>,
    window: usize,
    hooks: &Hooks,
) -> Result<pull::Stream, BridgeError> {
    if gate.is_none() {
        if let Some(on_open) = &hooks.on_open {
            on_open().await?;
        }
        let mut consumer = source.consumer.clone();
        let floor = consumer
            .info()
            .await
            .map_err(|e| BridgeError::js("consumer info", e))?
            .ack_floor
            .stream_sequence;
        let mut stream = source.stream.clone();
        let first = stream
            .info()
            .await
            .map_err(|e| BridgeError::js("stream info", e))?
            .state
            .first_sequence;
        *gate = Some(Gate::new((floor + 1).max(first)));
    }
    // Short pull expiry and heartbeats: a pull request stranded on a server
    // or link that died is noticed in seconds, not after the 30 s default.
    source
        .consumer
        .stream()
        .max_messages_per_batch(window)
        .expires(Duration::from_secs(5))
        .heartbeat(Duration::from_secs(1))
        .messages()
        .await
        .map_err(|e| BridgeError::js("consumer messages", e))
}

async fn offer_all(
    name: &str,
    gate: &mut Gate<jetstream::Message>,
    chunk: Vec<Result<jetstream::Message, pull::MessagesError>>,
) {
    for item in chunk {
        let m = match item {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(stage = %name, error = %e, "consumer stream");
                continue;
            }
        };
        let Ok(seq) = m.info().map(|i| i.stream_sequence) else {
            tracing::warn!(stage = %name, subject = %m.subject, "message without JetStream metadata; terminated");
            let _ = m.ack_with(AckKind::Term).await;
            continue;
        };
        if let Offer::Stale(m) = gate.offer(seq, m) {
            let _ = m.ack().await;
        }
    }
}

/// If the gate has waited too long for a missing message, asks the source
/// stream whether it aged out, and moves on if it did.
async fn check_stall(
    name: &str,
    source: &Source,
    gate: &mut Gate<jetstream::Message>,
    stalled_since: &mut Option<Instant>,
    hooks: &Hooks,
) {
    if gate.held() == 0 {
        *stalled_since = None;
        return;
    }
    let since = *stalled_since.get_or_insert_with(Instant::now);
    if since.elapsed() < STALL_CHECK {
        return;
    }
    *stalled_since = None;
    let mut stream = source.stream.clone();
    match stream.info().await {
        Ok(info) => {
            let mut skipped = gate.skip_to(info.state.first_sequence);
            if skipped > 0 {
                tracing::error!(stage = %name, skipped, "messages aged out of the source stream before they were read");
            } else {
                skipped = skip_deleted(name, &source.stream, gate).await;
            }
            if skipped > 0 {
                (hooks.aged_out)(skipped);
            } else {
                tracing::info!(stage = %name, waiting_for = gate.expected(), held = gate.held(), "waiting for redelivery");
            }
        }
        Err(e) => tracing::debug!(stage = %name, error = %e, "stream info while stalled"),
    }
}

/// Skips the sequences the gate waits for that the source stream no longer
/// holds (deleted, or lost by the server), up to the first held message.
async fn skip_deleted(
    name: &str,
    stream: &jetstream::stream::Stream,
    gate: &mut Gate<jetstream::Message>,
) -> u64 {
    let Some(first_held) = gate.first_held() else {
        return 0;
    };
    let mut next = gate.expected();
    while next < first_held {
        match stream.get_raw_message(next).await {
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => next += 1,
            Ok(m) => {
                tracing::info!(stage = %name, seq = next, subject = %m.subject, "missing message still in the source stream");
                break;
            }
            Err(e) => {
                tracing::warn!(stage = %name, seq = next, error = %e, "cannot tell whether a missing message is still in the source stream");
                break;
            }
        }
    }
    let skipped = gate.skip_to(next);
    if skipped > 0 {
        tracing::error!(stage = %name, skipped, from = next - skipped, "messages missing from the source stream (deleted or lost); skipped");
    }
    skipped
}

/// Waits `d`, or less if shutdown comes first; true if shutting down.
pub(crate) async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = shutdown.changed() => true,
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
    }
}

async fn process(
    batch: &[jetstream::Message],
    sinks: &Sinks,
    decide: &Decide,
    chains: &mut ChainState,
    hooks: &Hooks,
) -> Result<Vec<Counted>, BridgeError> {
    let targets = &sinks.targets;
    let inputs: Vec<Incoming> = batch
        .iter()
        .map(|m| Incoming {
            subject: m.subject.to_string(),
            headers: m.headers.clone(),
            payload: m.payload.clone(),
            stream_seq: m.info().map_or(0, |i| i.stream_sequence),
        })
        .collect();
    let decide = decide.clone();
    let mut chain = chains.read_inputs(
        batch
            .iter()
            .map(|m| (m.subject.as_str(), m.headers.as_ref())),
        HOME,
    );
    let decided = tokio::task::spawn_blocking(move || decide(&inputs))
        .await
        .map_err(|e| BridgeError::js("decision task", e))?;
    if (hooks.chains_stale)() {
        chains.forget_written();
    }
    let chained: Vec<(usize, String)> = decided
        .outputs
        .iter()
        .filter(|o| o.chain_seq.is_some())
        .map(|o| (o.target, o.subject.clone()))
        .collect();
    chains.load(chained, targets).await?;
    let mut pending = Vec::with_capacity(decided.outputs.len());
    for mut out in decided.outputs {
        let ctx = targets
            .get(out.target)
            .ok_or_else(|| BridgeError::js("publish", format!("no target {}", out.target)))?;
        if let Some(seq) = out.chain_seq {
            let prev = chains.link(&mut chain, out.target, &out.subject, seq);
            out.headers.insert(
                coalition_schemas::headers::PREV_SEQ,
                prev.to_string().as_str(),
            );
        }
        let ack = ctx
            .publish_with_headers(out.subject.clone(), out.headers, out.payload)
            .await
            .map_err(|e| BridgeError::js(format!("publish to {}", out.subject), e))?;
        pending.push((out.subject, ack));
    }
    for (subject, ack) in pending {
        ack.await
            .map_err(|e| BridgeError::js(format!("store of {subject}"), e))?;
    }
    sinks.auditor.append(decided.audit).await?;
    for m in batch {
        m.ack().await.map_err(|e| BridgeError::js("ack", e))?;
    }
    for b in &chain.breaks {
        (hooks.broken)(b);
    }
    chains.commit(chain);
    Ok(decided.counted)
}
