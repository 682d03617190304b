//! Reads a partner's CONTROL stream across the leaf link, in order, one
//! message at a time: `STREAM.MSG.GET` for the next message on `ctl.>` at
//! or after the next sequence. The partner's leaf user may read CONTROL but
//! create no consumer there (docs/security.md), so nothing here is left on
//! the partner's side, and every instance of this bridge reads on its own.
//!
//! A core subscription on `ctl.>` wakes the reader as soon as the partner
//! stores a new object, so a revocation notice is applied at once; without
//! a wake-up it looks again every `poll`. A message the partner deleted
//! (CONTROL keeps one per subject) is skipped by the server's next-by-subject
//! lookup; a failure starts over from the last handled sequence.
use std::time::Duration;

use async_nats::jetstream::{self, stream::RawMessageErrorKind};
use bytes::Bytes;
use coalition_topology::streams;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;

use crate::time::pause;
use crate::BridgeError;

/// One message read from a partner's CONTROL stream.
pub(crate) struct ControlRead {
    pub subject: String,
    pub payload: Bytes,
}

/// Follows CONTROL through `js` from its first message until `shutdown`,
/// handing each message to `handle` in stream order. A message is handled
/// again after a failure, never skipped.
pub(crate) async fn follow_by_sequence<F, Fut>(
    name: String,
    js: jetstream::Context,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(ControlRead) -> Fut,
    Fut: std::future::Future<Output = Result<(), BridgeError>>,
{
    let mut next_seq = 1u64;
    loop {
        match read_from(&js, &mut next_seq, poll, &handle, &mut shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::info!(stream = %name, next_seq, error = %e, "control reader restarting")
            }
        }
        if pause(&mut shutdown, Duration::from_millis(500)).await {
            return;
        }
    }
}

async fn read_from<F, Fut>(
    js: &jetstream::Context,
    next_seq: &mut u64,
    poll: Duration,
    handle: &F,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), BridgeError>
where
    F: Fn(ControlRead) -> Fut,
    Fut: std::future::Future<Output = Result<(), BridgeError>>,
{
    let mut wake = js
        .client()
        .subscribe("ctl.>")
        .await
        .map_err(|e| BridgeError::js("CONTROL wake-up subscription", e))?;
    let stream = js
        .get_stream_no_info(streams::CONTROL)
        .await
        .map_err(|e| BridgeError::js("CONTROL stream", e))?;
    loop {
        let got = stream
            .raw_message_builder()
            .sequence(*next_seq)
            .next_by_subject("ctl.>")
            .send()
            .await;
        match got {
            Ok(m) => {
                let seq = m.sequence;
                handle(ControlRead {
                    subject: m.subject.to_string(),
                    payload: m.payload,
                })
                .await?;
                *next_seq = seq + 1;
            }
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {
                // Read to the end: wait for a new object, or look again.
                tokio::select! {
                    _ = shutdown.changed() => return Ok(()),
                    _ = wake.next() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
                // Several objects may have woken us; one read takes them all.
                while let Some(Some(_)) = wake.next().now_or_never() {}
            }
            Err(e) => return Err(BridgeError::js("CONTROL message", e)),
        }
    }
}
