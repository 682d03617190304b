//! The release and admit decisions: pure functions of the message's facts,
//! the crossing (from, to, link ceiling, now) and the policy view (policy
//! documents, translators, revocation state). The bridge calls them on
//! every message; they are the one place that says why a message may or
//! may not cross a boundary.
//!
//! Rules, in the order they are checked (the first failure is the reason):
//! 1. (admit only) the message came from its origin's link: `OriginMismatch`;
//! 2. the two nations' partnership is not suspended: `PartnerSuspended`;
//! 3. the producer's key is not revoked: `ProducerKeyRevoked`;
//! 4. the product is not retracted: `ProductRetracted`;
//! 5. the label is in the source nation's policy (`UnknownPolicy`), in a
//!    version known here (`UnknownPolicyVersion`);
//! 6. its classification is in that version's scale: `UnknownClassification`;
//! 7. every caveat is known (`UnknownCaveat`) and none forbids foreign
//!    release, e.g. NOFORN (`CaveatForbidsRelease`);
//! 8. the destination is in the releasable-to list: `NotReleasableToDestination`;
//! 9. the classification is at or below the link's ceiling: `ClassificationAboveLink`;
//! 10. the destination's current policy is known (`UnknownPolicyVersion`),
//!     a translator covers both versions, is valid and not revoked
//!     (`NoTranslator`, `TranslatorNotValid`, `TranslatorRevoked`), and
//!     maps the label (`MissingRequiredCategory`, `ForbiddenCategory`,
//!     `UntranslatableClassification`, `UntranslatableCategory`).
//!
//! The releasing bridge and the receiving bridge take the same decision,
//! each with its own view: either side's revocation stops the flow.
use crate::envelope::Header;
use crate::label::{Label, NationPolicy};
use crate::policy::PolicyBook;
use crate::revocation::{ProductKey, RevocationState};
use crate::translator::TranslatorSet;
use crate::DenyReason;

/// What a bridge knows of policy: every policy version, every translator
/// and the revocation state.
#[derive(Debug, Clone, Copy)]
pub struct PolicyView<'a> {
    /// Policy documents.
    pub policies: &'a PolicyBook,
    /// Translators.
    pub translators: &'a TranslatorSet,
    /// Revocations.
    pub revocations: &'a RevocationState,
}

/// The facts of one verified message a decision reads.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts<'a> {
    /// The signed header.
    pub header: &'a Header,
    /// SHA-256 of the producer's public key (from its verified certificate).
    pub key_sha256: &'a [u8; 32],
}

/// One crossing of a boundary: `from` (the label's nation) to `to`.
#[derive(Debug, Clone, Copy)]
pub struct Crossing<'a> {
    /// The releasing nation, whose policy the label is in.
    pub from: &'a str,
    /// The receiving nation.
    pub to: &'a str,
    /// The link's classification ceiling, in `from`'s scale.
    pub ceiling: &'a str,
    /// Now, Unix ms.
    pub now_ms: i64,
}

/// A permitted crossing: the label in the destination's vocabulary and
/// what it was decided under (lineage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The label as translated.
    pub label: Label,
    /// `<id>@<version>` of the translator.
    pub translator: String,
    /// The source policy version (the label's).
    pub source_policy_version: u32,
    /// The destination policy version translated into.
    pub target_policy_version: u32,
}

/// Egress: may the `from` nation release this message to `to`?
pub fn release_decision(
    facts: &MessageFacts<'_>,
    crossing: &Crossing<'_>,
    view: &PolicyView<'_>,
) -> Result<Translated, DenyReason> {
    decide(facts, crossing, view)
}

/// Ingress: may `crossing.to` admit this message, which arrived on the link
/// from `crossing.from`?
pub fn admit_decision(
    facts: &MessageFacts<'_>,
    crossing: &Crossing<'_>,
    view: &PolicyView<'_>,
) -> Result<Translated, DenyReason> {
    if facts.header.origin != crossing.from {
        return Err(DenyReason::OriginMismatch);
    }
    decide(facts, crossing, view)
}

fn decide(
    facts: &MessageFacts<'_>,
    crossing: &Crossing<'_>,
    view: &PolicyView<'_>,
) -> Result<Translated, DenyReason> {
    let h = facts.header;
    let now = crossing.now_ms;
    let revocations = view.revocations;
    if revocations.is_suspended(crossing.from, crossing.to, now) {
        return Err(DenyReason::PartnerSuspended);
    }
    if revocations.is_key_revoked(&h.origin, facts.key_sha256, now) {
        return Err(DenyReason::ProducerKeyRevoked);
    }
    let product = ProductKey {
        origin: h.origin.clone(),
        producer_id: h.producer_id.clone(),
        feed: h.feed.clone(),
        product_id: h.product_id.clone(),
    };
    if !h.product_id.is_empty() && revocations.is_product_retracted(&product, now) {
        return Err(DenyReason::ProductRetracted);
    }
    let label = &h.label;
    if label.policy_id != crossing.from {
        return Err(DenyReason::UnknownPolicy);
    }
    let source = view
        .policies
        .get(crossing.from, label.policy_version)
        .ok_or(DenyReason::UnknownPolicyVersion)?;
    check_label(label, &source, crossing.to, crossing.ceiling)?;
    let target = view
        .policies
        .current(crossing.to)
        .ok_or(DenyReason::UnknownPolicyVersion)?;
    let translator = view.translators.select(
        crossing.from,
        crossing.to,
        source.version,
        target.version,
        revocations,
        now,
    )?;
    Ok(Translated {
        label: translator.translate(label, &target)?,
        translator: translator.name(),
        source_policy_version: source.version,
        target_policy_version: target.version,
    })
}

/// Rules 6 to 9: the label against its own policy and the link.
pub fn check_label(
    label: &Label,
    policy: &NationPolicy,
    destination: &str,
    ceiling: &str,
) -> Result<(), DenyReason> {
    if label.policy_id != policy.nation {
        return Err(DenyReason::UnknownPolicy);
    }
    let rank = policy
        .rank(&label.classification)
        .ok_or(DenyReason::UnknownClassification)?;
    for caveat in &label.caveats {
        match policy.caveat_forbids_release(caveat) {
            None => return Err(DenyReason::UnknownCaveat),
            Some(true) => return Err(DenyReason::CaveatForbidsRelease),
            Some(false) => {}
        }
    }
    if !label.releasable_to.contains(destination) {
        return Err(DenyReason::NotReleasableToDestination);
    }
    let ceiling = policy
        .rank(ceiling)
        .ok_or(DenyReason::UnknownClassification)?;
    if rank > ceiling {
        return Err(DenyReason::ClassificationAboveLink);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
