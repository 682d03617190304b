//! Permit/deny tables for the release and admit decisions (every rule of
//! the module doc, and their order), translator cohabitation, unilateral
//! translator revocation, and a property test against a reference model.
//!
//! The world (policies, translators) and the revocation notices are plain
//! data with two readers: the real `PolicyBook`, `TranslatorSet` and
//! `RevocationState` built from them, and [`model`], written from the
//! rules in the module doc, which reads their fields but calls none of the
//! code under test. Every table row is checked against both.
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::*;
use crate::envelope::MessageType;
use crate::revocation::{Applied, Notice, Revoked};
use crate::translator::Translator;

const NOW: i64 = 1_000;
/// USA-FRA@1 is valid until then (exclusive); GBR suspends FRA from then.
const T_100K: i64 = 100_000;
/// GBR revokes every version of USA-GBR from then.
const T_500K: i64 = 500_000;
const END: i64 = 1_000_000;
const GOOD_KEY: [u8; 32] = [1; 32];
const REVOKED_KEY: [u8; 32] = [9; 32];

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[rustfmt::skip]
fn policy(nation: &str, version: u32, scale: &[&str], caveats: &[(&str, bool)], informative: &[&str]) -> NationPolicy {
    let caveats = caveats.iter().map(|(c, forbids)| (c.to_string(), *forbids)).collect();
    let (classifications, informative) = (names(scale), names(informative));
    NationPolicy { nation: nation.into(), version, classifications, caveats, informative }
}

/// USA v1 and v2 (v2 adds REL-EXERCISE), GBR v1 and FRA v1 (in French); no DEU.
#[rustfmt::skip]
fn policies() -> Vec<NationPolicy> {
    let usa = ["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"];
    let usa_v1 = [("NOFORN", true), ("ORCON", false), ("PROPIN", false)];
    let usa_v2 = [("NOFORN", true), ("ORCON", false), ("PROPIN", false), ("REL-EXERCISE", false)];
    let gbr = [("UKEO", true), ("ORCON", false), ("EXERCISE-ONLY", false)];
    let fra = [("SPECIAL FRANCE", true), ("DIFFUSION CONTROLEE", false)];
    vec![
        policy("USA", 1, &usa, &usa_v1, &["EXERCISE", "OPNAME"]),
        policy("USA", 2, &usa, &usa_v2, &["EXERCISE", "OPNAME"]),
        policy("GBR", 1, &["OFFICIAL", "SECRET", "TOP SECRET"], &gbr, &["EXERCISE"]),
        policy("FRA", 1, &["NON PROTEGE", "DIFFUSION RESTREINTE", "SECRET", "TRES SECRET"], &fra, &["EXERCICE"]),
    ]
}

type Map<'a> = &'a [(&'a str, &'a str)];

/// `id@version` from `from` to `to`, for labels of policy version `source`,
/// into target version 1, valid in `[0, until)`.
#[rustfmt::skip]
fn translator((id, version): (&str, u32), from: &str, to: &str, source: u32, until: i64, classes: Map, categories: Map)
    -> Translator {
    let map = |m: Map| m.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    Translator {
        id: id.into(), version, from: from.into(), to: to.into(),
        source_versions: source..=source, target_versions: 1..=1,
        classifications: map(classes), categories: map(categories),
        required: BTreeSet::new(), forbidden: BTreeSet::new(), not_before_ms: 0, not_after_ms: until,
    }
}

/// GBR-USA only maps into USA v1, but USA is now at v2.
#[rustfmt::skip]
fn translators() -> Vec<Translator> {
    let set = |items: &[&str]| names(items).into_iter().collect();
    let usa_gbr = [("UNCLASSIFIED", "OFFICIAL"), ("CONFIDENTIAL", "RESTRICTED"), ("SECRET", "SECRET")];
    let usa_fra = [("UNCLASSIFIED", "NON PROTEGE"), ("CONFIDENTIAL", "DIFFUSION RESTREINTE"),
        ("SECRET", "SECRET"), ("TOP SECRET", "TRES SECRET")];
    let v2_categories = [("ORCON", "ORCON"), ("EXERCISE", "EXERCISE"), ("REL-EXERCISE", "EXERCISE-ONLY")];
    let gbr_fra = [("OFFICIAL", "NON PROTEGE"), ("SECRET", "SECRET")];
    vec![
        translator(("USA-GBR", 1), "USA", "GBR", 1, END, &usa_gbr, &[("ORCON", "ORCON"), ("EXERCISE", "EXERCISE")]),
        Translator { forbidden: set(&["PROPIN"]),
            ..translator(("USA-GBR", 2), "USA", "GBR", 2, END, &usa_gbr, &v2_categories) },
        Translator { required: set(&["EXERCISE"]), forbidden: set(&["ORCON"]),
            ..translator(("USA-FRA", 1), "USA", "FRA", 1, T_100K, &usa_fra, &[("EXERCISE", "EXERCICE")]) },
        translator(("GBR-FRA", 1), "GBR", "FRA", 1, END, &gbr_fra,
            &[("ORCON", "DIFFUSION CONTROLEE"), ("EXERCISE", "EXERCICE")]),
        translator(("GBR-USA", 1), "GBR", "USA", 1, END, &[("OFFICIAL", "UNCLASSIFIED"), ("SECRET", "SECRET")],
            &[("ORCON", "ORCON")]),
    ]
}

