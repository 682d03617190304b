//! Schema policies: a nation's signed statement of which schema versions
//! it accepts per message type, with the dual-run window of a migration;
//! their wire form, signing and verification; and the [`SchemaBook`] of
//! every verified version, whose highest version per nation is in force.
//! What a policy means at an instant is [`super::phase`].
use std::collections::BTreeMap;
use std::sync::Arc;

use coalition_schemas::v1;
use dashmap::DashMap;
use prost::Message;

use super::known_versions;
use crate::certificate::TrustAnchors;
use crate::envelope::MessageType;
use crate::keys::SigningKeyPair;
use crate::signed::{decode_body, invalid_object, sign_object, verify_root_signature, ObjectKind};
use crate::CoreError;

const KIND: ObjectKind = ObjectKind::SchemaPolicy;

/// A move from one schema version to another with a dual-run window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The version producers send before the window.
    pub from_version: u32,
    /// The version producers send after it.
    pub to_version: u32,
    /// Inclusive start of the dual-run window, Unix ms.
    pub window_start_ms: i64,
    /// Exclusive end of the dual-run window, Unix ms; after the start.
    pub window_end_ms: i64,
}

/// The accepted schema versions of one message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaRule {
    /// Track or alert.
    pub message_type: MessageType,
    /// The version accepted when there is no migration; with one, its
    /// `from_version`.
    pub current_version: u32,
    /// A planned or running migration.
    pub migration: Option<Migration>,
}

impl SchemaRule {
    /// Version 1 only, no migration: the rule of a nation that has signed
    /// no schema policy.
    pub fn v1_only(message_type: MessageType) -> Self {
        SchemaRule {
            message_type,
            current_version: 1,
            migration: None,
        }
    }
}

/// A nation's verified schema policy: one rule per message type it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaPolicy {
    /// The nation code.
    pub nation: String,
    /// 1, 2, ...; the highest verified version is in force. 0 only for
    /// [`SchemaPolicy::v1_only`], which is never signed.
    pub version: u32,
    /// At most one per message type; a type without one accepts nothing.
    pub rules: Vec<SchemaRule>,
    /// When it was signed, Unix ms (informative).
    pub issued_at_ms: i64,
}

impl SchemaPolicy {
    /// The policy of a nation that has signed none: track v1 and alert v1,
    /// no migration. Version 0, so any signed policy replaces it.
    pub fn v1_only(nation: &str) -> Self {
        SchemaPolicy {
            nation: nation.to_string(),
            version: 0,
            rules: vec![
                SchemaRule::v1_only(MessageType::Track),
                SchemaRule::v1_only(MessageType::Alert),
            ],
            issued_at_ms: 0,
        }
    }

    /// The rule for `message_type`, if the policy has one.
    pub fn rule(&self, message_type: MessageType) -> Option<&SchemaRule> {
        self.rules.iter().find(|r| r.message_type == message_type)
    }

    /// The wire document.
    pub fn to_document(&self) -> v1::SchemaPolicyDocument {
        let rule = |r: &SchemaRule| v1::SchemaRule {
            message_type: message_type_to_wire(r.message_type) as i32,
            current_version: r.current_version,
            migration: r.migration.map(|m| v1::Migration {
                from_version: m.from_version,
                to_version: m.to_version,
                window_start_ms: m.window_start_ms,
                window_end_ms: m.window_end_ms,
            }),
        };
        v1::SchemaPolicyDocument {
            nation: self.nation.clone(),
            version: self.version,
            rules: self.rules.iter().map(rule).collect(),
            issued_at_ms: self.issued_at_ms,
        }
    }
}

/// Checks a wire document: a nation, a version, known message types each
/// listed once, existing schema versions, well-formed migrations.
impl TryFrom<v1::SchemaPolicyDocument> for SchemaPolicy {
    type Error = CoreError;

    fn try_from(doc: v1::SchemaPolicyDocument) -> Result<Self, CoreError> {
        let v1::SchemaPolicyDocument {
            nation,
            version,
            rules,
            issued_at_ms,
        } = doc;
        let bad = |d: String| invalid_object(KIND, d);
        if nation.is_empty() {
            return Err(bad("no nation".into()));
        }
        if version == 0 {
            return Err(bad(format!("{nation}: version must be 1 or more")));
        }
        let mut checked: Vec<SchemaRule> = Vec::with_capacity(rules.len());
        for rule in rules {
            let rule =
                rule_from_wire(rule).map_err(|d| bad(format!("{nation} v{version}: {d}")))?;
            if checked.iter().any(|r| r.message_type == rule.message_type) {
                let name = rule.message_type.as_str();
                return Err(bad(format!("{nation} v{version}: {name} is listed twice")));
            }
            checked.push(rule);
        }
        Ok(SchemaPolicy {
            nation,
            version,
            rules: checked,
            issued_at_ms,
        })
    }
}

fn message_type_to_wire(message_type: MessageType) -> v1::MessageType {
    match message_type {
        MessageType::Track => v1::MessageType::Track,
        MessageType::Alert => v1::MessageType::Alert,
    }
}

