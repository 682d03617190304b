//! Egress: what this nation's producers published (OUTBOUND) is verified,
//! then released to each partner whose link the label and the policy state
//! allow (translator in force, nothing revoked), into that partner's
//! release account (`REL_<partner>`, stream RELEASED).
//!
//! Verification failures are dead-lettered. Policy denials are counted per
//! partner and reason; the message stays in OUTBOUND, so nothing is lost.
//! Every decision is an audit record.
//!
//! A verified producer over its rate limit is deferred into PACED and
//! released from there by the paced stage, which runs this same decision
//! ([`Mode::Paced`]); see [`crate::rate`].
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_nats::HeaderMap;
use coalition_core::certificate::CertificateCache;
use coalition_core::decision::{release_decision, Crossing, MessageFacts, PolicyView, Translated};
use coalition_core::envelope::{decode_envelope, open, VerifiedMessage};
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1::{AuditDecision, AuditRecord};
use coalition_topology::subjects;

use crate::audit_record::{record, DecisionFacts};
use crate::deadletter::{dead_letter, HOME};
use crate::pipeline::{Counted, Decided, Incoming, Outgoing};
use crate::policy_state::PolicyState;
use crate::rate::{paced_producer, Pace, ProducerPacing};

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

/// What the egress decision needs; `links[i]` publishes to target `i + 1`.
pub(crate) struct EgressContext {
    pub nation: String,
    pub state: Arc<PolicyState>,
    pub cache: Arc<CertificateCache>,
    /// (partner, link ceiling)
    pub links: Vec<(String, String)>,
    /// Per-producer rate limits, shared with the paced stage.
    pub pacing: Arc<ProducerPacing>,
    pub mode: Mode,
}

/// Checks that an outbound message is a well-formed, correctly signed
/// message of one of this nation's producers, on its own subject.
pub(crate) fn verify_outbound(
    ctx: &EgressContext,
    input: &Incoming,
    now_ms: i64,
) -> Result<VerifiedMessage, DenyReason> {
    let verified = open(&input.payload, &ctx.cache, now_ms)?;
    let h = &verified.envelope.header;
    if h.origin != ctx.nation {
        return Err(DenyReason::OriginMismatch);
    }
    if input.subject != subjects::outbound(h.message_type.as_str(), &h.producer_id, &h.feed) {
        return Err(DenyReason::SubjectMismatch);
    }
    ctx.state.check_within_certificate(&verified)?;
    ctx.state.check_schema(&verified, now_ms)?;
    Ok(verified)
}

/// The headers of a released message.
fn release_headers(nation: &str, v: &VerifiedMessage, t: &Translated, now_ms: i64) -> HeaderMap {
    let h = &v.envelope.header;
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::MSG_ID, h.msg_id().as_str());
    hdrs.insert(headers::SEQ, h.seq.to_string().as_str());
    hdrs.insert(headers::DECISION, "release");
    hdrs.insert(headers::RELEASED_BY, nation);
    hdrs.insert(headers::RELEASED_AT, now_ms.to_string().as_str());
    hdrs.insert(headers::TRANSLATOR, t.translator.as_str());
    hdrs
}

/// The egress decision for a batch: verify, pace (per producer), release
/// to each partner the policy allows.
pub(crate) fn decide(ctx: &EgressContext, inputs: &[Incoming], clock: &dyn Fn() -> i64) -> Decided {
    let mut out = Decided::default();
    let view = ctx.state.view();
    let mut deferred_in_batch: HashMap<String, u64> = HashMap::new();
    for input in inputs {
        // Per message: the time a decision is audited with is taken just
        // before it reads the policy state.
        let now_ms = clock();
        let input = match ctx.mode {
            Mode::Fresh => Cow::Borrowed(input),
            Mode::Paced => Cow::Owned(from_paced(input, &mut out)),
        };
        let verified = match verify_outbound(ctx, &input, now_ms) {
            Ok(v) => v,
            Err(reason) => {
                refuse(ctx, &input, reason, None, now_ms, &mut out);
                continue;
            }
        };
        if ctx.mode == Mode::Fresh {
            // Keyed by the producer id of a certificate that just verified.
            let producer = &verified.envelope.header.producer_id;
            let earlier = deferred_in_batch.get(producer).copied().unwrap_or(0);
            match ctx.pacing.admit(producer, earlier) {
                Pace::Now => {}
                Pace::Defer => {
                    *deferred_in_batch.entry(producer.clone()).or_default() += 1;
                    defer(&input, &verified, now_ms, &mut out);
                    continue;
                }
                Pace::Refuse => {
                    let reason = DenyReason::RateLimited;
                    refuse(ctx, &input, reason, Some(&verified), now_ms, &mut out);
                    continue;
                }
            }
        }
        release_to_partners(ctx, &view, &input, &verified, now_ms, &mut out);
    }
    out
}

