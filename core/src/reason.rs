//! The one vocabulary of reasons a message is not released or not admitted.
//! The same value is the decision, the metric label, the audit field, the
//! dead-letter header and what tests assert.

/// Why a message was denied (egress) or rejected (ingress).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DenyReason {
    /// The batch bytes do not decode, or its records are not in strictly
    /// increasing seq order inside the batch's range (reordered, repeated).
    MalformedBatch,
    /// The signed header does not decode or lacks a required field.
    MalformedHeader,
    /// The subject does not match what the signed header says.
    SubjectMismatch,
    /// The message type or schema is not one this bridge knows.
    UnknownSchema,
    /// No trust anchor for the certificate's nation, or a different root.
    UnknownIssuer,
    /// The certificate does not decode, or its root signature is invalid.
    BadCertificate,
    /// The header names a different certificate than the one attached.
    CertificateMismatch,
    /// The certificate is outside its validity window.
    CertificateExpired,
    /// Origin or producer id in the header differ from the certificate's.
    ProducerMismatch,
    /// The certificate does not allow this feed.
    FeedNotPermitted,
    /// The label is above the certificate's highest classification.
    ClassificationAboveCertificate,
    /// The producer's ML-DSA signature does not verify.
    BadSignature,
    /// The payload does not match the digest in the signed header.
    PayloadDigestMismatch,
    /// The label's policy is not the one expected here.
    UnknownPolicy,
    /// The classification is not in the policy's scale.
    UnknownClassification,
    /// A caveat the policy does not know (fail closed).
    UnknownCaveat,
    /// A caveat (e.g. NOFORN) forbids any foreign release.
    CaveatForbidsRelease,
    /// The destination is not in the label's releasable-to list.
    NotReleasableToDestination,
    /// The classification is above the link's ceiling.
    ClassificationAboveLink,
    /// The message arrived from a partner other than its origin.
    OriginMismatch,
    /// The label's policy version (or the destination's policy) is not known here.
    UnknownPolicyVersion,
    /// No translator covers this pair of nations and policy versions.
    NoTranslator,
    /// Every translator that would apply has been revoked.
    TranslatorRevoked,
    /// The translator that would apply is outside its validity window.
    TranslatorNotValid,
    /// The translator has no mapping for the classification.
    UntranslatableClassification,
    /// The translator has no mapping for a caveat.
    UntranslatableCategory,
    /// The label lacks a category the translator requires.
    MissingRequiredCategory,
    /// The label carries a category the translator forbids.
    ForbiddenCategory,
    /// The producer's key has been revoked.
    ProducerKeyRevoked,
    /// The product (track or alert) has been retracted by its origin.
    ProductRetracted,
    /// The partnership between the two nations is suspended.
    PartnerSuspended,
    /// The schema version is not one the origin's schema policy accepts
    /// for this message type, at any time.
    UnknownSchemaVersion,
    /// The schema version was accepted until its migration's dual-run
    /// window ended; producers must send the newer version.
    SchemaVersionRetired,
    /// The schema version is the target of a migration whose dual-run
    /// window has not started yet.
    SchemaVersionNotYetAccepted,
    /// The payload cannot be transcoded into a version the bridge must
    /// serve: it does not decode, or a value has no representation there.
    UntranscodablePayload,
    /// The payload decodes in its schema version but breaks that version's
    /// rules (an alert v2 whose category is not a subject token, an update
    /// that names no alert, an open polygon, ...: see
    /// `coalition_core::schema::validate_alert_v2`). Refused at egress and
    /// dead-lettered; refused at ingress if a partner released one anyway.
    InvalidPayload,
    /// The producer exceeded its rate limit and its backlog of deferred
    /// messages is full (`rate_limits.producer_max_deferred`): refused at
    /// egress and dead-lettered, never dropped.
    RateLimited,
    /// The records carried and the Merkle proof do not give the signed root:
    /// a record edited, moved, dropped without proof or taken from another
    /// batch, or a forged or truncated proof.
    BadProof,
    /// A producer's batch in OUTBOUND does not carry every record of its
    /// range (only a bridge releases subsets).
    IncompleteBatch,
    /// The batch names a producer certificate (by digest) that did not
    /// arrive on the control plane within the hold bound.
    UnknownCertificate,
    /// The batch's whole seq range is at or below the last one accepted on
    /// its feed: a replay (or a rollback to used seqs).
    FeedReplay,
    /// The batch's seq range starts at or below the last one accepted on
    /// its feed and ends above it: new content under used seqs.
    FeedRollback,
    /// The batch's seq range starts beyond the feed's forward window.
    FeedJump,
}

