//! Opening a batch message read from INBOUND: the subscriber verifies it
//! again against its own trust anchors (defence in depth: it does not have
//! to trust that only the bridge can write INBOUND).
//!
//! An INBOUND message is an `InboundBatch`: the producer's batch, cut to
//! the records served on its subject
//! (`in.<kind>.<origin>.<producer>.<feed>[.<category>.<severity>].v<version>`)
//! with their Merkle multiproof, plus the admitting bridge's record of each
//! (translation, and the payload transcoded when the record was produced in
//! another schema version). In order, each failure being one
//! [`DenyReason`]:
//!
//! 1. the subject parses, the `InboundBatch` and its batch decode;
//! 2. the subject says what the batch's signed header says (kind, origin,
//!    producer, feed) and the version the message says it serves;
//! 3. the producer's certificate, named by digest, is known or found on
//!    CONTROL ([`crate::certificates`]);
//! 4. signature and Merkle proof ([`verify_batch`], on the blocking pool);
//! 5. one `InboundRecord` per record; an alert's own signed payload has the
//!    topic its subject names (category and severity); each payload
//!    matches its signed digest; a record served in its own version carries
//!    no transcoded payload, and one served in another carries exactly what this SDK
//!    computes from the signed payload.
//!
//! A message that fails any check is refused whole: none of its records is
//! delivered.
use std::sync::Arc;

use async_nats::jetstream;
use bytes::Bytes;
use coalition_core::alert_topic::alert_topic;
use coalition_core::batch::{decode_batch, verify_batch, BatchHeader, DecodedBatch, DecodedRecord};
use coalition_core::certificate::VerifiedCertificate;
use coalition_core::envelope::MessageType;
use coalition_core::label::Label;
use coalition_core::schema::transcode_payload;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1;
use coalition_topology::subjects::Subject;
use coalition_topology::AlertTopic;
use prost::Message as _;

use crate::certificates::Certificates;
use crate::continuity::{FeedKey, Link};
use crate::delivery::{batch_lineage, decode_payload, Lineage, OpenedRecord};
use crate::{lane, now_ms, SdkError};

/// A verified batch message, its records in feed order.
#[derive(Debug)]
pub(crate) struct OpenedBatch {
    pub key: FeedKey,
    pub link: Link,
    /// Where the message is in its INBOUND stream.
    pub stream_seq: u64,
    pub records: Vec<OpenedRecord>,
}

/// Verifies and decodes one INBOUND message.
pub(crate) async fn open_message(
    certs: &Certificates,
    message: &jetstream::Message,
) -> Result<OpenedBatch, SdkError> {
    let subject = message.subject.to_string();
    let fail = |reason: DenyReason| SdkError::Verification {
        subject: subject.clone(),
        reason,
    };
    let (kind, topic, version) = served(&subject).map_err(fail)?;
    let v1::InboundBatch {
        batch,
        version: served_version,
        records,
    } = v1::InboundBatch::decode(message.payload.as_ref())
        .map_err(|_| fail(DenyReason::MalformedBatch))?;
    let batch = decode_batch(&batch).map_err(fail)?;
    let key = FeedKey {
        kind: batch.header.message_type,
        origin: batch.header.origin.clone(),
        producer_id: batch.header.producer_id.clone(),
        feed: batch.header.feed.clone(),
        topic: topic.clone(),
        version: served_version,
    };
    if !matches_subject(&batch.header, served_version, &subject, kind, version) {
        return Err(fail(DenyReason::SubjectMismatch));
    }
    let h = &batch.header;
    let cert = certs
        .get(&h.origin, &h.producer_id, &h.producer_cert_sha256)
        .await
        .map_err(fail)?;
    let lineage = batch_lineage(message.headers.as_ref());
    let opening = subject.clone();
    let lane = crate::cpu_lane(batch.header.message_type);
    let opened = coalition_cpu_lanes::run(lane, move || {
        let served = Served {
            topic,
            version: served_version,
        };
        open_records(&opening, batch, &cert, records, &served, lineage)
    })
    .await
    .map_err(|e| {
        SdkError::Consume {
            source: None,
            stream: message
                .info()
                .map_or_else(|_| String::new(), |i| i.stream.to_string()),
            detail: format!("verification task failed: {e}"),
        }
        .with_source(e)
    })??;
    let first = opened.first().map_or(0, |r| r.header.seq);
    let seq = opened.last().map_or(0, |r| r.header.seq);
    Ok(OpenedBatch {
        key,
        link: Link {
            first,
            seq,
            prev: prev_seq(message),
        },
        stream_seq: message.info().map_or(0, |i| i.stream_sequence),
        records: opened,
    })
}

/// The kind, alert topic and version an INBOUND subject serves.
fn served(
    subject: &str,
) -> Result<(coalition_topology::Kind, Option<AlertTopic>, u32), DenyReason> {
    match Subject::parse(subject) {
        Ok(Subject::Inbound {
            kind,
            topic,
            version,
            ..
        }) => Ok((kind, topic, version)),
        _ => Err(DenyReason::SubjectMismatch),
    }
}