/// The world as plain data (for the model) and as the real book and set.
struct World {
    policies: Vec<NationPolicy>,
    translators: Vec<Translator>,
    book: PolicyBook,
    set: TranslatorSet,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (book, set) = (PolicyBook::new(), TranslatorSet::new());
        policies()
            .into_iter()
            .for_each(|p| assert!(book.insert(p).unwrap()));
        translators()
            .into_iter()
            .for_each(|t| assert!(set.insert(t).unwrap()));
        let (policies, translators) = (policies(), translators());
        World {
            policies,
            translators,
            book,
            set,
        }
    })
}

/// A notice of `issuer` in force from `from_ms` (its epoch is set when
/// applied, see [`revocations`]).
fn notice(issuer: &str, from_ms: i64, revoked: Revoked) -> Notice {
    let (issuer, reason) = (issuer.to_string(), String::new());
    Notice {
        issuer,
        epoch: 0,
        effective_from_ms: from_ms,
        issued_at_ms: 0,
        reason,
        revoked,
    }
}

fn suspend(issuer: &str, partner: &str, from_ms: i64) -> Notice {
    notice(issuer, from_ms, Revoked::SuspendPartner(partner.into()))
}

/// USA revokes `REVOKED_KEY`.
fn revoke_key(from_ms: i64) -> Notice {
    let (nation, producer_id) = ("USA".into(), "radar-1".into());
    notice(
        "USA",
        from_ms,
        Revoked::ProducerKey {
            nation,
            producer_id,
            key_sha256: REVOKED_KEY,
        },
    )
}

/// USA retracts a product of USA/radar-1/air.
fn retract(product: &str, from_ms: i64) -> Notice {
    let (origin, producer_id, feed) = ("USA".into(), "radar-1".into(), "air".into());
    let key = ProductKey {
        origin,
        producer_id,
        feed,
        product_id: product.into(),
    };
    notice("USA", from_ms, Revoked::Product(key))
}

fn revoke_translator(issuer: &str, id: &str, version: u32, from_ms: i64) -> Notice {
    notice(
        issuer,
        from_ms,
        Revoked::Translator {
            id: id.into(),
            version,
        },
    )
}

/// The state after applying `notices` in order, each with the next epoch.
fn revocations(notices: &[Notice]) -> RevocationState {
    let state = RevocationState::new();
    for (epoch, n) in (1..).zip(notices) {
        assert_eq!(state.apply(&Notice { epoch, ..n.clone() }), Applied::New);
    }
    state
}

/// The revocations behind the tables.
fn table_notices() -> Vec<Notice> {
    vec![
        suspend("GBR", "FRA", T_100K),
        revoke_key(0),
        retract("T-9", 0),
        revoke_translator("GBR", "USA-GBR", 0, T_500K),
        revoke_translator("FRA", "USA-GBR", 0, 0), // a third nation: no effect
    ]
}

#[rustfmt::skip]
fn header(origin: &str, label: Label) -> Header {
    Header {
        message_type: MessageType::Track, schema_version: 1, label, origin: origin.into(),
        producer_id: "radar-1".into(), feed: "air".into(), seq: 1, payload_sha256: [0; 32], produced_at_ms: 0,
        producer_cert_sha256: [0; 32], corrects_seq: None, product_id: "T-1".into(), derived_from: vec![],
    }
}

/// What one decision reads, besides the world and the revocations.
#[derive(Debug, Clone)]
struct Input {
    from: String,
    to: String,
    ceiling: String,
    now_ms: i64,
    key: [u8; 32],
    header: Header,
}

struct Case {
    name: &'static str,
    input: Input,
    want: Result<Translated, DenyReason>,
}

/// A message of `label`'s nation, released by it (and arriving from it)
/// to `to` with a good key, on a SECRET link, at `NOW`.
fn case(name: &'static str, label: Label, to: &str, want: Result<Translated, DenyReason>) -> Case {
    let from = label.policy_id.clone();
    let (ceiling, header) = ("SECRET".into(), header(&from, label));
    let input = Input {
        from,
        to: to.into(),
        ceiling,
        now_ms: NOW,
        key: GOOD_KEY,
        header,
    };
    Case { name, input, want }
}

