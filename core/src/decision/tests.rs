//! Permit/deny tables for the release and admit decisions (every rule of
//! the module doc, and their order), translator cohabitation, unilateral
//! translator revocation, and a property test against a reference model.
//!
//! The world (policies, translators) is plain data read by two readers:
//! the fixtures, which build the real `PolicyBook` and `TranslatorSet`, and
//! [`model`], written from the rules in the module doc without calling the
//! code under test. Every table row is checked against both.
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::*;
use crate::envelope::MessageType;
use crate::revocation::{Applied, Notice, Revoked};
use crate::translator::Translator;

/// One version of a nation's policy, as data.
struct PolicyData {
    nation: &'static str,
    version: u32,
    scale: &'static [&'static str],
    caveats: &'static [(&'static str, bool)],
    informative: &'static [&'static str],
}

type Map = &'static [(&'static str, &'static str)];

/// One translator, as data. Ranges and windows are inclusive-exclusive as
/// in the wire format: versions inclusive, validity `[start, end)`.
struct TranslatorData {
    id: &'static str,
    version: u32,
    from: &'static str,
    to: &'static str,
    source: (u32, u32),
    target: (u32, u32),
    valid: (i64, i64),
    classifications: Map,
    categories: Map,
    required: &'static [&'static str],
    forbidden: &'static [&'static str],
}

const NOW: i64 = 1_000;
/// USA-FRA@1 is valid until then (exclusive); GBR suspends FRA from then.
const T_100K: i64 = 100_000;
/// GBR revokes every version of USA-GBR from then.
const T_500K: i64 = 500_000;
const END: i64 = 1_000_000;

const USA_SCALE: &[&str] = &["UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET"];
const USA_INFORMATIVE: &[&str] = &["EXERCISE", "OPNAME"];
const USA_GBR_CLASSES: Map = &[
    ("UNCLASSIFIED", "OFFICIAL"),
    ("CONFIDENTIAL", "RESTRICTED"),
    ("SECRET", "SECRET"),
];

/// USA v1 and v2 (v2 adds REL-EXERCISE), GBR v1, FRA v1 in French; no DEU.
#[rustfmt::skip]
const POLICIES: &[PolicyData] = &[
    PolicyData { nation: "USA", version: 1, scale: USA_SCALE, informative: USA_INFORMATIVE,
        caveats: &[("NOFORN", true), ("ORCON", false), ("PROPIN", false)] },
    PolicyData { nation: "USA", version: 2, scale: USA_SCALE, informative: USA_INFORMATIVE,
        caveats: &[("NOFORN", true), ("ORCON", false), ("PROPIN", false), ("REL-EXERCISE", false)] },
    PolicyData { nation: "GBR", version: 1, scale: &["OFFICIAL", "SECRET", "TOP SECRET"],
        caveats: &[("UKEO", true), ("ORCON", false), ("EXERCISE-ONLY", false)], informative: &["EXERCISE"] },
    PolicyData { nation: "FRA", version: 1,
        scale: &["NON PROTEGE", "DIFFUSION RESTREINTE", "SECRET", "TRES SECRET"],
        caveats: &[("SPECIAL FRANCE", true), ("DIFFUSION CONTROLEE", false)], informative: &["EXERCICE"] },
];

