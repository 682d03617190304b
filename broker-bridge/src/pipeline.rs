//! The shell every bridge stage runs in: pull a batch from a durable
//! consumer, hand it to a pure decision function on the blocking pool, publish
//! what the decision returned, wait until every publish is stored, and only
//! then acknowledge the inputs.
//!
//! If any publish fails, nothing in the batch is acknowledged: the batch is
//! negatively acknowledged and redelivered, and JetStream's `Nats-Msg-Id`
//! de-duplication absorbs what was already stored. So a message is never
//! acknowledged before its outcome (release, admission or dead letter) is
//! durable.
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

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
}

/// A pure, synchronous decision over a batch.
pub(crate) type Decide = Arc<dyn Fn(&[Incoming]) -> Vec<Outgoing> + Send + Sync>;

/// Runs one stage until `shutdown` turns true. Errors of the consumer
/// stream are logged and the stream is re-opened; a stage only returns on
/// shutdown.
pub(crate) async fn run_stage(
    name: String,
    consumer: PullConsumer,
    targets: Vec<jetstream::Context>,
    decide: Decide,
    mut shutdown: watch::Receiver<bool>,
    on_batch: impl Fn(f64) + Send,
) {
    while !*shutdown.borrow() {
        let messages = match consumer.messages().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(stage = %name, error = %e, "cannot open consumer stream; retrying");
                if pause(&mut shutdown, Duration::from_millis(500)).await {
                    return;
                }
                continue;
            }
        };
        let mut chunks = messages.ready_chunks(MAX_BATCH);
        loop {
            let chunk = tokio::select! {
                _ = shutdown.changed() => return,
                chunk = chunks.next() => chunk,
            };
            let Some(chunk) = chunk else { break };
            let batch: Vec<jetstream::Message> = chunk
                .into_iter()
                .filter_map(|r| r.map_err(|e| tracing::debug!(stage = %name, error = %e, "consumer stream")).ok())
                .collect();
            if batch.is_empty() {
                continue;
            }
            let started = Instant::now();
            if let Err(e) = process(&batch, &targets, &decide).await {
                tracing::warn!(stage = %name, error = %e, size = batch.len(), "batch not stored; redelivering");
                for m in &batch {
                    let _ = m.ack_with(AckKind::Nak(Some(Duration::from_millis(500)))).await;
                }
                continue;
            }
            on_batch(started.elapsed().as_secs_f64());
        }
        if pause(&mut shutdown, Duration::from_millis(200)).await {
            return;
        }
    }
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
    targets: &[jetstream::Context],
    decide: &Decide,
) -> Result<(), BridgeError> {
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
    let outputs = tokio::task::spawn_blocking(move || decide(&inputs))
        .await
        .map_err(|e| BridgeError::js("decision task", e))?;
    let mut pending = Vec::with_capacity(outputs.len());
    for out in outputs {
        let ctx = targets
            .get(out.target)
            .ok_or_else(|| BridgeError::js("publish", format!("no target {}", out.target)))?;
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
    for m in batch {
        m.ack()
            .await
            .map_err(|e| BridgeError::js("ack", e))?;
    }
    Ok(())
}
