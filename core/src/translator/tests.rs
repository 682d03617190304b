//! Translator tests: what `translate` maps, drops and denies; which
//! version `select` picks and why none; the two roots' signatures; the
//! shapes `from_wire` refuses; and the set refusing a rewritten version.
use crate::keys::Algorithm;
use crate::revocation::{Notice, Revoked};

use super::*;

fn gbr() -> NationPolicy {
    NationPolicy {
        nation: "GBR".into(),
        version: 3,
        classifications: ["OFFICIAL", "SECRET", "TOP SECRET"]
            .map(String::from)
            .to_vec(),
        caveats: vec![("UKEO".into(), true), ("ORCON".into(), false)],
        informative: vec!["EXERCISE".into()],
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// USA v1 into GBR v3, valid in [0, 1000).
fn usa_gbr(version: u32) -> Translator {
    Translator {
        id: "USA-GBR".into(),
        version,
        from: "USA".into(),
        to: "GBR".into(),
        source_versions: 1..=1,
        target_versions: 3..=3,
        classifications: map(&[
            ("UNCLASSIFIED", "OFFICIAL"),
            ("CONFIDENTIAL", "RESTRICTED"), // GBR no longer has it
            ("SECRET", "SECRET"),
        ]),
        categories: map(&[
            ("ORCON", "ORCON"),
            ("PROPIN", "PROPRIETARY"),    // not a GBR caveat
            ("REL-EXERCISE", "EXERCISE"), // a GBR informative category, not a caveat
            ("EXERCISE", "EXERCISE"),
            ("OPNAME", "OPERATION"), // not a GBR informative category
        ]),
        required: BTreeSet::new(),
        forbidden: BTreeSet::new(),
        not_before_ms: 0,
        not_after_ms: 1_000,
    }
}

/// A USA v1 label.
fn label(classification: &str, to: &[&str]) -> Label {
    Label::new("USA", classification, to)
}

/// A GBR v3 label.
fn gbr_label(classification: &str, to: &[&str]) -> Label {
    Label::new("GBR", classification, to).in_version(3)
}

/// USA-GBR@1 for exercise traffic only: requires EXERCISE, forbids PROPIN
/// and OPNAME.
fn exercise_only() -> Translator {
    let (required, forbidden) = (set(&["EXERCISE"]), set(&["PROPIN", "OPNAME"]));
    Translator {
        required,
        forbidden,
        ..usa_gbr(1)
    }
}

#[test]
fn translate_table() {
    use DenyReason::*;
    let (plain, exercise_only) = (usa_gbr(1), exercise_only());
    #[rustfmt::skip]
    let cases: Vec<(&str, &Translator, Label, Result<Label, DenyReason>)> = vec![
        ("classification and caveat mapped, into the target's policy and version", &plain,
            label("SECRET", &["GBR", "USA"]).with_caveat("ORCON"),
            Ok(gbr_label("SECRET", &["GBR", "USA"]).with_caveat("ORCON"))),
        ("renamed classification", &plain, label("UNCLASSIFIED", &["GBR"]),
            Ok(gbr_label("OFFICIAL", &["GBR"]))),
        ("releasable-to carried as is", &plain, label("SECRET", &["GBR", "NZL", "XYZ"]),
            Ok(gbr_label("SECRET", &["GBR", "NZL", "XYZ"]))),
        ("mapped informative kept", &plain, label("SECRET", &[]).with_informative("EXERCISE"),
            Ok(gbr_label("SECRET", &[]).with_informative("EXERCISE"))),
        ("unmapped informative dropped", &plain, label("SECRET", &[]).with_informative("TRAINING"),
            Ok(gbr_label("SECRET", &[]))),
        ("informative mapped outside the target dropped", &plain,
            label("SECRET", &[]).with_informative("OPNAME"), Ok(gbr_label("SECRET", &[]))),
        ("unmapped classification", &plain, label("TOP SECRET", &["GBR"]),
            Err(UntranslatableClassification)),
        ("classification mapped outside the target", &plain, label("CONFIDENTIAL", &["GBR"]),
            Err(UntranslatableClassification)),
        ("unknown classification", &plain, label("COSMIC", &["GBR"]),
            Err(UntranslatableClassification)),
        ("unmapped caveat", &plain, label("SECRET", &["GBR"]).with_caveat("NOFORN"),
            Err(UntranslatableCategory)),
        ("caveat mapped outside the target", &plain,
            label("SECRET", &["GBR"]).with_caveat("PROPIN"),
            Err(UntranslatableCategory)),
        ("caveat mapped to an informative category", &plain,
            label("SECRET", &["GBR"]).with_caveat("REL-EXERCISE"), Err(UntranslatableCategory)),
        ("classification before categories", &plain,
            label("TOP SECRET", &["GBR"]).with_caveat("NOFORN"), Err(UntranslatableClassification)),
        ("required category present as informative", &exercise_only,
            label("SECRET", &["GBR"]).with_informative("EXERCISE"),
            Ok(gbr_label("SECRET", &["GBR"]).with_informative("EXERCISE"))),
        ("required category present as a caveat", &exercise_only,
            label("SECRET", &["GBR"]).with_caveat("EXERCISE"), Err(UntranslatableCategory)),
        ("required category missing", &exercise_only, label("SECRET", &["GBR"]),
            Err(MissingRequiredCategory)),
        ("forbidden caveat", &exercise_only,
            label("SECRET", &["GBR"]).with_informative("EXERCISE").with_caveat("PROPIN"),
            Err(ForbiddenCategory)),
        ("forbidden informative", &exercise_only,
            label("SECRET", &["GBR"]).with_informative("EXERCISE").with_informative("OPNAME"),
            Err(ForbiddenCategory)),
        ("required before forbidden", &exercise_only,
            label("SECRET", &["GBR"]).with_caveat("PROPIN"),
            Err(MissingRequiredCategory)),
        ("categories before classification", &exercise_only, label("TOP SECRET", &["GBR"]),
            Err(MissingRequiredCategory)),
    ];
    for (name, translator, label, want) in cases {
        assert_eq!(translator.translate(&label, &gbr()), want, "case: {name}");
    }
}

#[test]
fn name_and_validity_window() {
    let t = usa_gbr(7);
    assert_eq!(t.name(), "USA-GBR@7");
    let cases = [(-1, false), (0, true), (999, true), (1_000, false)];
    for (now, want) in cases {
        assert_eq!(t.is_valid_at(now), want, "at {now}");
    }
}

fn with_window(mut t: Translator, not_before_ms: i64, not_after_ms: i64) -> Translator {
    t.not_before_ms = not_before_ms;
    t.not_after_ms = not_after_ms;
    t
}

fn revoked_by_gbr(versions: &[u32], effective_from_ms: i64) -> RevocationState {
    let state = RevocationState::new();
    for (epoch, version) in (1..).zip(versions) {
        state.apply(&Notice {
            issuer: "GBR".into(),
            epoch,
            effective_from_ms,
            issued_at_ms: 0,
            reason: String::new(),
            revoked: Revoked::Translator {
                id: "USA-GBR".into(),
                version: *version,
            },
        });
    }
    state
}

/// A case name, the source and target policy versions, the revocations,
/// now, and the expected translator name or reason.
type SelectCase<'a> = (
    &'a str,
    u32,
    u32,
    &'a RevocationState,
    i64,
    Result<&'a str, DenyReason>,
);

#[test]
fn select_picks_the_highest_usable_version() {
    let set = TranslatorSet::new();
    let v4_target_4 = Translator {
        target_versions: 4..=4,
        ..usa_gbr(4)
    };
    for t in [
        usa_gbr(1),
        usa_gbr(2),
        with_window(usa_gbr(3), 500, 1_000),
        v4_target_4,
    ] {
        assert!(set.insert(t).unwrap());
    }
    let v2_revoked_at_100 = revoked_by_gbr(&[2], 100);
    let (r100, none) = (&v2_revoked_at_100, &RevocationState::new());
    use DenyReason::*;
    #[rustfmt::skip]
    let cases: Vec<SelectCase> = vec![
        ("v3 not valid yet, v2 not revoked yet", 1, 3, r100, 99,    Ok("USA-GBR@2")),
        ("v2 revoked: falls back to v1",         1, 3, r100, 100,   Ok("USA-GBR@1")),
        ("v3 valid: the highest",                1, 3, r100, 500,   Ok("USA-GBR@3")),
        ("only v4 covers target version 4",      1, 4, none, 0,     Ok("USA-GBR@4")),
        ("none covers source version 2",         2, 3, none, 0,     Err(NoTranslator)),
        ("none covers target version 5",         1, 5, none, 0,     Err(NoTranslator)),
        ("all expired, one revoked: revoked",    1, 3, r100, 1_000, Err(TranslatorRevoked)),
        ("all expired",                          1, 3, none, 1_000, Err(TranslatorNotValid)),
    ];
    for (name, source, target, revocations, now, want) in cases {
        let got = set.select("USA", "GBR", source, target, revocations, now);
        assert_eq!(
            got.map(|t| t.name()),
            want.map(String::from),
            "case: {name}"
        );
    }
    let reverse = set.select("GBR", "USA", 3, 1, none, 0);
    assert_eq!(
        reverse.unwrap_err(),
        NoTranslator,
        "no translator for the pair"
    );
}

#[test]
fn select_reports_revoked_before_not_valid_whatever_the_version_order() {
    let cases = [
        ("higher not valid, lower revoked", 2, 1),
        ("higher revoked, lower not valid", 1, 2),
    ];
    for (name, not_valid, revoked) in cases {
        let set = TranslatorSet::new();
        set.insert(with_window(usa_gbr(not_valid), 500, 1_000))
            .unwrap();
        set.insert(usa_gbr(revoked)).unwrap();
        let got = set.select("USA", "GBR", 1, 3, &revoked_by_gbr(&[revoked], 0), 0);
        assert_eq!(
            got.unwrap_err(),
            DenyReason::TranslatorRevoked,
            "case: {name}"
        );
    }
    let all = revoked_by_gbr(&[0], 0);
    let set = TranslatorSet::new();
    set.insert(usa_gbr(1)).unwrap();
    let got = set.select("USA", "GBR", 1, 3, &all, 0).unwrap_err();
    assert_eq!(
        got,
        DenyReason::TranslatorRevoked,
        "version 0 revokes every version"
    );
}

fn root(owner: &str) -> SigningKeyPair {
    SigningKeyPair::generate(Algorithm::MlDsa65, owner)
}

fn anchors(roots: &[(&str, &SigningKeyPair)]) -> TrustAnchors {
    let anchor =
        |(nation, key): &(&str, &SigningKeyPair)| (nation.to_string(), key.public_key().clone());
    roots.iter().map(anchor).collect()
}

/// Copies of a co-signed translator changed after signing: GBR's signature
/// replaced by one of `impostor`'s, a mapping added, one byte flipped.
fn tampered_copies(signed: &v1::SignedObject, impostor: &SigningKeyPair) -> [v1::SignedObject; 3] {
    let mut forged = signed.clone();
    let forged_signature = impostor
        .sign(&signed.body, ObjectKind::Translator.context())
        .unwrap();
    for s in forged.signatures.iter_mut().filter(|s| s.signer == "GBR") {
        s.signature = forged_signature.clone();
    }
    let mut remapped = signed.clone();
    let mut wire = v1::Translator::decode(signed.body.as_ref()).unwrap();
    let (from, to) = ("TOP SECRET".into(), "OFFICIAL".into());
    wire.classifications.push(v1::Mapping { from, to });
    remapped.body = wire.encode_to_vec().into();
    let mut flipped = signed.clone();
    let mut body = signed.body.to_vec();
    body[3] ^= 1;
    flipped.body = body.into();
    [forged, remapped, flipped]
}

#[test]
fn verify_translator_needs_both_roots() {
    let (usa_root, gbr_root, fra_root) = (root("USA root"), root("GBR root"), root("FRA root"));
    let all = anchors(&[("USA", &usa_root), ("GBR", &gbr_root), ("FRA", &fra_root)]);
    let no_gbr = anchors(&[("USA", &usa_root), ("FRA", &fra_root)]);
    let t = usa_gbr(1);
    let signed =
        |(nation, root): (&str, &SigningKeyPair)| sign_translator(&t, nation, root).unwrap();
    let cosigned = |first, (nation, root): (&str, &SigningKeyPair)| {
        let mut object = signed(first);
        cosign_translator(&mut object, nation, root).unwrap();
        object
    };
    let (usa, gbr) = (("USA", &usa_root), ("GBR", &gbr_root));
    let both = cosigned(usa, gbr);
    assert_eq!(verify_translator(&both, &all).unwrap(), t);
    let gbr_first = verify_translator(&cosigned(gbr, usa), &all);
    assert_eq!(gbr_first.unwrap(), t, "either may sign first");

    let [forged, remapped, flipped] = tampered_copies(&both, &fra_root);
    let not_gbr = "not signed by GBR's root key";
    #[rustfmt::skip]
    let refusals: Vec<(&str, v1::SignedObject, &TrustAnchors, &str)> = vec![
        ("USA only", signed(usa), &all, not_gbr),
        ("GBR only", signed(gbr), &all, "not signed by USA's root key"),
        ("a third nation instead of GBR", cosigned(usa, ("FRA", &fra_root)), &all, not_gbr),
        ("FRA's key signing as GBR", cosigned(usa, ("GBR", &fra_root)), &all, not_gbr),
        ("FRA signs, GBR's key id", forged, &all, "GBR's root signature does not verify"),
        ("a mapping added after signing", remapped, &all, "root signature does not verify"),
        ("one byte flipped", flipped, &all, "invalid translator"),
        ("no anchor for GBR", both, &no_gbr, "no trust anchor for GBR"),
    ];
    for (name, object, anchors, text) in refusals {
        let err = verify_translator(&object, anchors).unwrap_err().to_string();
        assert!(err.contains(text), "case: {name}: {err}");
    }
}

/// A change to a valid wire translator.
type Mutation = fn(&mut v1::Translator);

#[test]
fn from_wire_round_trips_and_refuses_bad_shapes() {
    assert_eq!(
        Translator::from_wire(usa_gbr(1).to_wire()).unwrap(),
        usa_gbr(1)
    );
    fn range(min: u32, max: u32) -> Option<v1::VersionRange> {
        Some(v1::VersionRange { min, max })
    }
    fn twice(mappings: &mut Vec<v1::Mapping>, from: &str) {
        let to = "X".into();
        mappings.push(v1::Mapping {
            from: from.into(),
            to,
        });
    }
    #[rustfmt::skip]
    let cases: Vec<(&str, Mutation, &str)> = vec![
        ("empty id", |w| w.id.clear(), "needs an id and a version of 1 or more"),
        ("version 0", |w| w.version = 0, "USA-GBR@0: needs an id and a version"),
        ("same nation twice", |w| w.to_nation = "USA".into(), "needs two different nations"),
        ("no destination", |w| w.to_nation.clear(), "needs two different nations"),
        ("no source", |w| w.from_nation.clear(), "needs two different nations"),
        ("inverted validity", |w| w.not_after_ms = -1, "not_after must be later than not_before"),
        ("empty validity", |w| w.not_after_ms = w.not_before_ms, "not_after must be later"),
        ("no source range", |w| w.source_policy_versions = None, "source policy version range"),
        ("inverted source range", |w| w.source_policy_versions = range(2, 1), "source policy"),
        ("source version 0", |w| w.source_policy_versions = range(0, 1), "source policy version"),
        ("no target range", |w| w.target_policy_versions = None, "target policy version range"),
        ("inverted target range", |w| w.target_policy_versions = range(5, 3), "target policy"),
        ("classification mapped twice", |w| twice(&mut w.classifications, "SECRET"),
            "classification \"SECRET\" is mapped twice"),
        ("category mapped twice", |w| twice(&mut w.categories, "ORCON"),
            "category \"ORCON\" is mapped twice"),
    ];
    for (name, mutate, text) in cases {
        let mut wire = usa_gbr(1).to_wire();
        mutate(&mut wire);
        let err = Translator::from_wire(wire).unwrap_err().to_string();
        assert!(err.contains(text), "case: {name}: {err}");
    }
}

#[test]
fn set_refuses_a_different_translator_under_a_known_name() {
    let set = TranslatorSet::new();
    assert!(set.insert(usa_gbr(1)).unwrap(), "new");
    assert!(!set.insert(usa_gbr(1)).unwrap(), "the same again");
    let rewritten = Translator {
        not_after_ms: 2_000,
        ..usa_gbr(1)
    };
    let err = set.insert(rewritten).unwrap_err().to_string();
    assert!(
        err.contains("USA-GBR@1 is already known with different content"),
        "{err}"
    );
    assert!(set.insert(usa_gbr(2)).unwrap(), "a new version");
    assert_eq!(
        set.find("USA-GBR", 1).unwrap().not_after_ms,
        1_000,
        "the first one stays"
    );
    assert_eq!(set.with_id("USA-GBR").len(), 2);
    assert!(set.find("USA-GBR", 3).is_none());
}

#[test]
fn set_refuses_a_known_name_for_another_pair() {
    let set = TranslatorSet::new();
    set.insert(usa_gbr(1)).unwrap();
    let reversed = Translator {
        from: "GBR".into(),
        to: "USA".into(),
        ..usa_gbr(1)
    };
    assert!(
        set.insert(reversed).is_err(),
        "USA-GBR@1 is already known, for USA to GBR"
    );
}
