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

mod generators;
mod model;
use generators::*;
use model::model;

use coalition_schemas::v1;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::*;
use crate::envelope::MessageType;
use crate::revocation::{Applied, Notice, Revoked};
use crate::translator::Translator;
use crate::DenyReason::*;

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
fn policy(nation: &str, version: u32, scale: &[&str], caveats: &[(&str, bool)],
    informative: &[&str]) -> NationPolicy {
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
        policy("FRA", 1, &["NON PROTEGE", "DIFFUSION RESTREINTE", "SECRET", "TRES SECRET"], &fra,
            &["EXERCICE"]),
    ]
}

type Map<'a> = &'a [(&'a str, &'a str)];

/// `id@version` from `from` to `to`, for labels of policy version `source`,
/// into target version 1, valid in `[0, until)`.
#[rustfmt::skip]
fn translator((id, version): (&str, u32), (from, to): (&str, &str), source: u32, until: i64,
    classes: Map, categories: Map) -> Translator {
    let map = |m: Map| m.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    Translator {
        id: id.into(), version, from: from.into(), to: to.into(),
        source_versions: source..=source, target_versions: 1..=1,
        classifications: map(classes), categories: map(categories),
        required: BTreeSet::new(), forbidden: BTreeSet::new(),
        not_before_ms: 0, not_after_ms: until,
    }
}

/// Two GBR-FRA versions for the same policy versions, @2 valid from
/// `T_500K`; GBR-USA only maps into USA v1, but USA is now at v2.
#[rustfmt::skip]
fn translators() -> Vec<Translator> {
    let set = |items: &[&str]| names(items).into_iter().collect();
    let usa_gbr = [("UNCLASSIFIED", "OFFICIAL"), ("CONFIDENTIAL", "RESTRICTED"),
        ("SECRET", "SECRET")];
    let usa_fra = [("UNCLASSIFIED", "NON PROTEGE"), ("CONFIDENTIAL", "DIFFUSION RESTREINTE"),
        ("SECRET", "SECRET"), ("TOP SECRET", "TRES SECRET")];
    let v1_categories = [("ORCON", "ORCON"), ("EXERCISE", "EXERCISE"), ("OPNAME", "OPERATION")];
    let v2_categories = [("ORCON", "ORCON"), ("EXERCISE", "EXERCISE"),
        ("REL-EXERCISE", "EXERCISE-ONLY")];
    let gbr_fra = [("OFFICIAL", "NON PROTEGE"), ("SECRET", "SECRET")];
    let gbr_fra_v2 = [("OFFICIAL", "NON PROTEGE"), ("SECRET", "SECRET"),
        ("TOP SECRET", "TRES SECRET")];
    let gbr_fra_categories = [("ORCON", "DIFFUSION CONTROLEE"), ("EXERCISE", "EXERCICE")];
    let gbr_usa = [("OFFICIAL", "UNCLASSIFIED"), ("SECRET", "SECRET")];
    vec![
        translator(("USA-GBR", 1), ("USA", "GBR"), 1, END, &usa_gbr, &v1_categories),
        Translator { forbidden: set(&["PROPIN"]),
            ..translator(("USA-GBR", 2), ("USA", "GBR"), 2, END, &usa_gbr, &v2_categories) },
        Translator { required: set(&["EXERCISE"]), forbidden: set(&["ORCON"]),
            ..translator(("USA-FRA", 1), ("USA", "FRA"), 1, T_100K, &usa_fra,
                &[("EXERCISE", "EXERCICE")]) },
        translator(("GBR-FRA", 1), ("GBR", "FRA"), 1, END, &gbr_fra, &gbr_fra_categories),
        Translator { not_before_ms: T_500K,
            ..translator(("GBR-FRA", 2), ("GBR", "FRA"), 1, END, &gbr_fra_v2,
                &gbr_fra_categories) },
        translator(("GBR-USA", 1), ("GBR", "USA"), 1, END, &gbr_usa, &[("ORCON", "ORCON")]),
    ]
}

/// The world as plain data (for the model) and as the real book and set.
struct World {
    policies: Vec<NationPolicy>,
    translators: Vec<Translator>,
    book: PolicyBook,
    set: TranslatorSet,
}