/// GBR-USA only maps into USA v1, but USA is now at v2.
#[rustfmt::skip]
const TRANSLATORS: &[TranslatorData] = &[
    TranslatorData { id: "USA-GBR", version: 1, from: "USA", to: "GBR", source: (1, 1), target: (1, 1),
        valid: (0, END), classifications: USA_GBR_CLASSES, required: &[], forbidden: &[],
        categories: &[("ORCON", "ORCON"), ("EXERCISE", "EXERCISE")] },
    TranslatorData { id: "USA-GBR", version: 2, from: "USA", to: "GBR", source: (2, 2), target: (1, 1),
        valid: (0, END), classifications: USA_GBR_CLASSES, required: &[], forbidden: &["PROPIN"],
        categories: &[("ORCON", "ORCON"), ("EXERCISE", "EXERCISE"), ("REL-EXERCISE", "EXERCISE-ONLY")] },
    TranslatorData { id: "USA-FRA", version: 1, from: "USA", to: "FRA", source: (1, 1), target: (1, 1),
        valid: (0, T_100K), required: &["EXERCISE"], forbidden: &["ORCON"],
        classifications: &[("UNCLASSIFIED", "NON PROTEGE"), ("CONFIDENTIAL", "DIFFUSION RESTREINTE"),
            ("SECRET", "SECRET"), ("TOP SECRET", "TRES SECRET")],
        categories: &[("EXERCISE", "EXERCICE")] },
    TranslatorData { id: "GBR-FRA", version: 1, from: "GBR", to: "FRA", source: (1, 1), target: (1, 1),
        valid: (0, END), required: &[], forbidden: &[],
        classifications: &[("OFFICIAL", "NON PROTEGE"), ("SECRET", "SECRET")],
        categories: &[("ORCON", "DIFFUSION CONTROLEE"), ("EXERCISE", "EXERCICE")] },
    TranslatorData { id: "GBR-USA", version: 1, from: "GBR", to: "USA", source: (1, 1), target: (1, 1),
        valid: (0, END), required: &[], forbidden: &[],
        classifications: &[("OFFICIAL", "UNCLASSIFIED"), ("SECRET", "SECRET")],
        categories: &[("ORCON", "ORCON")] },
];

fn strings<'a>(items: impl IntoIterator<Item = &'a &'a str>) -> Vec<String> {
    items.into_iter().map(|s| s.to_string()).collect()
}

fn nation_policy(p: &PolicyData) -> NationPolicy {
    NationPolicy {
        nation: p.nation.into(),
        version: p.version,
        classifications: strings(p.scale),
        caveats: p.caveats.iter().map(|(c, f)| (c.to_string(), *f)).collect(),
        informative: strings(p.informative),
    }
}

fn translator(t: &TranslatorData) -> Translator {
    let map = |m: Map| {
        m.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    Translator {
        id: t.id.into(),
        version: t.version,
        from: t.from.into(),
        to: t.to.into(),
        source_versions: t.source.0..=t.source.1,
        target_versions: t.target.0..=t.target.1,
        classifications: map(t.classifications),
        categories: map(t.categories),
        required: strings(t.required).into_iter().collect(),
        forbidden: strings(t.forbidden).into_iter().collect(),
        not_before_ms: t.valid.0,
        not_after_ms: t.valid.1,
    }
}

/// The real policy book and translator set of the world, built once.
fn world() -> &'static (PolicyBook, TranslatorSet) {
    static WORLD: OnceLock<(PolicyBook, TranslatorSet)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (book, set) = (PolicyBook::new(), TranslatorSet::new());
        POLICIES
            .iter()
            .for_each(|p| assert!(book.insert(nation_policy(p)).unwrap()));
        TRANSLATORS
            .iter()
            .for_each(|t| assert!(set.insert(translator(t)).unwrap()));
        (book, set)
    })
}

const GOOD_KEY: [u8; 32] = [1; 32];
const REVOKED_KEY: [u8; 32] = [9; 32];

