//! One delivery: verifying a message read from INBOUND against the
//! subscriber's own trust anchors and its subject, decoding its payload in
//! the schema version it is served in, and its lineage.
//!
//! A message served in a version other than the one it was produced in
//! (a dual-run window, docs/schemas.md) is a `ServedMessage`: the
//! producer's envelope unchanged plus the transcoded payload. The SDK
//! verifies the envelope, transcodes its payload itself by the documented
//! mapping and refuses the delivery unless both agree, so a bridge cannot
//! change what a producer said.
use std::sync::Arc;

use async_nats::jetstream;
use bytes::Bytes;
use coalition_core::certificate::CertificateCache;
use coalition_core::envelope::{open, MessageType};
use coalition_core::label::Label;
use coalition_core::schema::transcode_track_payload;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1::{AlertV1, ServedMessage, TrackV1, TrackV2};
use prost::Message as _;

use crate::{now_ms, SdkError};

pub(crate) const INBOUND: &str = "INBOUND";

/// What a delivery carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A track delta (schema version 1).
    Track(TrackV1),
    /// A track delta in schema version 2.
    TrackV2(TrackV2),
    /// An alert.
    Alert(AlertV1),
}

/// Where a delivery came from and who let it through, from the bridges'
/// lineage headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The nation whose bridge released it.
    pub released_by: Option<String>,
    /// When, Unix ms.
    pub released_at_ms: Option<i64>,
    /// The nation whose bridge admitted it.
    pub admitted_by: Option<String>,
    /// When, Unix ms.
    pub admitted_at_ms: Option<i64>,
    /// The producer key's id (hex).
    pub key_id: Option<String>,
    /// The decision recorded by the admitting bridge.
    pub decision: Option<String>,
    /// The label as translated into this nation's vocabulary.
    pub translated_label: Option<String>,
    /// The translator that admitted it, `<id>@<version>`.
    pub translator: Option<String>,
    /// `<origin>/v<n> -> <receiver>/v<m>`: the policy versions decided under.
    pub policy_versions: Option<String>,
    /// The schema version the message was produced in, if it is served in
    /// another one (a dual-run window).
    pub transcoded_from: Option<u32>,
    /// `<source field>:<rounded|dropped|semantic>` for every field the
    /// conversion did not carry exactly, as this SDK computed it.
    pub lossy: Vec<String>,
}

/// One verified message.
#[derive(Debug)]
pub struct Delivery {
    /// The producer's nation.
    pub origin: String,
    /// The producer.
    pub producer_id: String,
    /// The feed.
    pub feed: String,
    /// Position in the feed.
    pub seq: u64,
    /// The schema version the payload is in (the one the subscription asked
    /// for).
    pub schema_version: u32,
    /// If this delta corrects an earlier one, its seq.
    pub corrects_seq: Option<u64>,
    /// The label, as signed by the producer.
    pub label: Label,
    /// The typed payload.
    pub payload: Payload,
    /// Lineage.
    pub lineage: Lineage,
    /// Feed seqs missing before this one (first, last): admitted to this
    /// nation or released to it, but not found in INBOUND even after a
    /// replay. Seqs refused on the way are not gaps; the range may still
    /// include some this nation's bridge refused (its audit log says which).
    pub gap: Option<(u64, u64)>,
    /// True if the delivery came from a replay that filled a gap, not from
    /// the subscription's consumer (acknowledging it is then a no-op: the
    /// consumer's own copy is acknowledged when it arrives).
    pub replayed: bool,
    /// For a composite product (e.g. a fused track), every source it was
    /// derived from, as signed by its producer.
    pub derived_from: Vec<coalition_core::envelope::SourceRef>,
    pub(crate) message: Option<jetstream::Message>,
}

impl Delivery {
    /// Acknowledges the delivery; until then it is redelivered after 30 s.
    pub async fn ack(&self) -> Result<(), SdkError> {
        let Some(message) = &self.message else {
            return Ok(());
        };
        message.ack().await.map_err(|e| SdkError::Consume {
            stream: INBOUND.into(),
            detail: format!("ack failed: {e}"),
        })
    }
}

/// A verified message with its decoded payload.
pub(crate) struct Opened {
    pub(crate) seq: u64,
    header: coalition_core::envelope::Header,
    /// The schema version the payload is served in.
    served_version: u32,
    payload: Payload,
    lineage: Lineage,
}

impl Opened {
    pub(crate) fn feed_key(&self) -> crate::continuity::FeedKey {
        let h = &self.header;
        (
            h.origin.clone(),
            h.producer_id.clone(),
            h.feed.clone(),
            self.served_version,
        )
    }

    pub(crate) fn into_delivery(
        self,
        message: Option<jetstream::Message>,
        gap: Option<(u64, u64)>,
        replayed: bool,
    ) -> Delivery {
        let h = self.header;
        Delivery {
            origin: h.origin,
            producer_id: h.producer_id,
            feed: h.feed,
            seq: h.seq,
            schema_version: self.served_version,
            corrects_seq: h.corrects_seq,
            label: h.label,
            payload: self.payload,
            lineage: self.lineage,
            gap,
            replayed,
            derived_from: h.derived_from,
            message,
        }
    }
}

