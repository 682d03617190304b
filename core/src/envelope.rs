//! Envelopes: sealing (producer side) and decoding and verifying (bridge and
//! subscriber side).
//!
//! The producer signs the exact bytes of the `SignedHeader`, which binds the
//! label, schema id and version, payload digest, producer, feed, sequence
//! and certificate. A verifier checks the signature over the bytes it got,
//! then the payload digest; it never re-encodes anything. Each failure maps
//! to one [`DenyReason`].
use bytes::Bytes;
use coalition_schemas::{v1, ALERT_SCHEMA_ID, TRACK_SCHEMA_ID};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::certificate::{certificate_digest, VerifiedCertificate};
use crate::keys::SigningKeyPair;
use crate::label::{Label, NationPolicy};
use crate::{context, CoreError, DenyReason};

/// The kinds of message, each with its own signature context and schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A sensor-track delta.
    Track,
    /// An alert.
    Alert,
}

impl MessageType {
    /// The signature context string.
    pub fn context(self) -> &'static [u8] {
        match self {
            MessageType::Track => context::TRACK,
            MessageType::Alert => context::ALERT,
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

    fn to_wire(self) -> v1::MessageType {
        match self {
            MessageType::Track => v1::MessageType::Track,
            MessageType::Alert => v1::MessageType::Alert,
        }
    }
}

/// The decoded signed header.
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

impl TryFrom<v1::SignedHeader> for Header {
    type Error = DenyReason;

