//! The reference model of the release and admit decisions: written from the
//! rules in `decision.rs`'s module doc over the test world's data, without
//! calling the code under test.
use super::*;

/// The decision by the rules of the module doc, over the world's data.
pub(super) fn model(admit: bool, input: &Input, notices: &[Notice]) -> Outcome {
    model_revocations(admit, input, notices)?;
    let source = model_label(input)?;
    let targets = world().policies.iter().filter(|p| p.nation == input.to);
    let target = targets.max_by_key(|p| p.version);
    let target = target.ok_or(UnknownPolicyVersion)?;
    let t = model_select(input, (source.version, target.version), notices)?;
    Ok(Translated {
        label: model_translate(t, &input.header.label, target)?,
        translator: format!("{}@{}", t.id, t.version),
        source_policy_version: source.version,
        target_policy_version: target.version,
    })
}

/// Rules 1 to 4: the link, then the notices in force (at or after their
/// effective instant). Rule 3 matches the key digest of the message's
/// origin only (see `a_third_nation_cannot_revoke_a_producers_key`).
pub(super) fn model_revocations(admit: bool, input: &Input, notices: &[Notice]) -> Outcome<()> {
    let (h, from, to) = (&input.header, input.from.as_str(), input.to.as_str());
    if admit && h.origin != from {
        return Err(OriginMismatch);
    }
    let now = input.now_ms;
    let in_force = || notices.iter().filter(move |n| n.effective_from_ms <= now);
    let between = |a: &str, b: &str| (a, b) == (from, to) || (a, b) == (to, from);
    let suspends =
        |n: &Notice| matches!(&n.revoked, Revoked::SuspendPartner(p) if between(&n.issuer, p));
    if in_force().any(suspends) {
        return Err(PartnerSuspended);
    }
    let key = |r: &Revoked| match r {
        Revoked::ProducerKey {
            nation, key_sha256, ..
        } => *key_sha256 == input.key && *nation == input.header.origin,
        _ => false,
    };
    if in_force().any(|n| key(&n.revoked)) {
        return Err(ProducerKeyRevoked);
    }
    let this = (&h.origin, &h.producer_id, &h.feed, &h.product_id);
    let same = |p: &ProductKey| (&p.origin, &p.producer_id, &p.feed, &p.product_id) == this;
    let retracts = |n: &Notice| matches!(&n.revoked, Revoked::Product(p) if same(p));
    if !h.product_id.is_empty() && in_force().any(retracts) {
        return Err(ProductRetracted);
    }
    Ok(())
}

/// Rules 5 to 9: the label in its nation's policy, and the link; returns
/// the label's policy version. Rule 7 is read per caveat in the label's
/// (sorted) order, as the code does: the doc does not say which reason
/// wins when one caveat is unknown and another forbids release.
pub(super) fn model_label(input: &Input) -> Outcome<&'static NationPolicy> {
    let label = &input.header.label;
    if label.policy_id != input.from {
        return Err(UnknownPolicy);
    }
    let in_source = |p: &&NationPolicy| p.nation == input.from && p.version == label.policy_version;
    let source = world().policies.iter().find(in_source);
    let source = source.ok_or(UnknownPolicyVersion)?;
    let rank = |name: &str| source.classifications.iter().position(|c| c == name);
    let label_rank = rank(&label.classification).ok_or(UnknownClassification)?;
    for caveat in &label.caveats {
        match source.caveats.iter().find(|(name, _)| name == caveat) {
            None => return Err(UnknownCaveat),
            Some((_, true)) => return Err(CaveatForbidsRelease),
            Some((_, false)) => {}
        }
    }
    if !label.releasable_to.contains(&input.to) {
        return Err(NotReleasableToDestination);
    }
    if label_rank > rank(&input.ceiling).ok_or(UnknownClassification)? {
        return Err(ClassificationAboveLink);
    }
    Ok(source)
}

/// Rule 10, first part: the highest version covering both policy versions
/// that is valid and not revoked by one of its two nations; else revoked,
/// else not valid, else none.
pub(super) fn model_select(
    input: &Input,
    versions: (u32, u32),
    notices: &[Notice],
) -> Outcome<&'static Translator> {
    let (now, (source, target)) = (input.now_ms, versions);
    let pair = |t: &Translator| t.from == input.from && t.to == input.to;
    let covers =
        |t: &Translator| t.source_versions.contains(&source) && t.target_versions.contains(&target);
    let mut candidates: Vec<_> = world()
        .translators
        .iter()
        .filter(|t| pair(t) && covers(t))
        .collect();
    candidates.sort_by_key(|t| (Reverse(t.version), t.id.clone()));
    let named = |t: &Translator, r: &Revoked| match r {
        Revoked::Translator { id, version } => *id == t.id && [0, t.version].contains(version),
        _ => false,
    };
    let by_party = |t: &Translator, n: &Notice| n.issuer == t.from || n.issuer == t.to;
    let revoked = |t: &Translator| {
        notices
            .iter()
            .any(|n| n.effective_from_ms <= now && by_party(t, n) && named(t, &n.revoked))
    };
    let valid = |t: &Translator| t.not_before_ms <= now && now < t.not_after_ms;
    match candidates.iter().copied().find(|t| valid(t) && !revoked(t)) {
        Some(t) => Ok(t),
        None if candidates.iter().any(|t| revoked(t)) => Err(TranslatorRevoked),
        None if candidates.is_empty() => Err(NoTranslator),
        None => Err(TranslatorNotValid),
    }
}

/// Rule 10, second part: required, forbidden, then the maps.
pub(super) fn model_translate(
    t: &Translator,
    label: &Label,
    target: &NationPolicy,
) -> Outcome<Label> {
    let carries = |c: &String| label.caveats.contains(c) || label.informative.contains(c);
    if !t.required.iter().all(carries) {
        return Err(MissingRequiredCategory);
    }
    if t.forbidden.iter().any(carries) {
        return Err(ForbiddenCategory);
    }
    let classification = t.classifications.get(&label.classification);
    let classification = classification.filter(|c| target.classifications.contains(c));
    let classification = classification.ok_or(UntranslatableClassification)?.clone();
    let is_target_caveat = |c: &&String| target.caveats.iter().any(|(name, _)| name == *c);
    let mut caveats = BTreeSet::new();
    for caveat in &label.caveats {
        let mapped = t.categories.get(caveat).filter(is_target_caveat);
        caveats.insert(mapped.ok_or(UntranslatableCategory)?.clone());
    }
    let informative = label.informative.iter().filter_map(|i| t.categories.get(i));
    let is_target_informative = |i: &&String| target.informative.contains(*i);
    Ok(Label {
        policy_id: target.nation.clone(),
        policy_version: target.version,
        classification,
        releasable_to: label.releasable_to.clone(),
        caveats,
        informative: informative.filter(is_target_informative).cloned().collect(),
    })
}
