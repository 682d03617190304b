//! Seal a real ML-DSA-signed envelope, then tamper with it one way at a time
//! and check that verification refuses it with the specific reason.
use std::collections::BTreeMap;

use bytes::Bytes;
use coalition_core::certificate::{
    issue_certificate, verify_certificate, CertificateRequest, TrustAnchors,
};
use coalition_core::envelope::{
    decode_envelope, seal, verify_envelope, MessageType, ProducerIdentity, SealRequest,
};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::{Label, NationPolicy};
use coalition_core::DenyReason;
use coalition_schemas::v1;
use prost::Message;

const NOW: i64 = 1_800_000_000_000;

struct Fixture {
    anchors: TrustAnchors,
    policy: NationPolicy,
    identity: ProducerIdentity,
    other_root: SigningKeyPair,
}

fn fixture() -> Fixture {
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, "USA/radar-1");
    let certificate = issue_certificate(
        &root,
        &CertificateRequest {
            nation: "USA".into(),
            producer_id: "radar-1".into(),
            public_key: key.public_key().clone(),
            not_before_ms: NOW - 1000,
            not_after_ms: NOW + 1000,
            feeds: vec!["tracks".into()],
            max_classification: "SECRET".into(),
        },
    )
    .unwrap();
    Fixture {
        anchors: BTreeMap::from([("USA".to_string(), root.public_key().clone())]),
        policy: NationPolicy {
            nation: "USA".into(),
            version: 1,
            informative: Vec::new(),
            classifications: vec!["UNCLASSIFIED".into(), "SECRET".into(), "TOP SECRET".into()],
            caveats: vec![("NOFORN".into(), true)],
        },
        identity: ProducerIdentity {
            nation: "USA".into(),
            producer_id: "radar-1".into(),
            key,
            certificate,
        },
        other_root: SigningKeyPair::generate(Algorithm::MlDsa65, "evil root"),
    }
}

fn sealed(f: &Fixture, label: &Label, feed: &str) -> Bytes {
    seal(
        &f.identity,
        &SealRequest {
            message_type: MessageType::Track,
            schema_version: 1,
            label,
            feed,
            seq: 7,
            corrects_seq: None,
            payload: Bytes::from_static(b"track payload"),
            product_id: "T-1",
            derived_from: &[],
            now_ms: NOW,
        },
    )
    .unwrap()
}

fn check(f: &Fixture, bytes: &[u8], now: i64) -> Result<(), DenyReason> {
    let env = decode_envelope(bytes)?;
    let cert = verify_certificate(&env.certificate, &f.anchors)?;
    verify_envelope(&env, &cert, &f.policy, now)
}

fn edit(bytes: &Bytes, change: impl FnOnce(&mut v1::Envelope)) -> Vec<u8> {
    let mut env = v1::Envelope::decode(bytes.as_ref()).unwrap();
    change(&mut env);
    env.encode_to_vec()
}

fn edit_header(bytes: &Bytes, change: impl FnOnce(&mut v1::SignedHeader)) -> Vec<u8> {
    edit(bytes, |env| {
        let mut h = v1::SignedHeader::decode(env.signed_header.as_ref()).unwrap();
        change(&mut h);
        env.signed_header = h.encode_to_vec().into();
    })
}