#[rustfmt::skip]
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (book, set) = (PolicyBook::new(), TranslatorSet::new());
        policies().into_iter().for_each(|p| assert!(book.insert(p).unwrap()));
        translators().into_iter().for_each(|t| assert!(set.insert(t).unwrap()));
        World { policies: policies(), translators: translators(), book, set }
    })
}

/// A notice of `issuer` in force from `from_ms`; [`revocations`] numbers it.
#[rustfmt::skip]
fn notice(issuer: &str, from_ms: i64, revoked: Revoked) -> Notice {
    let (issuer, reason) = (issuer.into(), String::new());
    Notice { issuer, epoch: 0, effective_from_ms: from_ms, issued_at_ms: 0, reason, revoked }
}

fn suspend(issuer: &str, partner: &str, from_ms: i64) -> Notice {
    notice(issuer, from_ms, Revoked::SuspendPartner(partner.into()))
}

/// USA revokes `REVOKED_KEY`.
#[rustfmt::skip]
fn revoke_key(from_ms: i64) -> Notice {
    let (nation, producer_id) = ("USA".into(), "radar-1".into());
    notice("USA", from_ms, Revoked::ProducerKey { nation, producer_id, key_sha256: REVOKED_KEY })
}

/// USA retracts a product of USA/radar-1/air.
#[rustfmt::skip]
fn retract(product: &str, from_ms: i64) -> Notice {
    let (origin, producer_id, feed) = ("USA".into(), "radar-1".into(), "air".into());
    let product = ProductKey { origin, producer_id, feed, product_id: product.into() };
    notice("USA", from_ms, Revoked::Product(product))
}

fn revoke_translator(issuer: &str, id: &str, version: u32, from_ms: i64) -> Notice {
    let id = id.into();
    notice(issuer, from_ms, Revoked::Translator { id, version })
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
        producer_id: "radar-1".into(), feed: "air".into(), seq: 1, payload_sha256: [0; 32],
        produced_at_ms: 0, producer_cert_sha256: [0; 32], corrects_seq: None,
        product_id: "T-1".into(), derived_from: vec![],
    }
}

/// What a decision (or a step of the model) returns.
type Outcome<T = Translated> = Result<T, DenyReason>;

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

#[derive(Clone)]
struct Case {
    name: &'static str,
    input: Input,
    want: Outcome,
}

