//! Revocation state tests: epochs and replays, who may revoke what, when a
//! notice is in force, suspension and reinstatement, freshness, and the
//! signatures on heartbeats (on notices: `authority/tests.rs`).
use std::collections::BTreeMap;

use bytes::Bytes;

use super::*;
use crate::certificate::{issue_certificate, CertificateRequest};
use crate::keys::Algorithm;

const KEY: [u8; 32] = [7; 32];

fn notice(issuer: &str, epoch: u64, effective_from_ms: i64, revoked: Revoked) -> Notice {
    Notice {
        issuer: issuer.into(),
        epoch,
        effective_from_ms,
        issued_at_ms: 0,
        reason: "test".into(),
        revoked,
    }
}

fn suspend(partner: &str) -> Revoked {
    Revoked::SuspendPartner(partner.into())
}

fn reinstate(partner: &str) -> Revoked {
    Revoked::ReinstatePartner(partner.into())
}

fn revoke_translator(id: &str, version: u32) -> Revoked {
    Revoked::Translator {
        id: id.into(),
        version,
    }
}

fn revoke_key(nation: &str) -> Revoked {
    Revoked::ProducerKey {
        nation: nation.into(),
        producer_id: "radar-1".into(),
        key_sha256: KEY,
    }
}

fn product(origin: &str, product_id: &str) -> ProductKey {
    ProductKey {
        origin: origin.into(),
        producer_id: "radar-1".into(),
        feed: "air".into(),
        product_id: product_id.into(),
    }
}

/// A well-formed translator from `from` to `to` (only the fields the
/// revocation state reads matter).
fn translator(id: &str, version: u32, from: &str, to: &str) -> Translator {
    Translator {
        id: id.into(),
        version,
        from: from.into(),
        to: to.into(),
        source_versions: 1..=1,
        target_versions: 1..=1,
        classifications: BTreeMap::new(),
        categories: BTreeMap::new(),
        required: Default::default(),
        forbidden: Default::default(),
        not_before_ms: 0,
        not_after_ms: i64::MAX,
    }
}

fn state_with(notices: &[Notice]) -> RevocationState {
    let state = RevocationState::new();
    for n in notices {
        assert_eq!(state.apply(n), Applied::New, "{}", n.summary());
    }
    state
}

#[test]
fn apply_is_idempotent_by_epoch_per_issuer() {
    let state = RevocationState::new();
    let steps = [
        ("first notice", "USA", 1, Applied::New),
        ("same epoch again", "USA", 1, Applied::Replay),
        ("a gap is accepted", "USA", 3, Applied::New),
        (
            "a lower epoch arriving late is applied",
            "USA",
            2,
            Applied::New,
        ),
        ("and only once", "USA", 2, Applied::Replay),
        ("epochs are per issuer", "GBR", 1, Applied::New),
        ("next GBR epoch", "GBR", 2, Applied::New),
        ("USA goes on", "USA", 4, Applied::New),
    ];
    for (name, issuer, epoch, want) in steps {
        let n = notice(issuer, epoch, 0, suspend("FRA"));
        assert_eq!(state.apply(&n), want, "step: {name}");
    }
    assert_eq!(state.epoch("USA"), 4);
    assert_eq!(state.epoch("GBR"), 2);
    assert_eq!(state.epoch("FRA"), 0);
}

#[test]
fn a_replayed_notice_changes_nothing() {
    let state = state_with(&[notice("USA", 5, 0, reinstate("GBR"))]);
    // An older suspension arriving late is applied, but the later
    // reinstatement still decides.
    assert_eq!(
        state.apply(&notice("USA", 4, 0, suspend("GBR"))),
        Applied::New
    );
    assert_eq!(
        state.apply(&notice("USA", 5, 0, revoke_key("USA"))),
        Applied::Replay
    );
    assert!(!state.is_suspended("USA", "GBR", 10));
    assert!(!state.is_key_revoked("USA", &KEY, 10));
}

/// A notice of `issuer`, epoch 1, in force from 0.
fn by(issuer: &str, revoked: Revoked) -> Notice {
    notice(issuer, 1, 0, revoked)
}

