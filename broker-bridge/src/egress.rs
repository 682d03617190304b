//! Egress: what this nation's producers published (OUTBOUND) is verified,
//! then released to each partner whose link the label and the policy state
//! allow (translator in force, nothing revoked), into that partner's
//! release account (`REL_<partner>`, stream RELEASED).
//!
//! Verification failures are dead-lettered. Policy denials are counted per
//! partner and reason; the message stays in OUTBOUND, so nothing is lost.
//! Every decision is an audit record.
use std::sync::Arc;

use async_nats::HeaderMap;
use coalition_core::certificate::CertificateCache;
use coalition_core::decision::{release_decision, Crossing, MessageFacts, Translated};
use coalition_core::envelope::{decode_envelope, open, VerifiedMessage};
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1::AuditDecision;
use coalition_topology::subjects;

use crate::audit_record::{record, DecisionFacts};
use crate::deadletter::dead_letter;
use crate::pipeline::{Counted, Decided, Incoming, Outgoing};
use crate::policy_state::PolicyState;

/// What the egress decision needs; `links[i]` publishes to target `i + 1`.
#[derive(Debug)]
pub(crate) struct EgressContext {
    pub nation: String,
    pub state: Arc<PolicyState>,
    pub cache: Arc<CertificateCache>,
    /// (partner, link ceiling)
    pub links: Vec<(String, String)>,
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

/// The egress decision for a batch.
pub(crate) fn decide(ctx: &EgressContext, inputs: &[Incoming], clock: &dyn Fn() -> i64) -> Decided {
    let mut out = Decided::default();
    let view = ctx.state.view();
    for input in inputs {
        // Per message: the time a decision is audited with is taken just
        // before it reads the policy state.
        let now_ms = clock();
        let verified = match verify_outbound(ctx, input, now_ms) {
            Ok(v) => v,
            Err(reason) => {
                tracing::warn!(subject = %input.subject, %reason, "outbound message refused; dead-lettered");
                let header = decode_envelope(&input.payload).ok().map(|e| e.header);
                out.audit.push(record(DecisionFacts {
                    decision: AuditDecision::Reject,
                    stage: "egress",
                    partner: "",
                    header: header.as_ref(),
                    key_id: None,
                    translated: None,
                    reason: Some(reason),
                    now_ms,
                    source_stream_seq: input.stream_seq,
                }));
                out.counted.push(Counted::Rejected {
                    stage: "egress",
                    partner: "-".into(),
                    reason,
                });
                out.outputs.push(dead_letter(input, "egress", "-", reason));
                continue;
            }
        };
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
            let decision = release_decision(&facts, &crossing, &view);
            out.audit.push(record(DecisionFacts {
                decision: if decision.is_ok() {
                    AuditDecision::Release
                } else {
                    AuditDecision::Deny
                },
                stage: "egress",
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
                        headers: release_headers(&ctx.nation, &verified, &translated, now_ms),
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
    out
}
