//! Composite labels: the label of a product derived from several sources,
//! such as a track fused from a home radar and a partner's track.
//!
//! A composite carries the most restrictive combination of its sources'
//! labels, in one policy (the producing nation's):
//! - the highest classification, by that policy's scale;
//! - the *intersection* of the releasable-to lists (it may only go where
//!   every source may go; disjoint lists give a label releasable to nobody);
//! - the *union* of the caveats and of the informative categories.
//!
//! Its lineage ([`derived_from`]) names every source, with the label as it
//! was admitted and the translator that admitted it.
//!
//! API:
//! - [`composite_label`]`(policy, sources)` builds the composite label.
//!   Every source must already be in `policy`'s vocabulary and version;
//!   a partner's product is used in its translated, home-vocabulary form
//!   (the `label` of [`crate::decision::Translated`]), never as produced.
//! - [`is_at_least_as_restrictive`]`(policy, candidate, reference)` lets a
//!   bridge check that a producer's composite label is no weaker than the
//!   one computed here (the producer may be stricter).
//! - [`derived_from`]`(sources)` builds the `derived_from` lineage list of
//!   the composite's header.
//! - [`is_fused`]`(derived_from)` says whether a product was fused from
//!   sources of more than one nation (the bridges' fusion metric).
//!
//! What it does not do: check caveats against the policy (an unknown
//! caveat simply joins the union, and the release decision denies it
//! later, fail closed), or decide anything about release.
//!
//! Problems are a [`CompositeProblem`], not a [`crate::CoreError`]: like a
//! [`crate::DenyReason`], they are the result of validating data in a pure
//! function, to be shown to whoever supplied the sources, not a failure of
//! local machinery such as a key file or a signature.
use std::collections::BTreeSet;

use crate::envelope::{Header, SourceRef};
use crate::label::{Label, NationPolicy};

/// Why no composite label can be computed for a list of sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompositeProblem {
    /// The list of sources is empty: a composite needs at least one.
    NoSources,
    /// A source is not in the composite's policy and version (a partner's
    /// label must be translated into the home vocabulary first).
    ForeignPolicy {
        /// Position of the source in the list.
        index: usize,
        /// The source's policy id.
        policy_id: String,
        /// The source's policy version.
        version: u32,
    },
    /// A source's classification is not in the policy's scale.
    UnknownClassification {
        /// Position of the source in the list.
        index: usize,
        /// The classification it names.
        classification: String,
    },
}

impl std::fmt::Display for CompositeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompositeProblem::NoSources => {
                f.write_str("a composite label needs at least one source")
            }
            CompositeProblem::ForeignPolicy {
                index,
                policy_id,
                version,
            } => write!(
                f,
                "source {index} is labelled in policy {policy_id} v{version}; \
                 translate it into the home policy first"
            ),
            CompositeProblem::UnknownClassification {
                index,
                classification,
            } => write!(
                f,
                "source {index} has classification {classification:?}, \
                 which is not in the policy's scale"
            ),
        }
    }
}

impl std::error::Error for CompositeProblem {}

/// The most restrictive label of `sources`, in `policy`'s vocabulary:
/// highest classification, intersection of releasable-to, union of caveats
/// and informative categories.
pub fn composite_label(
    policy: &NationPolicy,
    sources: &[&Label],
) -> Result<Label, CompositeProblem> {
    let mut highest: Option<(usize, &str)> = None;
    for (index, source) in sources.iter().enumerate() {
        if source.policy_id != policy.nation || source.policy_version != policy.version {
            return Err(CompositeProblem::ForeignPolicy {
                index,
                policy_id: source.policy_id.clone(),
                version: source.policy_version,
            });
        }
        let rank = policy.rank(&source.classification).ok_or_else(|| {
            CompositeProblem::UnknownClassification {
                index,
                classification: source.classification.clone(),
            }
        })?;
        if highest.is_none_or(|(top, _)| rank > top) {
            highest = Some((rank, &source.classification));
        }
    }
    let (Some((_, classification)), Some(first)) = (highest, sources.first()) else {
        return Err(CompositeProblem::NoSources);
    };
    let mut releasable_to = first.releasable_to.clone();
    let mut caveats = BTreeSet::new();
    let mut informative = BTreeSet::new();
    for source in sources {
        releasable_to.retain(|nation| source.releasable_to.contains(nation));
        caveats.extend(source.caveats.iter().cloned());
        informative.extend(source.informative.iter().cloned());
    }
    Ok(Label {
        policy_id: policy.nation.clone(),
        policy_version: policy.version,
        classification: classification.to_string(),
        releasable_to,
        caveats,
        informative,
    })
}