impl Case {
    fn at(self, now_ms: i64) -> Self {
        self.with(|i| i.now_ms = now_ms)
    }

    fn with(mut self, change: impl FnOnce(&mut Input)) -> Self {
        change(&mut self.input);
        self
    }
}

fn usa(classification: &str, to: &[&str]) -> Label {
    Label::new("USA", classification, to)
}

fn gbr(classification: &str, to: &[&str]) -> Label {
    Label::new("GBR", classification, to)
}

fn fra(classification: &str, to: &[&str]) -> Label {
    Label::new("FRA", classification, to)
}

fn ok(label: Label, translator: &str, source: u32, target: u32) -> Result<Translated, DenyReason> {
    let (translator, source_policy_version, target_policy_version) =
        (translator.into(), source, target);
    Ok(Translated {
        label,
        translator,
        source_policy_version,
        target_policy_version,
    })
}

type Decision =
    fn(&MessageFacts<'_>, &Crossing<'_>, &PolicyView<'_>) -> Result<Translated, DenyReason>;

fn run(decision: Decision, input: &Input, notices: &[Notice]) -> Result<Translated, DenyReason> {
    let (world, revocations) = (world(), revocations(notices));
    let (policies, translators) = (&world.book, &world.set);
    let view = PolicyView {
        policies,
        translators,
        revocations: &revocations,
    };
    let facts = MessageFacts {
        header: &input.header,
        key_sha256: &input.key,
    };
    let (from, to, ceiling) = (&input.from, &input.to, &input.ceiling);
    decision(
        &facts,
        &Crossing {
            from,
            to,
            ceiling,
            now_ms: input.now_ms,
        },
        &view,
    )
}

/// Checks every case with the real decision and with the model.
fn check(decision: Decision, admit: bool, notices: &[Notice], cases: Vec<Case>) {
    for c in cases {
        assert_eq!(run(decision, &c.input, notices), c.want, "case: {}", c.name);
        let model = model(admit, &c.input, notices);
        assert_eq!(model, c.want, "model disagrees, case: {}", c.name);
    }
}

/// A USA SECRET label with a caveat and informative categories, to GBR.
fn usa_secret() -> Label {
    let label = usa("SECRET", &["GBR", "USA"]).with_caveat("ORCON");
    label
        .with_informative("EXERCISE")
        .with_informative("OPNAME")
}

fn usa_secret_in_gbr() -> Result<Translated, DenyReason> {
    let label = gbr("SECRET", &["GBR", "USA"]).with_caveat("ORCON");
    ok(label.with_informative("EXERCISE"), "USA-GBR@1", 1, 1)
}

/// Rules 2 to 7, each denying and permitting.
#[rustfmt::skip]
fn cases_up_to_caveats() -> Vec<Case> {
    use DenyReason::*;
    let gbr_fra = gbr("OFFICIAL", &["FRA"]).with_caveat("ORCON");
    let gbr_fra_ok = ok(fra("NON PROTEGE", &["FRA"]).with_caveat("DIFFUSION CONTROLEE"), "GBR-FRA@1", 1, 1);
    let usa_v2 = usa("SECRET", &["GBR"]).in_version(2).with_caveat("REL-EXERCISE");
    let usa_v2_ok = ok(gbr("SECRET", &["GBR"]).with_caveat("EXERCISE-ONLY"), "USA-GBR@2", 2, 1);
    vec![
        case("GBR to FRA before GBR suspends FRA", gbr_fra.clone(), "FRA", gbr_fra_ok).at(T_100K - 1),
        case("GBR to FRA once suspended", gbr_fra, "FRA", Err(PartnerSuspended)).at(T_100K),
        case("FRA to GBR once suspended", fra("SECRET", &["GBR"]), "GBR", Err(PartnerSuspended)).at(T_100K),
        case("in GBR's vocabulary, at the ceiling", usa_secret(), "GBR", usa_secret_in_gbr()),
        case("revoked producer key", usa_secret(), "GBR", Err(ProducerKeyRevoked)).with(|i| i.key = REVOKED_KEY),
        case("retracted product", usa_secret(), "GBR", Err(ProductRetracted))
            .with(|i| i.header.product_id = "T-9".into()),
        case("another product", usa_secret(), "GBR", usa_secret_in_gbr())
            .with(|i| i.header.product_id = "T-8".into()),
        case("no product id", usa_secret(), "GBR", usa_secret_in_gbr()).with(|i| i.header.product_id.clear()),
        case("label of another policy", usa("SECRET", &["GBR"]), "GBR", Err(UnknownPolicy))
            .with(|i| i.header.label.policy_id = "GBR".into()),
        case("label of policy v2: translator v2", usa_v2, "GBR", usa_v2_ok),
        case("label of policy v3", usa("SECRET", &["GBR"]).in_version(3), "GBR", Err(UnknownPolicyVersion)),
        case("label of policy v0", usa("SECRET", &["GBR"]).in_version(0), "GBR", Err(UnknownPolicyVersion)),
        case("unknown classification", usa("COSMIC", &["GBR"]), "GBR", Err(UnknownClassification)),
        case("the partner's classification", usa("OFFICIAL", &["GBR"]), "GBR", Err(UnknownClassification)),
        case("unknown caveat", usa("SECRET", &["GBR"]).with_caveat("EYES-ONLY"), "GBR", Err(UnknownCaveat)),
        case("caveat of v2 in a v1 label", usa("SECRET", &["GBR"]).with_caveat("REL-EXERCISE"), "GBR",
            Err(UnknownCaveat)),
        case("NOFORN", usa("SECRET", &["GBR"]).with_caveat("NOFORN"), "GBR", Err(CaveatForbidsRelease)),
        case("UKEO", gbr("SECRET", &["FRA"]).with_caveat("UKEO"), "FRA", Err(CaveatForbidsRelease)),
    ]
}

/// Rules 8 to 10, each denying and permitting.
#[rustfmt::skip]
fn cases_from_releasability() -> Vec<Case> {
    use DenyReason::*;
    let exercise = usa("UNCLASSIFIED", &["FRA"]).with_informative("EXERCISE");
    let exercise_ok = ok(fra("NON PROTEGE", &["FRA"]).with_informative("EXERCICE"), "USA-FRA@1", 1, 1);
    let top = usa("TOP SECRET", &["FRA"]).with_informative("EXERCISE").with_informative("OPNAME");
    let top_ok = ok(fra("TRES SECRET", &["FRA"]).with_informative("EXERCICE"), "USA-FRA@1", 1, 1);
    let propin = usa("SECRET", &["GBR"]).with_caveat("PROPIN");
    vec![
        case("not releasable to GBR", usa("SECRET", &["FRA"]), "GBR", Err(NotReleasableToDestination)),
        case("releasable to nobody", usa("SECRET", &[]), "GBR", Err(NotReleasableToDestination)),
        case("above the ceiling", usa("TOP SECRET", &["GBR"]), "GBR", Err(ClassificationAboveLink)),
        case("unknown ceiling", usa_secret(), "GBR", Err(UnknownClassification)).with(|i| i.ceiling = "X".into()),
        case("French names on a TOP SECRET link", top, "FRA", top_ok).with(|i| i.ceiling = "TOP SECRET".into()),
        case("no DEU policy", usa("SECRET", &["DEU"]), "DEU", Err(UnknownPolicyVersion)),
        case("no translator for v2 labels", exercise.clone().in_version(2), "FRA", Err(NoTranslator)),
        case("no translator into USA v2", gbr("SECRET", &["USA"]), "USA", Err(NoTranslator)),
        case("translator still valid", exercise.clone(), "FRA", exercise_ok).at(T_100K - 1),
        case("translator expired", exercise.clone(), "FRA", Err(TranslatorNotValid)).at(T_100K),
        case("before GBR's revocation", usa_secret(), "GBR", usa_secret_in_gbr()).at(T_500K - 1),
        case("GBR revoked USA-GBR", usa_secret(), "GBR", Err(TranslatorRevoked)).at(T_500K),
        case("exercise data only", usa("UNCLASSIFIED", &["FRA"]), "FRA", Err(MissingRequiredCategory)),
        case("no ORCON to FRA", exercise.with_caveat("ORCON"), "FRA", Err(ForbiddenCategory)),
        case("v2 forbids PROPIN", propin.clone().in_version(2), "GBR", Err(ForbiddenCategory)),
        case("GBR has no CONFIDENTIAL", usa("CONFIDENTIAL", &["GBR"]), "GBR", Err(UntranslatableClassification)),
        case("TOP SECRET unmapped", usa("TOP SECRET", &["GBR"]), "GBR", Err(UntranslatableClassification))
            .with(|i| i.ceiling = "TOP SECRET".into()),
        case("v1 does not map PROPIN", propin, "GBR", Err(UntranslatableCategory)),
    ]
}

/// Messages failing several rules: the first rule in the doc's order wins.
#[rustfmt::skip]
fn rule_order_cases() -> Vec<Case> {
    use DenyReason::*;
    let orcon_to_fra = usa("SECRET", &["FRA"]).with_caveat("ORCON");
    vec![
        case("suspended, UKEO, key revoked", gbr("SECRET", &["FRA"]).with_caveat("UKEO"), "FRA",
            Err(PartnerSuspended)).at(T_100K).with(|i| i.key = REVOKED_KEY),
        case("key revoked, product retracted", usa_secret(), "GBR", Err(ProducerKeyRevoked))
            .with(|i| (i.key, i.header.product_id) = (REVOKED_KEY, "T-9".into())),
        case("retracted, other policy", usa_secret(), "GBR", Err(ProductRetracted))
            .with(|i| (i.header.product_id, i.header.label.policy_id) = ("T-9".into(), "GBR".into())),
        case("other policy, unknown class", usa("COSMIC", &["GBR"]), "GBR", Err(UnknownPolicy))
            .with(|i| i.header.label.policy_id = "GBR".into()),
        case("v3, unknown class", usa("COSMIC", &["GBR"]).in_version(3), "GBR", Err(UnknownPolicyVersion)),
        case("unknown class and caveat", usa("COSMIC", &["GBR"]).with_caveat("EYES-ONLY"), "GBR",
            Err(UnknownClassification)),
        case("NOFORN, not releasable, above link", usa("TOP SECRET", &["FRA"]).with_caveat("NOFORN"), "GBR",
            Err(CaveatForbidsRelease)),
        case("not releasable, above link", usa("TOP SECRET", &["FRA"]), "GBR", Err(NotReleasableToDestination)),
        case("above link, no DEU policy", usa("TOP SECRET", &["DEU"]), "DEU", Err(ClassificationAboveLink)),
        case("revoked, untranslatable", usa("CONFIDENTIAL", &["GBR"]), "GBR", Err(TranslatorRevoked)).at(T_500K),
        case("expired, required missing", usa("SECRET", &["FRA"]), "FRA", Err(TranslatorNotValid)).at(T_100K),
        case("required missing, forbidden", orcon_to_fra.clone(), "FRA", Err(MissingRequiredCategory)),
        case("forbidden, untranslatable", orcon_to_fra.with_caveat("PROPIN").with_informative("EXERCISE"), "FRA",
            Err(ForbiddenCategory)),
        case("class and caveat untranslatable", usa("CONFIDENTIAL", &["GBR"]).with_caveat("PROPIN"), "GBR",
            Err(UntranslatableClassification)),
    ]
}

#[test]
fn release_table() {
    let mut cases = cases_up_to_caveats();
    cases.extend(cases_from_releasability());
    let other_origin = case("origin not read", usa_secret(), "GBR", usa_secret_in_gbr());
    cases.push(other_origin.with(|i| i.header.origin = "FRA".into()));
    check(release_decision, false, &table_notices(), cases);
}

#[test]
fn admit_table() {
    let mut cases = cases_up_to_caveats();
    cases.extend(cases_from_releasability());
    let wrong = |name, label: Label, to, origin: &str| {
        let c = case(name, label, to, Err(DenyReason::OriginMismatch));
        c.at(T_100K).with(|i| i.header.origin = origin.into())
    };
    cases.push(wrong("header names FRA", usa_secret(), "GBR", "FRA"));
    cases.push(wrong(
        "before suspension",
        gbr("OFFICIAL", &["FRA"]),
        "FRA",
        "USA",
    ));
    check(admit_decision, true, &table_notices(), cases);
}

#[test]
fn rules_apply_in_the_documented_order() {
    check(
        release_decision,
        false,
        &table_notices(),
        rule_order_cases(),
    );
    check(admit_decision, true, &table_notices(), rule_order_cases());
}

#[test]
fn translators_for_two_source_versions_cohabit() {
    let v1 = usa("SECRET", &["GBR"]).with_caveat("ORCON");
    let v2 = usa("SECRET", &["GBR"])
        .in_version(2)
        .with_caveat("REL-EXERCISE");
    let v1_ok = ok(
        gbr("SECRET", &["GBR"]).with_caveat("ORCON"),
        "USA-GBR@1",
        1,
        1,
    );
    let v2_ok = ok(
        gbr("SECRET", &["GBR"]).with_caveat("EXERCISE-ONLY"),
        "USA-GBR@2",
        2,
        1,
    );
    let v1_revoked = Err(DenyReason::TranslatorRevoked);
    let only_v1 = [revoke_translator("GBR", "USA-GBR", 1, 0)];
    #[rustfmt::skip]
    let cases = |v1_want: &Result<Translated, DenyReason>| vec![
        case("v1 label", v1.clone(), "GBR", v1_want.clone()),
        case("v2 label, at the same time", v2.clone(), "GBR", v2_ok.clone()),
    ];
    for decision in [release_decision as Decision, admit_decision] {
        let admit = decision == admit_decision as Decision;
        check(decision, admit, &[], cases(&v1_ok));
        check(decision, admit, &only_v1, cases(&v1_revoked));
    }
}

#[test]
fn either_nation_may_revoke_a_translator_but_not_a_third() {
    let flows = ok(gbr("SECRET", &["GBR"]), "USA-GBR@1", 1, 1);
    let revoked = Err(DenyReason::TranslatorRevoked);
    #[rustfmt::skip]
    let cases = [
        ("by the releasing nation", "USA", 0, NOW, &revoked),
        ("by the receiving nation", "GBR", 0, NOW, &revoked),
        ("by a third nation", "FRA", 0, NOW, &flows),
        ("not yet in force", "GBR", 2_000, 1_999, &flows),
        ("in force", "GBR", 2_000, 2_000, &revoked),
    ];
    for (name, issuer, from_ms, now, want) in cases {
        let notices = [revoke_translator(issuer, "USA-GBR", 0, from_ms)];
        let cases = || vec![case(name, usa("SECRET", &["GBR"]), "GBR", want.clone()).at(now)];
        check(release_decision, false, &notices, cases());
        check(admit_decision, true, &notices, cases());
    }
}

/// The rules of the module doc over the world's data. Rule 7 is read per
/// caveat in the label's (sorted) order, as the code does: the doc does
/// not say which reason wins when one caveat is unknown and another
/// forbids release.
fn model(admit: bool, input: &Input, notices: &[Notice]) -> Result<Translated, DenyReason> {
    use DenyReason::*;
    let (h, label, now) = (&input.header, &input.header.label, input.now_ms);
    let (from, to) = (input.from.as_str(), input.to.as_str());
    if admit && h.origin != from {
        return Err(OriginMismatch);
    }
    let in_force = || {
        notices
            .iter()
            .filter(|n| n.effective_from_ms <= now)
            .map(|n| (&n.issuer, &n.revoked))
    };
    let between = |a: &str, b: &str| (a, b) == (from, to) || (a, b) == (to, from);
    if in_force().any(|(i, r)| matches!(r, Revoked::SuspendPartner(p) if between(i, p))) {
        return Err(PartnerSuspended);
    }
    if in_force().any(
        |(_, r)| matches!(r, Revoked::ProducerKey { key_sha256, .. } if *key_sha256 == input.key),
    ) {
        return Err(ProducerKeyRevoked);
    }
    let this = (&h.origin, &h.producer_id, &h.feed, &h.product_id);
    let same = |p: &ProductKey| (&p.origin, &p.producer_id, &p.feed, &p.product_id) == this;
    if !h.product_id.is_empty()
        && in_force().any(|(_, r)| matches!(r, Revoked::Product(p) if same(p)))
    {
        return Err(ProductRetracted);
    }
    if label.policy_id != from {
        return Err(UnknownPolicy);
    }
    let policies = &world().policies;
    let source = policies
        .iter()
        .find(|p| p.nation == from && p.version == label.policy_version);
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
    if !label.releasable_to.contains(to) {
        return Err(NotReleasableToDestination);
    }
    if label_rank > rank(&input.ceiling).ok_or(UnknownClassification)? {
        return Err(ClassificationAboveLink);
    }
    let target = policies
        .iter()
        .filter(|p| p.nation == to)
        .max_by_key(|p| p.version);
    let target = target.ok_or(UnknownPolicyVersion)?;
    let t = model_select(input, source.version, target.version, notices)?;
    let translator = format!("{}@{}", t.id, t.version);
    let (source_policy_version, target_policy_version) = (source.version, target.version);
    let label = model_translate(t, label, target)?;
    Ok(Translated {
        label,
        translator,
        source_policy_version,
        target_policy_version,
    })
}

/// Rule 10, first part: the highest version covering both policy versions
/// that is valid and not revoked; else revoked, else not valid, else none.
fn model_select(
    input: &Input,
    source: u32,
    target: u32,
    notices: &[Notice],
) -> Result<&'static Translator, DenyReason> {
    let now = input.now_ms;
    let covers = |t: &&Translator| {
        t.source_versions.contains(&source) && t.target_versions.contains(&target)
    };
    let pair = |t: &&Translator| t.from == input.from && t.to == input.to;
    let mut candidates: Vec<_> = world()
        .translators
        .iter()
        .filter(pair)
        .filter(covers)
        .collect();
    candidates.sort_by_key(|t| (Reverse(t.version), t.id.clone()));
    let names_it = |r: &Revoked, t: &Translator| {
        matches!(r, Revoked::Translator { id, version }
        if *id == t.id && (*version == 0 || *version == t.version))
    };
    let revoked = |t: &Translator| {
        notices.iter().any(|n| {
            n.effective_from_ms <= now
                && (n.issuer == t.from || n.issuer == t.to)
                && names_it(&n.revoked, t)
        })
    };
    let valid = |t: &Translator| t.not_before_ms <= now && now < t.not_after_ms;
    match candidates.iter().copied().find(|t| valid(t) && !revoked(t)) {
        Some(t) => Ok(t),
        None if candidates.iter().any(|t| revoked(t)) => Err(DenyReason::TranslatorRevoked),
        None if candidates.is_empty() => Err(DenyReason::NoTranslator),
        None => Err(DenyReason::TranslatorNotValid),
    }
}

