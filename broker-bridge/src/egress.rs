//! Egress: the sealed batches this nation's producers published (a lane's
//! OUTBOUND) are verified once per batch, placed in their feed (no replay,
//! rollback or jump), paced per producer, and decided per record: each
//! partner is released, in one stored message, the subset of the batch's
//! records its link, the labels and the policy state allow (translator in
//! force, nothing revoked), with the producer's signature and a Merkle
//! multiproof for the subset. The bridge never signs for a producer.
//!
//! Batch-level refusals (malformed, unverifiable, out of place) dead-letter
//! the batch as received; record-level refusals (payload digest, label
//! above the certificate, schema version, a payload that breaks its
//! version's rules such as an invalid alert v2) dead-letter that record
//! alone, as a one-record batch with its proof. Policy denials are counted
//! per partner and reason and audited; the batch stays in OUTBOUND, so
//! nothing is lost. Every decision about a record is an audit record.
//!
//! A verified producer over its rate limit is deferred into PACED and
//! released from there by the paced stage, which runs this same decision
//! ([`Mode::Paced`]); see [`crate::rate`].
use std::collections::HashMap;
use std::sync::Arc;

use async_nats::HeaderMap;
use coalition_core::batch::{decode_batch, DecodedRecord, VerifiedBatch};
use coalition_core::decision::{release_decision, Crossing, MessageFacts, PolicyView};
use coalition_core::feed_position::{BatchRange, ForwardWindow, Judgement};
use coalition_core::schema::check_payload;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1::{AuditDecision, AuditRecord};
use coalition_topology::subjects::{self, Subject};
use coalition_topology::{AlertTopic, Kind};

use crate::audit_record::{per_record, record, DecisionFacts};
use crate::deadletter::{dead_letter_batch, dead_letter_record};
use crate::policy_state::PolicyState;
use crate::rate::{paced_producer, Pace, ProducerPacing};
use crate::stage::{
    check_topic, lane, open_on, subject_topic, Counted, CycleFacts, Decided, FeedKey, Incoming,
    Outgoing, Stage, Target,
};
use crate::BridgeError;

/// Which source an egress decision reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// OUTBOUND: what is over a producer's rate is deferred into PACED.
    Fresh,
    /// PACED: the stage already waited for the producer's rate.
    Paced,
}

impl Mode {
    /// The stage name in audit records, metrics and dead letters.
    pub(crate) fn stage(self) -> &'static str {
        match self {
            Mode::Fresh => "egress",
            Mode::Paced => "paced",
        }
    }
}

/// The egress (or paced) stage of one lane.
pub(crate) struct EgressStage {
    pub name: String,
    pub nation: String,
    pub kind: Kind,
    pub state: Arc<PolicyState>,
    /// (partner, link ceiling), for every partner released to.
    pub links: Vec<(String, String)>,
    /// Per-producer rate limits, shared with the paced stage.
    pub pacing: Arc<ProducerPacing>,
    pub mode: Mode,
    pub window: ForwardWindow,
    /// Whether HOME's CONTROL stream has been read up to where it stood at
    /// start; nothing is decided before.
    pub caught_up: Box<dyn Fn() -> bool + Send + Sync>,
    /// The paced stage's cycle lock ([`Stage::guard`]).
    pub guard: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Whether the other stage wrote on this stage's subjects since asked.
    pub chains_stale: Box<dyn Fn() -> bool + Send + Sync>,
    /// Run before the gate is placed (egress: recount PACED).
    pub on_open: Option<crate::stage::OnOpen>,
    /// Unix ms now; per record, just before it reads the policy state.
    pub clock: crate::stage::Clock,
}

impl Stage for EgressStage {
    fn name(&self) -> &str {
        &self.name
    }

    fn label(&self) -> &'static str {
        self.mode.stage()
    }

    fn kind(&self) -> Kind {
        self.kind
    }

    fn keeps_positions(&self) -> bool {
        self.mode == Mode::Fresh
    }

    fn ready(&self) -> Result<(), String> {
        if (self.caught_up)() {
            Ok(())
        } else {
            Err("this nation's CONTROL stream is still being read".to_string())
        }
    }

    fn decide(&self, inputs: &[Incoming], facts: &CycleFacts) -> Decided {
        decide(self, inputs, facts)
    }

    fn guard(&self) -> Option<Arc<tokio::sync::Mutex<()>>> {
        self.guard.clone()
    }

    fn chains_stale(&self) -> bool {
        (self.chains_stale)()
    }

    fn on_open(&self) -> futures::future::BoxFuture<'static, Result<(), BridgeError>> {
        match &self.on_open {
            Some(f) => f(),
            None => Box::pin(async { Ok(()) }),
        }
    }
}

