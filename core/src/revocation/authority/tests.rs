//! Who may sign a notice: permit/deny tables over the revocation authority,
//! the root's emergency path, certificates of the wrong identity, nation or
//! time, and an authority key revoked at an earlier epoch.
use bytes::Bytes;

use super::*;
use crate::certificate::{issue_certificate, CertificateRequest};
use crate::keys::Algorithm;
use crate::revocation::{Applied, ProductKey, Revoked, BRIDGE_IDENTITY};

/// Certificates below are valid over [CERT_FROM, CERT_UNTIL).
const CERT_FROM: i64 = 1_000;
const CERT_UNTIL: i64 = 100_000;

fn key(owner: &str) -> SigningKeyPair {
    SigningKeyPair::generate(Algorithm::MlDsa65, owner)
}

/// A key `root` certified as `nation`/`identity` over [from, until).
fn certify(
    root: &SigningKeyPair,
    nation: &str,
    identity: &str,
    from: i64,
    until: i64,
) -> CertifiedKey {
    let key = key(&format!("{nation}/{identity}"));
    let request = CertificateRequest {
        nation: nation.into(),
        producer_id: identity.into(),
        public_key: key.public_key().clone(),
        not_before_ms: from,
        not_after_ms: until,
        feeds: vec!["control".into()],
        max_classification: String::new(),
    };
    CertifiedKey {
        nation: nation.into(),
        certificate: issue_certificate(root, &request).unwrap(),
        key,
    }
}

/// A product retraction by USA at `epoch`, issued at `issued_at_ms`.
fn usa_notice(epoch: u64, issued_at_ms: i64) -> Notice {
    Notice {
        issuer: "USA".into(),
        epoch,
        effective_from_ms: issued_at_ms,
        issued_at_ms,
        reason: "test".into(),
        revoked: Revoked::Product(ProductKey {
            origin: "USA".into(),
            producer_id: "radar-1".into(),
            feed: "tracks".into(),
            product_id: format!("T-{epoch}"),
        }),
    }
}

/// A notice of USA at `epoch` revoking `key`'s key.
fn revoking(key: &CertifiedKey, epoch: u64) -> Notice {
    Notice {
        revoked: Revoked::ProducerKey {
            nation: "USA".into(),
            producer_id: REVOCATION_AUTHORITY_IDENTITY.into(),
            key_sha256: *key.key.public_key().id(),
        },
        ..usa_notice(epoch, 5_000)
    }
}

struct World {
    usa_root: SigningKeyPair,
    gbr_root: SigningKeyPair,
    anchors: TrustAnchors,
    /// USA's revocation authority.
    authority: CertifiedKey,
}

fn world() -> World {
    let (usa_root, gbr_root) = (key("USA root"), key("GBR root"));
    let anchors = [
        ("USA".to_string(), usa_root.public_key().clone()),
        ("GBR".to_string(), gbr_root.public_key().clone()),
    ]
    .into_iter()
    .collect();
    let authority = certify(
        &usa_root,
        "USA",
        REVOCATION_AUTHORITY_IDENTITY,
        CERT_FROM,
        CERT_UNTIL,
    );
    World {
        usa_root,
        gbr_root,
        anchors,
        authority,
    }
}

fn sign(notice: &Notice, signer: NoticeSigner<'_>) -> v1::SignedObject {
    sign_notice(notice, signer).unwrap()
}

/// `key` signing `notice` as USA (so a key of the wrong identity or
/// nation can be tried: `sign_notice` refuses another nation's authority).
fn sign_as_usa(notice: &Notice, key: &CertifiedKey) -> v1::SignedObject {
    let body = notice.to_wire().encode_to_vec();
    let certificate = Some(key.certificate.clone());
    sign_object(ObjectKind::Notice, body, "USA", &key.key, certificate).unwrap()
}