/// Rule 10, second part: required, forbidden, then the maps.
fn model_translate(
    t: &Translator,
    label: &Label,
    target: &NationPolicy,
) -> Result<Label, DenyReason> {
    use DenyReason::*;
    let carries = |c: &String| label.caveats.contains(c) || label.informative.contains(c);
    if !t.required.iter().all(carries) {
        return Err(MissingRequiredCategory);
    }
    if t.forbidden.iter().any(carries) {
        return Err(ForbiddenCategory);
    }
    let classification = t.classifications.get(&label.classification);
    let classification = classification.filter(|c| target.classifications.contains(c));
    let is_target_caveat = |c: &&String| target.caveats.iter().any(|(name, _)| name == *c);
    let caveat = |c| {
        t.categories
            .get(c)
            .filter(is_target_caveat)
            .cloned()
            .ok_or(UntranslatableCategory)
    };
    let informative = label.informative.iter().filter_map(|i| t.categories.get(i));
    Ok(Label {
        policy_id: target.nation.clone(),
        policy_version: target.version,
        classification: classification.ok_or(UntranslatableClassification)?.clone(),
        releasable_to: label.releasable_to.clone(),
        caveats: label.caveats.iter().map(caveat).collect::<Result<_, _>>()?,
        informative: informative
            .filter(|i| target.informative.contains(i))
            .cloned()
            .collect(),
    })
}

