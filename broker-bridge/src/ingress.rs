//! Ingress: what a partner released to this nation is pulled from the
//! partner's RELEASED stream over the leaf link, verified, checked against
//! the admit policy, and republished into HOME (`in.>`, stream INBOUND) with
//! lineage headers. Anything refused goes to DEADLETTER with its reason.
use std::sync::Arc;

use async_nats::HeaderMap;
use coalition_core::certificate::CertificateCache;
use coalition_core::decision::{admit_decision, AdmitContext};
use coalition_core::envelope::{check_within_certificate, open, VerifiedMessage};
use coalition_core::label::NationPolicy;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_topology::subjects;

use crate::deadletter::{dead_letter, HOME};
use crate::pipeline::{Counted, Decided, Incoming, Outgoing};

/// What the ingress decision for one partner needs.
#[derive(Debug)]
pub(crate) struct IngressContext {
    pub nation: String,
    pub partner: String,
    pub partner_policy: NationPolicy,
    pub max_classification: String,
    pub cache: Arc<CertificateCache>,
}

/// Verifies a released message and decides whether to admit it.
pub(crate) fn verify_and_admit(
    ctx: &IngressContext,
    input: &Incoming,
    now_ms: i64,
) -> Result<VerifiedMessage, DenyReason> {
    let verified = open(&input.payload, &ctx.cache, now_ms)?;
    let h = &verified.envelope.header;
    if input.subject
        != subjects::released(h.message_type.as_str(), &h.origin, &h.producer_id, &h.feed)
    {
        return Err(DenyReason::SubjectMismatch);
    }
    admit_decision(
        h,
        &AdmitContext {
            home: &ctx.nation,
            link_partner: &ctx.partner,
            origin_policy: &ctx.partner_policy,
            max_classification: &ctx.max_classification,
        },
    )?;
    check_within_certificate(
        &verified.envelope.header,
        &verified.certificate,
        &ctx.partner_policy,
    )?;
    Ok(verified)
}

fn lineage_headers(
    ctx: &IngressContext,
    input: &Incoming,
    v: &VerifiedMessage,
    now_ms: i64,
) -> HeaderMap {
    let h = &v.envelope.header;
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::MSG_ID, h.msg_id().as_str());
    hdrs.insert(headers::ORIGIN, h.origin.as_str());
    hdrs.insert(headers::PRODUCER, h.producer_id.as_str());
    hdrs.insert(headers::FEED, h.feed.as_str());
    hdrs.insert(headers::SEQ, h.seq.to_string().as_str());
    hdrs.insert(
        headers::KEY_ID,
        hex::encode(&v.certificate.key.id()[..16]).as_str(),
    );
    hdrs.insert(headers::LABEL, h.label.display().as_str());
    hdrs.insert(
        headers::SCHEMA,
        format!("{}@{}", h.message_type.schema_id(), h.schema_version).as_str(),
    );
    hdrs.insert(headers::DECISION, "admit");
    for name in [headers::RELEASED_BY, headers::RELEASED_AT] {
        if let Some(v) = input.headers.as_ref().and_then(|x| x.get(name)) {
            hdrs.insert(name, v.as_str());
        }
    }
    hdrs.insert(headers::ADMITTED_BY, ctx.nation.as_str());
    hdrs.insert(headers::ADMITTED_AT, now_ms.to_string().as_str());
    hdrs
}

/// The ingress decision for a batch from one partner.
pub(crate) fn decide(ctx: &IngressContext, inputs: &[Incoming], now_ms: i64) -> Decided {
    let mut out = Decided::default();
    for input in inputs {
        match verify_and_admit(ctx, input, now_ms) {
            Ok(v) => {
                let h = &v.envelope.header;
                out.counted.push(Counted::Admitted {
                    partner: ctx.partner.clone(),
                    transit_ms: (now_ms - h.produced_at_ms).max(0),
                });
                out.outputs.push(Outgoing {
                    target: HOME,
                    subject: subjects::inbound(
                        h.message_type.as_str(),
                        &h.origin,
                        &h.producer_id,
                        &h.feed,
                    ),
                    headers: lineage_headers(ctx, input, &v, now_ms),
                    payload: input.payload.clone(),
                });
            }
            Err(reason) => {
                out.counted.push(Counted::Rejected {
                    stage: "ingress",
                    partner: ctx.partner.clone(),
                    reason,
                });
                tracing::warn!(partner = %ctx.partner, subject = %input.subject, %reason, "released message rejected; dead-lettered");
                out.outputs
                    .push(dead_letter(input, "ingress", &ctx.partner, reason));
            }
        }
    }
    out
}