/// A revocation, as data; each becomes a notice with the next epoch of its
/// issuer.
#[derive(Debug, Clone)]
enum Event {
    Suspend {
        issuer: &'static str,
        partner: &'static str,
        from_ms: i64,
    },
    /// USA revokes `REVOKED_KEY`.
    RevokeKey { from_ms: i64 },
    /// USA retracts a product of USA/radar-1/air.
    Retract { product: &'static str, from_ms: i64 },
    /// Version 0: every version.
    RevokeTranslator {
        issuer: &'static str,
        id: &'static str,
        version: u32,
        from_ms: i64,
    },
}

fn revocation_state(events: &[Event]) -> RevocationState {
    let state = RevocationState::new();
    let mut epochs = BTreeMap::new();
    for event in events {
        let (issuer, effective_from_ms, revoked) = match *event {
            Event::Suspend {
                issuer,
                partner,
                from_ms,
            } => (issuer, from_ms, Revoked::SuspendPartner(partner.into())),
            Event::RevokeKey { from_ms } => {
                let (nation, producer_id) = ("USA".into(), "radar-1".into());
                let key = Revoked::ProducerKey {
                    nation,
                    producer_id,
                    key_sha256: REVOKED_KEY,
                };
                ("USA", from_ms, key)
            }
            Event::Retract { product, from_ms } => {
                let (origin, producer_id, feed) = ("USA".into(), "radar-1".into(), "air".into());
                let product = ProductKey {
                    origin,
                    producer_id,
                    feed,
                    product_id: product.into(),
                };
                ("USA", from_ms, Revoked::Product(product))
            }
            Event::RevokeTranslator {
                issuer,
                id,
                version,
                from_ms,
            } => (
                issuer,
                from_ms,
                Revoked::Translator {
                    id: id.into(),
                    version,
                },
            ),
        };
        let epoch = epochs.entry(issuer).and_modify(|e| *e += 1).or_insert(1);
        let issuer = issuer.to_string();
        let (issued_at_ms, reason) = (0, String::new());
        let notice = Notice {
            issuer,
            epoch: *epoch,
            effective_from_ms,
            issued_at_ms,
            reason,
            revoked,
        };
        assert_eq!(state.apply(&notice), Applied::New);
    }
    state
}

/// The revocations behind the tables.
fn table_events() -> Vec<Event> {
    vec![
        Event::Suspend {
            issuer: "GBR",
            partner: "FRA",
            from_ms: T_100K,
        },
        Event::RevokeKey { from_ms: 0 },
        Event::Retract {
            product: "T-9",
            from_ms: 0,
        },
        Event::RevokeTranslator {
            issuer: "GBR",
            id: "USA-GBR",
            version: 0,
            from_ms: T_500K,
        },
        Event::RevokeTranslator {
            issuer: "FRA",
            id: "USA-GBR",
            version: 0,
            from_ms: 0,
        },
    ]
}

fn header(origin: &str, label: Label) -> Header {
    Header {
        message_type: MessageType::Track,
        schema_version: 1,
        label,
        origin: origin.into(),
        producer_id: "radar-1".into(),
        feed: "air".into(),
        seq: 1,
        payload_sha256: [0; 32],
        produced_at_ms: 0,
        producer_cert_sha256: [0; 32],
        corrects_seq: None,
        product_id: "T-1".into(),
        derived_from: vec![],
    }
}

/// What one decision reads, apart from the world and the revocations.
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
/// to `to`, with a good key, on a SECRET link, at `NOW`.
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
    fn at(mut self, now_ms: i64) -> Self {
        self.input.now_ms = now_ms;
        self
    }
    fn ceiling(mut self, ceiling: &str) -> Self {
        self.input.ceiling = ceiling.into();
        self
    }
    fn key(mut self, key: [u8; 32]) -> Self {
        self.input.key = key;
        self
    }
    fn product(mut self, product_id: &str) -> Self {
        self.input.header.product_id = product_id.into();
        self
    }
    /// Only the header's origin (the admitting side's link stays `from`).
    fn origin(mut self, origin: &str) -> Self {
        self.input.header.origin = origin.into();
        self
    }
    /// The releasing nation and the header's origin.
    fn from(mut self, from: &str) -> Self {
        self.input.from = from.into();
        self.origin(from)
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
    let translator = translator.to_string();
    Ok(Translated {
        label,
        translator,
        source_policy_version: source,
        target_policy_version: target,
    })
}

type Decision =
    fn(&MessageFacts<'_>, &Crossing<'_>, &PolicyView<'_>) -> Result<Translated, DenyReason>;

fn run(decision: Decision, input: &Input, events: &[Event]) -> Result<Translated, DenyReason> {
    let (policies, translators) = world();
    let revocations = revocation_state(events);
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

/// Runs every case through `decision` and through the model.
fn check(decision: Decision, admit: bool, cases: Vec<Case>) {
    let events = table_events();
    for c in cases {
        assert_eq!(run(decision, &c.input, &events), c.want, "case: {}", c.name);
        assert_eq!(
            model(admit, &c.input, &events),
            c.want,
            "model disagrees, case: {}",
            c.name
        );
    }
}

/// A USA SECRET label with a caveat and informative categories, to GBR.
fn usa_secret() -> Label {
    usa("SECRET", &["GBR", "USA"])
        .with_caveat("ORCON")
        .with_informative("EXERCISE")
        .with_informative("OPNAME")
}
fn usa_secret_in_gbr() -> Result<Translated, DenyReason> {
    let label = gbr("SECRET", &["GBR", "USA"])
        .with_caveat("ORCON")
        .with_informative("EXERCISE");
    ok(label, "USA-GBR@1", 1, 1)
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
        case("revoked producer key", usa_secret(), "GBR", Err(ProducerKeyRevoked)).key(REVOKED_KEY),
        case("retracted product", usa_secret(), "GBR", Err(ProductRetracted)).product("T-9"),
        case("another product", usa_secret(), "GBR", usa_secret_in_gbr()).product("T-8"),
        case("no product id", usa_secret(), "GBR", usa_secret_in_gbr()).product(""),
        case("label of another policy", gbr("SECRET", &["GBR"]), "GBR", Err(UnknownPolicy)).from("USA"),
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
    vec![
        case("not releasable to GBR", usa("SECRET", &["FRA"]), "GBR", Err(NotReleasableToDestination)),
        case("releasable to nobody", usa("SECRET", &[]), "GBR", Err(NotReleasableToDestination)),
        case("above the ceiling", usa("TOP SECRET", &["GBR"]), "GBR", Err(ClassificationAboveLink)),
        case("unknown ceiling", usa_secret(), "GBR", Err(UnknownClassification)).ceiling("BOGUS"),
        case("French names on a TOP SECRET link", top, "FRA", top_ok).ceiling("TOP SECRET"),
        case("no DEU policy", usa("SECRET", &["DEU"]), "DEU", Err(UnknownPolicyVersion)),
        case("no translator for v2 labels", exercise.clone().in_version(2), "FRA", Err(NoTranslator)),
        case("no translator into USA v2", gbr("SECRET", &["USA"]), "USA", Err(NoTranslator)),
        case("translator still valid", exercise.clone(), "FRA", exercise_ok).at(T_100K - 1),
        case("translator expired", exercise.clone(), "FRA", Err(TranslatorNotValid)).at(T_100K),
        case("before GBR's revocation", usa_secret(), "GBR", usa_secret_in_gbr()).at(T_500K - 1),
        case("GBR revoked USA-GBR", usa_secret(), "GBR", Err(TranslatorRevoked)).at(T_500K),
        case("exercise data only", usa("UNCLASSIFIED", &["FRA"]), "FRA", Err(MissingRequiredCategory)),
        case("no ORCON to FRA", exercise.with_caveat("ORCON"), "FRA", Err(ForbiddenCategory)),
        case("GBR has no CONFIDENTIAL", usa("CONFIDENTIAL", &["GBR"]), "GBR", Err(UntranslatableClassification)),
        case("TOP SECRET unmapped", usa("TOP SECRET", &["GBR"]), "GBR", Err(UntranslatableClassification))
            .ceiling("TOP SECRET"),
        case("PROPIN unmapped", usa("SECRET", &["GBR"]).with_caveat("PROPIN"), "GBR", Err(UntranslatableCategory)),
        case("v2 forbids PROPIN", usa("SECRET", &["GBR"]).in_version(2).with_caveat("PROPIN"), "GBR",
            Err(ForbiddenCategory)),
    ]
}

/// Messages failing several rules: the first rule in the doc's order wins.
#[rustfmt::skip]
fn rule_order_cases() -> Vec<Case> {
    use DenyReason::*;
    let noforn = |l: Label| l.with_caveat("NOFORN");
    vec![
        case("suspended and UKEO", gbr("SECRET", &["FRA"]).with_caveat("UKEO"), "FRA", Err(PartnerSuspended))
            .at(T_100K),
        case("suspended, revoked key", gbr("OFFICIAL", &["FRA"]), "FRA", Err(PartnerSuspended))
            .at(T_100K).key(REVOKED_KEY),
        case("key revoked, product retracted", usa_secret(), "GBR", Err(ProducerKeyRevoked))
            .key(REVOKED_KEY).product("T-9"),
        case("retracted, other policy", gbr("SECRET", &["GBR"]), "GBR", Err(ProductRetracted))
            .from("USA").product("T-9"),
        case("other policy, unknown class", gbr("COSMIC", &["GBR"]), "GBR", Err(UnknownPolicy)).from("USA"),
        case("v3, unknown class", usa("COSMIC", &["GBR"]).in_version(3), "GBR", Err(UnknownPolicyVersion)),
        case("unknown class, unknown caveat", usa("COSMIC", &["GBR"]).with_caveat("EYES-ONLY"), "GBR",
            Err(UnknownClassification)),
        case("NOFORN, not releasable, above link", noforn(usa("TOP SECRET", &["FRA"])), "GBR",
            Err(CaveatForbidsRelease)),
        case("not releasable, above link", usa("TOP SECRET", &["FRA"]), "GBR", Err(NotReleasableToDestination)),
        case("above link, no DEU policy", usa("TOP SECRET", &["DEU"]), "DEU", Err(ClassificationAboveLink)),
        case("revoked, untranslatable", usa("CONFIDENTIAL", &["GBR"]), "GBR", Err(TranslatorRevoked))
            .at(T_500K),
        case("expired, required missing", usa("SECRET", &["FRA"]), "FRA", Err(TranslatorNotValid)).at(T_100K),
        case("required missing, forbidden", usa("SECRET", &["FRA"]).with_caveat("ORCON"), "FRA",
            Err(MissingRequiredCategory)),
        case("forbidden, untranslatable", usa("SECRET", &["FRA"]).with_caveat("ORCON")
            .with_caveat("PROPIN").with_informative("EXERCISE"), "FRA", Err(ForbiddenCategory)),
        case("class and caveat untranslatable", usa("CONFIDENTIAL", &["GBR"]).with_caveat("PROPIN"), "GBR",
            Err(UntranslatableClassification)),
    ]
}

#[test]
fn release_table() {
    let mut cases = cases_up_to_caveats();
    cases.extend(cases_from_releasability());
    let origin_ignored = case(
        "release does not read the origin",
        usa_secret(),
        "GBR",
        usa_secret_in_gbr(),
    );
    cases.push(origin_ignored.origin("FRA"));
    check(release_decision, false, cases);
}

#[test]
fn admit_table() {
    use DenyReason::*;
    let mut cases = cases_up_to_caveats();
    cases.extend(cases_from_releasability());
    cases.push(
        case(
            "arrived on FRA's link",
            usa_secret(),
            "GBR",
            Err(OriginMismatch),
        )
        .from("FRA")
        .origin("USA"),
    );
    cases.push(case("header says FRA", usa_secret(), "GBR", Err(OriginMismatch)).origin("FRA"));
    let suspended = case(
        "wrong link before suspension",
        gbr("OFFICIAL", &["FRA"]),
        "FRA",
        Err(OriginMismatch),
    );
    cases.push(suspended.at(T_100K).origin("USA"));
    check(admit_decision, true, cases);
}

#[test]
fn rules_apply_in_the_documented_order() {
    check(release_decision, false, rule_order_cases());
    check(admit_decision, true, rule_order_cases());
}

#[test]
fn translators_for_two_source_versions_cohabit() {
    let v1 = usa("SECRET", &["GBR"]).with_caveat("ORCON");
    let v2 = usa("SECRET", &["GBR"])
        .in_version(2)
        .with_caveat("REL-EXERCISE");
    let only_v1_revoked = [Event::RevokeTranslator {
        issuer: "GBR",
        id: "USA-GBR",
        version: 1,
        from_ms: 0,
    }];
    #[rustfmt::skip]
    let cases = [
        (&v1, &[][..], Ok(("USA-GBR@1", 1, "ORCON"))),
        (&v2, &[][..], Ok(("USA-GBR@2", 2, "EXERCISE-ONLY"))),
        (&v1, &only_v1_revoked[..], Err(DenyReason::TranslatorRevoked)),
        (&v2, &only_v1_revoked[..], Ok(("USA-GBR@2", 2, "EXERCISE-ONLY"))),
    ];
    for (label, events, want) in cases {
        let input = case("", label.clone(), "GBR", Err(DenyReason::NoTranslator)).input;
        let got = run(release_decision, &input, events).map(|t| {
            let caveat = t.label.caveats.first().cloned().unwrap_or_default();
            (
                t.translator,
                t.source_policy_version,
                t.target_policy_version,
                caveat,
            )
        });
        let want =
            want.map(|(name, source, caveat)| (name.to_string(), source, 1, caveat.to_string()));
        assert_eq!(got, want, "label {} after {events:?}", label.display());
    }
}

#[test]
fn either_nation_may_revoke_a_translator_but_not_a_third() {
    let input = case(
        "",
        usa("SECRET", &["GBR"]),
        "GBR",
        Err(DenyReason::NoTranslator),
    )
    .input;
    let revoked_by = |issuer, from_ms| {
        [Event::RevokeTranslator {
            issuer,
            id: "USA-GBR",
            version: 0,
            from_ms,
        }]
    };
    #[rustfmt::skip]
    let cases = [
        ("by the releasing nation", revoked_by("USA", 0), NOW, Err(DenyReason::TranslatorRevoked)),
        ("by the receiving nation", revoked_by("GBR", 0), NOW, Err(DenyReason::TranslatorRevoked)),
        ("by a third nation", revoked_by("FRA", 0), NOW, Ok("USA-GBR@1")),
        ("not yet in force", revoked_by("GBR", 2_000), 1_999, Ok("USA-GBR@1")),
        ("in force", revoked_by("GBR", 2_000), 2_000, Err(DenyReason::TranslatorRevoked)),
    ];
    for (name, events, now_ms, want) in cases {
        let input = Input {
            now_ms,
            ..input.clone()
        };
        for decision in [release_decision as Decision, admit_decision] {
            let got = run(decision, &input, &events).map(|t| t.translator);
            assert_eq!(got, want.map(String::from), "case: {name}");
        }
    }
}

/// The rules of the module doc, applied to the world's data. Rule 7 is
/// read per caveat in the label's (sorted) order, as the code does: the doc
/// does not say which reason wins when one caveat is unknown and another
/// forbids release.
fn model(admit: bool, input: &Input, events: &[Event]) -> Result<Translated, DenyReason> {
    use DenyReason::*;
    let (h, label, now) = (&input.header, &input.header.label, input.now_ms);
    let (from, to) = (input.from.as_str(), input.to.as_str());
    if admit && h.origin != from {
        return Err(OriginMismatch);
    }
    let suspends = |e: &Event| match *e {
        Event::Suspend {
            issuer,
            partner,
            from_ms,
        } => from_ms <= now && [issuer, partner].contains(&from) && [issuer, partner].contains(&to),
        _ => false,
    };
    if events.iter().any(suspends) {
        return Err(PartnerSuspended);
    }
    let revokes_key = |e: &Event| matches!(*e, Event::RevokeKey { from_ms } if from_ms <= now);
    if input.key == REVOKED_KEY && events.iter().any(revokes_key) {
        return Err(ProducerKeyRevoked);
    }
    let producer = (h.origin.as_str(), h.producer_id.as_str(), h.feed.as_str());
    let retracts = |e: &Event| match *e {
        Event::Retract { product, from_ms } => {
            from_ms <= now && producer == ("USA", "radar-1", "air") && h.product_id == product
        }
        _ => false,
    };
    if !h.product_id.is_empty() && events.iter().any(retracts) {
        return Err(ProductRetracted);
    }
    if label.policy_id != from {
        return Err(UnknownPolicy);
    }
    let source = POLICIES
        .iter()
        .find(|p| p.nation == from && p.version == label.policy_version);
    let source = source.ok_or(UnknownPolicyVersion)?;
    let position = |scale: &[&str], name: &str| scale.iter().position(|c| *c == name);
    let rank = position(source.scale, &label.classification).ok_or(UnknownClassification)?;
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
    if rank > position(source.scale, &input.ceiling).ok_or(UnknownClassification)? {
        return Err(ClassificationAboveLink);
    }
    let target = POLICIES
        .iter()
        .filter(|p| p.nation == to)
        .max_by_key(|p| p.version);
    let target = target.ok_or(UnknownPolicyVersion)?;
    let t = model_select(input, source.version, target.version, events)?;
    Ok(Translated {
        label: model_translate(t, label, target)?,
        translator: format!("{}@{}", t.id, t.version),
        source_policy_version: source.version,
        target_policy_version: target.version,
    })
}

/// Rule 10, first part: the highest version covering both policy versions
/// that is valid and not revoked; else revoked, else not valid, else none.
fn model_select(
    input: &Input,
    source: u32,
    target: u32,
    events: &[Event],
) -> Result<&'static TranslatorData, DenyReason> {
    let now = input.now_ms;
    let covers = |(min, max): (u32, u32), v: u32| min <= v && v <= max;
    let mut candidates: Vec<&TranslatorData> = TRANSLATORS
        .iter()
        .filter(|t| {
            t.from == input.from
                && t.to == input.to
                && covers(t.source, source)
                && covers(t.target, target)
        })
        .collect();
    candidates.sort_by_key(|t| (Reverse(t.version), t.id));
    let revoked = |t: &TranslatorData| {
        events.iter().any(|e| {
            matches!(*e, Event::RevokeTranslator { issuer, id, version, from_ms }
            if id == t.id && (version == 0 || version == t.version)
                && (issuer == t.from || issuer == t.to) && from_ms <= now)
        })
    };
    let valid = |t: &TranslatorData| t.valid.0 <= now && now < t.valid.1;
    match candidates.iter().copied().find(|t| valid(t) && !revoked(t)) {
        Some(t) => Ok(t),
        None if candidates.iter().any(|t| revoked(t)) => Err(DenyReason::TranslatorRevoked),
        None if candidates.is_empty() => Err(DenyReason::NoTranslator),
        None => Err(DenyReason::TranslatorNotValid),
    }
}

/// Rule 10, second part: required, forbidden, then the maps.
fn model_translate(
    t: &TranslatorData,
    label: &Label,
    target: &PolicyData,
) -> Result<Label, DenyReason> {
    use DenyReason::*;
    let carries = |c: &str| label.caveats.contains(c) || label.informative.contains(c);
    if !t.required.iter().all(|c| carries(c)) {
        return Err(MissingRequiredCategory);
    }
    if t.forbidden.iter().any(|c| carries(c)) {
        return Err(ForbiddenCategory);
    }
    let lookup = |map: Map, name: &str| map.iter().find(|(f, _)| *f == name).map(|(_, to)| *to);
    let classification = lookup(t.classifications, &label.classification)
        .filter(|c| target.scale.contains(c))
        .ok_or(UntranslatableClassification)?;
    let mut caveats = BTreeSet::new();
    for caveat in &label.caveats {
        let mapped =
            lookup(t.categories, caveat).filter(|c| target.caveats.iter().any(|(n, _)| n == c));
        caveats.insert(mapped.ok_or(UntranslatableCategory)?.to_string());
    }
    let informative = label
        .informative
        .iter()
        .filter_map(|i| lookup(t.categories, i));
    Ok(Label {
        policy_id: target.nation.into(),
        policy_version: target.version,
        classification: classification.into(),
        releasable_to: label.releasable_to.clone(),
        caveats,
        informative: informative
            .filter(|i| target.informative.contains(i))
            .map(String::from)
            .collect(),
    })
}

#[derive(Debug, Clone)]
struct Scenario {
    admit: bool,
    input: Input,
    events: Vec<Event>,
}

/// DEU last: it has no policy.
const NATIONS: [&str; 4] = ["USA", "GBR", "FRA", "DEU"];
const INSTANTS: [i64; 9] = [0, 1, NOW, 99_999, T_100K, 499_999, T_500K, 999_999, END];

/// A label in the vocabulary of one of `from`'s versions, with sometimes an
/// unknown version, classification or caveat.
fn arb_label(from: &'static str) -> impl Strategy<Value = Label> {
    use prop::sample::{select, subsequence};
    let policies = || POLICIES.iter().filter(move |p| p.nation == from);
    let latest = policies().max_by_key(|p| p.version).unwrap();
    let versions: Vec<u32> = policies().map(|p| p.version).collect();
    let version = prop_oneof![8 => select(versions), 1 => Just(0), 1 => Just(3)];
    let odd_class = select(vec!["COSMIC", "OFFICIAL", "CONFIDENTIAL"]);
    let class = prop_oneof![7 => select(latest.scale.to_vec()), 1 => odd_class];
    let caveat_names: Vec<&str> = latest
        .caveats
        .iter()
        .map(|(c, _)| *c)
        .chain(["EYES-ONLY"])
        .collect();
    let caveats = prop_oneof![
        Just(vec![]),
        prop::collection::vec(select(caveat_names), 1..=2)
    ];
    let category = prop_oneof![2 => Just("EXERCISE"), 1 => Just("OPNAME"), 1 => Just("TRAINING")];
    let informative = prop::collection::vec(category, 0..=2);
    let to = prop_oneof![Just(NATIONS.to_vec()), subsequence(NATIONS.to_vec(), 0..=4)];
    (version, class, caveats, informative, to).prop_map(move |(version, c, cv, i, to)| Label {
        policy_id: from.into(),
        classification: c.into(),
        releasable_to: strings(&to).into_iter().collect(),
        caveats: strings(&cv).into_iter().collect(),
        informative: strings(&i).into_iter().collect(),
        policy_version: version,
    })
}

/// Suspensions (at most one per issuer and partner), key revocation,
/// retraction and translator revocations by any nation, at any instant.
fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    use prop::sample::select;
    let instant = || select(INSTANTS.to_vec());
    let suspensions = prop::collection::btree_map((0usize..4, 1usize..4), instant(), 0..=2);
    let suspensions = suspensions.prop_map(|by_pair| {
        let suspend = |((i, k), from_ms): ((usize, usize), i64)| {
            let (issuer, partner) = (NATIONS[i], NATIONS[(i + k) % 4]);
            Event::Suspend {
                issuer,
                partner,
                from_ms,
            }
        };
        by_pair.into_iter().map(suspend).collect::<Vec<_>>()
    });
    let key = prop::option::of(instant().prop_map(|from_ms| Event::RevokeKey { from_ms }));
    let retract = (select(vec!["T-1", "T-9"]), instant())
        .prop_map(|(product, from_ms)| Event::Retract { product, from_ms });
    let ids = select(vec!["USA-GBR", "USA-FRA", "GBR-FRA", "GBR-USA"]);
    let translator = (select(NATIONS.to_vec()), ids, 0u32..=2, instant()).prop_map(
        |(issuer, id, version, from_ms)| Event::RevokeTranslator {
            issuer,
            id,
            version,
            from_ms,
        },
    );
    let translators = prop::collection::vec(translator, 0..=3);
    (suspensions, key, prop::option::of(retract), translators)
        .prop_map(|(s, k, r, t)| s.into_iter().chain(k).chain(r).chain(t).collect())
}

/// A crossing from USA or GBR, mostly to a nation with a policy, and a
/// message mostly of the releasing nation's policy and origin.
fn arb_scenario() -> impl Strategy<Value = Scenario> {
    use prop::sample::select;
    select(vec!["USA", "GBR"]).prop_flat_map(|from| {
        let others: Vec<&str> = NATIONS.iter().copied().filter(|n| *n != from).collect();
        let to = prop_oneof![6 => select(others[..2].to_vec()), 1 => Just("DEU")];
        let scale = POLICIES.iter().find(|p| p.nation == from).unwrap().scale;
        let ceiling = prop_oneof![7 => select(scale.to_vec()), 1 => Just("BOGUS")];
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
        (crossing, message, arb_events()).prop_map(move |(crossing, message, events)| {
            let (admit, to, ceiling, now_ms) = crossing;
            let (mut label, foreign, elsewhere, product, revoked_key) = message;
            let other = if from == "USA" { "GBR" } else { "USA" };
            if foreign {
                label.policy_id = other.into();
            }
            let mut header = header(if elsewhere { other } else { from }, label);
            header.product_id = product.into();
            let key = if revoked_key { REVOKED_KEY } else { GOOD_KEY };
            let (from, to, ceiling) = (from.into(), to.into(), ceiling.into());
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
                events,
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
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(proptest_cases()) })]

    #[test]
    fn decisions_agree_with_the_reference_model(s in arb_scenario()) {
        let decision: Decision = if s.admit { admit_decision } else { release_decision };
        prop_assert_eq!(run(decision, &s.input, &s.events), model(s.admit, &s.input, &s.events));
    }
}

#[test]
fn the_generator_reaches_every_outcome() {
    use DenyReason::*;
    let (strategy, mut runner) = (arb_scenario(), TestRunner::deterministic());
    let mut seen = BTreeSet::new();
    for _ in 0..20_000 {
        let s = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert(model(s.admit, &s.input, &s.events).map(|_| ()));
    }
    #[rustfmt::skip]
    let every = [OriginMismatch, PartnerSuspended, ProducerKeyRevoked, ProductRetracted, UnknownPolicy,
        UnknownPolicyVersion, UnknownClassification, UnknownCaveat, CaveatForbidsRelease,
        NotReleasableToDestination, ClassificationAboveLink, NoTranslator, TranslatorNotValid,
        TranslatorRevoked, MissingRequiredCategory, ForbiddenCategory, UntranslatableClassification,
        UntranslatableCategory];
    let missing: Vec<_> = every.iter().filter(|r| !seen.contains(&Err(**r))).collect();
    assert!(
        missing.is_empty() && seen.contains(&Ok(())),
        "never generated: {missing:?}, ok: {}",
        seen.contains(&Ok(()))
    );
}
