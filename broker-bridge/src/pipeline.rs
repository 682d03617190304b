//! The shell every bridge stage runs in: pull sealed batches from a durable
//! consumer, pass them through the order gate (and the stage's rate limit),
//! hand a cycle of them to the stage's pure decision, store what it
//! returned, and only then acknowledge the inputs ([`crate::cycle`]).
//!
//! If any store fails, nothing in the cycle is acknowledged: its inputs are
//! negatively acknowledged and redelivered, and JetStream's `Nats-Msg-Id`
//! de-duplication absorbs what was already stored. So a batch is never
//! acknowledged before its outcome (releases, admissions, dead letters,
//! audit, feed positions) is durable. Inputs are processed in source-stream
//! order ([`crate::gate`]).
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;
use tokio::sync::watch;

use crate::cycle::{self, CycleState};
use crate::gate::{Gate, Offer, MAX_BATCH};
use crate::rate::ProducerPacing;
use crate::shell::{Shell, Source};
use crate::stage::{Counted, Stage};
use crate::time::{now_ms, pause};
use crate::{telemetry, BridgeError};

/// How long the gate may wait for a missing message before checking
/// whether it aged out of the source stream. Longer than the ack wait, so a
/// message stranded on a dead pull request is redelivered first.
const STALL_CHECK: Duration = Duration::from_secs(12);

/// How soon a stage holding a batch for its certificate looks again.
const CERTIFICATE_RETRY: Duration = Duration::from_millis(200);

