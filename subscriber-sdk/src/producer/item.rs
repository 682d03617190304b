//! One record as the application handed it over, before it has a sequence
//! number; and its encoded size, which the batching limits count.
use bytes::Bytes;
use coalition_core::alert_topic::alert_topic;
use coalition_core::batch::RecordDraft;
use coalition_core::envelope::SourceRef;
use coalition_core::label::Label;
use coalition_schemas::v1::{self, AlertV1, AlertV2, TrackV1, TrackV2};
use coalition_topology::AlertTopic;
use prost::Message;

use crate::SdkError;

/// One record to seal.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub label: Label,
    /// The payload's schema version (1 unless a v2 track or alert).
    pub schema_version: u32,
    pub payload: Bytes,
    pub corrects_seq: Option<u64>,
    /// Track id or alert id: what a product retraction names.
    pub product_id: String,
    pub derived_from: Vec<SourceRef>,
    /// When the application handed it over, Unix ms.
    pub produced_at_ms: i64,
    /// An alert's topic (the subject it is published on); `None` for a track.
    pub topic: Option<AlertTopic>,
}

impl Item {
    pub(crate) fn track(label: &Label, track: &TrackV1) -> Self {
        Self::new(label, 1, track.encode_to_vec(), &track.track_id)
    }

    pub(crate) fn track_v2(label: &Label, track: &TrackV2) -> Self {
        Self::new(label, 2, track.encode_to_vec(), &track.track_id)
    }

    pub(crate) fn alert(label: &Label, alert: &AlertV1) -> Self {
        Self::new(label, 1, alert.encode_to_vec(), &alert.alert_id)
    }

    pub(crate) fn alert_v2(label: &Label, alert: &AlertV2) -> Self {
        Self::new(label, 2, alert.encode_to_vec(), &alert.alert_id)
    }

    fn new(label: &Label, schema_version: u32, payload: Vec<u8>, product_id: &str) -> Self {
        Item {
            label: label.clone(),
            schema_version,
            payload: payload.into(),
            corrects_seq: None,
            product_id: product_id.to_string(),
            derived_from: Vec::new(),
            produced_at_ms: crate::now_ms(),
            topic: None,
        }
    }

    /// The topic of an alert record, from its payload: the subject tokens
    /// its batch is published on.
    pub(crate) fn alert_topic(&self) -> Result<AlertTopic, SdkError> {
        let error = |detail: String| SdkError::InvalidTopic {
            alert_id: self.product_id.clone(),
            detail,
        };
        let (category, severity) = alert_topic(self.schema_version, &self.payload)
            .ok_or_else(|| error("its payload has no category and severity".into()))?;
        AlertTopic::new(&category, severity).map_err(|e| error(e.to_string()))
    }

    /// What `coalition_core::batch::seal_batch` takes.
    pub(crate) fn draft(&self) -> RecordDraft {
        RecordDraft {
            schema_version: self.schema_version,
            label: self.label.clone(),
            payload: self.payload.clone(),
            corrects_seq: self.corrects_seq,
            product_id: self.product_id.clone(),
            derived_from: self.derived_from.clone(),
            produced_at_ms: self.produced_at_ms,
        }
    }

    /// The most bytes this record can take in a batch: its `Record`
    /// (header and payload) with its framing, counting the sequence number
    /// at its widest. The batch adds its own header and signature (about
    /// 3.5 KB with ML-DSA-65) once.
    pub(crate) fn encoded_size(&self) -> usize {
        let header = v1::RecordHeader {
            schema_version: self.schema_version,
            label: Some((&self.label).into()),
            seq: u64::MAX,
            payload_sha256: Bytes::from_static(&[0xff; 32]),
            produced_at_ms: self.produced_at_ms,
            corrects_seq: self.corrects_seq.unwrap_or(0),
            derived_from: self.derived_from.iter().map(v1::SourceRef::from).collect(),
            product_id: self.product_id.clone(),
        }
        .encoded_len();
        let record = field_len(header) + field_len(self.payload.len());
        field_len(record)
    }
}

/// The encoded length of a length-delimited field holding `len` bytes
/// (one-byte tag, as every field here has).
fn field_len(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_bounds_the_record_as_sealed() {
        use coalition_core::keys::{Algorithm, SigningKeyPair};
        let key = SigningKeyPair::generate(Algorithm::MlDsa65, "size test");
        let identity = coalition_core::envelope::ProducerIdentity {
            nation: "USA".into(),
            producer_id: "radar-1".into(),
            key,
            certificate: Bytes::from_static(b"not checked when sealing"),
        };
        let label = Label::new("USA", "SECRET", &["GBR", "FRA"]);
        let items = [
            Item::track(&label, &TrackV1::default()),
            Item::track(
                &label,
                &TrackV1 {
                    track_id: "x".repeat(300),
                    ..Default::default()
                },
            ),
            Item::alert(&label, &AlertV1::default()),
        ];
        let drafts: Vec<_> = items.iter().map(Item::draft).collect();
        let sealed = coalition_core::batch::seal_batch(
            &identity,
            coalition_core::envelope::MessageType::Track,
            "tracks",
            1,
            &drafts,
            0,
        )
        .expect("seals");
        let batch = v1::Batch::decode(sealed.bytes.as_ref()).expect("decodes");
        for (item, record) in items.iter().zip(&batch.records) {
            let actual = field_len(record.encoded_len());
            assert!(
                actual <= item.encoded_size(),
                "{actual} > {}",
                item.encoded_size()
            );
            assert!(item.encoded_size() - actual <= 16, "a tight bound");
        }
    }
}
