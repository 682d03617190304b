//! Translators: signed, versioned, one-directional mappings from one
//! nation's label vocabulary into another's, co-signed by both national
//! roots, and the set of them a bridge knows.
//!
//! [`Translator::translate`] is pure. [`TranslatorSet::select`] picks, for a
//! label, the highest usable version; why none is usable is a typed
//! [`DenyReason`].
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::sync::Arc;

use coalition_schemas::v1;
use dashmap::DashMap;
use prost::Message;

use crate::certificate::TrustAnchors;
use crate::keys::SigningKeyPair;
use crate::label::{Label, NationPolicy};
use crate::revocation::RevocationState;
use crate::signed::{
    add_signature, decode_body, invalid_object, sign_object, verify_root_signature, ObjectKind,
};
use crate::{CoreError, DenyReason};

const KIND: ObjectKind = ObjectKind::Translator;

/// A verified translator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translator {
    /// Stable name shared by its versions, e.g. `USA-GBR`.
    pub id: String,
    /// Version.
    pub version: u32,
    /// Source nation.
    pub from: String,
    /// Destination nation.
    pub to: String,
    /// Source policy versions it maps.
    pub source_versions: RangeInclusive<u32>,
    /// Destination policy versions it maps into.
    pub target_versions: RangeInclusive<u32>,
    /// Classification map.
    pub classifications: BTreeMap<String, String>,
    /// Category (caveat and informative) map.
    pub categories: BTreeMap<String, String>,
    /// Categories the source label must carry.
    pub required: BTreeSet<String>,
    /// Categories the source label must not carry.
    pub forbidden: BTreeSet<String>,
    /// Validity, Unix ms: inclusive start.
    pub not_before_ms: i64,
    /// Validity, Unix ms: exclusive end.
    pub not_after_ms: i64,
}

impl Translator {
    /// `<id>@<version>`, as lineage and audit records name it.
    pub fn name(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// Whether `now_ms` is inside the validity window.
    pub fn is_valid_at(&self, now_ms: i64) -> bool {
        self.not_before_ms <= now_ms && now_ms < self.not_after_ms
    }

    /// Maps `label` (in the source policy) into `target`'s vocabulary.
    /// Releasable-to nation codes are carried as they are; informative
    /// categories without a mapping are dropped; anything else without a
    /// mapping, or not in `target`, is denied.
    pub fn translate(&self, label: &Label, target: &NationPolicy) -> Result<Label, DenyReason> {
        let categories = || label.caveats.iter().chain(label.informative.iter());
        if let Some(missing) = self
            .required
            .iter()
            .find(|r| !categories().any(|c| c == *r))
        {
            let _ = missing;
            return Err(DenyReason::MissingRequiredCategory);
        }
        if categories().any(|c| self.forbidden.contains(c)) {
            return Err(DenyReason::ForbiddenCategory);
        }
        let classification = self
            .classifications
            .get(&label.classification)
            .filter(|c| target.rank(c).is_some())
            .ok_or(DenyReason::UntranslatableClassification)?;
        let mut caveats = BTreeSet::new();
        for caveat in &label.caveats {
            let mapped = self
                .categories
                .get(caveat)
                .filter(|c| target.caveat_forbids_release(c).is_some())
                .ok_or(DenyReason::UntranslatableCategory)?;
            caveats.insert(mapped.clone());
        }
        let informative = label
            .informative
            .iter()
            .filter_map(|i| self.categories.get(i))
            .filter(|i| target.informative.contains(i))
            .cloned()
            .collect();
        Ok(Label {
            policy_id: target.nation.clone(),
            policy_version: target.version,
            classification: classification.clone(),
            releasable_to: label.releasable_to.clone(),
            caveats,
            informative,
        })
    }

    /// The wire form.
    pub fn to_wire(&self) -> v1::Translator {
        let maps = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(from, to)| v1::Mapping {
                    from: from.clone(),
                    to: to.clone(),
                })
                .collect()
        };
        let range = |r: &RangeInclusive<u32>| v1::VersionRange {
            min: *r.start(),
            max: *r.end(),
        };
        v1::Translator {
            id: self.id.clone(),
            version: self.version,
            from_nation: self.from.clone(),
            to_nation: self.to.clone(),
            source_policy_versions: Some(range(&self.source_versions)),
            target_policy_versions: Some(range(&self.target_versions)),
            classifications: maps(&self.classifications),
            categories: maps(&self.categories),
            required_categories: self.required.iter().cloned().collect(),
            forbidden_categories: self.forbidden.iter().cloned().collect(),
            not_before_ms: self.not_before_ms,
            not_after_ms: self.not_after_ms,
        }
    }

    /// Checks a wire translator's shape.
    pub fn from_wire(wire: v1::Translator) -> Result<Self, CoreError> {
        let name = format!("{}@{}", wire.id, wire.version);
        let bad = |d: &str| invalid_object(KIND, format!("{name}: {d}"));
        if wire.id.is_empty() || wire.version == 0 {
            return Err(bad("needs an id and a version of 1 or more"));
        }
        if wire.from_nation.is_empty()
            || wire.to_nation.is_empty()
            || wire.from_nation == wire.to_nation
        {
            return Err(bad("needs two different nations"));
        }
        if wire.not_after_ms <= wire.not_before_ms {
            return Err(bad("not_after must be later than not_before"));
        }
        let range = |r: Option<v1::VersionRange>, what: &str| match r {
            Some(r) if r.min >= 1 && r.min <= r.max => Ok(r.min..=r.max),
            _ => Err(bad(&format!(
                "{what} policy version range is missing or empty"
            ))),
        };
        let map = |m: Vec<v1::Mapping>, what: &str| {
            let mut out = BTreeMap::new();
            for e in m {
                if out.insert(e.from.clone(), e.to).is_some() {
                    return Err(bad(&format!("{what} {:?} is mapped twice", e.from)));
                }
            }
            Ok(out)
        };
        Ok(Translator {
            source_versions: range(wire.source_policy_versions, "source")?,
            target_versions: range(wire.target_policy_versions, "target")?,
            classifications: map(wire.classifications, "classification")?,
            categories: map(wire.categories, "category")?,
            required: wire.required_categories.into_iter().collect(),
            forbidden: wire.forbidden_categories.into_iter().collect(),
            id: wire.id,
            version: wire.version,
            from: wire.from_nation,
            to: wire.to_nation,
            not_before_ms: wire.not_before_ms,
            not_after_ms: wire.not_after_ms,
        })
    }
}