fn rule_from_wire(rule: v1::SchemaRule) -> Result<SchemaRule, String> {
    let v1::SchemaRule {
        message_type,
        current_version,
        migration,
    } = rule;
    let message_type = match v1::MessageType::try_from(message_type) {
        Ok(v1::MessageType::Track) => MessageType::Track,
        Ok(v1::MessageType::Alert) => MessageType::Alert,
        _ => return Err(format!("message type {message_type} is not track or alert")),
    };
    check_exists(message_type, "current_version", current_version)?;
    let migration = migration
        .map(|m| migration_from_wire(message_type, current_version, m))
        .transpose()?;
    Ok(SchemaRule {
        message_type,
        current_version,
        migration,
    })
}

fn migration_from_wire(
    message_type: MessageType,
    current_version: u32,
    migration: v1::Migration,
) -> Result<Migration, String> {
    let v1::Migration {
        from_version,
        to_version,
        window_start_ms,
        window_end_ms,
    } = migration;
    let name = message_type.as_str();
    check_exists(message_type, "migration from_version", from_version)?;
    check_exists(message_type, "migration to_version", to_version)?;
    if from_version == to_version {
        return Err(format!(
            "{name} migration from v{from_version} to v{to_version}: the versions must differ"
        ));
    }
    if window_end_ms <= window_start_ms {
        return Err(format!(
            "{name} migration window end {window_end_ms} is not after its start {window_start_ms}"
        ));
    }
    if current_version != from_version {
        return Err(format!(
            "{name} current_version {current_version} must equal the migration's from_version {from_version}"
        ));
    }
    Ok(Migration {
        from_version,
        to_version,
        window_start_ms,
        window_end_ms,
    })
}

/// `version` of `message_type` is one that exists (schemas/MANIFEST.md).
fn check_exists(message_type: MessageType, field: &str, version: u32) -> Result<(), String> {
    let name = message_type.as_str();
    let known = known_versions(message_type);
    match version {
        0 => Err(format!("{name} {field} is 0; versions start at 1")),
        v if known.contains(&v) => Ok(()),
        v => Err(format!(
            "{name} {field} {v} does not exist (known: {known:?})"
        )),
    }
}

/// Signs `policy` with its nation's root key, after checking it would
/// verify (so [`SchemaPolicy::v1_only`], version 0, cannot be signed).
pub fn sign_schema_policy(
    policy: &SchemaPolicy,
    root: &SigningKeyPair,
) -> Result<v1::SignedObject, CoreError> {
    let doc = policy.to_document();
    SchemaPolicy::try_from(doc.clone())?;
    sign_object(KIND, doc.encode_to_vec(), &policy.nation, root, None)
}

/// Verifies a signed schema policy against its nation's root and checks it.
pub fn verify_schema_policy(
    object: &v1::SignedObject,
    anchors: &TrustAnchors,
) -> Result<SchemaPolicy, CoreError> {
    let doc: v1::SchemaPolicyDocument = decode_body(object, KIND)?;
    verify_root_signature(object, KIND, &doc.nation, anchors)?;
    SchemaPolicy::try_from(doc)
}

/// Every verified schema policy a bridge knows, by nation and version; the
/// highest version of a nation is in force. Updated at run time from the
/// CONTROL streams (a new version extends or rolls back a window with no
/// restart); read on every message.
#[derive(Debug, Default)]
pub struct SchemaBook {
    policies: DashMap<String, BTreeMap<u32, Arc<SchemaPolicy>>>,
}

impl SchemaBook {
    /// An empty book: every nation is [`SchemaPolicy::v1_only`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a verified policy. `Ok(true)` when it is now its nation's
    /// policy in force; `Ok(false)` when that changes nothing (already
    /// known, or older than the one in force: kept only so a rewrite of it
    /// is refused). A different document under a known version is refused;
    /// `issued_at_ms` alone does not make it different.
    pub fn insert(&self, policy: SchemaPolicy) -> Result<bool, CoreError> {
        let mut versions = self.policies.entry(policy.nation.clone()).or_default();
        if let Some(known) = versions.get(&policy.version) {
            if known.rules == policy.rules {
                return Ok(false);
            }
            return Err(invalid_object(
                KIND,
                format!(
                    "{} v{} is already known with different rules; issue a new version",
                    policy.nation, policy.version
                ),
            ));
        }
        let newest = versions
            .keys()
            .next_back()
            .is_none_or(|v| *v < policy.version);
        versions.insert(policy.version, Arc::new(policy));
        Ok(newest)
    }

    /// `nation`'s policy in force, if it has signed one.
    pub fn current(&self, nation: &str) -> Option<Arc<SchemaPolicy>> {
        let versions = self.policies.get(nation)?;
        versions.values().next_back().cloned()
    }

    /// The rule in force for `nation`'s `message_type`: from its policy in
    /// force, or [`SchemaPolicy::v1_only`] if it has signed none. `None`
    /// when its policy lists no rule for the type: no version is accepted.
    pub fn rule(&self, nation: &str, message_type: MessageType) -> Option<SchemaRule> {
        match self.current(nation) {
            Some(policy) => policy.rule(message_type).copied(),
            None => Some(SchemaRule::v1_only(message_type)),
        }
    }
}