#[derive(Debug, Clone)]
struct Scenario {
    admit: bool,
    input: Input,
    notices: Vec<Notice>,
}

/// DEU last: it has no policy.
const NATIONS: [&str; 4] = ["USA", "GBR", "FRA", "DEU"];
const INSTANTS: [i64; 9] = [0, 1, NOW, 99_999, T_100K, 499_999, T_500K, 999_999, END];

/// A label in the vocabulary of one of `from`'s versions, with sometimes an
/// unknown version, classification or caveat.
fn arb_label(from: &'static str) -> impl Strategy<Value = Label> {
    use prop::collection::btree_set;
    use prop::sample::{select, subsequence};
    let policies: Vec<_> = world()
        .policies
        .iter()
        .filter(|p| p.nation == from)
        .collect();
    let latest = policies.iter().max_by_key(|p| p.version).unwrap();
    let versions = select(policies.iter().map(|p| p.version).collect::<Vec<_>>());
    let version = prop_oneof![8 => versions, 1 => Just(0), 1 => Just(3)];
    let odd_class = select(names(&["COSMIC", "OFFICIAL", "CONFIDENTIAL"]));
    let class = prop_oneof![7 => select(latest.classifications.clone()), 1 => odd_class];
    let known = latest.caveats.iter().map(|(c, _)| c.clone());
    let caveat = select(known.chain(["EYES-ONLY".into()]).collect::<Vec<_>>());
    let caveats = prop_oneof![Just(BTreeSet::new()), btree_set(caveat, 1..=2)];
    let category = prop_oneof![2 => Just("EXERCISE"), 1 => Just("OPNAME"), 1 => Just("TRAINING")];
    let informative = btree_set(category.prop_map(String::from), 0..=2);
    let to = prop_oneof![Just(NATIONS.to_vec()), subsequence(NATIONS.to_vec(), 0..=4)];
    (version, class, caveats, informative, to).prop_map(
        move |(version, class, caveats, informative, to)| {
            let releasable_to = names(&to).into_iter().collect();
            let (policy_id, policy_version, classification) = (from.into(), version, class);
            Label {
                policy_id,
                classification,
                releasable_to,
                caveats,
                informative,
                policy_version,
            }
        },
    )
}