fn from_wire_result(wire: v1::RevocationNotice) -> Result<Notice, String> {
    Notice::from_wire(wire).map_err(|e| e.to_string())
}

#[test]
fn from_wire_checks_the_issuers_authority() {
    let retract = |origin, id| Revoked::Product(product(origin, id));
    #[rustfmt::skip]
    let cases: Vec<(&str, Notice, Result<(), &str>)> = vec![
        ("own producer key",      by("USA", revoke_key("USA")),     Ok(())),
        ("others' producer key",  by("GBR", revoke_key("USA")),     Err("only USA may revoke")),
        ("own product",           by("USA", retract("USA", "T-1")), Ok(())),
        ("others' product",       by("FRA", retract("USA", "T-1")), Err("only USA may retract")),
        ("no product id",         by("USA", retract("USA", "")),    Err("product id is empty")),
        ("suspending a partner",  by("USA", suspend("GBR")),        Ok(())),
        ("reinstating a partner", by("USA", reinstate("GBR")),      Ok(())),
        ("suspending oneself",    by("USA", suspend("USA")),        Err("names the issuer itself")),
        ("reinstating oneself",   by("USA", reinstate("USA")),      Err("names the issuer itself")),
        ("suspending nobody",     by("USA", suspend("")),           Err("target is empty")),
        ("a third nation names a translator (authority is checked on use)",
                                  by("FRA", revoke_translator("USA-GBR", 0)), Ok(())),
        ("no translator id",      by("USA", revoke_translator("", 1)), Err("target is empty")),
        ("epoch 0",               notice("USA", 0, 0, suspend("GBR")), Err("epoch of 1 or more")),
        ("no issuer",             by("", suspend("GBR")),           Err("needs an issuer")),
    ];
    for (name, n, want) in cases {
        match (from_wire_result(n.to_wire()), want) {
            (Ok(back), Ok(())) => assert_eq!(back, n, "case: {name} must round-trip"),
            (Err(e), Err(text)) => assert!(e.contains(text), "case: {name}: {e}"),
            (got, want) => panic!("case: {name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn from_wire_refuses_a_missing_target_or_a_short_key_digest() {
    use v1::revocation_notice::Target;
    let mut wire = by("USA", revoke_key("USA")).to_wire();
    if let Some(Target::ProducerKey(k)) = &mut wire.target {
        k.key_sha256 = k.key_sha256.slice(1..);
    }
    let err = from_wire_result(wire.clone()).unwrap_err();
    assert!(err.contains("USA#1: key_sha256 must be 32 bytes"), "{err}");
    wire.target = None;
    let err = from_wire_result(wire).unwrap_err();
    assert!(err.contains("revokes nothing"), "{err}");
}

#[test]
fn suspension_stops_both_directions_and_only_between_the_two() {
    let state = state_with(&[notice("USA", 1, 100, suspend("GBR"))]);
    let cases = [
        ("suspender to partner", "USA", "GBR", 100, true),
        ("partner to suspender", "GBR", "USA", 100, true),
        ("later", "GBR", "USA", 1_000_000, true),
        ("before it takes effect", "USA", "GBR", 99, false),
        ("suspender and a third nation", "USA", "FRA", 100, false),
        ("partner and a third nation", "GBR", "FRA", 100, false),
    ];
    for (name, a, b, now, want) in cases {
        assert_eq!(state.is_suspended(a, b, now), want, "case: {name}");
    }
}

#[test]
fn reinstatement_lifts_only_the_same_issuers_suspension() {
    let state = state_with(&[
        notice("USA", 1, 0, suspend("GBR")),
        notice("USA", 2, 50, reinstate("GBR")),
    ]);
    assert!(
        !state.is_suspended("USA", "GBR", 50),
        "lifted by the higher epoch"
    );
    assert!(!state.is_suspended("GBR", "USA", 50));
    state.apply(&notice("USA", 3, 60, suspend("GBR")));
    assert!(state.is_suspended("GBR", "USA", 60), "suspended again");

    let both = state_with(&[
        notice("USA", 1, 0, suspend("GBR")),
        notice("GBR", 1, 0, suspend("USA")),
        notice("USA", 2, 0, reinstate("GBR")),
    ]);
    assert!(
        both.is_suspended("USA", "GBR", 1),
        "GBR's own suspension stands until GBR reinstates"
    );
    both.apply(&notice("GBR", 2, 0, reinstate("USA")));
    assert!(!both.is_suspended("USA", "GBR", 1));
}

#[test]
fn a_notice_not_yet_in_force_does_not_lift_one_in_force() {
    let reinstated_later = state_with(&[
        notice("USA", 1, 100, suspend("GBR")),
        notice("USA", 2, 500, reinstate("GBR")),
    ]);
    assert!(
        reinstated_later.is_suspended("USA", "GBR", 200),
        "reinstatement not in force yet"
    );
    assert!(!reinstated_later.is_suspended("USA", "GBR", 500));

    let suspended_again_later = state_with(&[
        notice("USA", 1, 100, suspend("GBR")),
        notice("USA", 2, 500, suspend("GBR")),
    ]);
    assert!(suspended_again_later.is_suspended("USA", "GBR", 200));
}

#[test]
fn every_kind_of_notice_is_in_force_from_its_effective_instant() {
    let t = translator("USA-GBR", 1, "USA", "GBR");
    let state = state_with(&[
        notice("USA", 1, 1_000, revoke_key("USA")),
        notice("USA", 2, 1_000, Revoked::Product(product("USA", "T-9"))),
        notice("USA", 3, 1_000, suspend("GBR")),
        notice("GBR", 1, 1_000, revoke_translator("USA-GBR", 1)),
    ]);
    let t9 = product("USA", "T-9");
    for (now, want) in [
        (i64::MIN, false),
        (999, false),
        (1_000, true),
        (i64::MAX, true),
    ] {
        let got = (
            state.is_key_revoked("USA", &KEY, now),
            state.is_product_retracted(&t9, now),
            state.is_suspended("USA", "GBR", now),
            state.is_translator_revoked(&t, now),
        );
        assert_eq!(
            got,
            (want, want, want, want),
            "key, product, suspension, translator at {now}"
        );
    }
    assert!(!state.is_key_revoked("USA", &[8; 32], 2_000), "another key");
    assert!(
        !state.is_product_retracted(&product("USA", "T-8"), 2_000),
        "another product"
    );
    let other_feed = ProductKey {
        feed: "surface".into(),
        ..t9.clone()
    };
    assert!(
        !state.is_product_retracted(&other_feed, 2_000),
        "same id, another feed"
    );
}

#[test]
fn the_earliest_effective_instant_of_a_key_or_product_revocation_wins() {
    let t9 = product("USA", "T-9");
    let state = state_with(&[
        notice("USA", 1, 500, revoke_key("USA")),
        notice("USA", 2, 900, revoke_key("USA")),
        notice("USA", 3, 900, Revoked::Product(t9.clone())),
        notice("USA", 4, 500, Revoked::Product(t9.clone())),
    ]);
    assert!(state.is_key_revoked("USA", &KEY, 500));
    assert!(state.is_product_retracted(&t9, 500));
}

#[test]
fn translator_revocation_is_unilateral_but_only_by_its_two_nations() {
    let v1 = translator("USA-GBR", 1, "USA", "GBR");
    let v2 = translator("USA-GBR", 2, "USA", "GBR");
    let cases = [
        ("by the from nation, every version", "USA", 0, true, true),
        ("by the to nation, every version", "GBR", 0, true, true),
        ("by the to nation, version 1 only", "GBR", 1, true, false),
        ("by the from nation, version 2 only", "USA", 2, false, true),
        ("by a third nation", "FRA", 0, false, false),
        (
            "by a third nation, naming the version",
            "FRA",
            1,
            false,
            false,
        ),
    ];
    for (name, issuer, version, want_v1, want_v2) in cases {
        let state = state_with(&[notice(issuer, 1, 0, revoke_translator("USA-GBR", version))]);
        assert_eq!(
            state.is_translator_revoked(&v1, 0),
            want_v1,
            "case: {name} (v1)"
        );
        assert_eq!(
            state.is_translator_revoked(&v2, 0),
            want_v2,
            "case: {name} (v2)"
        );
    }
    let state = state_with(&[notice("GBR", 1, 0, revoke_translator("USA-GBR", 0))]);
    let other_id = translator("USA-GBR-EXERCISE", 1, "USA", "GBR");
    assert!(
        !state.is_translator_revoked(&other_id, 0),
        "another id of the same pair"
    );
}

/// A case name, the last heartbeat from USA, the USA epoch applied here,
/// now, and `None` if fresh or why stale.
type FreshnessCase = (
    &'static str,
    Option<Heartbeat>,
    u64,
    i64,
    Option<&'static str>,
);

#[test]
fn freshness_table() {
    let hb = |epoch, issued_at_ms| {
        Some(Heartbeat {
            epoch,
            issued_at_ms,
        })
    };
    #[rustfmt::skip]
    let cases: [FreshnessCase; 7] = [
        ("no heartbeat",              None,            0, 0,     Some("no heartbeat from USA yet")),
        ("recent, nothing to apply",  hb(0, 1_000),    0, 1_500, None),
        ("recent, epoch applied",     hb(3, 1_000),    3, 1_500, None),
        ("applied beyond its epoch",  hb(2, 1_000),    3, 1_500, None),
        ("exactly at the age bound",  hb(3, 1_000),    3, 6_000, None),
        ("one ms too old",            hb(3, 1_000),    3, 6_001, Some("5001 ms old (bound 5000")),
        ("epoch not applied here",    hb(4, 1_000),    3, 1_500,
            Some("USA is at revocation epoch 4, applied here: 3")),
    ];
    for (name, heartbeat, applied, now, want) in cases {
        let state = RevocationState::new();
        for epoch in 1..=applied {
            state.apply(&notice("USA", epoch, 0, suspend("FRA")));
        }
        if let Some(h) = heartbeat {
            state.heartbeat("USA", h);
        }
        match (state.freshness("USA", now, 5_000), want) {
            (Freshness::Fresh, None) => {}
            (Freshness::Stale(why), Some(text)) => {
                assert!(why.contains(text), "case: {name}: {why}")
            }
            (got, want) => panic!("case: {name}: got {got:?}, want stale because {want:?}"),
        }
    }
}

#[test]
fn an_older_heartbeat_does_not_replace_a_newer_one() {
    let state = RevocationState::new();
    state.heartbeat(
        "USA",
        Heartbeat {
            epoch: 0,
            issued_at_ms: 2_000,
        },
    );
    state.heartbeat(
        "USA",
        Heartbeat {
            epoch: 0,
            issued_at_ms: 1_000,
        },
    );
    assert_eq!(state.freshness("USA", 6_500, 5_000), Freshness::Fresh);
    assert!(
        matches!(state.freshness("GBR", 6_500, 5_000), Freshness::Stale(_)),
        "per issuer"
    );
}

#[test]
fn a_view_missing_a_lower_epoch_is_not_fresh_until_it_arrives() {
    let state = RevocationState::new();
    state.apply(&notice("USA", 1, 0, suspend("FRA")));
    state.apply(&notice("USA", 3, 0, suspend("DEU")));
    state.heartbeat(
        "USA",
        Heartbeat {
            epoch: 3,
            issued_at_ms: 1_000,
        },
    );
    assert_eq!(state.epoch("USA"), 1, "epoch 2 is missing");
    assert!(matches!(
        state.freshness("USA", 1_000, 5_000),
        Freshness::Stale(_)
    ));
    // USA#2 arrives late: it is applied, not taken for a replay.
    assert_eq!(
        state.apply(&notice("USA", 2, 0, revoke_key("USA"))),
        Applied::New
    );
    assert_eq!(state.epoch("USA"), 3);
    assert!(state.is_key_revoked("USA", &KEY, 1_000));
    assert_eq!(state.freshness("USA", 1_000, 5_000), Freshness::Fresh);
    assert_eq!(
        state.apply(&notice("USA", 2, 0, revoke_key("USA"))),
        Applied::Replay
    );
}

fn root(owner: &str) -> SigningKeyPair {
    SigningKeyPair::generate(Algorithm::MlDsa65, owner)
}

fn anchors(roots: &[(&str, &SigningKeyPair)]) -> TrustAnchors {
    roots
        .iter()
        .map(|(nation, key)| (nation.to_string(), key.public_key().clone()))
        .collect()
}

fn certified(nation: &str, producer_id: &str, root: &SigningKeyPair) -> (SigningKeyPair, Bytes) {
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, &format!("{nation} {producer_id}"));
    let request = CertificateRequest {
        nation: nation.into(),
        producer_id: producer_id.into(),
        public_key: key.public_key().clone(),
        not_before_ms: 0,
        not_after_ms: 10_000,
        feeds: vec!["control".into()],
        max_classification: "UNCLASSIFIED".into(),
    };
    let certificate = issue_certificate(root, &request).unwrap();
    (key, certificate)
}

#[test]
fn heartbeats_verify_only_from_a_certified_bridge_key_of_their_issuer() {
    let (usa, gbr) = (root("USA root"), root("GBR root"));
    let anchors = anchors(&[("USA", &usa), ("GBR", &gbr)]);
    let beat = Heartbeat {
        epoch: 12,
        issued_at_ms: 5_000,
    };
    let sign = |key: &SigningKeyPair, cert: &Bytes| {
        sign_heartbeat("USA", beat, key, cert.clone()).unwrap()
    };
    let (bridge, bridge_cert) = certified("USA", BRIDGE_IDENTITY, &usa);
    let signed = sign(&bridge, &bridge_cert);
    let got = verify_heartbeat(&signed, &anchors, 5_000).unwrap();
    assert_eq!(got, ("USA".to_string(), beat));

    let (radar, radar_cert) = certified("USA", "radar-1", &usa);
    let (gbr_bridge, gbr_cert) = certified("GBR", BRIDGE_IDENTITY, &gbr);
    let mut tampered = signed.clone();
    let mut body = v1::Heartbeat::decode(tampered.body.as_ref()).unwrap();
    body.epoch = 11;
    tampered.body = body.encode_to_vec().into();
    let by_root = sign_object(
        ObjectKind::Heartbeat,
        signed.body.to_vec(),
        "USA",
        &usa,
        None,
    )
    .unwrap();
    #[rustfmt::skip]
    let refusals = [
        ("a producer's certificate", sign(&radar, &radar_cert), 5_000,
            "is for USA/radar-1, expected USA/bridge"),
        ("GBR's bridge speaking for USA", sign(&gbr_bridge, &gbr_cert), 5_000,
            "is for GBR/bridge, expected USA/bridge"),
        ("certificate expired", signed.clone(), 10_000, "not valid at 10000 ms"),
        ("another key, same certificate", sign(&root("x"), &bridge_cert), 5_000,
            "signature does not verify"),
        ("epoch changed after signing", tampered, 5_000, "signature does not verify"),
        ("the root itself, no certificate", by_root, 5_000, "no certified signature of USA"),
    ];
    for (name, object, now, text) in refusals {
        let err = verify_heartbeat(&object, &anchors, now)
            .unwrap_err()
            .to_string();
        assert!(err.contains(text), "case: {name}: {err}");
    }
}

#[test]
fn a_heartbeat_dated_at_the_ends_of_time_is_stale_not_a_panic() {
    // Found by fuzzing: `issued_at_ms` is signed but otherwise unchecked,
    // and `now - issued_at` overflowed for a date near i64::MIN.
    for issued_at_ms in [i64::MIN, i64::MIN + 1, i64::MAX] {
        let state = RevocationState::new();
        state.heartbeat(
            "USA",
            Heartbeat {
                epoch: 0,
                issued_at_ms,
            },
        );
        assert!(
            matches!(state.freshness("USA", 1_000, 5_000), Freshness::Stale(_)),
            "{issued_at_ms}"
        );
    }
}
