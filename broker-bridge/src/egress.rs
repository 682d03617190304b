//! Egress: what this nation's producers published (OUTBOUND) is verified,
//! then released to each partner whose link the label allows, into that
//! partner's release account (`REL_<partner>`, stream RELEASED).
//!
//! Verification failures are dead-lettered. Policy denials are counted per
//! partner and reason; the message stays in OUTBOUND, so nothing is lost.
use std::sync::Arc;

use async_nats::HeaderMap;
use coalition_core::certificate::CertificateCache;
use coalition_core::decision::{release_decision, ReleaseContext};
use coalition_core::envelope::{check_within_certificate, open, VerifiedMessage};
use coalition_core::label::NationPolicy;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_topology::subjects;

use crate::deadletter::dead_letter;
use crate::pipeline::{Counted, Decided, Incoming, Outgoing};

/// What the egress decision needs; `links[i]` publishes to target `i + 1`.
#[derive(Debug)]
pub(crate) struct EgressContext {
    pub nation: String,
    pub policy: NationPolicy,
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
    check_within_certificate(
        &verified.envelope.header,
        &verified.certificate,
        &ctx.policy,
    )?;
    Ok(verified)
}

/// The egress decision for a batch.
pub(crate) fn decide(ctx: &EgressContext, inputs: &[Incoming], now_ms: i64) -> Decided {
    let mut out = Decided::default();
    for input in inputs {
        let verified = match verify_outbound(ctx, input, now_ms) {
            Ok(v) => v,
            Err(reason) => {
                tracing::warn!(subject = %input.subject, %reason, "outbound message refused; dead-lettered");
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
        for (i, (partner, ceiling)) in ctx.links.iter().enumerate() {
            let release = ReleaseContext {
                home: &ctx.policy,
                partner,
                max_classification: ceiling,
            };
            match release_decision(&h.label, &release) {
                Ok(()) => {
                    out.counted.push(Counted::Released {
                        partner: partner.clone(),
                    });
                    let mut hdrs = HeaderMap::new();
                    hdrs.insert(headers::MSG_ID, h.msg_id().as_str());
                    hdrs.insert(headers::DECISION, "release");
                    hdrs.insert(headers::RELEASED_BY, ctx.nation.as_str());
                    hdrs.insert(headers::RELEASED_AT, now_ms.to_string().as_str());
                    out.outputs.push(Outgoing {
                        target: i + 1,
                        subject: subjects::released(
                            h.message_type.as_str(),
                            &h.origin,
                            &h.producer_id,
                            &h.feed,
                        ),
                        headers: hdrs,
                        payload: input.payload.clone(),
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
