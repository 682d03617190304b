//! The egress decision on real ML-DSA batches: partial release to each
//! partner with the producer's own signature, feed positions, certificates
//! that are not known yet, a batch straddling a revocation, and the rate
//! limit's memory bound (only verified producers get limiter entries).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use coalition_core::batch::{open_batch, seal_batch, RecordDraft};
use coalition_core::certificate::{issue_certificate, CertificateRequest};
use coalition_core::envelope::{MessageType, ProducerIdentity};
use coalition_core::feed_position::{FeedState, ForwardWindow};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::{Label, NationPolicy};
use coalition_core::revocation::{Notice, Revoked};
use coalition_core::DenyReason;
use coalition_topology::{Kind, Rate};

use super::{decide, EgressStage, Mode};
use crate::policy_state::PolicyState;
use crate::rate::ProducerPacing;
use crate::stage::{Counted, CycleFacts, Decided, Incoming, Target};

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
            not_after_ms: NOW + 100_000,
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

fn draft(label: Label, i: usize) -> RecordDraft {
    RecordDraft {
        schema_version: 1,
        label,
        payload: Bytes::from(format!("track {i}")),
        corrects_seq: None,
        product_id: format!("T-{i}"),
        derived_from: Vec::new(),
        produced_at_ms: NOW,
    }
}

/// A batch of `labels.len()` records from `first`, read at `stream_seq`.
fn batch(id: &ProducerIdentity, first: u64, labels: &[Label], stream_seq: u64) -> Incoming {
    batch_at(id, first, labels, stream_seq, NOW)
}

fn batch_at(
    id: &ProducerIdentity,
    first: u64,
    labels: &[Label],
    stream_seq: u64,
    sealed_at: i64,
) -> Incoming {
    let drafts: Vec<RecordDraft> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| draft(l.clone(), i))
        .collect();
    let sealed = seal_batch(id, MessageType::Track, "tracks", first, &drafts, sealed_at).unwrap();
    Incoming {
        subject: coalition_topology::subjects::outbound(
            Kind::Track,
            &id.producer_id,
            "tracks",
            None,
        ),
        headers: None,
        payload: sealed.bytes,
        stream_seq,
    }
}

fn policy(nation: &str) -> NationPolicy {
    NationPolicy {
        nation: nation.into(),
        version: 1,
        informative: Vec::new(),
        classifications: vec!["UNCLASSIFIED".into(), "SECRET".into()],
        caveats: vec![("NOFORN".into(), true)],
    }
}

struct Fixture {
    root: SigningKeyPair,
    stage: EgressStage,
}

fn fixture(rate: Rate, partners: &[&str], clock: crate::stage::Clock) -> Fixture {
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let anchors = BTreeMap::from([("USA".to_string(), root.public_key().clone())]);
    let state = PolicyState::new("USA".into(), anchors);
    let usa = policy("USA");
    state.policies.insert(usa.clone()).unwrap();
    for p in partners {
        let theirs = policy(p);
        state.policies.insert(theirs.clone()).unwrap();
        state
            .translators
            .insert(nats_harness::dev_translator(&usa, &theirs, NOW))
            .unwrap();
    }
    let stage = EgressStage {
        name: "USA egress (track)".into(),
        nation: "USA".into(),
        kind: Kind::Track,
        state: Arc::new(state),
        links: partners
            .iter()
            .map(|p| (p.to_string(), "SECRET".to_string()))
            .collect(),
        pacing: Arc::new(ProducerPacing::new(rate, 10)),
        mode: Mode::Fresh,
        window: ForwardWindow {
            seqs: 1_000,
            seqs_per_second: 0,
        },
        caught_up: Box::new(|| true),
        guard: None,
        chains_stale: Box::new(|| false),
        on_open: None,
        clock,
    };
    Fixture { root, stage }
}

fn fixed() -> crate::stage::Clock {
    Arc::new(|| NOW)
}

const WIDE: Rate = Rate {
    msgs_per_sec: 100_000,
    burst: 100_000,
};

