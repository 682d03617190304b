//! Ingress: what a partner released to this nation (one lane of its
//! RELEASED stream, over the leaf link) is verified once per batch against
//! the producer's own signature and the Merkle multiproof, placed in its
//! feed (no replay, rollback or jump), and decided per record with this
//! nation's own policy state (translator in force, nothing revoked, the
//! label translated into this nation's vocabulary). The admitted records are
//! stored in HOME (`in.…`, INBOUND) as one batch per schema version served,
//! with each record's lineage ([`coalition_schemas::v1::InboundBatch`]).
//! Refusals go to DEADLETTER with their reason: the whole batch if it does
//! not verify or is out of place, else the record alone. Every decision
//! about a record is an audit record.
use std::collections::HashMap;
use std::sync::Arc;

use async_nats::HeaderMap;
use coalition_core::batch::{decode_batch, DecodedRecord, VerifiedBatch};
use coalition_core::decision::{admit_decision, Crossing, MessageFacts, Translated};
use coalition_core::feed_position::{BatchRange, FeedState, ForwardWindow, Judgement};
use coalition_core::schema::{check_payload, known_versions};
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1::AuditDecision;
use coalition_topology::subjects;
use coalition_topology::{AlertTopic, Kind};

use crate::audit_record::{per_record, record, DecisionFacts};
use crate::deadletter::{dead_letter_batch, dead_letter_record};
use crate::policy_state::PolicyState;
use crate::rate::PartnerPace;
use crate::serve::{serve, Admitted};
use crate::stage::{
    check_topic, lane, open_on, subject_topic, Counted, CycleFacts, Decided, FeedKey, Incoming,
    Stage, Target,
};

/// The ingress stage for one partner and lane.
pub(crate) struct IngressStage {
    pub name: String,
    pub nation: String,
    pub partner: String,
    pub kind: Kind,
    pub state: Arc<PolicyState>,
    /// The highest classification this link admits.
    pub max_classification: String,
    pub window: ForwardWindow,
    pub pace: Arc<PartnerPace>,
    /// Whether the view of the partner's revocation state is fresh;
    /// `Err(why)` holds admission.
    pub freshness: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    /// Unix ms now; per record, just before it reads the policy state.
    pub clock: crate::stage::Clock,
}

impl Stage for IngressStage {
    fn name(&self) -> &str {
        &self.name
    }

    fn label(&self) -> &'static str {
        "ingress"
    }

    fn partner(&self) -> Option<&str> {
        Some(&self.partner)
    }

    fn kind(&self) -> Kind {
        self.kind
    }

    fn keeps_positions(&self) -> bool {
        true
    }

    fn ready(&self) -> Result<(), String> {
        (self.freshness)()
    }

    fn decide(&self, inputs: &[Incoming], facts: &CycleFacts) -> Decided {
        decide(self, inputs, facts)
    }
}

/// Verifies a released batch: the producer's signature and proof, its
/// subject, and that it comes from its origin's own link.
fn verify_released(
    ctx: &IngressStage,
    input: &Incoming,
    now_ms: i64,
) -> Result<VerifiedBatch, DenyReason> {
    open_on(
        input,
        &ctx.state.certificates,
        now_ms,
        |b, topic| {
            (lane(b.message_type) == ctx.kind)
                .then(|| subjects::released(ctx.kind, &b.origin, &b.producer_id, &b.feed, topic))
        },
        |origin| origin == ctx.partner,
    )
}