/// Whether `candidate` restricts at least as much as `reference`, both in
/// `policy`: a classification ranked at or above, a releasable-to list
/// within, and every caveat of `reference`. Informative categories do not
/// restrict and are ignored. A label outside `policy` (other policy or
/// version, unknown classification) is never judged restrictive enough.
pub fn is_at_least_as_restrictive(
    policy: &NationPolicy,
    candidate: &Label,
    reference: &Label,
) -> bool {
    let in_policy = |l: &Label| l.policy_id == policy.nation && l.policy_version == policy.version;
    if !in_policy(candidate) || !in_policy(reference) {
        return false;
    }
    let (Some(candidate_rank), Some(reference_rank)) = (
        policy.rank(&candidate.classification),
        policy.rank(&reference.classification),
    ) else {
        return false;
    };
    candidate_rank >= reference_rank
        && candidate.releasable_to.is_subset(&reference.releasable_to)
        && candidate.caveats.is_superset(&reference.caveats)
}

/// One source of a composite product, as this nation admitted it.
#[derive(Debug, Clone, Copy)]
pub struct AdmittedSource<'a> {
    /// The source's verified header (origin, producer, feed, seq).
    pub header: &'a Header,
    /// Its label as admitted: translated into the home vocabulary for a
    /// partner's product, as produced for a home one.
    pub label: &'a Label,
    /// `<id>@<version>` of the translator that admitted it; `None` for a
    /// home product.
    pub translator: Option<&'a str>,
}