#[test]
fn the_revocation_authority_and_the_root_may_sign_their_nations_notices() {
    let w = world();
    let state = RevocationState::new();
    let n = usa_notice(4, 5_000);
    #[rustfmt::skip]
    let permits = [
        ("USA's revocation authority", sign(&n, NoticeSigner::Authority(&w.authority))),
        ("USA's root (emergency)", sign(&n, NoticeSigner::Root(&w.usa_root))),
        ("at the first instant of the certificate",
            sign(&usa_notice(4, CERT_FROM), NoticeSigner::Authority(&w.authority))),
    ];
    for (name, object) in permits {
        let got = verify_notice(&object, &w.anchors, &state);
        assert!(got.is_ok(), "case: {name}: {got:?}");
        assert_eq!(got.unwrap().epoch, 4, "case: {name}");
    }
    // The check reads no clock: a notice signed while its certificate was
    // valid verifies as well when it is read again long after.
    let old = sign(&n, NoticeSigner::Authority(&w.authority));
    assert_eq!(verify_notice(&old, &w.anchors, &state).unwrap(), n);
}

#[test]
fn other_keys_may_not_sign_a_nations_notices() {
    let w = world();
    let state = RevocationState::new();
    let n = usa_notice(4, 5_000);
    let (from, until) = (CERT_FROM, CERT_UNTIL);
    let usa_bridge = certify(&w.usa_root, "USA", BRIDGE_IDENTITY, from, until);
    let usa_radar = certify(&w.usa_root, "USA", "radar-1", from, until);
    let gbr_authority = certify(
        &w.gbr_root,
        "GBR",
        REVOCATION_AUTHORITY_IDENTITY,
        from,
        until,
    );
    // GBR's root certifying a "USA" authority: not USA's root.
    let forged = certify(
        &w.gbr_root,
        "USA",
        REVOCATION_AUTHORITY_IDENTITY,
        from,
        until,
    );
    let mut tampered = sign(&n, NoticeSigner::Authority(&w.authority));
    let mut wire = v1::RevocationNotice::decode(tampered.body.as_ref()).unwrap();
    wire.effective_from_ms = 1_000_000;
    tampered.body = wire.encode_to_vec().into();
    let mut no_certificate = sign(&n, NoticeSigner::Authority(&w.authority));
    no_certificate.signatures[0].certificate = Bytes::new();
    let gbr_says = Notice {
        issuer: "GBR".into(),
        ..revoking(&w.authority, 4)
    };
    let unauthorised = sign(&gbr_says, NoticeSigner::Root(&w.gbr_root));
    #[rustfmt::skip]
    let refusals = [
        ("USA's bridge key", sign_as_usa(&n, &usa_bridge),
            "is for USA/bridge, expected USA/revocation-authority"),
        ("a USA producer's key", sign_as_usa(&n, &usa_radar),
            "is for USA/radar-1, expected USA/revocation-authority"),
        ("GBR's revocation authority", sign_as_usa(&n, &gbr_authority),
            "is for GBR/revocation-authority, expected USA/revocation-authority"),
        ("an authority certified by GBR's root", sign_as_usa(&n, &forged),
            "signer certificate: unknown_issuer"),
        ("GBR's root", sign(&n, NoticeSigner::Root(&w.gbr_root)),
            "USA#4: signed neither by USA's revocation authority nor by its root key"),
        ("the authority's key without its certificate", no_certificate,
            "signed neither by USA's revocation authority nor by its root key"),
        ("changed after signing", tampered, "USA#4: signature does not verify"),
        ("a valid signature does not confer authority", unauthorised,
            "only USA may revoke USA's producer keys"),
    ];
    for (name, object, text) in refusals {
        let err = verify_notice(&object, &w.anchors, &state)
            .unwrap_err()
            .to_string();
        assert!(err.contains(text), "case: {name}: {err}");
    }
    let signed = sign(&n, NoticeSigner::Authority(&w.authority));
    let err = verify_notice(&signed, &TrustAnchors::new(), &state).unwrap_err();
    assert!(err.to_string().contains("no trust anchor for USA"), "{err}");
    // The signing side refuses another nation's authority too.
    let err = sign_notice(&n, NoticeSigner::Authority(&gbr_authority)).unwrap_err();
    assert!(
        err.to_string()
            .contains("GBR's revocation authority cannot sign for USA"),
        "{err}"
    );
}

