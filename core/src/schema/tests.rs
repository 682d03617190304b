//! Schema policy tests: `phase` and `check_version` across a window and its
//! boundaries, a window extended and rolled back through the book with no
//! restart, the default, signing, and what verification refuses.
use coalition_schemas::v1;
use prost::Message;

use super::*;
use crate::certificate::TrustAnchors;
use crate::envelope::MessageType;
use crate::keys::{Algorithm, SigningKeyPair};
use crate::signed::{sign_object, ObjectKind};
use crate::{CoreError, DenyReason};

// ---------------------------------------------------------------------------
// Policy: phase, check_version, the book, signing
// ---------------------------------------------------------------------------

/// Track v1 -> v2 with the dual-run window [1000, 2000).
fn migrating(window_start_ms: i64, window_end_ms: i64) -> SchemaRule {
    SchemaRule {
        message_type: MessageType::Track,
        current_version: 1,
        migration: Some(Migration {
            from_version: 1,
            to_version: 2,
            window_start_ms,
            window_end_ms,
        }),
    }
}

fn usa(version: u32, track: SchemaRule) -> SchemaPolicy {
    SchemaPolicy {
        nation: "USA".into(),
        version,
        rules: vec![track, SchemaRule::v1_only(MessageType::Alert)],
        issued_at_ms: 1_795_000_000_000,
    }
}

const BEFORE: Phase = Phase::Before { from: 1, to: 2 };
const DUAL: Phase = Phase::DualRun { from: 1, to: 2 };
const AFTER: Phase = Phase::After { from: 1, to: 2 };

#[test]
fn phase_follows_the_window_start_inclusive_end_exclusive() {
    let rule = migrating(1000, 2000);
    #[rustfmt::skip]
    let cases = [
        (i64::MIN, BEFORE), (999, BEFORE), (1000, DUAL), (1999, DUAL),
        (2000, AFTER), (i64::MAX, AFTER),
    ];
    for (now, expected) in cases {
        assert_eq!(phase(&rule, now), expected, "at {now}");
    }
    let still = SchemaRule::v1_only(MessageType::Track);
    assert_eq!(phase(&still, 1500), Phase::Only(1));
}

#[test]
fn check_version_permits_and_denies_with_the_reason() {
    use DenyReason::*;
    #[rustfmt::skip]
    let cases = [
        (Phase::Only(1), 1, Ok(())),
        (Phase::Only(1), 2, Err(UnknownSchemaVersion)),
        (Phase::Only(2), 1, Err(UnknownSchemaVersion)),
        (Phase::Only(1), 0, Err(UnknownSchemaVersion)),
        (BEFORE, 1, Ok(())),
        (BEFORE, 2, Err(SchemaVersionNotYetAccepted)),
        (BEFORE, 3, Err(UnknownSchemaVersion)),
        (DUAL, 1, Ok(())),
        (DUAL, 2, Ok(())),
        (DUAL, 3, Err(UnknownSchemaVersion)),
        (DUAL, 0, Err(UnknownSchemaVersion)),
        (AFTER, 2, Ok(())),
        (AFTER, 1, Err(SchemaVersionRetired)),
        (AFTER, 3, Err(UnknownSchemaVersion)),
    ];
    for (phase, version, expected) in cases {
        assert_eq!(
            check_version(&phase, version),
            expected,
            "{phase:?} v{version}"
        );
    }
}

#[test]
fn a_producer_on_each_version_across_the_boundaries() {
    use DenyReason::*;
    let rule = migrating(1000, 2000);
    #[rustfmt::skip]
    let cases = [
        (999, Ok(()), Err(SchemaVersionNotYetAccepted), vec![1]),
        (1000, Ok(()), Ok(()), vec![1, 2]),
        (1999, Ok(()), Ok(()), vec![1, 2]),
        (2000, Err(SchemaVersionRetired), Ok(()), vec![2]),
    ];
    for (now, v1_verdict, v2_verdict, served) in cases {
        let phase = phase(&rule, now);
        assert_eq!(check_version(&phase, 1), v1_verdict, "v1 at {now}");
        assert_eq!(check_version(&phase, 2), v2_verdict, "v2 at {now}");
        assert_eq!(versions_to_serve(&phase), served, "served at {now}");
    }
    assert_eq!(versions_to_serve(&Phase::Only(1)), vec![1]);
}

#[test]
fn a_newer_policy_extends_or_rolls_back_the_window_with_no_restart() {
    let book = SchemaBook::new();
    let now = 2500;
    let track_phase = |book: &SchemaBook| {
        let rule = book.rule("USA", MessageType::Track).unwrap();
        phase(&rule, now)
    };
    assert_eq!(
        track_phase(&book),
        Phase::Only(1),
        "no policy signed: v1 only"
    );
    let v1_only = SchemaRule::v1_only(MessageType::Track);
    #[rustfmt::skip]
    let steps = [
        ("window [1000, 2000): over", usa(1, migrating(1000, 2000)), true, AFTER),
        ("window extended to 3000", usa(2, migrating(1000, 3000)), true, DUAL),
        ("end moved back to 2000", usa(3, migrating(1000, 2000)), true, AFTER),
        ("migration removed", usa(4, v1_only), true, Phase::Only(1)),
        ("a late replay of v2 changes nothing", usa(2, migrating(1000, 3000)), false, Phase::Only(1)),
    ];
    for (name, policy, changed, expected) in steps {
        assert_eq!(book.insert(policy).unwrap(), changed, "{name}");
        assert_eq!(track_phase(&book), expected, "{name}");
    }
    assert_eq!(book.current("USA").unwrap().version, 4);
    let now_v2 = check_version(&track_phase(&book), 2);
    assert_eq!(now_v2, Err(DenyReason::UnknownSchemaVersion));
}

