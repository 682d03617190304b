//! The wire contract of Coalition Mesh: prost types generated from `proto/`.
//!
//! These are raw wire types. Domain code converts them with `TryFrom` in
//! `coalition-core` and never passes them around; see `docs/wire-contract.md`
//! for subjects, headers and the envelope.
#![forbid(unsafe_code)]

/// `coalition.v1`: envelope, labels, keys, certificates and payloads.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/coalition.v1.rs"));
}

/// Schema id of track payloads.
pub const TRACK_SCHEMA_ID: &str = "coalition.v1.Track";
/// Schema id of alert payloads.
pub const ALERT_SCHEMA_ID: &str = "coalition.v1.Alert";
