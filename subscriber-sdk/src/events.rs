//! What a subscription yields: a delivery, or a record it skipped. The SDK
//! never drops a record silently: every record it does not deliver is a
//! [`Skipped`] event, a warning in the log and a count in
//! `coalition_sdk_skipped_total{reason}`.
use crate::Delivery;

/// One event of a [`crate::Subscription`].
// Deliveries are nearly every event: boxing them would allocate per record
// to shrink the rare skip.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SubscriptionEvent {
    /// A verified record, for the application.
    Delivery(Delivery),
    /// A verified record not delivered, and why.
    Skipped(Skipped),
}

/// A record the subscription did not deliver. It counts as acknowledged:
/// its message is acknowledged once its other records are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The producer's nation.
    pub origin: String,
    /// The producer.
    pub producer_id: String,
    /// The feed.
    pub feed: String,
    /// The schema version it was served in (each version is its own chain).
    pub schema_version: u32,
    /// The record's position in the feed.
    pub seq: u64,
    /// The highest seq of the feed delivered before it.
    pub last_delivered_seq: u64,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Why a record was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// Its seq is at or below the last one delivered on its feed: a
    /// redelivery after the ack wait, a copy stored twice, or a record
    /// stored after a higher one. A validly signed record far ahead of its
    /// feed makes every later legitimate record land here: investigate a
    /// run of these (compare `seq` with `last_delivered_seq`).
    AlreadyDelivered,
    /// The consumer's own copy of a message whose records a gap replay
    /// already delivered: expected after a replay.
    Replayed,
    /// The consumer delivered the message again because not all its
    /// records were acknowledged within the ack wait (30 s): its records
    /// were delivered the first time. Acknowledge deliveries sooner.
    Redelivered,
}

impl SkipReason {
    /// The metric label and log name: `already_delivered`, `replayed`,
    /// `redelivered`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyDelivered => "already_delivered",
            SkipReason::Replayed => "replayed",
            SkipReason::Redelivered => "redelivered",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts and logs a skip; called once per skipped record, whichever way
/// the application reads the subscription.
pub(crate) fn report(skipped: &Skipped) {
    metrics::counter!("coalition_sdk_skipped_total", "reason" => skipped.reason.as_str())
        .increment(1);
    let Skipped {
        origin,
        producer_id,
        feed,
        schema_version,
        seq,
        last_delivered_seq,
        reason,
    } = skipped;
    match reason {
        SkipReason::Replayed | SkipReason::Redelivered => tracing::info!(
            %origin, %producer_id, %feed, schema_version, seq, last_delivered_seq, %reason,
            "record skipped: delivered before"
        ),
        SkipReason::AlreadyDelivered => tracing::warn!(
            %origin, %producer_id, %feed, schema_version, seq, last_delivered_seq, %reason,
            "record skipped: at or below the last seq delivered on its feed"
        ),
    }
}