#[test]
fn intact_envelope_verifies_and_every_tamper_is_refused() {
    let f = fixture();
    let label = Label::new("USA", "SECRET", &["GBR"]);
    let good = sealed(&f, &label, "tracks");
    assert_eq!(check(&f, &good, NOW), Ok(()));
    let env = decode_envelope(&good).unwrap();
    assert_eq!(env.header.label, label);
    assert_eq!(env.header.msg_id(), "USA.radar-1.tracks.7");

    use DenyReason::*;
    let cases: Vec<(&str, Vec<u8>, DenyReason)> = vec![
        (
            "label widened",
            edit_header(&good, |h| {
                h.label.as_mut().unwrap().releasable_to.push("FRA".into())
            }),
            BadSignature,
        ),
        (
            "caveat removed",
            edit_header(&good, |h| {
                h.label.as_mut().unwrap().classification = "UNCLASSIFIED".into()
            }),
            BadSignature,
        ),
        (
            "seq changed",
            edit_header(&good, |h| h.seq = 8),
            BadSignature,
        ),
        (
            "schema version changed",
            edit_header(&good, |h| h.schema.as_mut().unwrap().version = 2),
            BadSignature,
        ),
        (
            "schema id changed",
            edit_header(&good, |h| {
                h.schema.as_mut().unwrap().id = "coalition.v1.Alert".into()
            }),
            UnknownSchema,
        ),
        (
            "message type changed",
            edit_header(&good, |h| {
                h.message_type = v1::MessageType::Alert as i32;
                h.schema.as_mut().unwrap().id = "coalition.v1.Alert".into();
            }),
            BadSignature,
        ),
        (
            "payload changed",
            edit(&good, |e| e.payload = Bytes::from_static(b"track paylOad")),
            PayloadDigestMismatch,
        ),
        (
            "signature flipped",
            edit(&good, |e| {
                let mut s = e.signature.to_vec();
                s[10] ^= 0x40;
                e.signature = s.into();
            }),
            BadSignature,
        ),
        (
            "signature truncated",
            edit(&good, |e| e.signature = e.signature.slice(..100)),
            BadSignature,
        ),
        (
            "certificate swapped for garbage",
            edit(&good, |e| {
                e.producer_certificate = Bytes::from_static(b"\x0a\x02hi")
            }),
            CertificateMismatch,
        ),
        (
            "not an envelope",
            b"\xff\xff\xff".to_vec(),
            MalformedEnvelope,
        ),
        (
            "header garbage",
            edit(&good, |e| e.signed_header = Bytes::from_static(b"\xff\xff")),
            MalformedHeader,
        ),
        (
            "producer renamed",
            edit_header(&good, |h| h.producer_id = "radar-2".into()),
            ProducerMismatch,
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(check(&f, &bytes, NOW), Err(want), "case: {name}");
    }
    assert_eq!(check(&f, &good, NOW + 5000), Err(CertificateExpired));
    assert_eq!(check(&f, &good, NOW - 5000), Err(CertificateExpired));
}

#[test]
fn certificate_rules_are_enforced() {
    let f = fixture();
    let other_feed = sealed(&f, &Label::new("USA", "SECRET", &["GBR"]), "other-feed");
    assert_eq!(
        check(&f, &other_feed, NOW),
        Err(DenyReason::FeedNotPermitted)
    );
    let too_high = sealed(&f, &Label::new("USA", "TOP SECRET", &["GBR"]), "tracks");
    assert_eq!(
        check(&f, &too_high, NOW),
        Err(DenyReason::ClassificationAboveCertificate)
    );

    // A certificate signed by a root nobody trusts.
    let forged = issue_certificate(
        &f.other_root,
        &CertificateRequest {
            nation: "USA".into(),
            producer_id: "radar-1".into(),
            public_key: f.identity.key.public_key().clone(),
            not_before_ms: NOW - 1000,
            not_after_ms: NOW + 1000,
            feeds: vec!["tracks".into()],
            max_classification: "SECRET".into(),
        },
    )
    .unwrap();
    assert_eq!(
        verify_certificate(&forged, &f.anchors).unwrap_err(),
        DenyReason::UnknownIssuer
    );
    // The envelope names one certificate but carries another.
    let good = sealed(&f, &Label::new("USA", "SECRET", &["GBR"]), "tracks");
    let swapped = edit(&good, |e| {
        e.producer_certificate = f.identity.certificate.clone().slice(..)
    });
    assert_eq!(check(&f, &swapped, NOW), Ok(()));
    let mut anchors_gbr = f.anchors.clone();
    anchors_gbr.remove("USA");
    let env = decode_envelope(&good).unwrap();
    assert_eq!(
        verify_certificate(&env.certificate, &anchors_gbr).unwrap_err(),
        DenyReason::UnknownIssuer
    );
}

/// A seen certificate re-encoded with an unknown field still carries a
/// valid root signature (it covers only the inner bytes), so each variant
/// hashes differently. None of them may enter the certificate cache: only
/// a certificate whose key verified a message is cached.
#[test]
fn re_encoded_certificates_are_refused_and_never_cached() {
    use coalition_core::certificate::CertificateCache;
    use coalition_core::envelope::open;
    use sha2::{Digest, Sha256};

    let f = fixture();
    let label = Label::new("USA", "SECRET", &["GBR"]);
    let good = sealed(&f, &label, "tracks");
    let cache = CertificateCache::new(f.anchors.clone());
    for i in 0..200u8 {
        let forged = edit(&good, |env| {
            let mut cert = env.producer_certificate.to_vec();
            // Field 127, varint: skipped by a protobuf decoder.
            cert.extend_from_slice(&[0xF8, 0x07, i & 0x7F]);
            let digest: [u8; 32] = Sha256::digest(&cert).into();
            env.producer_certificate = cert.into();
            let mut h = v1::SignedHeader::decode(env.signed_header.as_ref()).unwrap();
            h.producer_cert_sha256 = digest.to_vec().into();
            env.signed_header = h.encode_to_vec().into();
        });
        assert_eq!(
            open(&forged, &cache, NOW).map(|_| ()),
            Err(DenyReason::BadSignature),
            "variant {i}"
        );
    }
    assert_eq!(
        cache.len(),
        0,
        "refused messages left certificates in the cache"
    );
    // The real one verifies and is cached once, however often it is seen.
    for _ in 0..3 {
        open(&good, &cache, NOW).unwrap();
    }
    assert_eq!(cache.len(), 1);
}
