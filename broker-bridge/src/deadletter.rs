//! Dead letters: nothing refused is dropped; it is stored in the home
//! DEADLETTER stream with the reason, the stage, the partner and the
//! subject it arrived on.
//!
//! A batch refused as a whole (it does not decode or verify, or is out of
//! place in its feed) is kept as received. A record refused on its own is
//! kept as a one-record batch: the producer's header and signature, the
//! record, and its Merkle proof, so it can still be verified later.
use async_nats::HeaderMap;
use coalition_core::batch::DecodedBatch;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_topology::subjects;

use crate::stage::{Incoming, Outgoing, Target};

fn dlq_headers(
    input: &Incoming,
    id: String,
    stage: &str,
    partner: &str,
    reason: DenyReason,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(headers::MSG_ID, id.as_str());
    h.insert(headers::REASON, reason.as_str());
    h.insert(headers::STAGE, stage);
    h.insert(headers::PARTNER, partner);
    h.insert(headers::SOURCE_SUBJECT, input.subject.as_str());
    h
}

/// The dead letter of a whole batch, as received.
pub(crate) fn dead_letter_batch(
    input: &Incoming,
    stage: &'static str,
    partner: &str,
    reason: DenyReason,
) -> Outgoing {
    let id = format!("dlq.{stage}.{partner}.{}", input.stream_seq);
    Outgoing {
        target: Target::Home,
        subject: subjects::deadletter(stage, reason.as_str()),
        headers: dlq_headers(input, id, stage, partner, reason),
        payload: input.payload.clone(),
        chain_seq: None,
    }
}

/// The dead letter of one record (at `index` among the batch's records):
/// a batch carrying that record alone, with its proof. Falls back to the
/// whole batch as received if the subset cannot be built.
pub(crate) fn dead_letter_record(
    input: &Incoming,
    batch: &DecodedBatch,
    index: usize,
    stage: &'static str,
    partner: &str,
    reason: DenyReason,
) -> Outgoing {
    let seq = batch.records.get(index).map_or(0, |r| r.header.seq);
    let id = format!("dlq.{stage}.{partner}.{}.{seq}", input.stream_seq);
    let mut hdrs = dlq_headers(input, id, stage, partner, reason);
    hdrs.insert(headers::SEQ, seq.to_string().as_str());
    Outgoing {
        target: Target::Home,
        subject: subjects::deadletter(stage, reason.as_str()),
        headers: hdrs,
        payload: batch
            .subset(&[index])
            .unwrap_or_else(|_| input.payload.clone()),
        chain_seq: None,
    }
}
