//! Nation policy documents: a nation's label vocabulary and release rules,
//! versioned and signed by its root, and the book of every version a
//! bridge knows.
use std::collections::BTreeSet;
use std::sync::Arc;

use coalition_schemas::v1;
use dashmap::DashMap;
use prost::Message;

use crate::certificate::TrustAnchors;
use crate::keys::SigningKeyPair;
use crate::label::NationPolicy;
use crate::signed::{decode_body, invalid_object, sign_object, verify_root_signature, ObjectKind};
use crate::CoreError;

const KIND: ObjectKind = ObjectKind::Policy;

impl NationPolicy {
    /// The wire document.
    pub fn to_document(&self, issued_at_ms: i64) -> v1::NationPolicyDocument {
        v1::NationPolicyDocument {
            nation: self.nation.clone(),
            version: self.version,
            classifications: self.classifications.clone(),
            caveats: self
                .caveats
                .iter()
                .map(|(name, forbids)| v1::CaveatRule {
                    name: name.clone(),
                    forbids_release: *forbids,
                })
                .collect(),
            informative: self.informative.clone(),
            issued_at_ms,
        }
    }

    /// Checks a wire document: a version, a non-empty scale, no name twice.
    pub fn from_document(doc: v1::NationPolicyDocument) -> Result<Self, CoreError> {
        let bad = |d: String| invalid_object(KIND, d);
        if !crate::signed::is_subject_token(&doc.nation) {
            return Err(bad(format!(
                "nation code {:?} must be letters, digits, '-' or '_'",
                doc.nation
            )));
        }
        if doc.version == 0 {
            return Err(bad(format!("{}: version must be 1 or more", doc.nation)));
        }
        if doc.classifications.is_empty() {
            return Err(bad(format!(
                "{} v{}: no classifications",
                doc.nation, doc.version
            )));
        }
        let mut seen = BTreeSet::new();
        let names = doc
            .classifications
            .iter()
            .chain(doc.caveats.iter().map(|c| &c.name))
            .chain(doc.informative.iter());
        for name in names {
            if name.is_empty() || !seen.insert(name.clone()) {
                return Err(bad(format!(
                    "{} v{}: name {name:?} is empty or appears twice",
                    doc.nation, doc.version
                )));
            }
        }
        Ok(NationPolicy {
            nation: doc.nation,
            version: doc.version,
            classifications: doc.classifications,
            caveats: doc
                .caveats
                .into_iter()
                .map(|c| (c.name, c.forbids_release))
                .collect(),
            informative: doc.informative,
        })
    }
}

/// Signs `policy` with its nation's root key.
pub fn sign_policy(
    policy: &NationPolicy,
    root: &SigningKeyPair,
    issued_at_ms: i64,
) -> Result<v1::SignedObject, CoreError> {
    let body = policy.to_document(issued_at_ms).encode_to_vec();
    sign_object(KIND, body, &policy.nation, root, None)
}

/// Verifies a signed policy document against its nation's root.
pub fn verify_policy(
    object: &v1::SignedObject,
    anchors: &TrustAnchors,
) -> Result<NationPolicy, CoreError> {
    let doc: v1::NationPolicyDocument = decode_body(object, KIND)?;
    let nation = doc.nation.clone();
    verify_root_signature(object, KIND, &nation, anchors)?;
    NationPolicy::from_document(doc)
}

/// Every verified policy version a bridge knows, by nation and version.
/// Updated at run time from the CONTROL streams; read on every message.
#[derive(Debug, Default)]
pub struct PolicyBook {
    versions: DashMap<(String, u32), Arc<NationPolicy>>,
    /// The highest version per nation, kept on insert: read on every
    /// decision, so never computed by a scan.
    current: DashMap<String, Arc<NationPolicy>>,
}

impl PolicyBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a verified policy. Returns false if that version was already
    /// known (a different document under a known version is refused).
    pub fn insert(&self, policy: NationPolicy) -> Result<bool, CoreError> {
        let key = (policy.nation.clone(), policy.version);
        if let Some(known) = self.versions.get(&key) {
            if **known == policy {
                return Ok(false);
            }
            return Err(invalid_object(
                KIND,
                format!(
                    "{} v{} is already known with different content; issue a new version",
                    policy.nation, policy.version
                ),
            ));
        }
        let policy = Arc::new(policy);
        let mut current = self
            .current
            .entry(policy.nation.clone())
            .or_insert_with(|| policy.clone());
        if current.version < policy.version {
            *current = policy.clone();
        }
        drop(current);
        self.versions.insert(key, policy);
        Ok(true)
    }

    /// Version `version` of `nation`'s policy.
    pub fn get(&self, nation: &str, version: u32) -> Option<Arc<NationPolicy>> {
        self.versions
            .get(&(nation.to_string(), version))
            .map(|p| p.clone())
    }

    /// The highest version of `nation`'s policy.
    pub fn current(&self, nation: &str) -> Option<Arc<NationPolicy>> {
        self.current.get(nation).map(|p| p.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;

    fn usa(version: u32) -> NationPolicy {
        NationPolicy {
            nation: "USA".into(),
            version,
            classifications: vec!["UNCLASSIFIED".into(), "SECRET".into()],
            caveats: vec![("NOFORN".into(), true)],
            informative: vec!["EXERCISE".into()],
        }
    }

    #[test]
    fn signed_policy_verifies_and_tampering_or_wrong_root_fails() {
        let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
        let other = SigningKeyPair::generate(Algorithm::MlDsa65, "impostor");
        let mut anchors = TrustAnchors::new();
        anchors.insert("USA".into(), root.public_key().clone());
        let signed = sign_policy(&usa(2), &root, 1).unwrap();
        assert_eq!(verify_policy(&signed, &anchors).unwrap(), usa(2));

        let mut tampered = signed.clone();
        let mut doc = v1::NationPolicyDocument::decode(tampered.body.as_ref()).unwrap();
        doc.caveats.clear();
        tampered.body = doc.encode_to_vec().into();
        assert!(verify_policy(&tampered, &anchors).is_err());

        let forged = sign_policy(&usa(2), &other, 1).unwrap();
        let err = verify_policy(&forged, &anchors).unwrap_err().to_string();
        assert!(err.contains("not signed by USA's root"), "{err}");
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let mut p = usa(0);
        assert!(NationPolicy::from_document(p.to_document(0))
            .unwrap_err()
            .to_string()
            .contains("version"));
        p.version = 1;
        p.caveats.push(("SECRET".into(), false));
        assert!(NationPolicy::from_document(p.to_document(0))
            .unwrap_err()
            .to_string()
            .contains("appears twice"));
    }

    #[test]
    fn book_keeps_versions_and_refuses_a_rewritten_version() {
        let book = PolicyBook::new();
        assert!(book.insert(usa(1)).unwrap());
        assert!(!book.insert(usa(1)).unwrap());
        assert!(book.insert(usa(3)).unwrap());
        assert_eq!(book.current("USA").unwrap().version, 3);
        assert_eq!(book.get("USA", 1).unwrap().version, 1);
        assert!(book.get("USA", 2).is_none());
        let mut changed = usa(1);
        changed.classifications.push("TOP SECRET".into());
        assert!(book.insert(changed).is_err());
    }
}