fn known(f: &Fixture, id: &ProducerIdentity) {
    f.stage.state.certificates.add(&id.certificate).unwrap();
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

fn facts(positions: &Decided) -> CycleFacts {
    CycleFacts {
        positions: positions.positions.iter().cloned().collect(),
        hold_over: HashSet::new(),
    }
}

/// The seqs released to each partner, verified as the partner would.
fn released(f: &Fixture, out: &Decided) -> HashMap<String, Vec<u64>> {
    let mut by_partner: HashMap<String, Vec<u64>> = HashMap::new();
    for o in &out.outputs {
        if let Target::Partner(p) = &o.target {
            let v = open_batch(&o.payload, &f.stage.state.certificates, NOW)
                .expect("a released subset verifies against the producer's signature");
            assert!(o.subject.starts_with("rel.track.USA.radar-1.tracks"));
            by_partner
                .entry(p.clone())
                .or_default()
                .extend(v.batch.records.iter().map(|r| r.header.seq));
        }
    }
    by_partner
}

#[test]
fn each_partner_is_released_its_own_subset_under_the_producers_signature() {
    let f = fixture(WIDE, &["GBR", "FRA"], fixed());
    let id = identity(&f.root, "USA", "radar-1");
    known(&f, &id);
    let labels = [
        Label::new("USA", "SECRET", &["GBR", "FRA"]),
        Label::new("USA", "SECRET", &["GBR"]),
        Label::new("USA", "SECRET", &["FRA"]),
        Label::new("USA", "SECRET", &[]),
        Label::new("USA", "UNCLASSIFIED", &["GBR", "FRA"]),
    ];
    let out = decide(
        &f.stage,
        &[batch(&id, 1, &labels, 1)],
        &CycleFacts::default(),
    );
    let got = released(&f, &out);
    assert_eq!(got["GBR"], vec![1, 2, 5]);
    assert_eq!(got["FRA"], vec![1, 3, 5]);
    // One message per partner, chained on its highest seq; the certificate
    // is stored for each partner first.
    let chained: Vec<(Target, Option<u64>)> = out
        .outputs
        .iter()
        .map(|o| (o.target.clone(), o.chain_seq))
        .collect();
    assert_eq!(
        chained,
        vec![
            (Target::Partner("GBR".into()), Some(5)),
            (Target::Partner("FRA".into()), Some(5)),
        ]
    );
    assert_eq!(out.certificates.len(), 2);
    // Every record's decision is audited, per partner.
    assert_eq!(out.audit.len(), labels.len() * 2);
    assert!(reasons(&out.counted).is_empty());
    assert_eq!(out.positions.len(), 1, "the feed's position moved");
}

#[test]
fn feed_positions_refuse_replays_rollbacks_and_jumps_and_the_feed_goes_on() {
    let f = fixture(WIDE, &["GBR"], fixed());
    let id = identity(&f.root, "USA", "radar-1");
    known(&f, &id);
    let l = Label::new("USA", "SECRET", &["GBR"]);
    let four = [l.clone(), l.clone(), l.clone(), l.clone()];
    let first = decide(&f.stage, &[batch(&id, 1, &four, 1)], &CycleFacts::default());
    assert_eq!(released(&f, &first)["GBR"], vec![1, 2, 3, 4]);
    let inputs = [
        batch(&id, 1, &four, 1),              // the first, redelivered
        batch(&id, 1, &four, 2),              // replay, new content
        batch(&id, 3, &four, 3),              // overlaps 3..4
        batch(&id, 1_000_000, &four[..1], 4), // far ahead
        batch(&id, 5, &four[..2], 5),         // the next one
    ];
    let out = decide(&f.stage, &inputs, &facts(&first));
    assert_eq!(
        reasons(&out.counted),
        vec![
            DenyReason::FeedReplay,
            DenyReason::FeedRollback,
            DenyReason::FeedJump
        ]
    );
    let dead: Vec<&str> = out
        .outputs
        .iter()
        .filter(|o| o.target == Target::Home)
        .map(|o| o.subject.as_str())
        .collect();
    assert_eq!(
        dead,
        vec![
            "dlq.egress.feed_replay",
            "dlq.egress.feed_rollback",
            "dlq.egress.feed_jump"
        ]
    );
    assert_eq!(
        released(&f, &out)["GBR"],
        vec![1, 2, 3, 4, 5, 6],
        "a redelivery decides as before, and the next batch goes on"
    );
    let (_, state): &(_, FeedState) = &out.positions[0];
    assert_eq!(state.position.map(|p| p.last_seq), Some(6));
}

#[test]
fn an_unknown_certificate_holds_the_batch_then_refuses_it_when_the_hold_is_over() {
    let f = fixture(WIDE, &["GBR"], fixed());
    let id = identity(&f.root, "USA", "radar-1");
    let l = [Label::new("USA", "SECRET", &["GBR"])];
    let other = identity(&f.root, "USA", "radar-2");
    known(&f, &other);
    let inputs = [
        batch(&other, 1, &l, 10),
        batch(&id, 1, &l, 11),
        batch(&other, 2, &l, 12),
    ];
    let out = decide(&f.stage, &inputs, &CycleFacts::default());
    assert_eq!(out.held_from, Some(1), "held from the unknown one on");
    assert_eq!(out.outputs.len(), 1, "only the batch before it decided");
    let over = CycleFacts {
        hold_over: HashSet::from([11]),
        ..Default::default()
    };
    let out = decide(&f.stage, &inputs[1..], &over);
    assert_eq!(out.held_from, None);
    assert_eq!(reasons(&out.counted), vec![DenyReason::UnknownCertificate]);
    // Once the certificate arrives, the same batch is decided.
    known(&f, &id);
    let out = decide(&f.stage, &inputs[1..2], &CycleFacts::default());
    assert_eq!(released(&f, &out)["GBR"], vec![1]);
}

#[test]
fn a_batch_straddling_a_revocation_releases_only_what_was_decided_before_it() {
    // The notice is applied while the batch is decided: the clock applies
    // it when the 5th record asks the time.
    let calls = Arc::new(AtomicUsize::new(0));
    let slot: Arc<std::sync::OnceLock<Arc<PolicyState>>> = Arc::default();
    let (c, s) = (calls.clone(), slot.clone());
    let clock: crate::stage::Clock = Arc::new(move || {
        let n = c.fetch_add(1, Ordering::SeqCst);
        // Call 0 is the batch's own; calls 1.. are the records'.
        if n == 5 {
            if let Some(state) = s.get() {
                state.revocations.apply(&Notice {
                    issuer: "USA".into(),
                    epoch: 1,
                    effective_from_ms: NOW,
                    issued_at_ms: NOW,
                    reason: "test".into(),
                    revoked: Revoked::Translator {
                        id: "USA-GBR".into(),
                        version: 0,
                    },
                });
            }
        }
        NOW
    });
    let f = fixture(WIDE, &["GBR"], clock);
    let _ = slot.set(f.stage.state.clone());
    let id = identity(&f.root, "USA", "radar-1");
    known(&f, &id);
    let l = Label::new("USA", "SECRET", &["GBR"]);
    let labels = vec![l; 8];
    let out = decide(
        &f.stage,
        &[batch(&id, 1, &labels, 1)],
        &CycleFacts::default(),
    );
    assert_eq!(released(&f, &out)["GBR"], vec![1, 2, 3, 4]);
    let denied: Vec<DenyReason> = out
        .counted
        .iter()
        .filter_map(|c| match c {
            Counted::Denied { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(denied, vec![DenyReason::TranslatorRevoked; 4]);
}

#[test]
fn a_batch_without_all_its_records_is_not_a_producers_batch() {
    let f = fixture(WIDE, &["GBR"], fixed());
    let id = identity(&f.root, "USA", "radar-1");
    known(&f, &id);
    let l = Label::new("USA", "SECRET", &["GBR"]);
    let full = batch(&id, 1, &[l.clone(), l.clone(), l], 1);
    let v = open_batch(&full.payload, &f.stage.state.certificates, NOW).unwrap();
    let part = Incoming {
        payload: v.batch.subset(&[0, 2]).unwrap(),
        ..full
    };
    let out = decide(&f.stage, &[part], &CycleFacts::default());
    assert_eq!(reasons(&out.counted), vec![DenyReason::IncompleteBatch]);
}

#[test]
fn spoofed_identities_never_create_limiter_entries() {
    let one = Rate {
        msgs_per_sec: 1,
        burst: 1,
    };
    let f = fixture(one, &[], fixed());
    let evil_root = SigningKeyPair::generate(Algorithm::MlDsa65, "evil root");
    let genuine = identity(&f.root, "USA", "radar-1");
    known(&f, &genuine);
    let l = [Label::new("USA", "SECRET", &["GBR"])];
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20u64 {
        // A certificate from a root nobody trusts, a new id each time: it
        // cannot even be cached, so it is never known.
        inputs.push(batch(
            &identity(&evil_root, "USA", &format!("spoof-{i}")),
            1,
            &l,
            i * 3 + 1,
        ));
        expected.push(DenyReason::UnknownCertificate);
        // A genuine certificate, a signature by another key.
        let mut forged = identity(&evil_root, "USA", "radar-1");
        forged.certificate = genuine.certificate.clone();
        inputs.push(batch(&forged, 100 + i, &l, i * 3 + 2));
        expected.push(DenyReason::BadSignature);
        // Not a batch at all, on a subject naming a new producer.
        inputs.push(Incoming {
            subject: format!("out.track.junk-{i}.tracks"),
            headers: None,
            payload: Bytes::from(vec![i as u8; 64]),
            stream_seq: i * 3 + 3,
        });
        expected.push(DenyReason::MalformedBatch);
    }
    let over = CycleFacts {
        hold_over: inputs.iter().map(|i| i.stream_seq).collect(),
        ..Default::default()
    };
    let out = decide(&f.stage, &inputs, &over);
    assert_eq!(
        reasons(&out.counted),
        expected,
        "each refused for its own reason"
    );
    assert_eq!(f.stage.pacing.entries(), (0, 0), "no spoof made an entry");
    // Positive control: the genuine producer does get one (and is paced).
    let out = decide(
        &f.stage,
        &[batch(&genuine, 1, &l, 100), batch(&genuine, 2, &l, 101)],
        &CycleFacts::default(),
    );
    assert!(reasons(&out.counted).is_empty());
    assert!(
        matches!(&out.counted[..], [Counted::Deferred { producer, records: 1 }] if producer == "radar-1"),
        "within the burst it is released (to no partner here), then deferred: {:?}",
        out.counted
    );
    assert_eq!(
        f.stage.pacing.entries().0,
        1,
        "one entry: the verified producer"
    );
}

#[test]
fn over_the_backlog_bound_a_producer_is_refused_and_dead_lettered() {
    let one = Rate {
        msgs_per_sec: 1,
        burst: 1,
    };
    let f = fixture(one, &[], fixed());
    let id = identity(&f.root, "USA", "radar-1");
    known(&f, &id);
    let l = [Label::new("USA", "SECRET", &["GBR"])];
    let inputs: Vec<Incoming> = (1..=12).map(|s| batch(&id, s, &l, s)).collect();
    let out = decide(&f.stage, &inputs, &CycleFacts::default());
    let deferred = out
        .counted
        .iter()
        .filter(|c| matches!(c, Counted::Deferred { .. }))
        .count();
    let refused = out
        .counted
        .iter()
        .filter(|c| matches!(c, Counted::Refused { producer, .. } if producer == "radar-1"))
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

#[test]
fn alerts_fused_from_several_nations_are_counted_once_each_whatever_is_released() {
    let mut f = fixture(WIDE, &["GBR"], fixed());
    f.stage.kind = Kind::Alert;
    let id = identity(&f.root, "USA", "fusion-cell");
    known(&f, &id);
    let source = |origin: &str| coalition_core::envelope::SourceRef {
        origin: origin.into(),
        producer_id: "radar".into(),
        feed: "tracks".into(),
        seq: 7,
        label: Label::new("USA", "SECRET", &["GBR"]),
        translator: None,
    };
    let lineages = [
        vec![source("USA"), source("GBR")],
        vec![source("USA"), source("USA")],
        vec![],
        vec![source("GBR"), source("FRA")],
    ];
    let drafts: Vec<RecordDraft> = lineages
        .iter()
        .enumerate()
        .map(|(i, sources)| RecordDraft {
            derived_from: sources.clone(),
            // A minor v1 alert: topic `other.minor`.
            payload: prost::Message::encode_to_vec(&coalition_schemas::v1::AlertV1 {
                severity: coalition_schemas::v1::Severity::Info as i32,
                ..Default::default()
            })
            .into(),
            // The last is released to nobody: still one of USA's alerts.
            ..draft(
                Label::new("USA", "SECRET", if i == 3 { &[] } else { &["GBR"] }),
                i,
            )
        })
        .collect();
    let sealed = seal_batch(&id, MessageType::Alert, "tracks", 1, &drafts, NOW).unwrap();
    let minor =
        coalition_topology::AlertTopic::new("other", coalition_schemas::v1::AlertSeverity::Minor)
            .unwrap();
    let input = Incoming {
        subject: coalition_topology::subjects::outbound(
            Kind::Alert,
            "fusion-cell",
            "tracks",
            Some(&minor),
        ),
        headers: None,
        payload: sealed.bytes,
        stream_seq: 1,
    };
    let out = decide(&f.stage, &[input], &CycleFacts::default());
    let alerts: Vec<bool> = out
        .counted
        .iter()
        .filter_map(|c| match c {
            Counted::Alert { fused } => Some(*fused),
            _ => None,
        })
        .collect();
    assert_eq!(alerts, vec![true, false, false, true]);

    // Tracks are not alerts.
    let f = fixture(WIDE, &["GBR"], fixed());
    let id = identity(&f.root, "USA", "radar-1");
    known(&f, &id);
    let labels = [Label::new("USA", "SECRET", &["GBR"])];
    let out = decide(
        &f.stage,
        &[batch(&id, 1, &labels, 1)],
        &CycleFacts::default(),
    );
    assert!(!out
        .counted
        .iter()
        .any(|c| matches!(c, Counted::Alert { .. })));
}