/// Suspensions (at most one per issuer and partner), key revocation,
/// retraction and translator revocations by any nation, at any instant.
fn arb_notices() -> impl Strategy<Value = Vec<Notice>> {
    use prop::sample::select;
    let instant = || select(INSTANTS.to_vec());
    let pair = (0usize..4, 1usize..4).prop_map(|(i, k)| (NATIONS[i], NATIONS[(i + k) % 4]));
    let suspensions = prop::collection::btree_map(pair, instant(), 0..=2);
    let key = prop::option::of(instant().prop_map(revoke_key));
    let retraction = prop::option::of((select(vec!["T-1", "T-9"]), instant()));
    let ids = select(vec!["USA-GBR", "USA-FRA", "GBR-FRA", "GBR-USA"]);
    let translator = (select(NATIONS.to_vec()), ids, 0u32..=2, instant());
    let translators = prop::collection::vec(translator, 0..=3);
    (suspensions, key, retraction, translators).prop_map(|(s, key, retraction, t)| {
        let s = s
            .into_iter()
            .map(|((issuer, partner), from)| suspend(issuer, partner, from));
        let r = retraction.map(|(product, from)| retract(product, from));
        let t = t
            .into_iter()
            .map(|(issuer, id, v, from)| revoke_translator(issuer, id, v, from));
        s.chain(key).chain(r).chain(t).collect()
    })
}