/// The egress decision for a cycle: per batch, verify, place, pace; per
/// record, release to each partner the policy allows.
pub(crate) fn decide(ctx: &EgressStage, inputs: &[Incoming], facts: &CycleFacts) -> Decided {
    let mut out = Decided::default();
    let mut feeds: HashMap<FeedKey, coalition_core::feed_position::FeedState> =
        facts.positions.clone();
    let mut moved: Vec<FeedKey> = Vec::new();
    let mut deferred_in_cycle: HashMap<String, u64> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let now_ms = (ctx.clock)();
        let input = match ctx.mode {
            Mode::Fresh => input.clone(),
            Mode::Paced => from_paced(input, &mut out),
        };
        let verified = match verify_outbound(ctx, &input, now_ms) {
            Ok(v) => v,
            Err(DenyReason::UnknownCertificate) if !facts.hold_over.contains(&input.stream_seq) => {
                out.held_from = Some(i);
                break;
            }
            Err(reason) => {
                refuse_batch(ctx, &input, reason, None, now_ms, &mut out);
                continue;
            }
        };
        let b = &verified.batch.header;
        if ctx.mode == Mode::Fresh {
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
                    refuse_batch(ctx, &input, reason, Some(&verified), now_ms, &mut out);
                    continue;
                }
            }
            // Keyed by the producer id of a certificate that just verified.
            let producer = b.producer_id.clone();
            let earlier = deferred_in_cycle.get(&producer).copied().unwrap_or(0);
            match ctx
                .pacing
                .admit(&producer, earlier, verified.batch.records.len())
            {
                Pace::Now => {}
                Pace::Defer => {
                    *deferred_in_cycle.entry(producer).or_default() += 1;
                    defer(ctx, &input, &verified, now_ms, &mut out);
                    continue;
                }
                Pace::Refuse => {
                    let reason = DenyReason::RateLimited;
                    refuse_batch(ctx, &input, reason, Some(&verified), now_ms, &mut out);
                    continue;
                }
            }
        }
        release_to_partners(ctx, &input, &verified, &mut out);
    }
    out.positions = moved
        .into_iter()
        .filter_map(|k| feeds.remove(&k).map(|s| (k, s)))
        .collect();
    out
}

/// Checks that an outbound batch is a complete, correctly signed batch of
/// one of this nation's producers, on its own subject.
pub(crate) fn verify_outbound(
    ctx: &EgressStage,
    input: &Incoming,
    now_ms: i64,
) -> Result<VerifiedBatch, DenyReason> {
    let verified = open_on(
        input,
        &ctx.state.certificates,
        now_ms,
        |b, topic| {
            (lane(b.message_type) == ctx.kind)
                .then(|| subjects::outbound(ctx.kind, &b.producer_id, &b.feed, topic))
        },
        |origin| origin == ctx.nation,
    )?;
    if !verified.batch.is_complete() {
        return Err(DenyReason::IncompleteBatch);
    }
    Ok(verified)
}

/// A PACED batch as the OUTBOUND batch it was deferred from; counts it as
/// no longer waiting, whatever its outcome.
fn from_paced(input: &Incoming, out: &mut Decided) -> Incoming {
    let producer = paced_producer(&input.subject).unwrap_or("-").to_string();
    out.counted.push(Counted::Drained { producer });
    let subject = match Subject::parse(&input.subject) {
        Ok(Subject::Paced {
            kind,
            producer,
            feed,
            topic,
        }) => subjects::outbound(kind, &producer, &feed, topic.as_ref()),
        _ => input.subject.clone(),
    };
    Incoming {
        subject,
        ..input.clone()
    }
}

