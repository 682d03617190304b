//! Writing INBOUND as GBR's bridge would: batches sealed by USA's radar-1
//! (real ML-DSA keys from the mesh's PKI), cut to subsets with their
//! multiproof, wrapped in `InboundBatch` with the admitting bridge's
//! record of each, chained with `Coalition-Seq` / `Coalition-Prev-Seq`, and
//! the producer's certificate on GBR's CONTROL.
use async_nats::jetstream;
use bytes::Bytes;
use coalition_core::batch::{decode_batch, seal_batch, DecodedBatch, RecordDraft};
use coalition_core::certificate::{issue_certificate, CertificateRequest};
use coalition_core::envelope::{MessageType, ProducerIdentity};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_schemas::headers;
use coalition_schemas::v1::{self, control_message::Body, AlertV1, ControlMessage};
use coalition_sdk::Label;
use coalition_topology::{subjects, Kind};
use nats_harness::Mesh;
use prost::Message as _;

use super::{home, identity, track, within, PRODUCER};

/// GBR's bridge, as far as these tests need one.
pub struct BridgeWriter {
    pub js: jetstream::Context,
    pub identity: ProducerIdentity,
}

fn lane(kind: MessageType) -> Kind {
    match kind {
        MessageType::Track => Kind::Track,
        MessageType::Alert => Kind::Alert,
    }
}

/// The payload of record `seq` of `feed`: a track or alert whose id is
/// `<feed>-<seq>`.
pub fn payload(kind: MessageType, feed: &str, seq: u64) -> Bytes {
    let id = format!("{feed}-{seq}");
    match kind {
        MessageType::Track => track(&id).encode_to_vec().into(),
        MessageType::Alert => AlertV1 {
            alert_id: id,
            summary: "test alert".into(),
            ..Default::default()
        }
        .encode_to_vec()
        .into(),
    }
}

/// What GBR's bridge records about each admitted record.
pub fn admitted(count: usize) -> Vec<v1::InboundRecord> {
    (0..count)
        .map(|_| v1::InboundRecord {
            translated_label: Some((&Label::new("GBR", "SECRET", &["GBR"])).into()),
            translator: "USA-GBR@1".into(),
            source_policy_version: 1,
            target_policy_version: 1,
            transcoded_payload: Bytes::new(),
            lossy_fields: Vec::new(),
        })
        .collect()
}

impl BridgeWriter {
    pub async fn new(mesh: &Mesh) -> Self {
        BridgeWriter {
            js: home(mesh, "GBR").await,
            identity: identity(mesh, "USA", PRODUCER),
        }
    }

    /// A batch sealed by `identity` (radar-1 unless given another).
    pub fn seal_as(
        identity: &ProducerIdentity,
        kind: MessageType,
        feed: &str,
        first: u64,
        count: u64,
    ) -> DecodedBatch {
        let drafts: Vec<RecordDraft> = (first..first + count)
            .map(|seq| RecordDraft {
                schema_version: 1,
                label: Label::new("USA", "SECRET", &["GBR"]),
                payload: payload(kind, feed, seq),
                corrects_seq: None,
                product_id: format!("{feed}-{seq}"),
                derived_from: Vec::new(),
                produced_at_ms: 1,
            })
            .collect();
        let sealed = seal_batch(identity, kind, feed, first, &drafts, 1).expect("seals");
        decode_batch(&sealed.bytes).expect("decodes")
    }

    /// A batch of radar-1's, seqs `first..first + count`.
    pub fn seal(&self, kind: MessageType, feed: &str, first: u64, count: u64) -> DecodedBatch {
        Self::seal_as(&self.identity, kind, feed, first, count)
    }