/// Runs one stage until `shutdown` turns true. Errors of the consumer
/// stream are logged and the stream is re-opened; a stage only returns on
/// shutdown. Batches are processed in source-stream order ([`Gate`]).
pub(crate) async fn run_stage<S: Stage>(
    stage: Arc<S>,
    mut shell: Shell,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = stage.name().to_string();
    let mut pacer = shell.pacer.take();
    let window = pacer.as_ref().map_or(MAX_BATCH, |p| p.window());
    let mut gate: Option<Gate<jetstream::Message>> = None;
    let mut state = CycleState::new(stage.label(), stage.kind(), shell.hold);
    let mut held: Option<String> = None;
    while !*shutdown.borrow() {
        if !shell.lease.is_active() {
            // A standby, or an instance that lost the lease: forget where we
            // were; the active instance's consumer position is the truth.
            gate = None;
            state.forget();
            if pause(&mut shutdown, Duration::from_millis(200)).await {
                return;
            }
            continue;
        }
        let messages = match open(&*stage, &shell.source, &mut gate, window).await {
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
        // How long the rate limit (or a held certificate) makes the next
        // batch wait, if it does.
        let mut wait: Option<Duration> = None;
        loop {
            if !shell.lease.is_active() {
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
                Some(chunk) => {
                    if offer_all(&name, gate, chunk).await == Pulled::HeartbeatMissed {
                        // The pull request went where the server no longer
                        // is (a cut link, a restarted server); a new one is
                        // sent at once instead of after its 5 s expiry.
                        tracing::debug!(stage = %name, "no heartbeat from the consumer; pulling again");
                        break;
                    }
                }
            }
            if !may_decide(&*stage, &shell, &mut held) {
                continue;
            }
            let ready = match pacer.as_mut() {
                Some(p) => {
                    let (ready, next_wait) =
                        p.take(gate, |m| (m.subject.as_str(), m.payload.as_ref()));
                    wait = next_wait;
                    ready
                }
                None => {
                    wait = None;
                    take_cycle(gate)
                }
            };
            decide_ready(&stage, &shell, gate, ready, &mut state).await;
            if state.holding_certificate() {
                wait = Some(wait.map_or(CERTIFICATE_RETRY, |w| w.min(CERTIFICATE_RETRY)));
            }
            check_stall(&name, stage.label(), &shell, gate, &mut stalled_since).await;
        }
        if pause(&mut shutdown, Duration::from_millis(200)).await {
            return;
        }
    }
}

type Chunks = futures::stream::ReadyChunks<pull::Stream>;
type Chunk = Vec<Result<jetstream::Message, pull::MessagesError>>;

/// The next chunk from the consumer, waiting at most `wait` (1 s if no rate
/// limit is waiting); empty if nothing came, `None` if the consumer's
/// stream ended. A rate-limited stage whose window is `full` does not read
/// at all while it waits, so nothing more is pulled (and left to exceed its
/// ack wait) meanwhile.
async fn next_chunk(chunks: &mut Chunks, full: bool, wait: Option<Duration>) -> Option<Chunk> {
    let wait = wait.unwrap_or(Duration::from_secs(1));
    if full {
        tokio::time::sleep(wait).await;
        return Some(Vec::new());
    }
    tokio::time::timeout(wait, chunks.next())
        .await
        .unwrap_or_else(|_idle| Some(Vec::new()))
}

/// Decides and stores the batches taken from the gate (in order), then
/// moves the gate past what was stored; puts back what waits for a
/// certificate; if storing fails, naks the cycle for redelivery.
async fn decide_ready<S: Stage>(
    stage: &Arc<S>,
    shell: &Shell,
    gate: &mut Gate<jetstream::Message>,
    ready: Vec<(u64, jetstream::Message)>,
    state: &mut CycleState,
) {
    if ready.is_empty() {
        return;
    }
    let started = Instant::now();
    let guard = stage.guard();
    let _guard = match &guard {
        Some(g) => Some(g.lock().await),
        None => None,
    };
    match cycle::run(stage, shell, ready, state).await {
        Ok(done) => {
            if let Some(last) = done.stored_through {
                gate.processed(last);
            }
            for (seq, m) in done.waiting {
                gate.offer(seq, m);
            }
            let nation = &shell.nation;
            telemetry::batch_seconds(nation, stage.label(), started.elapsed().as_secs_f64());
            telemetry::record(nation, &done.counted);
            count_waiting(&shell.pacing, &done.counted);
            for b in &done.breaks {
                telemetry::continuity_break(nation, stage.label(), b);
            }
        }
        Err((e, batch)) => {
            tracing::warn!(stage = %stage.name(), error = %e, size = batch.len(), "cycle not stored; redelivering");
            for m in &batch {
                let _ = m
                    .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                    .await;
            }
        }
    }
}

/// The most input bytes one cycle takes (at least one batch): a cycle's
/// outputs, audit block and acknowledgements stay well inside the 5 s ack
/// wait of what waits behind it.
const MAX_CYCLE_BYTES: usize = 8 * 1024 * 1024;

/// The batches next in line, at most [`MAX_BATCH`] and [`MAX_CYCLE_BYTES`].
fn take_cycle(gate: &mut Gate<jetstream::Message>) -> Vec<(u64, jetstream::Message)> {
    let mut bytes = 0usize;
    gate.take_ready_while(MAX_BATCH, |_, m| {
        let first = bytes == 0;
        bytes += m.payload.len();
        first || bytes <= MAX_CYCLE_BYTES
    })
}

/// Keeps the producers' waiting counts (PACED) as stored cycles report
/// them.
fn count_waiting(pacing: &ProducerPacing, counted: &[Counted]) {
    for c in counted {
        match c {
            Counted::Deferred { producer, .. } => pacing.deferred(producer, 1),
            Counted::Drained { producer } => pacing.drained(producer, 1),
            _ => {}
        }
    }
}

/// Asks the stage whether it may decide; reports transitions into and out
/// of holding (metric, audit record). Batches that wait are redelivered
/// after the ack wait and replace their held copies in the gate.
fn may_decide<S: Stage>(stage: &S, shell: &Shell, held: &mut Option<String>) -> bool {
    match stage.ready() {
        Ok(()) => {
            if held.take().is_some() {
                tracing::info!(stage = %stage.name(), "resuming");
                holding(stage, shell, None);
            }
            true
        }
        Err(why) => {
            if held.as_deref() != Some(why.as_str()) {
                if held.is_none() {
                    holding(stage, shell, Some(&why));
                }
                tracing::warn!(stage = %stage.name(), %why, "holding: nothing is decided until this clears");
                *held = Some(why);
            }
            false
        }
    }
}

/// A stage starts (`Some(why)`) or stops holding: the partner-stale metric
/// and an audit record.
fn holding<S: Stage>(stage: &S, shell: &Shell, why: Option<&str>) {
    use coalition_schemas::v1::{AuditDecision, AuditRecord};
    let partner = stage.partner().unwrap_or_default().to_string();
    telemetry::partner_stale(&shell.nation, &partner, why.is_some());
    let record = AuditRecord {
        decision: AuditDecision::Hold as i32,
        stage: stage.label().to_string(),
        partner,
        decided_at_ms: now_ms(),
        detail: why.map_or("resumed".to_string(), |w| format!("holding: {w}")),
        ..Default::default()
    };
    let auditor = shell.auditor.clone();
    tokio::spawn(async move {
        if let Err(e) = auditor.append(vec![record]).await {
            tracing::warn!(error = %e, "hold record not audited");
        }
    });
}

/// Opens the consumer's message stream, placing the gate on first use
/// after the consumer's acknowledged floor (or the stream's first message).
async fn open<S: Stage>(
    stage: &S,
    source: &Source,
    gate: &mut Option<Gate<jetstream::Message>>,
    window: usize,
) -> Result<pull::Stream, BridgeError> {
    if gate.is_none() {
        stage.on_open().await?;
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

/// What a chunk from the consumer said about the pull itself.
#[derive(Debug, PartialEq, Eq)]
enum Pulled {
    Flowing,
    /// The server's idle heartbeats stopped: the pull request is lost.
    HeartbeatMissed,
}

/// Offers a chunk's messages to the gate (acknowledging those it already
/// passed), and says whether the consumer's heartbeats stopped.
async fn offer_all(name: &str, gate: &mut Gate<jetstream::Message>, chunk: Chunk) -> Pulled {
    let mut pulled = Pulled::Flowing;
    for item in chunk {
        let m = match item {
            Ok(m) => m,
            Err(e) => {
                if e.kind() == pull::MessagesErrorKind::MissingHeartbeat {
                    pulled = Pulled::HeartbeatMissed;
                }
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
    pulled
}

/// If the gate has waited too long for a missing message, asks the source
/// stream whether it aged out, and moves on if it did.
async fn check_stall(
    name: &str,
    label: &'static str,
    shell: &Shell,
    gate: &mut Gate<jetstream::Message>,
    stalled_since: &mut Option<Instant>,
) {
    let source = &shell.source;
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
                telemetry::aged_out(&shell.nation, label, skipped);
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
