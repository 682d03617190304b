//! The domain view of one record: its message type, its decoded header
//! (label, schema version, producer, feed, seq, ...) and the sources of a
//! composite product; and a producer's signing identity.
//!
//! Records travel in sealed batches ([`crate::batch`]); a [`Header`] joins
//! what the record's own header says with what its batch's signed header
//! says (origin, producer, feed, certificate), so the release and admit
//! decisions read one struct per record.
use bytes::Bytes;
use coalition_schemas::{v1, ALERT_SCHEMA_ID, TRACK_SCHEMA_ID};

use crate::certificate::{certificate_digest, VerifiedCertificate};
use crate::keys::SigningKeyPair;
use crate::label::{Label, NationPolicy};
use crate::{context, DenyReason};

/// The kinds of message, each with its own signature context and schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A sensor-track delta.
    Track,
    /// An alert.
    Alert,
}

impl MessageType {
    /// The signature context string of a batch of this kind.
    pub fn context(self) -> &'static [u8] {
        match self {
            MessageType::Track => context::TRACK_BATCH,
            MessageType::Alert => context::ALERT_BATCH,
        }
    }

    /// The payload schema id.
    pub fn schema_id(self) -> &'static str {
        match self {
            MessageType::Track => TRACK_SCHEMA_ID,
            MessageType::Alert => ALERT_SCHEMA_ID,
        }
    }

    /// The subject token (`track`, `alert`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Track => "track",
            MessageType::Alert => "alert",
        }
    }

    pub(crate) fn to_wire(self) -> v1::MessageType {
        match self {
            MessageType::Track => v1::MessageType::Track,
            MessageType::Alert => v1::MessageType::Alert,
        }
    }
}

/// One record's decoded header, with what its batch's signed header says
/// about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Track or alert.
    pub message_type: MessageType,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// The label as produced.
    pub label: Label,
    /// The producer's nation.
    pub origin: String,
    /// The producer.
    pub producer_id: String,
    /// The feed.
    pub feed: String,
    /// Position in the feed.
    pub seq: u64,
    /// SHA-256 of the payload.
    pub payload_sha256: [u8; 32],
    /// When sealed, Unix ms.
    pub produced_at_ms: i64,
    /// SHA-256 of the producer's certificate.
    pub producer_cert_sha256: [u8; 32],
    /// Seq this delta corrects, if any.
    pub corrects_seq: Option<u64>,
    /// The product (track id or alert id); may be empty.
    pub product_id: String,
    /// Sources of a composite product.
    pub derived_from: Vec<SourceRef>,
}

/// One source of a composite product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// The source's origin nation.
    pub origin: String,
    /// Its producer.
    pub producer_id: String,
    /// Its feed.
    pub feed: String,
    /// Its position in the feed.
    pub seq: u64,
    /// The source's label as admitted.
    pub label: Label,
    /// `<id>@<version>` of the translator that admitted it, if any.
    pub translator: Option<String>,
}

impl SourceRef {
    /// `<origin>.<producer>.<feed>.<seq>`.
    pub fn msg_id(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.origin, self.producer_id, self.feed, self.seq
        )
    }
}

impl Header {
    /// The JetStream de-duplication id: `<origin>.<producer>.<feed>.<seq>`.
    pub fn msg_id(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.origin, self.producer_id, self.feed, self.seq
        )
    }
}

impl TryFrom<v1::SourceRef> for SourceRef {
    type Error = DenyReason;

    fn try_from(wire: v1::SourceRef) -> Result<Self, DenyReason> {
        if wire.origin.is_empty()
            || wire.producer_id.is_empty()
            || wire.feed.is_empty()
            || wire.seq == 0
        {
            return Err(DenyReason::MalformedHeader);
        }
        Ok(SourceRef {
            origin: wire.origin,
            producer_id: wire.producer_id,
            feed: wire.feed,
            seq: wire.seq,
            label: wire.label.ok_or(DenyReason::MalformedHeader)?.into(),
            translator: (!wire.translator.is_empty()).then_some(wire.translator),
        })
    }
}

impl From<&SourceRef> for v1::SourceRef {
    fn from(s: &SourceRef) -> Self {
        v1::SourceRef {
            origin: s.origin.clone(),
            producer_id: s.producer_id.clone(),
            feed: s.feed.clone(),
            seq: s.seq,
            label: Some((&s.label).into()),
            translator: s.translator.clone().unwrap_or_default(),
        }
    }
}

/// A producer's signing identity: its key and its certificate.
#[derive(Debug)]
pub struct ProducerIdentity {
    /// The producer's nation.
    pub nation: String,
    /// The producer's id.
    pub producer_id: String,
    /// Its signing key.
    pub key: SigningKeyPair,
    /// Its encoded `SignedCertificate`.
    pub certificate: Bytes,
}

impl ProducerIdentity {
    /// SHA-256 of the certificate: how batches name it.
    pub fn certificate_sha256(&self) -> [u8; 32] {
        certificate_digest(&self.certificate)
    }
}

/// Checks that the header's label is at or below the certificate's highest
/// classification, in the origin's scale.
pub fn check_within_certificate(
    header: &Header,
    cert: &VerifiedCertificate,
    origin_policy: &NationPolicy,
) -> Result<(), DenyReason> {
    let (Some(label_rank), Some(cert_rank)) = (
        origin_policy.rank(&header.label.classification),
        origin_policy.rank(&cert.max_classification),
    ) else {
        return Err(DenyReason::UnknownClassification);
    };
    if label_rank > cert_rank {
        return Err(DenyReason::ClassificationAboveCertificate);
    }
    Ok(())
}
