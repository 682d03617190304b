//! What a record weighs inside a sealed batch, read back from OUTBOUND:
//! the reference the leaf-link bytes are set against.
//!
//! Reads the first few batches a feed stored in USA's OUTBOUND and decodes
//! them with `coalition_core::batch::decode_batch` (no verification; they
//! are the producer's own). Per record: the encoded `RecordHeader` (the
//! Merkle leaf's signed bytes) plus the payload. Per batch: everything
//! else in the message (batch header, ML-DSA-65 signature, framing).
use async_nats::jetstream;
use coalition_core::batch::decode_batch;
use coalition_topology::{streams, subjects, Kind};

use crate::setup::TRACK_PRODUCER;
use crate::Failure;

/// Batches sampled per feed.
const SAMPLE: usize = 4;

/// Sizes read from sealed batches.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Sealed {
    /// Batches decoded.
    pub batches: usize,
    /// Records in them.
    pub records: usize,
    /// Mean encoded RecordHeader per record.
    pub header_per_record: f64,
    /// Mean payload per record.
    pub payload_per_record: f64,
    /// Mean batch message bytes beyond its records' headers and payloads.
    pub overhead_per_batch: f64,
}

impl Sealed {
    /// Signed header plus payload, per record.
    pub fn header_plus_payload(&self) -> f64 {
        self.header_per_record + self.payload_per_record
    }
}

/// Decodes the first batches of `feed` (a track feed of the bench producer).
pub async fn sample(home: &jetstream::Context, feed: &str) -> Result<Sealed, Failure> {
    let stream = home.get_stream_no_info(streams::OUTBOUND).await?;
    let subject = subjects::outbound(Kind::Track, TRACK_PRODUCER, feed, None);
    let mut out = Sealed::default();
    let (mut headers, mut payloads, mut overhead) = (0usize, 0usize, 0usize);
    let mut from = 1;
    for _ in 0..SAMPLE {
        let Ok(message) = stream
            .get_first_raw_message_by_subject(&subject, from)
            .await
        else {
            break;
        };
        from = message.sequence + 1;
        let batch = decode_batch(&message.payload)
            .map_err(|r| format!("{subject}: a stored batch does not decode: {r:?}"))?;
        let mut inside = 0;
        for r in &batch.records {
            headers += r.header_bytes.len();
            payloads += r.payload.len();
            inside += r.header_bytes.len() + r.payload.len();
        }
        overhead += message.payload.len() - inside;
        out.batches += 1;
        out.records += batch.records.len();
    }
    if out.records == 0 {
        return Err(format!("{subject}: no batch stored in OUTBOUND").into());
    }
    out.header_per_record = headers as f64 / out.records as f64;
    out.payload_per_record = payloads as f64 / out.records as f64;
    out.overhead_per_batch = overhead as f64 / out.batches as f64;
    Ok(out)
}