#[test]
fn the_book_refuses_rewrites_and_defaults_to_v1_only() {
    let book = SchemaBook::new();
    let v1_only = SchemaRule::v1_only(MessageType::Track);
    assert!(book.insert(usa(1, migrating(1000, 2000))).unwrap());
    assert!(book.insert(usa(4, v1_only)).unwrap());
    let mut reissued = usa(4, v1_only);
    reissued.issued_at_ms += 1;
    assert!(!book.insert(reissued).unwrap(), "same rules, new timestamp");
    let err = book
        .insert(usa(4, migrating(0, 1)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("USA v4 is already known with different rules"),
        "{err}"
    );
    let err = book.insert(usa(1, v1_only)).unwrap_err().to_string();
    assert!(
        err.contains("USA v1"),
        "an old version is kept to refuse a rewrite: {err}"
    );

    assert_eq!(
        book.rule("GBR", MessageType::Track),
        Some(v1_only),
        "GBR signed none"
    );
    let no_alerts = SchemaPolicy {
        rules: vec![v1_only],
        ..usa(5, v1_only)
    };
    assert!(book.insert(no_alerts).unwrap());
    let alerts = book.rule("USA", MessageType::Alert);
    assert_eq!(alerts, None, "no rule: nothing accepted");
}

#[test]
fn v1_only_is_the_default_and_cannot_be_signed() {
    let default = SchemaPolicy::v1_only("FRA");
    assert_eq!(default.version, 0);
    for message_type in [MessageType::Track, MessageType::Alert] {
        let rule = default.rule(message_type).unwrap();
        assert_eq!(phase(rule, 0), Phase::Only(1));
    }
    assert_eq!(known_versions(MessageType::Track), &[1, 2]);
    assert_eq!(known_versions(MessageType::Alert), &[1, 2]);
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "FRA root");
    let err = sign_schema_policy(&default, &root).unwrap_err().to_string();
    assert!(err.contains("version must be 1 or more"), "{err}");
}

#[test]
fn signed_schema_policy_verifies_and_tampering_or_a_wrong_key_fails() {
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let impostor = SigningKeyPair::generate(Algorithm::MlDsa65, "impostor");
    let mut anchors = TrustAnchors::new();
    anchors.insert("USA".into(), root.public_key().clone());
    let policy = usa(2, migrating(1000, 2000));
    let signed = sign_schema_policy(&policy, &root).unwrap();
    assert_eq!(verify_schema_policy(&signed, &anchors).unwrap(), policy);

    let mut tampered = signed.clone();
    let mut doc = v1::SchemaPolicyDocument::decode(tampered.body.as_ref()).unwrap();
    doc.rules[0].migration.as_mut().unwrap().window_end_ms = 9_000;
    tampered.body = doc.encode_to_vec().into();
    let err = verify_schema_policy(&tampered, &anchors)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not verify"), "{err}");

    let forged = sign_schema_policy(&policy, &impostor).unwrap();
    let err = verify_schema_policy(&forged, &anchors)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not signed by USA's root"), "{err}");

    // The same body signed as a nation policy document: another context.
    let body = policy.to_document().encode_to_vec();
    let as_policy = sign_object(ObjectKind::Policy, body, "USA", &root, None).unwrap();
    assert!(verify_schema_policy(&as_policy, &anchors).is_err());

    let mut garbage = signed;
    garbage.body = vec![0xff, 0xff].into();
    let err = verify_schema_policy(&garbage, &anchors)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid schema policy: body does not decode"),
        "{err}"
    );
}

#[test]
fn malformed_documents_are_refused_with_a_precise_reason() {
    let good = || usa(1, migrating(1000, 2000)).to_document();
    type Edit = fn(&mut v1::SchemaPolicyDocument);
    #[rustfmt::skip]
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("no nation", |d| d.nation.clear(), "no nation"),
        ("version 0", |d| d.version = 0, "USA: version must be 1 or more"),
        ("empty window", |d| d.rules[0].migration.as_mut().unwrap().window_end_ms = 1000,
            "USA v1: track migration window end 1000 is not after its start 1000"),
        ("window ends before it starts", |d| d.rules[0].migration.as_mut().unwrap().window_end_ms = 10,
            "window end 10 is not after its start 1000"),
        ("from == to", |d| d.rules[0].migration.as_mut().unwrap().to_version = 1,
            "track migration from v1 to v1: the versions must differ"),
        ("a type listed twice", |d| d.rules[1].message_type = v1::MessageType::Track as i32,
            "USA v1: track is listed twice"),
        ("unspecified type", |d| d.rules[1].message_type = 0, "message type 0 is not track or alert"),
        ("unknown type", |d| d.rules[1].message_type = 7, "message type 7 is not track or alert"),
        ("current version 0", |d| d.rules[1].current_version = 0,
            "alert current_version is 0; versions start at 1"),
        ("track v3 does not exist", |d| d.rules[0].migration.as_mut().unwrap().to_version = 3,
            "track migration to_version 3 does not exist (known: [1, 2])"),
        ("alert v3 does not exist", |d| d.rules[1].current_version = 3,
            "alert current_version 3 does not exist (known: [1, 2])"),
        ("current is not the migration's from", |d| d.rules[0].current_version = 2,
            "track current_version 2 must equal the migration's from_version 1"),
    ];
    assert!(SchemaPolicy::try_from(good()).is_ok());
    for (name, edit, expected) in cases {
        let mut doc = good();
        edit(&mut doc);
        let err = SchemaPolicy::try_from(doc).expect_err(name);
        assert!(
            matches!(
                err,
                CoreError::InvalidObject {
                    kind: "schema policy",
                    ..
                }
            ),
            "{name}"
        );
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
}