/// A crossing from USA or GBR, mostly to a nation with a policy, and a
/// message mostly of the releasing nation's policy and origin.
fn arb_scenario() -> impl Strategy<Value = Scenario> {
    use prop::sample::select;
    select(vec!["USA", "GBR"]).prop_flat_map(|from| {
        let others: Vec<&str> = NATIONS.iter().copied().filter(|n| *n != from).collect();
        let to = prop_oneof![6 => select(others[..2].to_vec()), 1 => Just("DEU")];
        let scale = world().policies.iter().find(|p| p.nation == from).unwrap();
        let ceiling =
            prop_oneof![7 => select(scale.classifications.clone()), 1 => Just("X".to_string())];
        let odd = || prop::bool::weighted(0.125);
        let crossing = (any::<bool>(), to, ceiling, select(INSTANTS.to_vec()));
        let product = select(vec!["", "T-1", "T-9"]);
        let message = (
            arb_label(from),
            odd(),
            odd(),
            product,
            prop::bool::weighted(0.25),
        );
        (crossing, message, arb_notices()).prop_map(move |(crossing, message, notices)| {
            let (admit, to, ceiling, now_ms) = crossing;
            let (mut label, foreign, elsewhere, product, revoked_key) = message;
            let other = if from == "USA" { "GBR" } else { "USA" };
            if foreign {
                label.policy_id = other.into();
            }
            let mut header = header(if elsewhere { other } else { from }, label);
            header.product_id = product.into();
            let key = if revoked_key { REVOKED_KEY } else { GOOD_KEY };
            let (from, to) = (from.into(), to.into());
            Scenario {
                admit,
                input: Input {
                    from,
                    to,
                    ceiling,
                    now_ms,
                    key,
                    header,
                },
                notices,
            }
        })
    })
}

