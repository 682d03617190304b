//! A late joiner's start: the alerts of its topic still in force (every
//! unexpired alert not superseded by an update nor ended by a cancel),
//! then the live stream from just after them.
//!
//! The SDK reads INBOUND_ALERTS through the topic's filters up to the last
//! message stored when it starts, verifying every message as a live
//! delivery is verified, and applies the history in order
//! (`coalition_core::alert_scope::InForce`). A version 1 alert has no
//! expiry and cannot be updated or cancelled, so it stays in force. Then
//! the subscription's consumer starts after the last message read. What the
//! history delivered is recorded as delivered, so the live stream neither
//! repeats it nor mistakes it for a gap.
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use coalition_core::alert_scope::InForce;
use coalition_core::schema::alert_v1_to_v2;
use coalition_schemas::v1::{AlertMessageType, AlertV2};
use futures::StreamExt;

use crate::continuity::Delivered;
use crate::open::open_message;
use crate::{Delivery, Payload, SdkError, Subscription};

/// How long reading the history may take.
const HISTORY_LIMIT: Duration = Duration::from_secs(60);

/// What a late joiner starts with.
#[derive(Debug)]
pub struct InForceStart {
    /// The alerts in force, in the order they were first raised; their
    /// `ack` is a no-op (the history is read, not consumed).
    pub alerts: Vec<Delivery>,
    /// The live stream, from just after the history.
    pub live: Subscription,
}

/// The messages stored under `filters` in `stream`, up to the last one
/// stored now.
pub(crate) async fn history(
    stream: &jetstream::stream::Stream,
    filters: Vec<String>,
) -> Result<Vec<jetstream::Message>, SdkError> {
    let error = |detail: String| SdkError::Consume {
        source: None,
        stream: stream.cached_info().config.name.clone(),
        detail,
    };
    let mut consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subjects: filters,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| error(format!("history consumer: {e}")).with_source(e))?;
    let pending = consumer
        .info()
        .await
        .map_err(|e| error(format!("history consumer info: {e}")).with_source(e))?
        .num_pending;
    let mut found = Vec::new();
    if pending == 0 {
        return Ok(found);
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| error(format!("history: {e}")).with_source(e))?;
    let deadline = tokio::time::Instant::now() + HISTORY_LIMIT;
    while (found.len() as u64) < pending {
        match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(Ok(m))) => found.push(m),
            Ok(Some(Err(e))) => tracing::debug!(error = %e, "history: transient error"),
            Ok(None) => break,
            Err(_) => return Err(error(format!("reading took over {HISTORY_LIMIT:?}"))),
        }
    }
    Ok(found)
}

/// Verifies the history and keeps the alerts in force at `now_ms`; returns
/// them, the last stream sequence read, and what was delivered per feed.
pub(crate) async fn in_force(
    certs: &crate::certificates::Certificates,
    messages: &[jetstream::Message],
    now_ms: i64,
    include_expired: bool,
) -> Result<
    (
        Vec<Delivery>,
        u64,
        Vec<(crate::continuity::FeedKey, Delivered)>,
    ),
    SdkError,
> {
    let mut ledger = InForce::default();
    let mut last_stream_seq = 0;
    let mut delivered = Vec::new();
    for message in messages {
        let opened = open_message(certs, message).await?;
        last_stream_seq = last_stream_seq.max(opened.stream_seq);
        for record in opened.records {
            let seq = record.header.seq;
            let stream_seq = opened.stream_seq;
            delivered.push((opened.key.clone(), Delivered { seq, stream_seq }));
            let delivery = record.into_delivery(None, None, None, true);
            let alert = match &delivery.payload {
                Payload::AlertV2(a) => (**a).clone(),
                // A v1 alert stays in force (v1 has no expiry, update or
                // cancel), even one v2 could not carry.
                Payload::Alert(a) => alert_v1_to_v2(a).map_or_else(
                    |_| AlertV2 {
                        alert_id: a.alert_id.clone(),
                        message_type: AlertMessageType::Alert as i32,
                        ..Default::default()
                    },
                    |(v2, _)| v2,
                ),
                Payload::Track(_) | Payload::TrackV2(_) => continue,
            };
            ledger.apply(alert, delivery);
        }
    }
    let alerts = ledger
        .into_in_force(now_ms, include_expired)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    Ok((alerts, last_stream_seq, delivered))
}