    fn try_from(wire: v1::SignedHeader) -> Result<Self, DenyReason> {
        let v1::SignedHeader {
            message_type,
            schema,
            label,
            origin,
            producer_id,
            feed,
            seq,
            payload_sha256,
            produced_at_ms,
            producer_cert_sha256,
            corrects_seq,
            derived_from,
            product_id,
        } = wire;
        let message_type = match v1::MessageType::try_from(message_type) {
            Ok(v1::MessageType::Track) => MessageType::Track,
            Ok(v1::MessageType::Alert) => MessageType::Alert,
            _ => return Err(DenyReason::UnknownSchema),
        };
        let schema = schema.ok_or(DenyReason::MalformedHeader)?;
        if schema.id != message_type.schema_id() {
            return Err(DenyReason::UnknownSchema);
        }
        let label = label.ok_or(DenyReason::MalformedHeader)?;
        let digest = |b: Bytes| -> Result<[u8; 32], DenyReason> {
            b.as_ref()
                .try_into()
                .map_err(|_| DenyReason::MalformedHeader)
        };
        if origin.is_empty() || producer_id.is_empty() || feed.is_empty() || seq == 0 {
            return Err(DenyReason::MalformedHeader);
        }
        Ok(Header {
            message_type,
            schema_version: schema.version,
            label: label.into(),
            origin,
            producer_id,
            feed,
            seq,
            payload_sha256: digest(payload_sha256)?,
            produced_at_ms,
            producer_cert_sha256: digest(producer_cert_sha256)?,
            corrects_seq: (corrects_seq != 0).then_some(corrects_seq),
            product_id,
            derived_from: derived_from
                .into_iter()
                .map(SourceRef::try_from)
                .collect::<Result<_, _>>()?,
        })
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

/// What to seal.
#[derive(Debug, Clone)]
pub struct SealRequest<'a> {
    /// Track or alert.
    pub message_type: MessageType,
    /// Payload schema version.
    pub schema_version: u32,
    /// The label.
    pub label: &'a Label,
    /// The feed.
    pub feed: &'a str,
    /// Position in the feed.
    pub seq: u64,
    /// Seq this delta corrects, if any.
    pub corrects_seq: Option<u64>,
    /// The encoded payload.
    pub payload: Bytes,
    /// The product (track id or alert id) this delta belongs to.
    pub product_id: &'a str,
    /// Sources, for a composite product.
    pub derived_from: &'a [SourceRef],
    /// Now, Unix ms.
    pub now_ms: i64,
}

/// Seals a message: builds and signs the header, returns envelope bytes.
pub fn seal(identity: &ProducerIdentity, request: &SealRequest<'_>) -> Result<Bytes, CoreError> {
    if request.seq == 0 {
        return Err(CoreError::Seal("sequence numbers start at 1".into()));
    }
    let header = v1::SignedHeader {
        message_type: request.message_type.to_wire() as i32,
        schema: Some(v1::SchemaRef {
            id: request.message_type.schema_id().to_string(),
            version: request.schema_version,
        }),
        label: Some(request.label.into()),
        origin: identity.nation.clone(),
        producer_id: identity.producer_id.clone(),
        feed: request.feed.to_string(),
        seq: request.seq,
        payload_sha256: Bytes::copy_from_slice(&Sha256::digest(&request.payload)),
        produced_at_ms: request.now_ms,
        producer_cert_sha256: Bytes::copy_from_slice(&certificate_digest(&identity.certificate)),
        corrects_seq: request.corrects_seq.unwrap_or(0),
        derived_from: request
            .derived_from
            .iter()
            .map(v1::SourceRef::from)
            .collect(),
        product_id: request.product_id.to_string(),
    }
    .encode_to_vec();
    let signature = identity.key.sign(&header, request.message_type.context())?;
    Ok(v1::Envelope {
        signed_header: header.into(),
        payload: request.payload.clone(),
        signature,
        producer_certificate: identity.certificate.clone(),
    }
    .encode_to_vec()
    .into())
}

/// An envelope decoded but not yet verified.
#[derive(Debug, Clone)]
pub struct DecodedEnvelope {
    /// The decoded header (unverified until [`verify_envelope`] passes).
    pub header: Header,
    /// Exact signed bytes.
    pub signed_header: Bytes,
    /// The payload.
    pub payload: Bytes,
    /// The producer's signature.
    pub signature: Bytes,
    /// The attached certificate.
    pub certificate: Bytes,
}

/// Decodes envelope bytes. Fails on anything that is not a well-formed
/// envelope with a well-formed header.
pub fn decode_envelope(bytes: &[u8]) -> Result<DecodedEnvelope, DenyReason> {
    let v1::Envelope {
        signed_header,
        payload,
        signature,
        producer_certificate,
    } = v1::Envelope::decode(bytes).map_err(|_| DenyReason::MalformedEnvelope)?;
    let wire = v1::SignedHeader::decode(signed_header.as_ref())
        .map_err(|_| DenyReason::MalformedHeader)?;
    let header = Header::try_from(wire)?;
    if certificate_digest(&producer_certificate) != header.producer_cert_sha256 {
        return Err(DenyReason::CertificateMismatch);
    }
    Ok(DecodedEnvelope {
        header,
        signed_header,
        payload,
        signature,
        certificate: producer_certificate,
    })
}

/// Verifies a decoded envelope against its (root-verified) certificate and
/// the origin's policy, at `now_ms`: [`verify_signature`] plus the check that
/// the label is within the certificate's classification.
pub fn verify_envelope(
    envelope: &DecodedEnvelope,
    cert: &VerifiedCertificate,
    origin_policy: &NationPolicy,
    now_ms: i64,
) -> Result<(), DenyReason> {
    verify_signature(envelope, cert, now_ms)?;
    check_within_certificate(&envelope.header, cert, origin_policy)
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

/// Verifies who signed an envelope and that nothing in it changed: the
/// certificate matches and is valid at `now_ms`, names this producer and
/// feed, the ML-DSA signature holds and the payload matches its digest.
pub fn verify_signature(
    envelope: &DecodedEnvelope,
    cert: &VerifiedCertificate,
    now_ms: i64,
) -> Result<(), DenyReason> {
    let h = &envelope.header;
    if h.producer_cert_sha256 != cert.digest {
        return Err(DenyReason::CertificateMismatch);
    }
    if !cert.is_valid_at(now_ms) {
        return Err(DenyReason::CertificateExpired);
    }
    if h.origin != cert.nation || h.producer_id != cert.producer_id {
        return Err(DenyReason::ProducerMismatch);
    }
    if !cert.feeds.contains(&h.feed) {
        return Err(DenyReason::FeedNotPermitted);
    }
    if !cert.key.verify(
        &envelope.signed_header,
        h.message_type.context(),
        &envelope.signature,
    ) {
        return Err(DenyReason::BadSignature);
    }
    let digest: [u8; 32] = Sha256::digest(&envelope.payload).into();
    if digest != h.payload_sha256 {
        return Err(DenyReason::PayloadDigestMismatch);
    }
    Ok(())
}

/// A message whose producer signature and certificate chain verified.
#[derive(Debug, Clone)]
pub struct VerifiedMessage {
    /// The envelope.
    pub envelope: DecodedEnvelope,
    /// The producer's certificate.
    pub certificate: std::sync::Arc<VerifiedCertificate>,
}

/// Decodes `bytes`, checks the certificate chain (through `cache`) and the
/// producer's signature at `now_ms`.
pub fn open(
    bytes: &[u8],
    cache: &crate::certificate::CertificateCache,
    now_ms: i64,
) -> Result<VerifiedMessage, DenyReason> {
    let envelope = decode_envelope(bytes)?;
    let digest = envelope.header.producer_cert_sha256;
    let (certificate, cached) = cache.lookup(&digest, &envelope.certificate)?;
    verify_signature(&envelope, &certificate, now_ms)?;
    if !cached {
        cache.remember(digest, certificate.clone());
    }
    Ok(VerifiedMessage {
        envelope,
        certificate,
    })
}
