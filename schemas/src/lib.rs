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

/// Certificate identities (producer ids) the system itself uses. No
/// topology may name a producer after one, no producer certificate may be
/// issued for one, and no batch signed under one is accepted: a producer
/// named `bridge` would otherwise hold a key that passes as its nation's
/// bridge key for heartbeats and audit checkpoints.
pub mod identities {
    /// The identity of a nation's bridge key (heartbeats, audit
    /// checkpoints, forwarded control objects).
    pub const BRIDGE: &str = "bridge";
    /// Reserved for the revocation authority's key, certified by the root.
    pub const REVOCATION_AUTHORITY: &str = "revocation-authority";
    /// Reserved for a nation's root key.
    pub const ROOT: &str = "root";
    /// Every reserved identity.
    pub const RESERVED: [&str; 3] = [BRIDGE, REVOCATION_AUTHORITY, ROOT];

    /// Whether `producer_id` is one the system reserves for itself.
    pub fn is_reserved(producer_id: &str) -> bool {
        RESERVED.contains(&producer_id)
    }
}

/// NATS header names of the wire contract (see `docs/wire-contract.md`).
pub mod headers {
    /// JetStream de-duplication id: a batch's `<origin>.<producer>.<feed>.<first>-<last>`
    /// (docs/wire-contract.md lists every form).
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// Lineage: the producer's nation.
    pub const ORIGIN: &str = "Coalition-Origin";
    /// Lineage: the producer id.
    pub const PRODUCER: &str = "Coalition-Producer";
    /// Lineage: the feed.
    pub const FEED: &str = "Coalition-Feed";
    /// The highest record seq a message carries (a batch on `rel.`, `in.`),
    /// or the record's seq on a one-record dead letter.
    pub const SEQ: &str = "Coalition-Seq";
    /// Continuity: the `Coalition-Seq` of the message written before this
    /// one on the same subject (`0`: none). Chains are per message (batch);
    /// a refused record is not in the chain, so a break means something is
    /// missing, not refused.
    pub const PREV_SEQ: &str = "Coalition-Prev-Seq";
    /// Lineage: hex SHA-256 of the producer's public key (first 16 bytes).
    pub const KEY_ID: &str = "Coalition-Key-Id";
    /// Lineage: `release` (on release subjects) or `admit` (on delivery subjects).
    pub const DECISION: &str = "Coalition-Decision";
    /// Lineage: the nation whose bridge released it.
    pub const RELEASED_BY: &str = "Coalition-Released-By";
    /// Lineage: when it was released, Unix ms.
    pub const RELEASED_AT: &str = "Coalition-Released-At";
    /// Lineage: the nation whose bridge admitted it.
    pub const ADMITTED_BY: &str = "Coalition-Admitted-By";
    /// Lineage: when it was admitted, Unix ms.
    pub const ADMITTED_AT: &str = "Coalition-Admitted-At";
    /// Dead letters: the deny reason (`DenyReason::as_str`).
    pub const REASON: &str = "Coalition-Reason";
    /// Dead letters: `egress`, `paced` or `ingress`.
    pub const STAGE: &str = "Coalition-Stage";
    /// Dead letters: the subject the message arrived on.
    pub const SOURCE_SUBJECT: &str = "Coalition-Source-Subject";
    /// Dead letters: the partner the decision was about, if any.
    pub const PARTNER: &str = "Coalition-Partner";
}
