//! The egress decision's rate limit, on real ML-DSA envelopes: only
//! producers whose certificate and signature verified get limiter entries,
//! so a flood of spoofed identities leaves its memory bounded.
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use coalition_core::certificate::{issue_certificate, CertificateCache, CertificateRequest};
use coalition_core::envelope::{seal, MessageType, ProducerIdentity, SealRequest};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::{Label, NationPolicy};
use coalition_core::DenyReason;
use coalition_topology::Rate;

use super::{decide, EgressContext, Mode};
use crate::pipeline::{Counted, Incoming};
use crate::policy_state::PolicyState;
use crate::rate::ProducerPacing;

const NOW: i64 = 1_800_000_000_000;

fn identity(root: &SigningKeyPair, nation: &str, producer: &str) -> ProducerIdentity {
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, producer);
    let certificate = issue_certificate(
        root,
        &CertificateRequest {
            nation: nation.into(),
            producer_id: producer.into(),
            public_key: key.public_key().clone(),
            not_before_ms: NOW - 1000,
            not_after_ms: NOW + 1000,
            feeds: vec!["tracks".into()],
            max_classification: "SECRET".into(),
        },
    )
    .unwrap();
    ProducerIdentity {
        nation: nation.into(),
        producer_id: producer.into(),
        key,
        certificate,
    }
}

fn sealed(id: &ProducerIdentity, seq: u64) -> Incoming {
    let label = Label::new("USA", "SECRET", &["GBR"]);
    let payload = seal(
        id,
        &SealRequest {
            message_type: MessageType::Track,
            schema_version: 1,
            label: &label,
            feed: "tracks",
            seq,
            corrects_seq: None,
            payload: Bytes::from_static(b"track payload"),
            product_id: "T-1",
            derived_from: &[],
            now_ms: NOW,
        },
    )
    .unwrap();
    Incoming {
        subject: format!("out.track.{}.tracks", id.producer_id),
        headers: None,
        payload,
        stream_seq: seq,
    }
}

fn context(root: &SigningKeyPair, rate: Rate) -> EgressContext {
    let anchors = BTreeMap::from([("USA".to_string(), root.public_key().clone())]);
    let state = PolicyState::new("USA".into(), anchors.clone());
    state
        .policies
        .insert(NationPolicy {
            nation: "USA".into(),
            version: 1,
            informative: Vec::new(),
            classifications: vec!["UNCLASSIFIED".into(), "SECRET".into()],
            caveats: Vec::new(),
        })
        .unwrap();
    EgressContext {
        nation: "USA".into(),
        state: Arc::new(state),
        cache: Arc::new(CertificateCache::new(anchors)),
        links: Vec::new(),
        pacing: Arc::new(ProducerPacing::new(rate, 10)),
        mode: Mode::Fresh,
    }
}

fn reasons(counted: &[Counted]) -> Vec<DenyReason> {
    counted
        .iter()
        .filter_map(|c| match c {
            Counted::Rejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn spoofed_identities_never_create_limiter_entries() {
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let evil_root = SigningKeyPair::generate(Algorithm::MlDsa65, "evil root");
    let ctx = context(
        &root,
        Rate {
            msgs_per_sec: 1,
            burst: 1,
        },
    );
    let genuine = identity(&root, "USA", "radar-1");
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20u64 {
        // A certificate from a root nobody trusts, a new id each time.
        inputs.push(sealed(
            &identity(&evil_root, "USA", &format!("spoof-{i}")),
            i + 1,
        ));
        expected.push(DenyReason::UnknownIssuer);
        // A genuine certificate, a signature by another key.
        let mut forged = identity(&evil_root, "USA", "radar-1");
        forged.certificate = genuine.certificate.clone();
        inputs.push(sealed(&forged, 100 + i));
        expected.push(DenyReason::BadSignature);
        // Not an envelope at all, on a subject naming a new producer.
        inputs.push(Incoming {
            subject: format!("out.track.junk-{i}.tracks"),
            headers: None,
            payload: Bytes::from(vec![i as u8; 64]),
            stream_seq: 200 + i,
        });
        expected.push(DenyReason::MalformedEnvelope);
    }
    let out = decide(&ctx, &inputs, &|| NOW);
    assert_eq!(
        reasons(&out.counted),
        expected,
        "every spoof refused for its own reason"
    );
    assert_eq!(ctx.pacing.entries(), (0, 0), "no spoof made an entry");
    // Positive control: the genuine producer does get one (and is paced).
    let out = decide(&ctx, &[sealed(&genuine, 1), sealed(&genuine, 2)], &|| NOW);
    assert!(reasons(&out.counted).is_empty());
    assert!(
        matches!(&out.counted[..], [Counted::Deferred { producer }] if producer == "radar-1"),
        "within the burst it is released (to no partner here), then deferred: {:?}",
        out.counted
    );
    assert_eq!(
        ctx.pacing.entries().0,
        1,
        "one entry: the verified producer"
    );
}

#[test]
fn over_the_backlog_bound_a_producer_is_refused_and_dead_lettered() {
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let ctx = context(
        &root,
        Rate {
            msgs_per_sec: 1,
            burst: 1,
        },
    );
    let id = identity(&root, "USA", "radar-1");
    let inputs: Vec<Incoming> = (1..=12).map(|s| sealed(&id, s)).collect();
    let out = decide(&ctx, &inputs, &|| NOW);
    let deferred = out
        .counted
        .iter()
        .filter(|c| matches!(c, Counted::Deferred { .. }))
        .count();
    let refused = out
        .counted
        .iter()
        .filter(|c| matches!(c, Counted::Refused { producer } if producer == "radar-1"))
        .count();
    // 1 released now (burst), 10 deferred (the bound), 1 refused.
    assert_eq!((deferred, refused), (10, 1));
    assert_eq!(reasons(&out.counted), vec![DenyReason::RateLimited]);
    let subjects: Vec<&str> = out.outputs.iter().map(|o| o.subject.as_str()).collect();
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.starts_with("paced.track.radar-1.tracks"))
            .count(),
        10
    );
    assert_eq!(subjects.last(), Some(&"dlq.egress.rate_limited"));
}