/// A message of `label`'s nation, released by it (and arriving from it)
/// to `to` with a good key, on a SECRET link, at `NOW`.
#[rustfmt::skip]
fn case(name: &'static str, label: Label, to: &str, want: Outcome) -> Case {
    let (from, ceiling) = (label.policy_id.clone(), "SECRET".into());
    let (header, to, key) = (header(&from, label), to.into(), GOOD_KEY);
    let input = Input { from, to, ceiling, now_ms: NOW, key, header };
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

#[rustfmt::skip]
fn ok(label: Label, translator: &str, source: u32, target: u32) -> Outcome {
    let translator = translator.into();
    let (source_policy_version, target_policy_version) = (source, target);
    Ok(Translated { label, translator, source_policy_version, target_policy_version })
}

/// The admit decision if `admit`, else the release decision.
#[rustfmt::skip]
fn run(admit: bool, input: &Input, notices: &[Notice]) -> Outcome {
    let (world, revocations) = (world(), revocations(notices));
    let (policies, translators, revocations) = (&world.book, &world.set, &revocations);
    let view = PolicyView { policies, translators, revocations };
    let facts = MessageFacts { header: &input.header, key_sha256: &input.key };
    let (from, to, ceiling, now_ms) = (&input.from, &input.to, &input.ceiling, input.now_ms);
    let crossing = Crossing { from, to, ceiling, now_ms };
    let decide = if admit { admit_decision } else { release_decision };
    decide(&facts, &crossing, &view)
}

/// Checks every case with the real decision and with the model.
fn check(admit: bool, notices: &[Notice], cases: &[Case]) {
    for c in cases {
        let name = format!("case: {} (admit: {admit})", c.name);
        assert_eq!(run(admit, &c.input, notices), c.want, "{name}");
        assert_eq!(model(admit, &c.input, notices), c.want, "model, {name}");
    }
}

/// A USA SECRET label with a caveat and informative categories, to GBR.
fn usa_secret() -> Label {
    let label = usa("SECRET", &["GBR", "USA"]).with_caveat("ORCON");
    let label = label.with_informative("EXERCISE");
    label.with_informative("OPNAME")
}

fn usa_secret_in_gbr() -> Outcome {
    let label = gbr("SECRET", &["GBR", "USA"]).with_caveat("ORCON");
    ok(label.with_informative("EXERCISE"), "USA-GBR@1", 1, 1)
}

/// Rules 2 to 7, each denying and permitting.
#[rustfmt::skip]
fn cases_up_to_caveats() -> Vec<Case> {
    let gbr_fra = gbr("OFFICIAL", &["FRA"]).with_caveat("ORCON");
    let in_fra = fra("NON PROTEGE", &["FRA"]).with_caveat("DIFFUSION CONTROLEE");
    let usa_v2 = usa("SECRET", &["GBR"]).in_version(2).with_caveat("REL-EXERCISE");
    let in_gbr_v2 = ok(gbr("SECRET", &["GBR"]).with_caveat("EXERCISE-ONLY"), "USA-GBR@2", 2, 1);
    let secret = |caveat| usa("SECRET", &["GBR"]).with_caveat(caveat);
    vec![
        case("GBR to FRA before the suspension", gbr_fra.clone(), "FRA",
            ok(in_fra, "GBR-FRA@1", 1, 1)).at(T_100K - 1),
        case("GBR to FRA once suspended", gbr_fra, "FRA", Err(PartnerSuspended)).at(T_100K),
        case("FRA to GBR once suspended", fra("SECRET", &["GBR"]), "GBR", Err(PartnerSuspended))
            .at(T_100K),
        case("in GBR's vocabulary, at the ceiling", usa_secret(), "GBR", usa_secret_in_gbr()),
        case("revoked producer key", usa_secret(), "GBR", Err(ProducerKeyRevoked))
            .with(|i| i.key = REVOKED_KEY),
        case("retracted product", usa_secret(), "GBR", Err(ProductRetracted))
            .with(|i| i.header.product_id = "T-9".into()),
        case("another product", usa_secret(), "GBR", usa_secret_in_gbr())
            .with(|i| i.header.product_id = "T-8".into()),
        case("no product id", usa_secret(), "GBR", usa_secret_in_gbr())
            .with(|i| i.header.product_id.clear()),
        case("label of another policy", usa("SECRET", &["GBR"]), "GBR", Err(UnknownPolicy))
            .with(|i| i.header.label.policy_id = "GBR".into()),
        case("label of policy v2: translator v2", usa_v2, "GBR", in_gbr_v2),
        case("v3", usa("SECRET", &["GBR"]).in_version(3), "GBR", Err(UnknownPolicyVersion)),
        case("v0", usa("SECRET", &["GBR"]).in_version(0), "GBR", Err(UnknownPolicyVersion)),
        case("unknown classification", usa("COSMIC", &["GBR"]), "GBR", Err(UnknownClassification)),
        case("GBR's classification", usa("OFFICIAL", &["GBR"]), "GBR", Err(UnknownClassification)),
        case("unknown caveat", secret("EYES-ONLY"), "GBR", Err(UnknownCaveat)),
        case("caveat of v2 in a v1 label", secret("REL-EXERCISE"), "GBR", Err(UnknownCaveat)),
        case("NOFORN", secret("NOFORN"), "GBR", Err(CaveatForbidsRelease)),
        case("UKEO", gbr("SECRET", &["FRA"]).with_caveat("UKEO"), "FRA", Err(CaveatForbidsRelease)),
    ]
}

/// Rules 8 to 10, each denying and permitting.
#[rustfmt::skip]
fn cases_from_releasability() -> Vec<Case> {
    let exercise = usa("UNCLASSIFIED", &["FRA"]).with_informative("EXERCISE");
    let in_fra = fra("NON PROTEGE", &["FRA"]).with_informative("EXERCICE");
    let top = usa("TOP SECRET", &["FRA"]).with_informative("EXERCISE").with_informative("OPNAME");
    let top_in_fra = fra("TRES SECRET", &["FRA"]).with_informative("EXERCICE");
    let propin = usa("SECRET", &["GBR"]).with_caveat("PROPIN");
    let ceiling = |c: &str| { let c = c.to_string(); move |i: &mut Input| i.ceiling = c };
    vec![
        case("not releasable to GBR", usa("SECRET", &["FRA"]), "GBR",
            Err(NotReleasableToDestination)),
        case("releasable to nobody", usa("SECRET", &[]), "GBR", Err(NotReleasableToDestination)),
        case("above the ceiling", usa("TOP SECRET", &["GBR"]), "GBR", Err(ClassificationAboveLink)),
        case("unknown ceiling", usa_secret(), "GBR", Err(UnknownClassification)).with(ceiling("X")),
        case("French names on a TOP SECRET link", top, "FRA", ok(top_in_fra, "USA-FRA@1", 1, 1))
            .with(ceiling("TOP SECRET")),
        case("no DEU policy", usa("SECRET", &["DEU"]), "DEU", Err(UnknownPolicyVersion)),
        case("no translator for v2 labels", exercise.clone().in_version(2), "FRA",
            Err(NoTranslator)),
        case("no translator into USA v2", gbr("SECRET", &["USA"]), "USA", Err(NoTranslator)),
        case("translator still valid", exercise.clone(), "FRA", ok(in_fra, "USA-FRA@1", 1, 1))
            .at(T_100K - 1),
        case("translator expired", exercise.clone(), "FRA", Err(TranslatorNotValid)).at(T_100K),
        case("before GBR's revocation", usa_secret(), "GBR", usa_secret_in_gbr()).at(T_500K - 1),
        case("GBR revoked USA-GBR", usa_secret(), "GBR", Err(TranslatorRevoked)).at(T_500K),
        case("exercise data only", usa("SECRET", &["FRA"]), "FRA", Err(MissingRequiredCategory)),
        case("no ORCON to FRA", exercise.with_caveat("ORCON"), "FRA", Err(ForbiddenCategory)),
        case("v2 forbids PROPIN", propin.clone().in_version(2), "GBR", Err(ForbiddenCategory)),
        case("GBR has no CONFIDENTIAL", usa("CONFIDENTIAL", &["GBR"]), "GBR",
            Err(UntranslatableClassification)),
        case("TOP SECRET unmapped", usa("TOP SECRET", &["GBR"]), "GBR",
            Err(UntranslatableClassification)).with(ceiling("TOP SECRET")),
        case("v1 does not map PROPIN", propin, "GBR", Err(UntranslatableCategory)),
    ]
}

/// Messages failing several rules: the first rule in the doc's order wins
/// (part of both tables).
#[rustfmt::skip]
fn rule_order_cases() -> Vec<Case> {
    let orcon_to_fra = usa("SECRET", &["FRA"]).with_caveat("ORCON");
    let top_to_fra = usa("TOP SECRET", &["FRA"]);
    let gbr_policy = |i: &mut Input| i.header.label.policy_id = "GBR".into();
    vec![
        case("suspended, UKEO, key revoked", gbr("SECRET", &["FRA"]).with_caveat("UKEO"), "FRA",
            Err(PartnerSuspended)).at(T_100K).with(|i| i.key = REVOKED_KEY),
        case("key revoked, product retracted", usa_secret(), "GBR", Err(ProducerKeyRevoked))
            .with(|i| (i.key, i.header.product_id) = (REVOKED_KEY, "T-9".into())),
        case("retracted, other policy", usa_secret(), "GBR", Err(ProductRetracted))
            .with(gbr_policy).with(|i| i.header.product_id = "T-9".into()),
        case("other policy, unknown class", usa("COSMIC", &["GBR"]), "GBR", Err(UnknownPolicy))
            .with(gbr_policy),
        case("v3, unknown class", usa("COSMIC", &["GBR"]).in_version(3), "GBR",
            Err(UnknownPolicyVersion)),
        case("unknown class and caveat", usa("COSMIC", &["GBR"]).with_caveat("EYES-ONLY"), "GBR",
            Err(UnknownClassification)),
        case("NOFORN, not releasable, above link", top_to_fra.clone().with_caveat("NOFORN"), "GBR",
            Err(CaveatForbidsRelease)),
        case("not releasable, above link", top_to_fra, "GBR", Err(NotReleasableToDestination)),
        case("above link, no DEU policy", usa("TOP SECRET", &["DEU"]), "DEU",
            Err(ClassificationAboveLink)),
        case("revoked, untranslatable", usa("CONFIDENTIAL", &["GBR"]), "GBR",
            Err(TranslatorRevoked)).at(T_500K),
        case("expired, required missing", usa("SECRET", &["FRA"]), "FRA", Err(TranslatorNotValid))
            .at(T_100K),
        case("required missing, forbidden", orcon_to_fra.clone(), "FRA",
            Err(MissingRequiredCategory)),
        case("forbidden, untranslatable",
            orcon_to_fra.with_caveat("PROPIN").with_informative("EXERCISE"), "FRA",
            Err(ForbiddenCategory)),
        case("class and caveat untranslatable", usa("CONFIDENTIAL", &["GBR"]).with_caveat("PROPIN"),
            "GBR", Err(UntranslatableClassification)),
    ]
}

#[test]
fn release_table() {
    let mut cases = [cases_up_to_caveats(), cases_from_releasability()].concat();
    let other_origin = case("origin not read", usa_secret(), "GBR", usa_secret_in_gbr());
    cases.push(other_origin.with(|i| i.header.origin = "FRA".into()));
    cases.extend(rule_order_cases());
    check(false, &table_notices(), &cases);
}

#[test]
fn admit_table() {
    let mut cases = [cases_up_to_caveats(), cases_from_releasability()].concat();
    #[rustfmt::skip]
    cases.extend([
        case("header names another origin", usa_secret(), "GBR", Err(OriginMismatch)),
        case("checked before suspension", gbr("OFFICIAL", &["FRA"]), "FRA", Err(OriginMismatch))
            .at(T_100K),
    ].map(|c| c.with(|i| i.header.origin = "DEU".into())));
    cases.extend(rule_order_cases());
    check(true, &table_notices(), &cases);
}

/// USA-GBR@1 (USA v1 labels) and @2 (USA v2 labels) at the same instant;
/// GBR revoking only @1 stops only v1 labels.
#[test]
#[rustfmt::skip]
fn translators_for_two_source_versions_cohabit() {
    let v1 = usa("SECRET", &["GBR"]).with_caveat("ORCON");
    let v1_ok = ok(gbr("SECRET", &["GBR"]).with_caveat("ORCON"), "USA-GBR@1", 1, 1);
    let v2 = usa("SECRET", &["GBR"]).in_version(2).with_caveat("REL-EXERCISE");
    let v2_ok = ok(gbr("SECRET", &["GBR"]).with_caveat("EXERCISE-ONLY"), "USA-GBR@2", 2, 1);
    let v2_case = case("v2 label, same instant", v2, "GBR", v2_ok);
    let both = [case("v1 label", v1.clone(), "GBR", v1_ok), v2_case.clone()];
    let v1_revoked = [case("v1 label", v1, "GBR", Err(TranslatorRevoked)), v2_case];
    for admit in [false, true] {
        check(admit, &[], &both);
        check(admit, &[revoke_translator("GBR", "USA-GBR", 1, 0)], &v1_revoked);
    }
}

/// Either of a translator's two nations may revoke it, from the notice's
/// effective instant, a third nation may not; the highest usable version
/// applies, and revoked is reported before not (yet) valid.
#[test]
#[rustfmt::skip]
fn unilateral_revocation_and_version_choice() {
    let (to_gbr, to_fra) = (usa("SECRET", &["GBR"]), gbr("SECRET", &["FRA"]));
    let in_gbr = ok(gbr("SECRET", &["GBR"]), "USA-GBR@1", 1, 1);
    let in_fra = |name| ok(fra("SECRET", &["FRA"]), name, 1, 1);
    let revoke = |issuer, id, v, from_ms| vec![revoke_translator(issuer, id, v, from_ms)];
    let revoked = Err(TranslatorRevoked);
    let rows = [
        ("by the releasing nation", revoke("USA", "USA-GBR", 0, 0), &to_gbr, NOW, revoked.clone()),
        ("by the receiving nation", revoke("GBR", "USA-GBR", 1, 0), &to_gbr, NOW, revoked.clone()),
        ("not by a third nation", revoke("FRA", "USA-GBR", 0, 0), &to_gbr, NOW, in_gbr.clone()),
        ("not before in force", revoke("GBR", "USA-GBR", 0, 2_000), &to_gbr, 1_999, in_gbr),
        ("once in force", revoke("GBR", "USA-GBR", 0, 2_000), &to_gbr, 2_000, revoked.clone()),
        ("@2 not valid yet", vec![], &to_fra, NOW, in_fra("GBR-FRA@1")),
        ("@2 valid: the highest", vec![], &to_fra, T_500K, in_fra("GBR-FRA@2")),
        ("@2 revoked: @1", revoke("FRA", "GBR-FRA", 2, 0), &to_fra, T_500K, in_fra("GBR-FRA@1")),
        ("@1 revoked, @2 not yet valid", revoke("GBR", "GBR-FRA", 1, 0), &to_fra, NOW, revoked),
    ];
    for (name, notices, label, now, want) in rows {
        let to = if label.policy_id == "USA" { "GBR" } else { "FRA" };
        let c = case(name, label.clone(), to, want).at(now);
        for admit in [false, true] {
            check(admit, &notices, std::slice::from_ref(&c));
        }
    }
}

/// A producer-key notice is checked against the nation it names, but
/// applied to the key digest alone: FRA, naming itself, revokes the key of
/// a USA producer for a USA-to-GBR crossing.
#[test]
fn a_third_nation_cannot_revoke_a_producers_key() {
    let (nation, producer_id) = ("FRA".to_string(), "radar-1".to_string());
    let key = Revoked::ProducerKey {
        nation,
        producer_id,
        key_sha256: REVOKED_KEY,
    };
    let as_signed = notice("FRA", 0, key).to_wire();
    let by_fra = Notice::from_wire(v1::RevocationNotice {
        epoch: 1,
        ..as_signed
    });
    let c = case("", usa_secret(), "GBR", usa_secret_in_gbr()).with(|i| i.key = REVOKED_KEY);
    assert_eq!(
        run(false, &c.input, &[by_fra.expect("FRA names itself")]),
        c.want
    );
}

/// 256 cases, or `COALITION_PROPTEST_CASES` (e.g. `1_000_000`).
fn proptest_cases() -> u32 {
    let var = std::env::var("COALITION_PROPTEST_CASES");
    var.ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(proptest_cases())
    })]

    #[test]
    fn decisions_agree_with_the_reference_model((admit, input, notices) in arb_scenario()) {
        let model = model(admit, &input, &notices);
        prop_assert_eq!(run(admit, &input, &notices), model);
    }
}

/// The generator reaches every reason of the decision, and permits.
#[test]
fn the_generator_reaches_every_outcome() {
    let (strategy, mut runner) = (arb_scenario(), TestRunner::deterministic());
    let mut seen = BTreeSet::new();
    for _ in 0..20_000 {
        let (admit, input, notices) = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert(model(admit, &input, &notices).map(|_| ()));
    }
    #[rustfmt::skip]
    let every = [OriginMismatch, PartnerSuspended, ProducerKeyRevoked, ProductRetracted,
        UnknownPolicy, UnknownPolicyVersion, UnknownClassification, UnknownCaveat,
        CaveatForbidsRelease, NotReleasableToDestination, ClassificationAboveLink, NoTranslator,
        TranslatorNotValid, TranslatorRevoked, MissingRequiredCategory, ForbiddenCategory,
        UntranslatableClassification, UntranslatableCategory];
    let missing: Vec<_> = every.iter().filter(|r| !seen.contains(&Err(**r))).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    assert!(seen.contains(&Ok(())), "never generated a permit");
}