/// The admit decision for one verified record.
fn admit_record(
    ctx: &IngressStage,
    v: &VerifiedBatch,
    r: &DecodedRecord,
    topic: Option<&AlertTopic>,
    now_ms: i64,
) -> Result<Translated, DenyReason> {
    if !r.payload_matches {
        return Err(DenyReason::PayloadDigestMismatch);
    }
    let h = &r.header;
    let translated = admit_decision(
        &MessageFacts {
            header: h,
            key_sha256: v.certificate.key.id(),
        },
        &Crossing {
            from: &ctx.partner,
            to: &ctx.nation,
            ceiling: &ctx.max_classification,
            now_ms,
        },
        &ctx.state.view(),
    )?;
    ctx.state.check_within_certificate(h, &v.certificate)?;
    // Which versions a producer may send is its own nation's policy,
    // enforced by its bridge at egress; here the version need only be one
    // this bridge knows. (Checking the origin's policy again here would
    // refuse, for good, a record released under a policy newer than the
    // one this bridge has yet received: the CONTROL and RELEASED streams
    // are not ordered with each other.)
    if !known_versions(h.message_type).contains(&h.schema_version) {
        return Err(DenyReason::UnknownSchemaVersion);
    }
    // Its origin's bridge refused an invalid payload at egress; one
    // released anyway is refused here, not served.
    check_payload(h.message_type, h.schema_version, &r.payload).map_err(|e| e.reason())?;
    // The releasing bridge may not move a record to another topic.
    check_topic(ctx.kind, topic, r)?;
    Ok(translated)
}

/// The ingress decision for a cycle from one partner.
pub(crate) fn decide(ctx: &IngressStage, inputs: &[Incoming], facts: &CycleFacts) -> Decided {
    let mut out = Decided::default();
    let mut feeds: HashMap<FeedKey, FeedState> = facts.positions.clone();
    let mut moved: Vec<FeedKey> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let now_ms = (ctx.clock)();
        let verified = match verify_released(ctx, input, now_ms) {
            Ok(v) => v,
            Err(DenyReason::UnknownCertificate) if !facts.hold_over.contains(&input.stream_seq) => {
                out.held_from = Some(i);
                break;
            }
            Err(reason) => {
                refuse_batch(ctx, input, reason, None, now_ms, &mut out);
                continue;
            }
        };
        let b = &verified.batch.header;
        let key = (b.origin.clone(), b.producer_id.clone(), b.feed.clone());
        let state = feeds.entry(key.clone()).or_default();
        let range = BatchRange {
            first_seq: b.first_seq,
            last_seq: b.last_seq,
            sealed_at_ms: b.sealed_at_ms,
        };
        match state.judge(input.stream_seq, range, now_ms, ctx.window) {
            Judgement::Accept => {
                let new_cycle = !moved.contains(&key);
                *state = state.accepted(input.stream_seq, range, new_cycle);
                if new_cycle {
                    moved.push(key);
                }
            }
            Judgement::Again => {}
            Judgement::Refuse(reason) => {
                refuse_batch(ctx, input, reason, Some(&verified), now_ms, &mut out);
                continue;
            }
        }
        admit_records(ctx, input, &verified, &mut out);
    }
    out.positions = moved
        .into_iter()
        .filter_map(|k| feeds.remove(&k).map(|s| (k, s)))
        .collect();
    out
}