/// What an INBOUND subject says its records are: their topic (alerts) and
/// the schema version they are served in.
struct Served {
    topic: Option<AlertTopic>,
    version: u32,
}

/// Whether the subject is the one the signed header and the served version
/// call for.
fn matches_subject(
    header: &BatchHeader,
    served_version: u32,
    subject: &str,
    kind: coalition_topology::Kind,
    version: u32,
) -> bool {
    let topic = Subject::parse(subject)
        .ok()
        .and_then(|s| s.topic().cloned());
    let expected = coalition_topology::subjects::inbound(
        lane(header.message_type),
        &header.origin,
        &header.producer_id,
        &header.feed,
        topic.as_ref(),
        served_version,
    );
    expected == subject && lane(header.message_type) == kind && version == served_version
}

/// `Coalition-Prev-Seq`: where the chain says the previous message is.
fn prev_seq(message: &jetstream::Message) -> Option<u64> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::PREV_SEQ))
        .and_then(|v| v.as_str().parse().ok())
}

/// Verifies the batch and each record, and decodes the payloads (on the
/// blocking pool).
fn open_records(
    subject: &str,
    batch: DecodedBatch,
    cert: &Arc<VerifiedCertificate>,
    inbound: Vec<v1::InboundRecord>,
    served: &Served,
    lineage: Lineage,
) -> Result<Vec<OpenedRecord>, SdkError> {
    let version = served.version;
    let fail = |reason: DenyReason| SdkError::Verification {
        subject: subject.to_string(),
        reason,
    };
    verify_batch(&batch, cert, now_ms()).map_err(fail)?;
    if inbound.len() != batch.records.len() {
        return Err(fail(DenyReason::MalformedBatch));
    }
    let kind = batch.header.message_type;
    let mut lineage = lineage;
    if lineage.key_id.is_none() {
        lineage.key_id = Some(hex::encode(&cert.key.id()[..16]));
    }
    let mut opened = Vec::with_capacity(inbound.len());
    for (record, served_record) in batch.records.into_iter().zip(inbound) {
        if kind == MessageType::Alert && !topic_matches(served.topic.as_ref(), &record) {
            return Err(fail(DenyReason::SubjectMismatch));
        }
        let v1::InboundRecord {
            translated_label,
            translator,
            source_policy_version,
            target_policy_version,
            transcoded_payload,
            // Informative; the SDK computes its own.
            lossy_fields: _,
        } = served_record;
        let (payload, transcoded_from, lossy) =
            served_payload(&record, kind, version, &transcoded_payload).map_err(fail)?;
        let payload =
            decode_payload(kind, version, &payload).map_err(|detail| SdkError::Payload {
                source: None,
                subject: subject.to_string(),
                schema: kind.schema_id().into(),
                detail,
            })?;
        let mut lineage = lineage.clone();
        lineage.translated_label = translated_label.map(|l| Label::from(l).display());
        lineage.translator = (!translator.is_empty()).then_some(translator);
        lineage.policy_versions = lineage.admitted_by.as_ref().map(|receiver| {
            format!(
                "{}/v{source_policy_version} -> {receiver}/v{target_policy_version}",
                record.header.origin
            )
        });
        lineage.transcoded_from = transcoded_from;
        lineage.lossy = lossy;
        opened.push(OpenedRecord {
            header: record.header,
            served_version: version,
            payload,
            lineage,
        });
    }
    Ok(opened)
}

/// Whether an alert record's own (signed) payload has the topic its
/// subject names: a subscriber filtering on a topic gets only that topic.
fn topic_matches(topic: Option<&AlertTopic>, record: &DecodedRecord) -> bool {
    let of_payload = alert_topic(record.header.schema_version, &record.payload);
    matches!((topic, of_payload), (Some(t), Some((c, s))) if t.category() == c && t.severity() == s)
}

/// The payload a record is served with in `version`: its own, or the
/// transcoded one, which must be exactly what this SDK computes from the
/// signed payload. Returns it with the version it was produced in (if
/// transcoded) and what the conversion lost.
fn served_payload(
    record: &DecodedRecord,
    kind: MessageType,
    version: u32,
    transcoded: &Bytes,
) -> Result<(Bytes, Option<u32>, Vec<String>), DenyReason> {
    if !record.payload_matches {
        return Err(DenyReason::PayloadDigestMismatch);
    }
    let produced = record.header.schema_version;
    if produced == version {
        if !transcoded.is_empty() {
            return Err(DenyReason::PayloadDigestMismatch);
        }
        return Ok((record.payload.clone(), None, Vec::new()));
    }
    let (ours, lossy) =
        transcode_payload(kind, &record.payload, produced, version).map_err(|e| e.reason())?;
    if ours != transcoded {
        return Err(DenyReason::PayloadDigestMismatch);
    }
    let lossy = lossy
        .iter()
        .map(|(field, loss)| format!("{field}:{}", loss.as_str()))
        .collect();
    Ok((ours, Some(produced), lossy))
}

#[cfg(test)]
mod tests;
