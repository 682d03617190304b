//! Payload schema versions: transcoding tracks and alerts between v1 and v2
//! (and what makes an alert v2 valid), the signed
//! schema policy that says which versions a nation accepts (and the
//! dual-run window of a migration), the pure decision of which versions are
//! in force at an instant, and the book of policies a bridge knows.
//!
//! Everything here is pure: time is an argument, and bytes in give bytes
//! out. It does not choose subjects, publish, or write lineage headers; the
//! bridge does that with what these functions return ([`Lossy`] is what a
//! lossy conversion puts in lineage). The versions, the field mapping and
//! what each conversion loses are listed in `schemas/MANIFEST.md`.
//!
//! Transcoding fails closed: a non-finite number or a value outside its
//! range is a [`TranscodeError`], never saturated into something plausible
//! (a NaN position must not become 0°, 0°).
//!
//! - `transcode`: [`track_v1_to_v2`], [`track_v2_to_v1`],
//!   [`transcode_payload`] (any message type);
//! - `alert`: [`alert_v1_to_v2`], [`alert_v2_to_v1`], [`validate_alert_v2`],
//!   [`check_payload`];
//! - `lossy`: [`Lossy`], [`Loss`], [`TranscodeError`];
//! - `policy`: [`SchemaPolicy`], [`sign_schema_policy`],
//!   [`verify_schema_policy`], [`SchemaBook`];
//! - `phase`: [`phase`], [`check_version`], [`versions_to_serve`].
use crate::envelope::MessageType;

mod alert;
mod lossy;
mod phase;
mod policy;
mod transcode;
mod velocity;

pub use alert::{
    alert_v1_to_v2, alert_v2_to_v1, check_payload, validate_alert_v2, HEADLINE_MAX_CHARS,
};
pub(crate) use alert::{severity_to_v2, V1_CATEGORY};
pub use lossy::{Loss, Lossy, TranscodeError};
pub use phase::{check_version, phase, versions_to_serve, Phase};
pub use policy::{
    sign_schema_policy, verify_schema_policy, Migration, SchemaBook, SchemaPolicy, SchemaRule,
};
pub use transcode::{track_v1_to_v2, track_v2_to_v1, transcode_payload};

/// Track schema version 1 (`TrackV1`).
pub const TRACK_V1: u32 = 1;
/// Track schema version 2 (`TrackV2`).
pub const TRACK_V2: u32 = 2;
/// Alert schema version 1 (`AlertV1`).
pub const ALERT_V1: u32 = 1;
/// Alert schema version 2 (`AlertV2`, modelled on CAP 1.2).
pub const ALERT_V2: u32 = 2;

/// The schema versions that exist for `message_type` (schemas/MANIFEST.md).
pub fn known_versions(message_type: MessageType) -> &'static [u32] {
    match message_type {
        MessageType::Track => &[TRACK_V1, TRACK_V2],
        MessageType::Alert => &[ALERT_V1, ALERT_V2],
    }
}

#[cfg(test)]
mod tests;
