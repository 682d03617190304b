//! Ingress: what a partner released to this nation is pulled from the
//! partner's RELEASED stream over the leaf link, verified, decided with this
//! nation's own policy state (translator in force, nothing revoked, the
//! label translated into this nation's vocabulary), and republished into
//! HOME (`in.>`, stream INBOUND) with lineage headers. Anything refused
//! goes to DEADLETTER with its reason. Every decision is an audit record.
use std::sync::Arc;

use async_nats::HeaderMap;
use coalition_core::certificate::CertificateCache;
use coalition_core::decision::{admit_decision, Crossing, MessageFacts, Translated};
use coalition_core::envelope::{decode_envelope, open, VerifiedMessage};
use coalition_core::schema::{known_versions, transcode_track_payload};
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1::AuditDecision;
use coalition_schemas::v1::{AuditRecord, ServedMessage};
use coalition_topology::subjects;
use prost::Message as _;

use crate::audit_record::{record, DecisionFacts};
use crate::deadletter::{dead_letter, HOME};
use crate::pipeline::{Counted, Decided, Incoming, Outgoing};
use crate::policy_state::PolicyState;

/// What the ingress decision for one partner needs.
#[derive(Debug)]
pub(crate) struct IngressContext {
    pub nation: String,
    pub partner: String,
    pub state: Arc<PolicyState>,
    pub max_classification: String,
    pub cache: Arc<CertificateCache>,
}

/// Verifies a released message and decides whether to admit it.
pub(crate) fn verify_and_admit(
    ctx: &IngressContext,
    input: &Incoming,
    now_ms: i64,
) -> Result<(VerifiedMessage, Translated), DenyReason> {
    let verified = open(&input.payload, &ctx.cache, now_ms)?;
    let h = &verified.envelope.header;
    if input.subject
        != subjects::released(h.message_type.as_str(), &h.origin, &h.producer_id, &h.feed)
    {
        return Err(DenyReason::SubjectMismatch);
    }
    let translated = admit_decision(
        &MessageFacts {
            header: h,
            key_sha256: verified.certificate.key.id(),
        },
        &Crossing {
            from: &ctx.partner,
            to: &ctx.nation,
            ceiling: &ctx.max_classification,
            now_ms,
        },
        &ctx.state.view(),
    )?;
    ctx.state.check_within_certificate(&verified)?;
    // Which versions a producer may send is its own nation's policy,
    // enforced by its bridge at egress; here the version need only be one
    // this bridge knows. (Checking the origin's policy again here would
    // refuse, for good, a message released under a policy newer than the
    // one this bridge has yet received: the CONTROL and RELEASED streams
    // are not ordered with each other.)
    let h = &verified.envelope.header;
    if !known_versions(h.message_type).contains(&h.schema_version) {
        return Err(DenyReason::UnknownSchemaVersion);
    }
    Ok((verified, translated))
}

