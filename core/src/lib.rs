//! The pure core of Coalition Mesh: labels, keys and certificates, batch
//! sealing and verification (Merkle trees and multiproofs), feed positions,
//! and the release and admit decisions.
//!
//! Nothing here does I/O or knows about tokio or NATS; time is an argument.
//! The bridge and the SDK are thin shells that receive bytes, call these
//! functions and act on what they return, so "why was this message denied?"
//! is answered by [`decision`] and [`envelope`] alone.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alert_scope;
pub mod alert_topic;
pub mod audit;
pub mod batch;
pub mod certificate;
pub mod clock;
pub mod composite;
pub mod decision;
pub mod envelope;
mod error;
pub mod feed_position;
pub mod keys;
pub mod label;
pub mod merkle;
pub mod policy;
mod reason;
pub mod revocation;
pub mod schema;
pub mod signed;
pub mod translator;

pub use error::CoreError;
pub use reason::DenyReason;

/// Domain-separation context strings for ML-DSA signatures: one per kind of
/// signed object, so a signature made for one can never verify as another.
pub mod context {
    /// Producer signature over the header of a batch of tracks.
    pub const TRACK_BATCH: &[u8] = b"coalition-mesh/v1/track-batch";
    /// Producer signature over the header of a batch of alerts.
    pub const ALERT_BATCH: &[u8] = b"coalition-mesh/v1/alert-batch";
    /// National root signature over a producer certificate.
    pub const PRODUCER_CERTIFICATE: &[u8] = b"coalition-mesh/v1/producer-certificate";
}