    /// Stores `identity`'s certificate on GBR's CONTROL, as the bridge does
    /// before the first batch that names it.
    pub async fn store_certificate_of(&self, identity: &ProducerIdentity) {
        let subject = subjects::control_certificate(
            &identity.nation,
            &identity.producer_id,
            &identity.certificate_sha256(),
        );
        let payload = ControlMessage {
            body: Some(Body::Certificate(identity.certificate.clone())),
        }
        .encode_to_vec();
        within("store certificate", async {
            self.js
                .publish(subject, payload.into())
                .await
                .expect("published")
                .await
        })
        .await
        .expect("certificate stored");
    }

    pub async fn store_certificate(&self) {
        self.store_certificate_of(&self.identity).await;
    }

    /// Stores `payload` (an encoded `InboundBatch`) on `subject`, chained
    /// with `seq` and `prev`; returns its stream sequence.
    pub async fn store_raw(&self, subject: &str, payload: Bytes, seq: u64, prev: u64) -> u64 {
        let mut hdrs = async_nats::HeaderMap::new();
        hdrs.insert(headers::SEQ, seq.to_string().as_str());
        hdrs.insert(headers::PREV_SEQ, prev.to_string().as_str());
        hdrs.insert(headers::DECISION, "admit");
        hdrs.insert(headers::RELEASED_BY, "USA");
        hdrs.insert(headers::RELEASED_AT, "1000");
        hdrs.insert(headers::ADMITTED_BY, "GBR");
        hdrs.insert(headers::ADMITTED_AT, "2000");
        within("store inbound", async {
            self.js
                .publish_with_headers(subject.to_string(), hdrs, payload)
                .await
                .expect("published")
                .await
        })
        .await
        .expect("stored")
        .sequence
    }

    /// Admits the records of `batch` at positions `keep` (all if `None`),
    /// served in version 1, chained after `prev`; returns the stream
    /// sequence.
    pub async fn admit(&self, batch: &DecodedBatch, keep: Option<&[usize]>, prev: u64) -> u64 {
        let all: Vec<usize> = (0..batch.records.len()).collect();
        let keep = keep.unwrap_or(&all);
        let bytes = batch.subset(keep).expect("subset");
        let seq = batch.records[*keep.last().expect("keeps one")].header.seq;
        let h = &batch.header;
        // An alert batch is stored on the topic of its (first) record.
        let first = &batch.records[keep[0]];
        let topic =
            coalition_core::alert_topic::alert_topic(first.header.schema_version, &first.payload)
                .filter(|_| h.message_type == coalition_core::envelope::MessageType::Alert)
                .map(|(category, severity)| {
                    coalition_topology::AlertTopic::new(&category, severity).expect("a topic")
                });
        let kind = lane(h.message_type);
        let subject =
            subjects::inbound(kind, &h.origin, &h.producer_id, &h.feed, topic.as_ref(), 1);
        let inbound = v1::InboundBatch {
            batch: bytes,
            version: 1,
            records: admitted(keep.len()),
        };
        self.store_raw(&subject, inbound.encode_to_vec().into(), seq, prev)
            .await
    }
}

/// A producer identity certified by USA's root but never published on any
/// CONTROL stream.
pub fn unpublished_identity(mesh: &Mesh) -> ProducerIdentity {
    let root_path = nats_harness::nation_key_dir(mesh.dir(), "USA").join("root.key");
    let root = SigningKeyPair::from_private_file(&std::fs::read(root_path).expect("root key"))
        .expect("root key decodes");
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, "radar-1 (second key)");
    let certificate = issue_certificate(
        &root,
        &CertificateRequest {
            nation: "USA".into(),
            producer_id: PRODUCER.into(),
            public_key: key.public_key().clone(),
            not_before_ms: 0,
            not_after_ms: i64::MAX,
            feeds: vec!["tracks".into(), "tracks-2".into(), "alerts".into()],
            max_classification: "SECRET".into(),
        },
    )
    .expect("issued");
    ProducerIdentity {
        nation: "USA".into(),
        producer_id: PRODUCER.into(),
        key,
        certificate,
    }
}