#[test]
fn an_authority_certificate_counts_only_at_the_notices_issue_instant() {
    let w = world();
    let state = RevocationState::new();
    #[rustfmt::skip]
    let cases = [
        ("before its certificate", CERT_FROM - 1, Some("is not valid at 999 ms")),
        ("first instant", CERT_FROM, None),
        ("last instant", CERT_UNTIL - 1, None),
        ("at its expiry (exclusive)", CERT_UNTIL, Some("is not valid at 100000 ms")),
        ("long after", CERT_UNTIL * 10, Some("valid from 1000 until 100000 ms")),
    ];
    for (name, issued_at, refusal) in cases {
        let signed = sign(
            &usa_notice(2, issued_at),
            NoticeSigner::Authority(&w.authority),
        );
        match (verify_notice(&signed, &w.anchors, &state), refusal) {
            (Ok(_), None) => {}
            (Err(e), Some(text)) => assert!(e.to_string().contains(text), "case: {name}: {e}"),
            (got, want) => panic!("case: {name}: got {got:?}, want refusal {want:?}"),
        }
    }
    // The root's emergency signature has no certificate to expire.
    let late = sign(
        &usa_notice(2, CERT_UNTIL * 10),
        NoticeSigner::Root(&w.usa_root),
    );
    assert!(verify_notice(&late, &w.anchors, &state).is_ok());
}

#[test]
fn a_revoked_authority_signs_nothing_at_a_later_epoch_but_the_root_still_does() {
    let w = world();
    let state = RevocationState::new();
    // USA#5, signed by the root, revokes the authority's key; in force
    // from far in the future, which does not matter for notices.
    let mut revocation = revoking(&w.authority, 5);
    revocation.effective_from_ms = i64::MAX;
    let signed = sign(&revocation, NoticeSigner::Root(&w.usa_root));
    let applied = verify_notice(&signed, &w.anchors, &state).unwrap();
    assert_eq!(state.apply(&applied), Applied::New);
    assert_eq!(
        state.key_revoked_at_epoch("USA", w.authority.key.public_key().id()),
        Some(5)
    );
    let by_authority = |epoch| {
        let object = sign(
            &usa_notice(epoch, 5_000),
            NoticeSigner::Authority(&w.authority),
        );
        verify_notice(&object, &w.anchors, &state).map_err(|e| e.to_string())
    };
    #[rustfmt::skip]
    let cases = [
        ("an earlier epoch: signed before it was revoked", 4, None),
        ("the next epoch", 6, Some("USA#6: signed by USA's revocation-authority key")),
        ("any later epoch", 60, Some("which USA#5 revoked")),
    ];
    for (name, epoch, refusal) in cases {
        match (by_authority(epoch), refusal) {
            (Ok(n), None) => assert_eq!(n.epoch, epoch, "case: {name}"),
            (Err(e), Some(text)) => assert!(e.contains(text), "case: {name}: {e}"),
            (got, want) => panic!("case: {name}: got {got:?}, want refusal {want:?}"),
        }
    }
    // A new authority, certified at the ceremony, signs the next epoch; so
    // does the root.
    let renewed = certify(
        &w.usa_root,
        "USA",
        REVOCATION_AUTHORITY_IDENTITY,
        CERT_FROM,
        CERT_UNTIL,
    );
    for signer in [
        NoticeSigner::Authority(&renewed),
        NoticeSigner::Root(&w.usa_root),
    ] {
        let object = sign(&usa_notice(6, 5_000), signer);
        assert!(verify_notice(&object, &w.anchors, &state).is_ok());
    }
    // Another nation's revocation of a key with the same digest is not
    // USA's: it would be refused when decoded, and the state is per nation.
    assert_eq!(
        state.key_revoked_at_epoch("GBR", w.authority.key.public_key().id()),
        None
    );
}

#[test]
fn the_lowest_revoking_epoch_counts() {
    let w = world();
    let state = RevocationState::new();
    for epoch in [9, 3, 7] {
        assert_eq!(state.apply(&revoking(&w.authority, epoch)), Applied::New);
    }
    let id = w.authority.key.public_key().id();
    assert_eq!(state.key_revoked_at_epoch("USA", id), Some(3));
    let object = sign(&usa_notice(4, 5_000), NoticeSigner::Authority(&w.authority));
    let err = verify_notice(&object, &w.anchors, &state).unwrap_err();
    assert!(err.to_string().contains("which USA#3 revoked"), "{err}");
}