/// Per record: admitted (kept for serving) or rejected (dead-lettered
/// alone); then the admitted records served in every version in force.
fn admit_records(ctx: &IngressStage, input: &Incoming, v: &VerifiedBatch, out: &mut Decided) {
    let key_id = hex::encode(v.certificate.key.id());
    let topic = subject_topic(&input.subject);
    let mut admitted = Vec::new();
    for (index, r) in v.batch.records.iter().enumerate() {
        // Per record: the time a decision is audited with is taken just
        // before it reads the policy state, which changes under it.
        let now_ms = (ctx.clock)();
        let h = &r.header;
        match admit_record(ctx, v, r, topic.as_ref(), now_ms) {
            Ok(t) => {
                out.audit.push(record(DecisionFacts {
                    decision: AuditDecision::Admit,
                    stage: "ingress",
                    partner: &ctx.partner,
                    header: Some(h),
                    key_id: Some(key_id.clone()),
                    translated: Some(&t),
                    reason: None,
                    now_ms,
                    source_stream_seq: input.stream_seq,
                }));
                out.counted.push(Counted::Admitted {
                    partner: ctx.partner.clone(),
                    transit_ms: (now_ms - h.produced_at_ms).max(0),
                });
                admitted.push(Admitted {
                    index,
                    translated: t,
                    now_ms,
                });
            }
            Err(reason) => {
                out.audit.push(record(DecisionFacts {
                    decision: AuditDecision::Reject,
                    stage: "ingress",
                    partner: &ctx.partner,
                    header: Some(h),
                    key_id: Some(key_id.clone()),
                    translated: None,
                    reason: Some(reason),
                    now_ms,
                    source_stream_seq: input.stream_seq,
                }));
                out.counted.push(Counted::Rejected {
                    stage: "ingress",
                    partner: ctx.partner.clone(),
                    reason,
                    records: 1,
                });
                tracing::warn!(partner = %ctx.partner, msg = %h.msg_id(), %reason, "released record rejected; dead-lettered");
                out.outputs.push(dead_letter_record(
                    input,
                    &v.batch,
                    index,
                    "ingress",
                    &ctx.partner,
                    reason,
                ));
            }
        }
    }
    if admitted.is_empty() {
        return;
    }
    out.certificates
        .push((Target::Home, v.batch.header.producer_cert_sha256));
    let lineage = batch_lineage(ctx, input, v, &key_id);
    serve(&ctx.state, &ctx.partner, input, v, &admitted, lineage, out);
}

/// The headers every INBOUND message of this batch carries (batch-level
/// lineage; per-record lineage is in the message body).
fn batch_lineage(
    ctx: &IngressStage,
    input: &Incoming,
    v: &VerifiedBatch,
    key_id: &str,
) -> HeaderMap {
    let b = &v.batch.header;
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::ORIGIN, b.origin.as_str());
    hdrs.insert(headers::PRODUCER, b.producer_id.as_str());
    hdrs.insert(headers::FEED, b.feed.as_str());
    hdrs.insert(headers::KEY_ID, &key_id[..32.min(key_id.len())]);
    hdrs.insert(headers::DECISION, "admit");
    for name in [headers::RELEASED_BY, headers::RELEASED_AT] {
        if let Some(value) = input.headers.as_ref().and_then(|x| x.get(name)) {
            hdrs.insert(name, value.as_str());
        }
    }
    hdrs.insert(headers::ADMITTED_BY, ctx.nation.as_str());
    hdrs.insert(headers::ADMITTED_AT, (ctx.clock)().to_string().as_str());
    hdrs
}

/// Refused as a whole: dead-lettered as received, counted, audited per
/// record it claims to carry.
fn refuse_batch(
    ctx: &IngressStage,
    input: &Incoming,
    reason: DenyReason,
    verified: Option<&VerifiedBatch>,
    now_ms: i64,
    out: &mut Decided,
) {
    let decoded = match verified {
        Some(v) => Some(v.batch.clone()),
        None => decode_batch(&input.payload).ok(),
    };
    let key_id = verified.map(|v| hex::encode(v.certificate.key.id()));
    out.audit.extend(per_record(decoded.as_ref(), |header| {
        record(DecisionFacts {
            decision: AuditDecision::Reject,
            stage: "ingress",
            partner: &ctx.partner,
            header,
            key_id: key_id.clone(),
            translated: None,
            reason: Some(reason),
            now_ms,
            source_stream_seq: input.stream_seq,
        })
    }));
    out.counted.push(Counted::Rejected {
        stage: "ingress",
        partner: ctx.partner.clone(),
        reason,
        records: decoded.as_ref().map_or(1, |b| b.records.len() as u64),
    });
    tracing::warn!(partner = %ctx.partner, subject = %input.subject, %reason, "released batch rejected; dead-lettered");
    out.outputs
        .push(dead_letter_batch(input, "ingress", &ctx.partner, reason));
}
