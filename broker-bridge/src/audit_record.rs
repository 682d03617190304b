//! Builds the audit record of one decision about one record (pure): what
//! the audit log keeps of every release, denial, admission and rejection.
use coalition_core::batch::DecodedBatch;
use coalition_core::decision::Translated;
use coalition_core::envelope::Header;
use coalition_core::DenyReason;
use coalition_schemas::v1::{AuditDecision, AuditRecord};

/// What a record is about.
pub(crate) struct DecisionFacts<'a> {
    pub decision: AuditDecision,
    pub stage: &'static str,
    pub partner: &'a str,
    pub header: Option<&'a Header>,
    /// Hex SHA-256 of the producer's key, when verified.
    pub key_id: Option<String>,
    pub translated: Option<&'a Translated>,
    pub reason: Option<DenyReason>,
    pub now_ms: i64,
    pub source_stream_seq: u64,
}

/// The record of one decision.
pub(crate) fn record(f: DecisionFacts<'_>) -> AuditRecord {
    let mut r = AuditRecord {
        decision: f.decision as i32,
        stage: f.stage.to_string(),
        partner: f.partner.to_string(),
        reason: f.reason.map(|x| x.as_str().to_string()).unwrap_or_default(),
        key_id: f.key_id.unwrap_or_default(),
        decided_at_ms: f.now_ms,
        source_stream_seq: f.source_stream_seq,
        ..Default::default()
    };
    if let Some(h) = f.header {
        r.msg_id = h.msg_id();
        r.label_as_produced = Some((&h.label).into());
        r.source_policy_version = h.label.policy_version;
        r.schema = format!("{}@{}", h.message_type.schema_id(), h.schema_version);
    }
    if let Some(t) = f.translated {
        r.label_as_translated = Some((&t.label).into());
        r.translator = t.translator.clone();
        r.source_policy_version = t.source_policy_version;
        r.target_policy_version = t.target_policy_version;
    }
    r
}

/// The records of a decision about a whole batch: one per record it
/// carries (decoded, not verified, when it did not verify), or one without
/// a record id if nothing decodes.
pub(crate) fn per_record(
    batch: Option<&DecodedBatch>,
    facts: impl Fn(Option<&Header>) -> AuditRecord,
) -> Vec<AuditRecord> {
    match batch {
        Some(b) if !b.records.is_empty() => {
            b.records.iter().map(|r| facts(Some(&r.header))).collect()
        }
        _ => vec![facts(None)],
    }
}
