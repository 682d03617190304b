//! Client SDK for Coalition Mesh: sensor producers sign and publish tracks
//! and alerts; alerting systems subscribe and receive verified, labelled,
//! de-duplicated deliveries with their lineage.
//!
//! The SDK hides envelopes and signatures. A producer holds an ML-DSA key and
//! a certificate from its national root ([`ProducerIdentity`]); a subscriber
//! holds the trust anchors of every nation it receives from.
//!
//! ```no_run
//! # async fn demo() -> Result<(), coalition_sdk::SdkError> {
//! use coalition_sdk::{Label, ProducerOptions, SubscriberOptions, Topic, TrackV1};
//! # let identity: coalition_sdk::ProducerIdentity = todo!();
//! # let anchors = Default::default();
//! let producer = ProducerOptions::new(["nats://127.0.0.1:4222"])
//!     .credentials("USA-producer-radar-1", "secret")
//!     .connect(identity)
//!     .await?;
//! let label = Label::new("USA", "SECRET", &["GBR"]);
//! producer.publish_track("tracks", &label, &TrackV1::default()).await?;
//!
//! let subscriber = SubscriberOptions::new(["nats://127.0.0.1:5222"])
//!     .credentials("GBR-subscriber", "secret")
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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
mod continuity;
mod control;
mod delivery;
mod error;
mod files;
mod producer;
mod schema_watch;
mod subscriber;

pub use coalition_core::certificate::TrustAnchors;
pub use coalition_core::envelope::{MessageType, ProducerIdentity, SourceRef};
pub use coalition_core::label::Label;
pub use coalition_schemas::v1::{AlertV1, Severity, TrackV1, TrackV2};
pub use control::ControlPublisher;
pub use delivery::{Delivery, Lineage, Payload};
pub use error::SdkError;
pub use files::{load_producer_identity, load_trust_anchor};
pub use producer::{Producer, ProducerOptions, PublishReceipt};
pub use subscriber::{Subscriber, SubscriberOptions, Subscription, Topic};

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
