//! Serving admitted records in INBOUND: one message per schema version in
//! force for them, each an [`InboundBatch`] carrying the producer's batch
//! reduced to the records served in that version (with their multiproof)
//! and each record's lineage. During a dual-run window a record produced in
//! one version is also served in the other, transcoded (docs/schemas.md);
//! a record that cannot be transcoded is denied for that version only,
//! counted and audited (an alert v2 update, cancel, ack or error, or an
//! exercise or test alert, is never served in v1: it would read as a new
//! actual alarm).
use async_nats::HeaderMap;
use bytes::Bytes;
use coalition_core::batch::VerifiedBatch;
use coalition_core::decision::Translated;
use coalition_core::schema::transcode_payload;
use coalition_schemas::headers;
use coalition_schemas::v1::{AuditDecision, AuditRecord, InboundBatch, InboundRecord};
use coalition_topology::subjects;
use prost::Message;

use crate::audit_record::{record, DecisionFacts};
use crate::policy_state::PolicyState;
use crate::stage::{Counted, Decided, Incoming, Outgoing, Target};

/// One admitted record: its position among the batch's records, how it was
/// translated, and when it was decided.
pub(crate) struct Admitted {
    pub index: usize,
    pub translated: Translated,
    pub now_ms: i64,
}

/// One record as served in one version.
struct Served {
    index: usize,
    record: InboundRecord,
}

/// Stores the admitted records of `v` on the INBOUND subject of every
/// version they are served in. `lineage` holds the batch-level headers.
pub(crate) fn serve(
    state: &PolicyState,
    partner: &str,
    input: &Incoming,
    v: &VerifiedBatch,
    admitted: &[Admitted],
    lineage: HeaderMap,
    out: &mut Decided,
) {
    let b = &v.batch.header;
    let kind = crate::stage::lane(b.message_type);
    let mut by_version: std::collections::BTreeMap<u32, Vec<Served>> = Default::default();
    for a in admitted {
        let r = &v.batch.records[a.index];
        let produced = r.header.schema_version;
        let versions = state.versions_to_serve(&b.origin, b.message_type, produced, a.now_ms);
        for version in versions {
            let (transcoded_payload, lossy_fields) = if version == produced {
                (Bytes::new(), Vec::new())
            } else {
                match transcode_payload(b.message_type, &r.payload, produced, version) {
                    Ok((payload, lossy)) => (
                        payload,
                        lossy
                            .iter()
                            .map(|(field, loss)| format!("{field}:{}", loss.as_str()))
                            .collect(),
                    ),
                    Err(e) => {
                        not_served(
                            partner,
                            input,
                            v,
                            a,
                            version,
                            &e.to_string(),
                            e.reason(),
                            out,
                        );
                        continue;
                    }
                }
            };
            let t = &a.translated;
            by_version.entry(version).or_default().push(Served {
                index: a.index,
                record: InboundRecord {
                    translated_label: Some((&t.label).into()),
                    translator: t.translator.clone(),
                    source_policy_version: t.source_policy_version,
                    target_policy_version: t.target_policy_version,
                    transcoded_payload,
                    lossy_fields,
                },
            });
        }
    }
    for (version, mut served) in by_version {
        served.sort_by_key(|s| s.index);
        let keep: Vec<usize> = served.iter().map(|s| s.index).collect();
        let Ok(batch) = v.batch.subset(&keep) else {
            tracing::error!(batch = %b.batch_id(), "cannot build the admitted subset");
            continue;
        };
        let top = keep.last().map_or(0, |i| v.batch.records[*i].header.seq);
        let mut hdrs = lineage.clone();
        // One JetStream de-duplication id per version served.
        hdrs.insert(
            headers::MSG_ID,
            format!("{}.v{version}", b.batch_id()).as_str(),
        );
        hdrs.insert(headers::SEQ, top.to_string().as_str());
        let payload = InboundBatch {
            batch,
            version,
            records: served.into_iter().map(|s| s.record).collect(),
        }
        .encode_to_vec()
        .into();
        out.outputs.push(Outgoing {
            target: Target::Home,
            subject: subjects::inbound(
                kind,
                &b.origin,
                &b.producer_id,
                &b.feed,
                crate::stage::subject_topic(&input.subject).as_ref(),
                version,
            ),
            headers: hdrs,
            payload,
            chain_seq: Some(top),
        });
    }
}

/// A record that cannot be served in `version`: denied for that version
/// only, counted and audited.
#[allow(clippy::too_many_arguments)]
fn not_served(
    partner: &str,
    input: &Incoming,
    v: &VerifiedBatch,
    a: &Admitted,
    version: u32,
    why: &str,
    reason: coalition_core::DenyReason,
    out: &mut Decided,
) {
    let h = &v.batch.records[a.index].header;
    tracing::warn!(msg = %h.msg_id(), from = h.schema_version, to = version, error = %why, "not served in this version");
    out.audit.push(AuditRecord {
        detail: format!("not served in v{version}: {why}"),
        ..record(DecisionFacts {
            decision: AuditDecision::Deny,
            stage: "ingress",
            partner,
            header: Some(h),
            key_id: Some(hex::encode(v.certificate.key.id())),
            translated: Some(&a.translated),
            reason: Some(reason),
            now_ms: a.now_ms,
            source_stream_seq: input.stream_seq,
        })
    });
    out.counted.push(Counted::Denied {
        partner: partner.to_string(),
        reason,
    });
}