/// Refused as a whole: dead-lettered as received, counted, audited per
/// record. `verified` is the batch if it verified (a position or rate
/// refusal).
fn refuse_batch(
    ctx: &EgressStage,
    input: &Incoming,
    reason: DenyReason,
    verified: Option<&VerifiedBatch>,
    now_ms: i64,
    out: &mut Decided,
) {
    let stage = ctx.mode.stage();
    tracing::warn!(subject = %input.subject, %reason, stage, "outbound batch refused; dead-lettered");
    let decoded = match verified {
        Some(v) => Some(v.batch.clone()),
        None => decode_batch(&input.payload).ok(),
    };
    let key_id = verified.map(|v| hex::encode(v.certificate.key.id()));
    out.audit.extend(per_record(decoded.as_ref(), |header| {
        record(DecisionFacts {
            decision: AuditDecision::Reject,
            stage,
            partner: "",
            header,
            key_id: key_id.clone(),
            translated: None,
            reason: Some(reason),
            now_ms,
            source_stream_seq: input.stream_seq,
        })
    }));
    let records = decoded.as_ref().map_or(1, |b| b.records.len() as u64);
    out.counted.push(Counted::Rejected {
        stage,
        partner: "-".into(),
        reason,
        records,
    });
    if let (Some(v), DenyReason::RateLimited) = (verified, reason) {
        out.counted.push(Counted::Refused {
            producer: v.batch.header.producer_id.clone(),
            records,
        });
    }
    out.outputs
        .push(dead_letter_batch(input, stage, "-", reason));
}

/// Over its producer's rate: stored in PACED (the batch unchanged),
/// released later by the paced stage. Audited as a hold, per record.
fn defer(ctx: &EgressStage, input: &Incoming, v: &VerifiedBatch, now_ms: i64, out: &mut Decided) {
    let b = &v.batch.header;
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::MSG_ID, b.batch_id().as_str());
    hdrs.insert(headers::SOURCE_SUBJECT, input.subject.as_str());
    out.outputs.push(Outgoing {
        target: Target::Home,
        subject: subjects::paced(
            ctx.kind,
            &b.producer_id,
            &b.feed,
            subject_topic(&input.subject).as_ref(),
        ),
        headers: hdrs,
        payload: input.payload.clone(),
        chain_seq: None,
    });
    let records = v.batch.records.len() as u64;
    out.counted.push(Counted::Deferred {
        producer: b.producer_id.clone(),
        records,
    });
    let key_id = hex::encode(v.certificate.key.id());
    for r in &v.batch.records {
        out.audit.push(AuditRecord {
            detail: "deferred: over the producer's rate limit; waits in PACED".into(),
            ..record(DecisionFacts {
                decision: AuditDecision::Hold,
                stage: "egress",
                partner: "",
                header: Some(&r.header),
                key_id: Some(key_id.clone()),
                translated: None,
                reason: None,
                now_ms,
                source_stream_seq: input.stream_seq,
            })
        });
    }
}

/// Per record: the checks that need no partner (payload, label within the
/// certificate, schema version), then the release decision for each
/// partner. Then, per partner, one message with the released subset.
fn release_to_partners(ctx: &EgressStage, input: &Incoming, v: &VerifiedBatch, out: &mut Decided) {
    let view: PolicyView<'_> = ctx.state.view();
    let key_id = hex::encode(v.certificate.key.id());
    let stage = ctx.mode.stage();
    let topic = subject_topic(&input.subject);
    let mut released: Vec<Vec<usize>> = vec![Vec::new(); ctx.links.len()];
    for (index, r) in v.batch.records.iter().enumerate() {
        // Per record: the time a decision is audited with is taken just
        // before it reads the policy state, which changes under it.
        let now_ms = (ctx.clock)();
        let h = &r.header;
        if let Err((reason, detail)) = check_record(ctx, v, r, topic.as_ref(), now_ms) {
            tracing::warn!(msg = %h.msg_id(), %reason, %detail, stage, "record refused; dead-lettered");
            out.audit.push(AuditRecord {
                detail,
                ..record(DecisionFacts {
                    decision: AuditDecision::Reject,
                    stage,
                    partner: "",
                    header: Some(h),
                    key_id: Some(key_id.clone()),
                    translated: None,
                    reason: Some(reason),
                    now_ms,
                    source_stream_seq: input.stream_seq,
                })
            });
            out.counted.push(Counted::Rejected {
                stage,
                partner: "-".into(),
                reason,
                records: 1,
            });
            out.outputs.push(dead_letter_record(
                input, &v.batch, index, stage, "-", reason,
            ));
            continue;
        }
        if ctx.kind == Kind::Alert {
            out.counted.push(Counted::Alert {
                fused: coalition_core::composite::is_fused(&h.derived_from),
            });
        }
        let facts = MessageFacts {
            header: h,
            key_sha256: v.certificate.key.id(),
        };
        for (p, (partner, ceiling)) in ctx.links.iter().enumerate() {
            let crossing = Crossing {
                from: &ctx.nation,
                to: partner,
                ceiling,
                now_ms,
            };
            let decision = release_decision(&facts, &crossing, &view);
            out.audit.push(record(DecisionFacts {
                decision: if decision.is_ok() {
                    AuditDecision::Release
                } else {
                    AuditDecision::Deny
                },
                stage,
                partner,
                header: Some(h),
                key_id: Some(key_id.clone()),
                translated: decision.as_ref().ok(),
                reason: decision.as_ref().err().copied(),
                now_ms,
                source_stream_seq: input.stream_seq,
            }));
            match decision {
                Ok(_) => released[p].push(index),
                Err(reason) => {
                    out.counted.push(Counted::Denied {
                        partner: partner.clone(),
                        reason,
                    });
                    tracing::debug!(msg = %h.msg_id(), %partner, %reason, label = %h.label.display(), "not released");
                }
            }
        }
    }
    for ((partner, _), keep) in ctx.links.iter().zip(released) {
        publish_release(ctx, v, partner, &keep, topic.as_ref(), out);
    }
}

