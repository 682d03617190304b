//! Labels and the policies that give them meaning.
//!
//! A [`Label`] is the domain form of the wire `ConfidentialityLabel`; a
//! [`NationPolicy`] is a nation's vocabulary: its ordered classification
//! scale and the caveats it knows. Comparisons of classifications are only
//! made within one policy's scale.
use std::collections::BTreeSet;

use coalition_schemas::v1;

/// A STANAG 4774-style confidentiality label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The policy defining the vocabulary, e.g. `USA`.
    pub policy_id: String,
    /// A classification of that policy.
    pub classification: String,
    /// Permissive category: nations it may be released to.
    pub releasable_to: BTreeSet<String>,
    /// Restrictive categories (caveats).
    pub caveats: BTreeSet<String>,
    /// Informative categories.
    pub informative: BTreeSet<String>,
    /// The version of the policy document whose vocabulary it uses.
    pub policy_version: u32,
}

impl From<v1::ConfidentialityLabel> for Label {
    fn from(wire: v1::ConfidentialityLabel) -> Self {
        let v1::ConfidentialityLabel {
            policy_id,
            classification,
            releasable_to,
            caveats,
            informative,
            policy_version,
        } = wire;
        Label {
            policy_version,
            policy_id,
            classification,
            releasable_to: releasable_to.into_iter().collect(),
            caveats: caveats.into_iter().collect(),
            informative: informative.into_iter().collect(),
        }
    }
}

impl From<&Label> for v1::ConfidentialityLabel {
    fn from(label: &Label) -> Self {
        v1::ConfidentialityLabel {
            policy_id: label.policy_id.clone(),
            classification: label.classification.clone(),
            releasable_to: label.releasable_to.iter().cloned().collect(),
            caveats: label.caveats.iter().cloned().collect(),
            informative: label.informative.iter().cloned().collect(),
            policy_version: label.policy_version,
        }
    }
}

impl Label {
    /// A label of `policy_id` (policy version 1) at `classification`,
    /// releasable to `to`.
    pub fn new(policy_id: &str, classification: &str, to: &[&str]) -> Self {
        Label {
            policy_version: 1,
            policy_id: policy_id.to_string(),
            classification: classification.to_string(),
            releasable_to: to.iter().map(|s| s.to_string()).collect(),
            caveats: BTreeSet::new(),
            informative: BTreeSet::new(),
        }
    }

    /// The same label in policy version `version`.
    pub fn in_version(mut self, version: u32) -> Self {
        self.policy_version = version;
        self
    }

    /// The same label with an informative category added.
    pub fn with_informative(mut self, category: &str) -> Self {
        self.informative.insert(category.to_string());
        self
    }

    /// The same label with a caveat added.
    pub fn with_caveat(mut self, caveat: &str) -> Self {
        self.caveats.insert(caveat.to_string());
        self
    }

    /// A one-line human form, e.g. `USA SECRET REL TO GBR, USA // NOFORN`,
    /// used in lineage headers and logs (never parsed back).
    pub fn display(&self) -> String {
        let mut s = format!(
            "{}/v{} {}",
            self.policy_id, self.policy_version, self.classification
        );
        if !self.releasable_to.is_empty() {
            let to: Vec<_> = self.releasable_to.iter().map(String::as_str).collect();
            s.push_str(&format!(" REL TO {}", to.join(", ")));
        }
        if !self.caveats.is_empty() {
            let c: Vec<_> = self.caveats.iter().map(String::as_str).collect();
            s.push_str(&format!(" // {}", c.join(" ")));
        }
        s
    }
}

/// A nation's label vocabulary: one version of its signed policy document
/// ([`crate::policy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NationPolicy {
    /// The nation (and policy id), e.g. `USA`.
    pub nation: String,
    /// The document's version; labels name the version they use.
    pub version: u32,
    /// Classifications, lowest first.
    pub classifications: Vec<String>,
    /// Known caveats and whether each forbids any foreign release.
    pub caveats: Vec<(String, bool)>,
    /// Known informative categories.
    pub informative: Vec<String>,
}

impl NationPolicy {
    /// The rank of `classification` in this scale (0 = lowest).
    pub fn rank(&self, classification: &str) -> Option<usize> {
        self.classifications
            .iter()
            .position(|c| c == classification)
    }

    /// `Some(true)` if the caveat forbids release, `Some(false)` if it is
    /// known and allows it, `None` if the policy does not know it.
    pub fn caveat_forbids_release(&self, caveat: &str) -> Option<bool> {
        self.caveats
            .iter()
            .find(|(name, _)| name == caveat)
            .map(|(_, forbids)| *forbids)
    }
}
