//! Permit/deny tables for the release and admit decisions, and a property
//! test against an independently written reference model.
use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::envelope::MessageType;

fn usa() -> NationPolicy {
    NationPolicy {
        nation: "USA".into(),
        classifications: ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"]
            .map(String::from)
            .to_vec(),
        caveats: vec![("NOFORN".into(), true), ("ORCON".into(), false)],
    }
}

fn release(label: &Label, partner: &str, ceiling: &str) -> Result<(), DenyReason> {
    let home = usa();
    release_decision(
        label,
        &ReleaseContext {
            home: &home,
            partner,
            max_classification: ceiling,
        },
    )
}

#[test]
fn release_table() {
    use DenyReason::*;
    let rel = |c: &str, to: &[&str]| Label::new("USA", c, to);
    type Case<'a> = (&'a str, Label, &'a str, &'a str, Result<(), DenyReason>);
    let cases: Vec<Case> = vec![
        (
            "releasable and under ceiling",
            rel("SECRET", &["GBR"]),
            "GBR",
            "SECRET",
            Ok(()),
        ),
        (
            "other partner listed only",
            rel("SECRET", &["FRA"]),
            "GBR",
            "SECRET",
            Err(NotReleasableToDestination),
        ),
        (
            "empty releasable-to",
            rel("UNCLASSIFIED", &[]),
            "GBR",
            "SECRET",
            Err(NotReleasableToDestination),
        ),
        (
            "at ceiling",
            rel("CONFIDENTIAL", &["GBR"]),
            "GBR",
            "CONFIDENTIAL",
            Ok(()),
        ),
        (
            "above ceiling",
            rel("TOP SECRET", &["GBR"]),
            "GBR",
            "SECRET",
            Err(ClassificationAboveLink),
        ),
        (
            "NOFORN",
            rel("UNCLASSIFIED", &["GBR"]).with_caveat("NOFORN"),
            "GBR",
            "SECRET",
            Err(CaveatForbidsRelease),
        ),
        (
            "ORCON is releasable",
            rel("SECRET", &["GBR"]).with_caveat("ORCON"),
            "GBR",
            "SECRET",
            Ok(()),
        ),
        (
            "unknown caveat",
            rel("SECRET", &["GBR"]).with_caveat("EYES-ONLY"),
            "GBR",
            "SECRET",
            Err(UnknownCaveat),
        ),
        (
            "unknown classification",
            rel("COSMIC", &["GBR"]),
            "GBR",
            "SECRET",
            Err(UnknownClassification),
        ),
        (
            "foreign policy",
            Label::new("GBR", "SECRET", &["GBR"]),
            "GBR",
            "SECRET",
            Err(UnknownPolicy),
        ),
        (
            "unknown ceiling fails closed",
            rel("SECRET", &["GBR"]),
            "GBR",
            "BOGUS",
            Err(UnknownClassification),
        ),
        (
            "case matters",
            rel("secret", &["GBR"]),
            "GBR",
            "SECRET",
            Err(UnknownClassification),
        ),
    ];
    for (name, label, partner, ceiling, want) in cases {
        assert_eq!(release(&label, partner, ceiling), want, "case: {name}");
    }
}

fn header(origin: &str, label: Label) -> Header {
    Header {
        message_type: MessageType::Track,
        schema_version: 1,
        label,
        origin: origin.into(),
        producer_id: "p".into(),
        feed: "f".into(),
        seq: 1,
        payload_sha256: [0; 32],
        produced_at_ms: 0,
        producer_cert_sha256: [0; 32],
        corrects_seq: None,
    }
}

#[test]
fn admit_table() {
    use DenyReason::*;
    let policy = usa();
    let ctx = AdmitContext {
        home: "GBR",
        link_partner: "USA",
        origin_policy: &policy,
        max_classification: "SECRET",
    };
    let ok = Label::new("USA", "SECRET", &["GBR"]);
    let cases = vec![
        ("released to us", header("USA", ok.clone()), Ok(())),
        (
            "arrived on the wrong link",
            header("FRA", ok.clone()),
            Err(OriginMismatch),
        ),
        (
            "not releasable to us",
            header("USA", Label::new("USA", "SECRET", &["FRA"])),
            Err(NotReleasableToDestination),
        ),
        (
            "NOFORN leaked",
            header("USA", ok.clone().with_caveat("NOFORN")),
            Err(CaveatForbidsRelease),
        ),
        (
            "above our ceiling",
            header("USA", Label::new("USA", "TOP SECRET", &["GBR"])),
            Err(ClassificationAboveLink),
        ),
        (
            "label in another policy",
            header("USA", Label::new("FRA", "SECRET", &["GBR"])),
            Err(UnknownPolicy),
        ),
    ];
    for (name, h, want) in cases {
        assert_eq!(admit_decision(&h, &ctx), want, "case: {name}");
    }
}

/// The reference model, written from the rules in prose without looking at
/// `check_label`: a label may go to `dest` iff everything below holds.
fn reference_allows(label: &Label, dest: &str, ceiling_rank: usize) -> bool {
    let scale = ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"];
    let Some(rank) = scale.iter().position(|c| *c == label.classification) else {
        return false;
    };
    let caveats_ok = label.caveats.iter().all(|c| c == "ORCON");
    label.policy_id == "USA"
        && caveats_ok
        && label.releasable_to.contains(dest)
        && rank <= ceiling_rank
}

fn arb_label() -> impl Strategy<Value = Label> {
    let names = prop::sample::select(vec![
        "UNCLASSIFIED",
        "CONFIDENTIAL",
        "SECRET",
        "TOP SECRET",
        "COSMIC",
    ]);
    let nations =
        prop::collection::btree_set(prop::sample::select(vec!["GBR", "FRA", "USA", "DEU"]), 0..4);
    let caveats =
        prop::collection::btree_set(prop::sample::select(vec!["NOFORN", "ORCON", "XYZ"]), 0..3);
    let policy = prop::sample::select(vec!["USA", "GBR"]);
    (policy, names, nations, caveats).prop_map(|(p, c, n, cv)| Label {
        policy_id: p.into(),
        classification: c.into(),
        releasable_to: n.into_iter().map(String::from).collect(),
        caveats: cv.into_iter().map(String::from).collect(),
        informative: BTreeSet::new(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]
    #[test]
    fn release_agrees_with_reference_model(label in arb_label(), dest in prop::sample::select(vec!["GBR", "FRA"]), ceiling in 0usize..4) {
        let scale = ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"];
        let got = release(&label, dest, scale[ceiling]).is_ok();
        prop_assert_eq!(got, reference_allows(&label, dest, ceiling));
    }
}