/// 256 cases, or `COALITION_PROPTEST_CASES` (e.g. `1_000_000`).
fn proptest_cases() -> u32 {
    let var = std::env::var("COALITION_PROPTEST_CASES").ok();
    var.and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(proptest_cases())
    })]

    #[test]
    fn decisions_agree_with_the_reference_model(s in arb_scenario()) {
        let decision: Decision = if s.admit { admit_decision } else { release_decision };
        let model = model(s.admit, &s.input, &s.notices);
        prop_assert_eq!(run(decision, &s.input, &s.notices), model);
    }
}

/// The generator reaches every reason of the decision, and permits.
#[test]
fn the_generator_reaches_every_outcome() {
    use DenyReason::*;
    let (strategy, mut runner) = (arb_scenario(), TestRunner::deterministic());
    let mut seen = BTreeSet::new();
    for _ in 0..20_000 {
        let s = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert(model(s.admit, &s.input, &s.notices).map(|_| ()));
    }
    #[rustfmt::skip]
    let every = [OriginMismatch, PartnerSuspended, ProducerKeyRevoked, ProductRetracted, UnknownPolicy,
        UnknownPolicyVersion, UnknownClassification, UnknownCaveat, CaveatForbidsRelease,
        NotReleasableToDestination, ClassificationAboveLink, NoTranslator, TranslatorNotValid,
        TranslatorRevoked, MissingRequiredCategory, ForbiddenCategory, UntranslatableClassification,
        UntranslatableCategory];
    let missing: Vec<_> = every
        .into_iter()
        .filter(|r| !seen.contains(&Err(*r)))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    assert!(
        seen.contains(&Ok(())),
        "never generated a permitted crossing"
    );
}