fn lineage_headers(
    ctx: &IngressContext,
    input: &Incoming,
    v: &VerifiedMessage,
    t: &Translated,
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
    hdrs.insert(headers::TRANSLATED_LABEL, t.label.display().as_str());
    hdrs.insert(headers::TRANSLATOR, t.translator.as_str());
    hdrs.insert(
        headers::POLICY_VERSIONS,
        format!(
            "{}/v{} -> {}/v{}",
            h.origin, t.source_policy_version, ctx.nation, t.target_policy_version
        )
        .as_str(),
    );
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

/// The admitted message, on the INBOUND subject of every schema version it
/// is served in ([`PolicyState::versions_to_serve`]): as produced, and,
/// during a dual-run window, transcoded as a `ServedMessage` that carries
/// the producer's envelope unchanged. A version it cannot be transcoded
/// into is denied for that version only, counted and audited.
fn serve(
    ctx: &IngressContext,
    input: &Incoming,
    v: &VerifiedMessage,
    t: &Translated,
    now_ms: i64,
    out: &mut Decided,
) {
    let h = &v.envelope.header;
    let produced = h.schema_version;
    let versions = ctx
        .state
        .versions_to_serve(&h.origin, h.message_type, produced, now_ms);
    for version in versions {
        let mut headers = lineage_headers(ctx, input, v, t, now_ms);
        // One JetStream de-duplication id per version served.
        headers.insert(
            headers::MSG_ID,
            format!("{}.v{version}", h.msg_id()).as_str(),
        );
        let payload = if version == produced {
            input.payload.clone()
        } else {
            match transcode_track_payload(&v.envelope.payload, produced, version) {
                Ok((payload, lossy)) => {
                    let lossy_fields: Vec<String> = lossy
                        .iter()
                        .map(|(field, loss)| format!("{field}:{}", loss.as_str()))
                        .collect();
                    headers.insert(headers::TRANSCODED_FROM, produced.to_string().as_str());
                    if !lossy_fields.is_empty() {
                        headers.insert(headers::LOSSY, lossy_fields.join(",").as_str());
                    }
                    ServedMessage {
                        envelope: input.payload.clone(),
                        version,
                        payload,
                        lossy_fields,
                    }
                    .encode_to_vec()
                    .into()
                }
                Err(e) => {
                    let reason = e.reason();
                    tracing::warn!(msg = %h.msg_id(), from = produced, to = version, error = %e, "not served in this version");
                    out.audit.push(AuditRecord {
                        detail: format!("not served in v{version}: {e}"),
                        ..record(DecisionFacts {
                            decision: AuditDecision::Deny,
                            stage: "ingress",
                            partner: &ctx.partner,
                            header: Some(h),
                            key_id: Some(hex::encode(v.certificate.key.id())),
                            translated: Some(t),
                            reason: Some(reason),
                            now_ms,
                            source_stream_seq: input.stream_seq,
                        })
                    });
                    out.counted.push(Counted::Denied {
                        partner: ctx.partner.clone(),
                        reason,
                    });
                    continue;
                }
            }
        };
        out.outputs.push(Outgoing {
            target: HOME,
            subject: subjects::inbound(
                h.message_type.as_str(),
                &h.origin,
                &h.producer_id,
                &h.feed,
                version,
            ),
            headers,
            payload,
            chain_seq: Some(h.seq),
        });
    }
}

/// The ingress decision for a batch from one partner.
pub(crate) fn decide(
    ctx: &IngressContext,
    inputs: &[Incoming],
    clock: &dyn Fn() -> i64,
) -> Decided {
    let mut out = Decided::default();
    for input in inputs {
        // Per message: the time a decision is audited with is taken just
        // before it reads the policy state.
        let now_ms = clock();
        match verify_and_admit(ctx, input, now_ms) {
            Ok((v, t)) => {
                let h = &v.envelope.header;
                out.audit.push(record(DecisionFacts {
                    decision: AuditDecision::Admit,
                    stage: "ingress",
                    partner: &ctx.partner,
                    header: Some(h),
                    key_id: Some(hex::encode(v.certificate.key.id())),
                    translated: Some(&t),
                    reason: None,
                    now_ms,
                    source_stream_seq: input.stream_seq,
                }));
                out.counted.push(Counted::Admitted {
                    partner: ctx.partner.clone(),
                    transit_ms: (now_ms - h.produced_at_ms).max(0),
                });
                serve(ctx, input, &v, &t, now_ms, &mut out);
            }
            Err(reason) => {
                let header = decode_envelope(&input.payload).ok().map(|e| e.header);
                out.audit.push(record(DecisionFacts {
                    decision: AuditDecision::Reject,
                    stage: "ingress",
                    partner: &ctx.partner,
                    header: header.as_ref(),
                    key_id: None,
                    translated: None,
                    reason: Some(reason),
                    now_ms,
                    source_stream_seq: input.stream_seq,
                }));
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
