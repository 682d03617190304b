//! Client SDK for Coalition Mesh: sensor producers seal and publish tracks
//! and alerts in signed batches; alerting systems subscribe and receive
//! verified, labelled, de-duplicated deliveries, one record at a time, with
//! their lineage.
//!
//! The SDK hides batches, Merkle proofs and signatures. A producer holds an
//! ML-DSA key and a certificate from its national root
//! ([`ProducerIdentity`]); a subscriber holds the trust anchors of every
//! nation it receives from.
//!
//! - [`Producer`] ([`producer`](crate::Producer)): batching, sealing off the
//!   runtime, ordered publishing with retries of the same bytes, one writer
//!   per feed.
//! - [`Subscriber`] and [`Subscription`]: verification of every batch
//!   against the subscriber's own trust anchors, delivery in feed order,
//!   gap replay, and a typed event for every record it skips
//!   ([`SubscriptionEvent::Skipped`]): the SDK never drops silently.
//!
//! ```no_run
//! # async fn demo() -> Result<(), coalition_sdk::SdkError> {
//! use coalition_sdk::{Label, ProducerOptions, Record, SubscriberOptions, Topic, TrackV1};
//! # let identity: coalition_sdk::ProducerIdentity = todo!();
//! # let anchors = Default::default();
//! # let (radar_tls, subscriber_tls): (coalition_tls::ClientTls, coalition_tls::ClientTls) = todo!();
//! // A generated mesh's servers take the user from the client certificate.
//! let producer = ProducerOptions::new(["nats://127.0.0.1:4222"])
//!     .tls(radar_tls)
//!     .connect(identity)
//!     .await?;
//! let label = Label::new("USA", "SECRET", &["GBR"]);
//! producer.publish("tracks", Record::track(&label, &TrackV1::default())).await?;
//!
//! let subscriber = SubscriberOptions::new(["nats://127.0.0.1:5222"])
//!     .tls(subscriber_tls)
//!     .trust_anchors(anchors)
//!     .connect()
//!     .await?;
//! let mut tracks = subscriber.subscribe(Topic::tracks().from_nation("USA")).await?;
//! while let Some(delivery) = tracks.next().await {
//!     let delivery = delivery?;
//!     println!("{} {} seq {}", delivery.origin, delivery.label.display(), delivery.seq);
//!     delivery.ack().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! # Metrics
//!
//! The SDK records through the [`metrics`] facade (install any recorder):
//!
//! - `coalition_sdk_skipped_total{reason}`: records a subscription skipped
//!   instead of delivering, by [`SkipReason::as_str`]
//!   (`already_delivered`, `replayed`, `redelivered`). Alert on
//!   `already_delivered`: records at or below what their feed already
//!   delivered, on a message delivered for the first time, which a healthy
//!   mesh does not produce (`replayed` and `redelivered` are the benign
//!   kinds: a gap replay, or a message redelivered after its ack wait).
//! - `coalition_sdk_filtered_total{reason}`: alerts a subscription left out
//!   because its topic asked so (`outside_area`, `expired`); acknowledged,
//!   not lost.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ack;
mod certificates;
mod connect;
mod continuity;
mod control;
mod delivery;
mod error;
mod events;
mod files;
mod in_force;
mod nak;
mod open;
mod producer;
mod schema_watch;
mod scope;
mod subscriber;
mod subscription;

pub use coalition_core::alert_scope::BoundingBox;
pub use coalition_core::certificate::TrustAnchors;
pub use coalition_core::envelope::{MessageType, ProducerIdentity, SourceRef};
pub use coalition_core::label::Label;
pub use coalition_core::revocation::NoticeSigner;
pub use coalition_core::signed::CertifiedKey;
pub use coalition_schemas::v1::{
    AlertArea, AlertCertainty, AlertMessageType, AlertReference, AlertSeverity, AlertStatus,
    AlertUrgency, AlertV1, AlertV2, GeoCircle, GeoPoint, Severity, TrackV1, TrackV2,
};
pub use control::ControlPublisher;
pub use delivery::{Delivery, Lineage, Payload};
pub use error::{Cause, SdkError};
pub use events::{SkipReason, Skipped, SubscriptionEvent};
pub use files::{load_producer_identity, load_revocation_authority, load_trust_anchor};
pub use in_force::InForceStart;
pub use producer::{PendingReceipt, Producer, ProducerOptions, PublishReceipt, Record};
pub use subscriber::{Subscriber, SubscriberOptions, Topic};
pub use subscription::Subscription;

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The lane (subject token and streams) of a message type.
pub(crate) fn lane(kind: MessageType) -> coalition_topology::Kind {
    match kind {
        MessageType::Track => coalition_topology::Kind::Track,
        MessageType::Alert => coalition_topology::Kind::Alert,
    }
}

/// Where a message type's signing and verification run: alerts ahead of
/// tracks ([`coalition_cpu_lanes`]).
pub(crate) fn cpu_lane(kind: MessageType) -> coalition_cpu_lanes::Lane {
    lane(kind).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_can_move_between_tasks() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Producer>();
        send_sync::<Subscriber>();
        send_sync::<Delivery>();
        send_sync::<SdkError>();
        send::<Subscription>();
        send::<PendingReceipt>();
        send::<SubscriptionEvent>();
    }
}