impl DenyReason {
    /// Every reason, for metrics pre-registration and exhaustive tests.
    pub const ALL: [DenyReason; 43] = [
        DenyReason::MalformedBatch,
        DenyReason::MalformedHeader,
        DenyReason::SubjectMismatch,
        DenyReason::UnknownSchema,
        DenyReason::UnknownIssuer,
        DenyReason::BadCertificate,
        DenyReason::CertificateMismatch,
        DenyReason::CertificateExpired,
        DenyReason::ProducerMismatch,
        DenyReason::FeedNotPermitted,
        DenyReason::ClassificationAboveCertificate,
        DenyReason::BadSignature,
        DenyReason::PayloadDigestMismatch,
        DenyReason::UnknownPolicy,
        DenyReason::UnknownClassification,
        DenyReason::UnknownCaveat,
        DenyReason::CaveatForbidsRelease,
        DenyReason::NotReleasableToDestination,
        DenyReason::ClassificationAboveLink,
        DenyReason::OriginMismatch,
        DenyReason::UnknownPolicyVersion,
        DenyReason::NoTranslator,
        DenyReason::TranslatorRevoked,
        DenyReason::TranslatorNotValid,
        DenyReason::UntranslatableClassification,
        DenyReason::UntranslatableCategory,
        DenyReason::MissingRequiredCategory,
        DenyReason::ForbiddenCategory,
        DenyReason::ProducerKeyRevoked,
        DenyReason::ProductRetracted,
        DenyReason::PartnerSuspended,
        DenyReason::UnknownSchemaVersion,
        DenyReason::SchemaVersionRetired,
        DenyReason::SchemaVersionNotYetAccepted,
        DenyReason::UntranscodablePayload,
        DenyReason::InvalidPayload,
        DenyReason::RateLimited,
        DenyReason::BadProof,
        DenyReason::IncompleteBatch,
        DenyReason::UnknownCertificate,
        DenyReason::FeedReplay,
        DenyReason::FeedRollback,
        DenyReason::FeedJump,
    ];

    /// The snake_case name used in metrics, audit records, dead-letter
    /// subjects and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::MalformedBatch => "malformed_batch",
            DenyReason::MalformedHeader => "malformed_header",
            DenyReason::SubjectMismatch => "subject_mismatch",
            DenyReason::UnknownSchema => "unknown_schema",
            DenyReason::UnknownIssuer => "unknown_issuer",
            DenyReason::BadCertificate => "bad_certificate",
            DenyReason::CertificateMismatch => "certificate_mismatch",
            DenyReason::CertificateExpired => "certificate_expired",
            DenyReason::ProducerMismatch => "producer_mismatch",
            DenyReason::FeedNotPermitted => "feed_not_permitted",
            DenyReason::ClassificationAboveCertificate => "classification_above_certificate",
            DenyReason::BadSignature => "bad_signature",
            DenyReason::PayloadDigestMismatch => "payload_digest_mismatch",
            DenyReason::UnknownPolicy => "unknown_policy",
            DenyReason::UnknownClassification => "unknown_classification",
            DenyReason::UnknownCaveat => "unknown_caveat",
            DenyReason::CaveatForbidsRelease => "caveat_forbids_release",
            DenyReason::NotReleasableToDestination => "not_releasable_to_destination",
            DenyReason::ClassificationAboveLink => "classification_above_link",
            DenyReason::OriginMismatch => "origin_mismatch",
            DenyReason::UnknownPolicyVersion => "unknown_policy_version",
            DenyReason::NoTranslator => "no_translator",
            DenyReason::TranslatorRevoked => "translator_revoked",
            DenyReason::TranslatorNotValid => "translator_not_valid",
            DenyReason::UntranslatableClassification => "untranslatable_classification",
            DenyReason::UntranslatableCategory => "untranslatable_category",
            DenyReason::MissingRequiredCategory => "missing_required_category",
            DenyReason::ForbiddenCategory => "forbidden_category",
            DenyReason::ProducerKeyRevoked => "producer_key_revoked",
            DenyReason::ProductRetracted => "product_retracted",
            DenyReason::PartnerSuspended => "partner_suspended",
            DenyReason::UnknownSchemaVersion => "unknown_schema_version",
            DenyReason::SchemaVersionRetired => "schema_version_retired",
            DenyReason::SchemaVersionNotYetAccepted => "schema_version_not_yet_accepted",
            DenyReason::UntranscodablePayload => "untranscodable_payload",
            DenyReason::InvalidPayload => "invalid_payload",
            DenyReason::RateLimited => "rate_limited",
            DenyReason::BadProof => "bad_proof",
            DenyReason::IncompleteBatch => "incomplete_batch",
            DenyReason::UnknownCertificate => "unknown_certificate",
            DenyReason::FeedReplay => "feed_replay",
            DenyReason::FeedRollback => "feed_rollback",
            DenyReason::FeedJump => "feed_jump",
        }
    }

    /// Parses [`DenyReason::as_str`] back.
    pub fn parse(s: &str) -> Option<DenyReason> {
        DenyReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
        for r in DenyReason::ALL {
            assert_eq!(DenyReason::parse(r.as_str()), Some(r));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DenyReason::ALL.len());
        assert_eq!(DenyReason::parse("nonsense"), None);
    }
}