/// The lineage of a composite: one [`SourceRef`] per source, in order.
pub fn derived_from(sources: &[AdmittedSource<'_>]) -> Vec<SourceRef> {
    sources
        .iter()
        .map(|s| SourceRef {
            origin: s.header.origin.clone(),
            producer_id: s.header.producer_id.clone(),
            feed: s.header.feed.clone(),
            seq: s.header.seq,
            label: s.label.clone(),
            translator: s.translator.map(str::to_string),
        })
        .collect()
}

/// Whether a product was fused across nations: its lineage names sources
/// of at least two different origin nations. A product with one source, or
/// with several sources of one nation, is not.
pub fn is_fused(derived_from: &[SourceRef]) -> bool {
    let mut origins = derived_from.iter().map(|s| s.origin.as_str());
    match origins.next() {
        Some(first) => origins.any(|o| o != first),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::envelope::MessageType;

    fn gbr() -> NationPolicy {
        NationPolicy {
            nation: "GBR".into(),
            version: 2,
            classifications: ["OFFICIAL", "SECRET", "TOP SECRET"]
                .map(String::from)
                .to_vec(),
            caveats: vec![("UKEO".into(), true), ("ORCON".into(), false)],
            informative: vec!["EXERCISE".into()],
        }
    }

    /// A GBR v2 label.
    fn label(classification: &str, to: &[&str]) -> Label {
        Label::new("GBR", classification, to).in_version(2)
    }

    #[test]
    fn composite_label_table() {
        let secret = label("SECRET", &["GBR", "USA"]);
        let official = label("OFFICIAL", &["GBR", "USA", "FRA"]);
        let orcon = label("OFFICIAL", &["GBR", "USA"]).with_caveat("ORCON");
        let orcon = orcon.with_informative("EXERCISE");
        let ukeo = label("OFFICIAL", &["GBR", "USA"]).with_caveat("UKEO");
        let united = ukeo
            .clone()
            .with_caveat("ORCON")
            .with_informative("EXERCISE");
        let (to_fra, to_usa) = (label("OFFICIAL", &["FRA"]), label("OFFICIAL", &["USA"]));
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<&Label>, Label)> = vec![
            ("single source is the identity", vec![&orcon], orcon.clone()),
            ("duplicate sources change nothing", vec![&secret, &secret], secret.clone()),
            ("highest classification, intersection of releasable-to", vec![&official, &secret],
                label("SECRET", &["GBR", "USA"])),
            ("order does not matter", vec![&secret, &official], label("SECRET", &["GBR", "USA"])),
            ("caveats and informative are united", vec![&orcon, &ukeo, &official], united),
            ("disjoint releasable-to: releasable to nobody", vec![&to_fra, &to_usa],
                label("OFFICIAL", &[])),
        ];
        for (name, sources, want) in cases {
            assert_eq!(composite_label(&gbr(), &sources), Ok(want), "case: {name}");
        }
    }

    #[test]
    fn fused_means_sources_of_two_nations_or_more() {
        let source = |origin: &str| SourceRef {
            origin: origin.into(),
            producer_id: "radar".into(),
            feed: "tracks".into(),
            seq: 1,
            label: label("OFFICIAL", &["GBR"]),
            translator: None,
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<SourceRef>, bool)> = vec![
            ("no sources", vec![], false),
            ("one source", vec![source("USA")], false),
            ("two sources of one nation", vec![source("USA"), source("USA")], false),
            ("two nations", vec![source("USA"), source("GBR")], true),
            ("a second nation after repeats", vec![source("GBR"), source("GBR"), source("FRA")], true),
        ];
        for (name, sources, want) in cases {
            assert_eq!(is_fused(&sources), want, "case: {name}");
        }
    }

    #[test]
    fn composite_label_refuses_what_it_cannot_combine() {
        use CompositeProblem as P;
        let foreign = |policy_id: &str, version| P::ForeignPolicy {
            index: 0,
            policy_id: policy_id.into(),
            version,
        };
        let unknown = |index, classification: &str| P::UnknownClassification {
            index,
            classification: classification.into(),
        };
        let (secret, restricted) = (label("SECRET", &["GBR"]), label("RESTRICTED", &["GBR"]));
        let usa_v2 = Label::new("USA", "SECRET", &["GBR"]).in_version(2);
        let (gbr_v1, fra) = (
            Label::new("GBR", "SECRET", &[]),
            Label::new("FRA", "SECRET", &[]),
        );
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<&Label>, P)> = vec![
            ("no sources", vec![], P::NoSources),
            ("a partner's label as produced, not translated", vec![&usa_v2], foreign("USA", 2)),
            ("another version of the home policy", vec![&gbr_v1], foreign("GBR", 1)),
            ("the index of the bad source", vec![&secret, &restricted], unknown(1, "RESTRICTED")),
            ("the first problem", vec![&restricted, &fra], unknown(0, "RESTRICTED")),
        ];
        for (name, sources, want) in cases {
            assert_eq!(composite_label(&gbr(), &sources), Err(want), "case: {name}");
        }
    }

    #[test]
    fn problems_explain_themselves() {
        let foreign = CompositeProblem::ForeignPolicy {
            index: 3,
            policy_id: "USA".into(),
            version: 1,
        };
        assert_eq!(
            foreign.to_string(),
            "source 3 is labelled in policy USA v1; translate it into the home policy first"
        );
        assert!(CompositeProblem::NoSources
            .to_string()
            .contains("at least one source"));
    }

    #[test]
    fn restrictiveness_table() {
        let reference = label("SECRET", &["GBR", "USA"]).with_caveat("ORCON");
        let orcon = |classification, to: &[&str]| label(classification, to).with_caveat("ORCON");
        let other_policy = Label {
            policy_id: "USA".into(),
            ..reference.clone()
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, Label, bool)> = vec![
            ("the same label", reference.clone(), true),
            ("higher classification", orcon("TOP SECRET", &["GBR", "USA"]), true),
            ("fewer nations", orcon("SECRET", &["GBR"]), true),
            ("more caveats", reference.clone().with_caveat("UKEO"), true),
            ("informative does not matter", reference.clone().with_informative("EXERCISE"), true),
            ("lower classification", orcon("OFFICIAL", &["GBR", "USA"]), false),
            ("one more nation", orcon("SECRET", &["GBR", "USA", "FRA"]), false),
            ("a caveat dropped", label("SECRET", &["GBR", "USA"]), false),
            ("unknown classification", orcon("COSMIC", &["GBR"]), false),
            ("another policy version", reference.clone().in_version(1), false),
            ("another policy", other_policy, false),
        ];
        for (name, candidate, want) in cases {
            assert_eq!(
                is_at_least_as_restrictive(&gbr(), &candidate, &reference),
                want,
                "case: {name}"
            );
        }
        let unknown_reference = label("COSMIC", &[]);
        assert!(!is_at_least_as_restrictive(
            &gbr(),
            &reference,
            &unknown_reference
        ));
    }

    #[test]
    fn lineage_names_every_source_with_its_admitted_label_and_translator() {
        let header = |origin: &str, seq: u64, label: Label| Header {
            message_type: MessageType::Track,
            schema_version: 1,
            label,
            origin: origin.into(),
            producer_id: "radar-1".into(),
            feed: "air".into(),
            seq,
            payload_sha256: [0; 32],
            produced_at_ms: 0,
            producer_cert_sha256: [0; 32],
            corrects_seq: None,
            product_id: "T-1".into(),
            derived_from: vec![],
        };
        let produced = Label::new("USA", "SECRET", &["GBR"]);
        let admitted = label("SECRET", &["GBR"]);
        let partner = header("USA", 7, produced);
        let home = header("GBR", 9, admitted.clone());
        let lineage = derived_from(&[
            AdmittedSource {
                header: &partner,
                label: &admitted,
                translator: Some("USA-GBR@1"),
            },
            AdmittedSource {
                header: &home,
                label: &home.label,
                translator: None,
            },
        ]);
        assert_eq!(lineage.len(), 2);
        assert_eq!(lineage[0].msg_id(), "USA.radar-1.air.7");
        assert_eq!(
            lineage[0].label, admitted,
            "the label as admitted, not as produced"
        );
        assert_eq!(lineage[0].translator.as_deref(), Some("USA-GBR@1"));
        assert_eq!(lineage[1].msg_id(), "GBR.radar-1.air.9");
        assert_eq!(lineage[1].translator, None);
        assert!(derived_from(&[]).is_empty());
    }

    const NATIONS: [&str; 5] = ["GBR", "USA", "FRA", "CAN", "AUS"];

    fn arb_label() -> impl Strategy<Value = Label> {
        let class = prop::sample::select(vec!["OFFICIAL", "SECRET", "TOP SECRET"]);
        let nations = prop::collection::btree_set(prop::sample::select(NATIONS.to_vec()), 0..=5);
        let caveats =
            prop::collection::btree_set(prop::sample::select(vec!["UKEO", "ORCON"]), 0..=2);
        let informative =
            prop::collection::btree_set(prop::sample::select(vec!["EXERCISE", "X"]), 0..=2);
        (class, nations, caveats, informative).prop_map(|(c, n, cv, i)| Label {
            policy_id: "GBR".into(),
            policy_version: 2,
            classification: c.into(),
            releasable_to: n.into_iter().map(String::from).collect(),
            caveats: cv.into_iter().map(String::from).collect(),
            informative: i.into_iter().map(String::from).collect(),
        })
    }

    /// Labels one step less restrictive than `label`: one rank lower, one
    /// more nation, or one caveat fewer.
    fn one_step_weaker(policy: &NationPolicy, label: &Label) -> Vec<Label> {
        let mut weaker = Vec::new();
        if let Some(rank) = policy.rank(&label.classification).filter(|r| *r > 0) {
            weaker.push(Label {
                classification: policy.classifications[rank - 1].clone(),
                ..label.clone()
            });
        }
        for nation in NATIONS
            .iter()
            .filter(|n| !label.releasable_to.contains(**n))
        {
            let mut l = label.clone();
            l.releasable_to.insert(nation.to_string());
            weaker.push(l);
        }
        for caveat in &label.caveats {
            let mut l = label.clone();
            l.caveats.remove(caveat);
            weaker.push(l);
        }
        weaker
    }

    /// The composite restricts every source, nothing one step weaker does,
    /// and a label restricts every source exactly when it restricts the
    /// composite.
    fn check_least_restrictive(sources: &[Label], candidate: &Label) -> Result<(), TestCaseError> {
        let policy = gbr();
        let refs: Vec<&Label> = sources.iter().collect();
        let composite = composite_label(&policy, &refs).unwrap();
        let restricts_all = |l: &Label| {
            sources
                .iter()
                .all(|s| is_at_least_as_restrictive(&policy, l, s))
        };
        prop_assert!(restricts_all(&composite));
        for weaker in one_step_weaker(&policy, &composite) {
            prop_assert!(
                !restricts_all(&weaker),
                "{} restricts every source",
                weaker.display()
            );
        }
        let restricts_composite = is_at_least_as_restrictive(&policy, candidate, &composite);
        prop_assert_eq!(restricts_all(candidate), restricts_composite);
        let union: BTreeSet<String> = sources.iter().flat_map(|s| s.informative.clone()).collect();
        prop_assert_eq!(&composite.informative, &union);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn composite_is_the_least_label_restricting_every_source(
            sources in prop::collection::vec(arb_label(), 1..5),
            candidate in arb_label(),
        ) {
            check_least_restrictive(&sources, &candidate)?;
        }
    }
}