/// A PACED message as the OUTBOUND message it was deferred from; counts it
/// as no longer waiting, whatever its outcome.
fn from_paced(input: &Incoming, out: &mut Decided) -> Incoming {
    let producer = paced_producer(&input.subject).unwrap_or("-").to_string();
    out.counted.push(Counted::Drained { producer });
    Incoming {
        subject: subjects::outbound_of_paced(&input.subject)
            .unwrap_or_else(|| input.subject.clone()),
        ..input.clone()
    }
}

/// Refused: dead-lettered with the reason, counted, audited. `verified` is
/// the message if it verified (a rate-limit refusal).
fn refuse(
    ctx: &EgressContext,
    input: &Incoming,
    reason: DenyReason,
    verified: Option<&VerifiedMessage>,
    now_ms: i64,
    out: &mut Decided,
) {
    let stage = ctx.mode.stage();
    tracing::warn!(subject = %input.subject, %reason, stage, "outbound message refused; dead-lettered");
    let header = match verified {
        Some(v) => Some(v.envelope.header.clone()),
        None => decode_envelope(&input.payload).ok().map(|e| e.header),
    };
    out.audit.push(record(DecisionFacts {
        decision: AuditDecision::Reject,
        stage,
        partner: "",
        header: header.as_ref(),
        key_id: verified.map(|v| hex::encode(v.certificate.key.id())),
        translated: None,
        reason: Some(reason),
        now_ms,
        source_stream_seq: input.stream_seq,
    }));
    out.counted.push(Counted::Rejected {
        stage,
        partner: "-".into(),
        reason,
    });
    if let Some(v) = verified {
        out.counted.push(Counted::Refused {
            producer: v.envelope.header.producer_id.clone(),
        });
    }
    out.outputs.push(dead_letter(input, stage, "-", reason));
}

/// Over its producer's rate: stored in PACED (the envelope unchanged),
/// released later by the paced stage. Audited as a hold.
fn defer(input: &Incoming, v: &VerifiedMessage, now_ms: i64, out: &mut Decided) {
    let h = &v.envelope.header;
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::MSG_ID, h.msg_id().as_str());
    hdrs.insert(headers::SOURCE_SUBJECT, input.subject.as_str());
    out.outputs.push(Outgoing {
        target: HOME,
        subject: subjects::paced(h.message_type.as_str(), &h.producer_id, &h.feed),
        headers: hdrs,
        payload: input.payload.clone(),
        chain_seq: None,
    });
    out.counted.push(Counted::Deferred {
        producer: h.producer_id.clone(),
    });
    out.audit.push(AuditRecord {
        detail: "deferred: over the producer's rate limit; waits in PACED".into(),
        ..record(DecisionFacts {
            decision: AuditDecision::Hold,
            stage: "egress",
            partner: "",
            header: Some(h),
            key_id: Some(hex::encode(v.certificate.key.id())),
            translated: None,
            reason: None,
            now_ms,
            source_stream_seq: input.stream_seq,
        })
    });
}

/// The release decision for each partner, and what it publishes.
fn release_to_partners(
    ctx: &EgressContext,
    view: &PolicyView<'_>,
    input: &Incoming,
    verified: &VerifiedMessage,
    now_ms: i64,
    out: &mut Decided,
) {
    let h = &verified.envelope.header;
    let facts = MessageFacts {
        header: h,
        key_sha256: verified.certificate.key.id(),
    };
    let key_id = hex::encode(verified.certificate.key.id());
    for (i, (partner, ceiling)) in ctx.links.iter().enumerate() {
        let crossing = Crossing {
            from: &ctx.nation,
            to: partner,
            ceiling,
            now_ms,
        };
        let decision = release_decision(&facts, &crossing, view);
        out.audit.push(record(DecisionFacts {
            decision: if decision.is_ok() {
                AuditDecision::Release
            } else {
                AuditDecision::Deny
            },
            stage: ctx.mode.stage(),
            partner,
            header: Some(h),
            key_id: Some(key_id.clone()),
            translated: decision.as_ref().ok(),
            reason: decision.as_ref().err().copied(),
            now_ms,
            source_stream_seq: input.stream_seq,
        }));
        match decision {
            Ok(translated) => {
                out.counted.push(Counted::Released {
                    partner: partner.clone(),
                });
                out.outputs.push(Outgoing {
                    target: i + 1,
                    subject: subjects::released(
                        h.message_type.as_str(),
                        &h.origin,
                        &h.producer_id,
                        &h.feed,
                    ),
                    headers: release_headers(&ctx.nation, verified, &translated, now_ms),
                    payload: input.payload.clone(),
                    chain_seq: Some(h.seq),
                });
            }
            Err(reason) => {
                out.counted.push(Counted::Denied {
                    partner: partner.clone(),
                    reason,
                });
                tracing::info!(msg = %h.msg_id(), %partner, %reason, label = %h.label.display(), "not released");
            }
        }
    }
}

#[cfg(test)]
mod tests;
