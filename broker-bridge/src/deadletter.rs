//! Dead letters: a message that is refused is never dropped; it is stored in
//! the home DEADLETTER stream with the reason, the stage, the partner and
//! the subject it arrived on.
use async_nats::HeaderMap;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_topology::subjects;

use crate::pipeline::{Incoming, Outgoing};

/// The target index of the home JetStream context in every stage.
pub(crate) const HOME: usize = 0;

/// A dead-letter record for `input`.
pub(crate) fn dead_letter(
    input: &Incoming,
    stage: &'static str,
    partner: &str,
    reason: DenyReason,
) -> Outgoing {
    let mut h = HeaderMap::new();
    h.insert(
        headers::MSG_ID,
        format!("dlq.{stage}.{partner}.{}", input.stream_seq).as_str(),
    );
    h.insert(headers::REASON, reason.as_str());
    h.insert(headers::STAGE, stage);
    h.insert(headers::PARTNER, partner);
    h.insert(headers::SOURCE_SUBJECT, input.subject.as_str());
    Outgoing {
        target: HOME,
        subject: subjects::deadletter(stage, reason.as_str()),
        headers: h,
        payload: input.payload.clone(),
        chain_seq: None,
    }
}