/// The checks on one record that need no partner: its payload matches the
/// signed digest, its label is within the producer's certificate, its
/// schema version is accepted by this nation's schema policy now, and its
/// payload is valid in that version (an alert v2: `invalid_payload`).
/// The error carries the reason and, for an invalid payload, what is wrong.
fn check_record(
    ctx: &EgressStage,
    v: &VerifiedBatch,
    r: &DecodedRecord,
    topic: Option<&AlertTopic>,
    now_ms: i64,
) -> Result<(), (DenyReason, String)> {
    let h = &r.header;
    if !r.payload_matches {
        return Err((DenyReason::PayloadDigestMismatch, String::new()));
    }
    ctx.state
        .check_within_certificate(h, &v.certificate)
        .and_then(|()| ctx.state.check_schema(h, now_ms))
        .map_err(|reason| (reason, String::new()))?;
    check_payload(h.message_type, h.schema_version, &r.payload)
        .map_err(|e| (e.reason(), e.to_string()))?;
    check_topic(ctx.kind, topic, r).map_err(|reason| {
        let detail = format!(
            "the record's topic is not the subject's ({})",
            topic_text(topic)
        );
        (reason, detail)
    })
}

fn topic_text(topic: Option<&AlertTopic>) -> String {
    topic.map_or_else(|| "none".to_string(), ToString::to_string)
}

/// The message that releases `keep` (positions among the batch's records)
/// to `partner`, if any.
fn publish_release(
    ctx: &EgressStage,
    v: &VerifiedBatch,
    partner: &str,
    keep: &[usize],
    topic: Option<&AlertTopic>,
    out: &mut Decided,
) {
    let Some(&last) = keep.last() else {
        return;
    };
    let b = &v.batch.header;
    let payload = match v.batch.subset(keep) {
        Ok(p) => p,
        Err(e) => {
            // Cannot happen for a batch that verified; refuse rather than
            // release something a partner could not verify.
            tracing::error!(batch = %b.batch_id(), error = %e, "cannot build the released subset");
            return;
        }
    };
    let top = v.batch.records[last].header.seq;
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::MSG_ID, b.batch_id().as_str());
    hdrs.insert(headers::SEQ, top.to_string().as_str());
    hdrs.insert(headers::DECISION, "release");
    hdrs.insert(headers::RELEASED_BY, ctx.nation.as_str());
    hdrs.insert(headers::RELEASED_AT, (ctx.clock)().to_string().as_str());
    let target = Target::Partner(partner.to_string());
    out.certificates
        .push((target.clone(), b.producer_cert_sha256));
    out.counted.push(Counted::Released {
        partner: partner.to_string(),
        records: keep.len() as u64,
    });
    out.outputs.push(Outgoing {
        target,
        subject: subjects::released(ctx.kind, &b.origin, &b.producer_id, &b.feed, topic),
        headers: hdrs,
        payload,
        chain_seq: Some(top),
    });
}

#[cfg(test)]
mod tests;