pub(crate) fn link_of(message: &jetstream::Message) -> Option<u64> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::PREV_SEQ))
        .and_then(|v| v.as_str().parse().ok())
}

pub(crate) fn stream_seq_of(message: &jetstream::Message) -> u64 {
    message.info().map_or(0, |i| i.stream_sequence)
}

/// What a message on INBOUND holds: the producer's envelope, and the
/// payload in the version it is served in.
struct Unwrapped {
    envelope: Bytes,
    served: Option<ServedMessage>,
}

fn unwrap_served(message: &jetstream::Message) -> Result<Unwrapped, DenyReason> {
    let transcoded = message
        .headers
        .as_ref()
        .is_some_and(|h| h.get(headers::TRANSCODED_FROM).is_some());
    if !transcoded {
        return Ok(Unwrapped {
            envelope: message.payload.clone(),
            served: None,
        });
    }
    let served = ServedMessage::decode(message.payload.as_ref())
        .map_err(|_| DenyReason::MalformedEnvelope)?;
    Ok(Unwrapped {
        envelope: served.envelope.clone(),
        served: Some(served),
    })
}

/// Verifies a message from INBOUND against the subscriber's trust anchors
/// and its subject, and decodes its payload in the version it is served in
/// (checking a transcoded payload against the signed one).
pub(crate) async fn open_delivery(
    cache: &Arc<CertificateCache>,
    message: &jetstream::Message,
) -> Result<Opened, SdkError> {
    let subject = message.subject.to_string();
    let fail = |reason: DenyReason| SdkError::Verification {
        subject: subject.clone(),
        reason,
    };
    let unwrapped = unwrap_served(message).map_err(fail)?;
    let cache = cache.clone();
    let bytes = unwrapped.envelope.clone();
    let verified = tokio::task::spawn_blocking(move || open(&bytes, &cache, now_ms()))
        .await
        .map_err(|e| SdkError::Consume {
            stream: INBOUND.into(),
            detail: format!("verification task failed: {e}"),
        })?;
    let h = verified.map_err(fail)?.envelope;
    let produced = h.header.schema_version;
    let (served_version, payload_bytes, transcoded_from, lossy) = match unwrapped.served {
        None => (produced, h.payload.clone(), None, Vec::new()),
        Some(served) => {
            // Transcode the signed payload ourselves; the bridge's copy must
            // be exactly that.
            let (ours, lossy) = transcode_track_payload(&h.payload, produced, served.version)
                .map_err(|_| fail(DenyReason::UntranscodablePayload))?;
            if h.header.message_type != MessageType::Track
                || served.version == produced
                || ours != served.payload
            {
                return Err(fail(DenyReason::PayloadDigestMismatch));
            }
            let lossy = lossy
                .iter()
                .map(|(field, loss)| format!("{field}:{}", loss.as_str()))
                .collect();
            (served.version, ours, Some(produced), lossy)
        }
    };
    let expected = format!(
        "in.{}.{}.{}.{}.v{served_version}",
        h.header.message_type.as_str(),
        h.header.origin,
        h.header.producer_id,
        h.header.feed
    );
    if subject != expected {
        return Err(fail(DenyReason::SubjectMismatch));
    }
    let payload = decode_payload(h.header.message_type, served_version, &payload_bytes).map_err(
        |detail| SdkError::Payload {
            subject: subject.clone(),
            schema: h.header.message_type.schema_id().into(),
            detail,
        },
    )?;
    let mut lineage = lineage(message.headers.as_ref());
    lineage.transcoded_from = transcoded_from;
    lineage.lossy = lossy;
    Ok(Opened {
        seq: h.header.seq,
        header: h.header,
        served_version,
        payload,
        lineage,
    })
}

fn decode_payload(kind: MessageType, version: u32, bytes: &[u8]) -> Result<Payload, String> {
    match (kind, version) {
        (MessageType::Track, 1) => TrackV1::decode(bytes).map(Payload::Track),
        (MessageType::Track, 2) => TrackV2::decode(bytes).map(Payload::TrackV2),
        (MessageType::Alert, 1) => AlertV1::decode(bytes).map(Payload::Alert),
        (kind, version) => {
            return Err(format!(
                "{} version {version} is not known to this SDK",
                kind.as_str()
            ))
        }
    }
    .map_err(|e| e.to_string())
}

fn lineage(hdrs: Option<&async_nats::HeaderMap>) -> Lineage {
    let get = |name: &str| {
        hdrs.and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let ms = |name: &str| get(name).and_then(|v| v.parse().ok());
    Lineage {
        released_by: get(headers::RELEASED_BY),
        released_at_ms: ms(headers::RELEASED_AT),
        admitted_by: get(headers::ADMITTED_BY),
        admitted_at_ms: ms(headers::ADMITTED_AT),
        key_id: get(headers::KEY_ID),
        decision: get(headers::DECISION),
        translated_label: get(headers::TRANSLATED_LABEL),
        translator: get(headers::TRANSLATOR),
        policy_versions: get(headers::POLICY_VERSIONS),
        transcoded_from: None,
        lossy: Vec::new(),
    }
}
