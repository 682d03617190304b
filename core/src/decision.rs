//! The release and admit decisions: pure functions of the label, the
//! policies and the link. The bridge calls them on every message; they are
//! the one place that says why a message may or may not cross a boundary.
//!
//! Rules, in the order they are checked (the first failure is the reason):
//! 1. (admit only) the message came from its origin's link: `OriginMismatch`;
//! 2. the label is in the expected policy: `UnknownPolicy`;
//! 3. its classification is in that policy's scale: `UnknownClassification`;
//! 4. every caveat is known (`UnknownCaveat`) and none forbids foreign
//!    release, e.g. NOFORN (`CaveatForbidsRelease`);
//! 5. the destination is in the releasable-to list: `NotReleasableToDestination`;
//! 6. the classification is at or below the link's ceiling: `ClassificationAboveLink`.
//!
//! This policy is classification plus releasable-to; translators,
//! revocation and freshness come on top of the same functions later.
use crate::envelope::Header;
use crate::label::{Label, NationPolicy};
use crate::DenyReason;

/// Egress: may this nation release `label` to `partner`?
#[derive(Debug, Clone, Copy)]
pub struct ReleaseContext<'a> {
    /// The releasing nation's policy (the label must be in it).
    pub home: &'a NationPolicy,
    /// The destination nation.
    pub partner: &'a str,
    /// The link's classification ceiling, in the home scale.
    pub max_classification: &'a str,
}

/// Ingress: may this nation admit a message that arrived on the link from
/// `link_partner`?
#[derive(Debug, Clone, Copy)]
pub struct AdmitContext<'a> {
    /// The receiving nation.
    pub home: &'a str,
    /// The nation whose release stream the message came from.
    pub link_partner: &'a str,
    /// That nation's policy (the label must be in it).
    pub origin_policy: &'a NationPolicy,
    /// The ceiling this nation accepts on the link, in the origin's scale.
    pub max_classification: &'a str,
}

/// Decides release of a message with `label` on the link in `ctx`.
pub fn release_decision(label: &Label, ctx: &ReleaseContext<'_>) -> Result<(), DenyReason> {
    check_label(label, ctx.home, ctx.partner, ctx.max_classification)
}

/// Decides admission of a verified message with `header`.
pub fn admit_decision(header: &Header, ctx: &AdmitContext<'_>) -> Result<(), DenyReason> {
    if header.origin != ctx.link_partner {
        return Err(DenyReason::OriginMismatch);
    }
    check_label(
        &header.label,
        ctx.origin_policy,
        ctx.home,
        ctx.max_classification,
    )
}

fn check_label(
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