/// Signs a translator as one of its two nations. Both must sign before it
/// verifies; the second party calls this on the first party's object via
/// [`cosign_translator`].
pub fn sign_translator(
    translator: &Translator,
    nation: &str,
    root: &SigningKeyPair,
) -> Result<v1::SignedObject, CoreError> {
    sign_object(
        KIND,
        translator.to_wire().encode_to_vec(),
        nation,
        root,
        None,
    )
}

/// Adds `nation`'s root signature to a translator signed by the other party.
pub fn cosign_translator(
    object: &mut v1::SignedObject,
    nation: &str,
    root: &SigningKeyPair,
) -> Result<(), CoreError> {
    add_signature(object, KIND, nation, root, None)
}

/// Verifies a translator: well-formed and signed by both nations' roots.
pub fn verify_translator(
    object: &v1::SignedObject,
    anchors: &TrustAnchors,
) -> Result<Translator, CoreError> {
    let translator = Translator::from_wire(decode_body(object, KIND)?)?;
    verify_root_signature(object, KIND, &translator.from, anchors)?;
    verify_root_signature(object, KIND, &translator.to, anchors)?;
    Ok(translator)
}

/// Every verified translator a bridge knows, by (from, to). Updated at run
/// time from the CONTROL streams; read on every message.
#[derive(Debug, Default)]
pub struct TranslatorSet {
    by_pair: DashMap<(String, String), Vec<Arc<Translator>>>,
}

impl TranslatorSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a verified translator; false if that id and version was known.
    /// A different translator under a known id and version is refused.
    pub fn insert(&self, translator: Translator) -> Result<bool, CoreError> {
        if let Some(known) = self.find(&translator.id, translator.version) {
            if *known == translator {
                return Ok(false);
            }
            return Err(invalid_object(
                KIND,
                format!(
                    "{} is already known with different content; issue a new version",
                    translator.name()
                ),
            ));
        }
        let key = (translator.from.clone(), translator.to.clone());
        let mut entry = self.by_pair.entry(key).or_default();
        entry.push(Arc::new(translator));
        entry.sort_by(|a, b| b.version.cmp(&a.version).then(a.id.cmp(&b.id)));
        Ok(true)
    }

    /// The translator with this id and version, whatever its pair.
    pub fn find(&self, id: &str, version: u32) -> Option<Arc<Translator>> {
        self.by_pair.iter().find_map(|e| {
            e.value()
                .iter()
                .find(|t| t.id == id && t.version == version)
                .cloned()
        })
    }

    /// Every translator with this id (any version, any pair).
    pub fn with_id(&self, id: &str) -> Vec<Arc<Translator>> {
        self.by_pair
            .iter()
            .flat_map(|e| {
                e.value()
                    .iter()
                    .filter(|t| t.id == id)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The translator to use for a label of `from`'s policy version
    /// `source_version` going to `to` on policy version `target_version`:
    /// the highest version that covers both, is valid at `now_ms` and is not
    /// revoked. If none, the reason of the most relevant candidate: revoked,
    /// then outside its validity, else no translator at all.
    pub fn select(
        &self,
        from: &str,
        to: &str,
        source_version: u32,
        target_version: u32,
        revocations: &RevocationState,
        now_ms: i64,
    ) -> Result<Arc<Translator>, DenyReason> {
        let Some(candidates) = self.by_pair.get(&(from.to_string(), to.to_string())) else {
            return Err(DenyReason::NoTranslator);
        };
        let mut why = DenyReason::NoTranslator;
        for t in candidates.iter().filter(|t| {
            t.source_versions.contains(&source_version)
                && t.target_versions.contains(&target_version)
        }) {
            if revocations.is_translator_revoked(t, now_ms) {
                why = DenyReason::TranslatorRevoked;
            } else if !t.is_valid_at(now_ms) {
                if why == DenyReason::NoTranslator {
                    why = DenyReason::TranslatorNotValid;
                }
            } else {
                return Ok(t.clone());
            }
        }
        Err(why)
    }
}

#[cfg(test)]
mod tests;
