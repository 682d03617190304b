//! Seal a real ML-DSA-signed batch, then tamper with it one way at a time
//! and check that verification refuses it with the specific reason; and
//! check that honest subsets (partial releases) verify.
use std::collections::BTreeMap;

use bytes::Bytes;
use coalition_core::batch::{
    decode_batch, open_batch, seal_batch, verify_batch, DecodedBatch, RecordDraft,
};
use coalition_core::certificate::{
    issue_certificate, CertificateCache, CertificateRequest, TrustAnchors,
};
use coalition_core::envelope::{MessageType, ProducerIdentity};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::Label;
use coalition_core::DenyReason;
use coalition_schemas::v1;
use prost::Message;

const NOW: i64 = 1_800_000_000_000;

struct Fixture {
    cache: CertificateCache,
    radar: ProducerIdentity,
    other: ProducerIdentity,
}

fn identity(root: &SigningKeyPair, producer: &str, feeds: &[&str]) -> ProducerIdentity {
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, producer);
    let certificate = issue_certificate(
        root,
        &CertificateRequest {
            nation: "USA".into(),
            producer_id: producer.into(),
            public_key: key.public_key().clone(),
            not_before_ms: NOW - 1000,
            not_after_ms: NOW + 1000,
            feeds: feeds.iter().map(|f| f.to_string()).collect(),
            max_classification: "SECRET".into(),
        },
    )
    .unwrap();
    ProducerIdentity {
        nation: "USA".into(),
        producer_id: producer.into(),
        key,
        certificate,
    }
}

fn fixture() -> Fixture {
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let anchors: TrustAnchors = BTreeMap::from([("USA".to_string(), root.public_key().clone())]);
    let radar = identity(&root, "radar-1", &["tracks"]);
    let other = identity(&root, "radar-2", &["tracks"]);
    let cache = CertificateCache::new(anchors);
    cache.add(&radar.certificate).unwrap();
    cache.add(&other.certificate).unwrap();
    Fixture {
        cache,
        radar,
        other,
    }
}

fn drafts(n: usize, tag: &str) -> Vec<RecordDraft> {
    (0..n)
        .map(|i| RecordDraft {
            schema_version: 1,
            label: Label::new("USA", "SECRET", &["GBR"]),
            payload: Bytes::from(format!("{tag} track {i}")),
            corrects_seq: None,
            product_id: format!("T-{i}"),
            derived_from: Vec::new(),
            produced_at_ms: NOW,
        })
        .collect()
}

fn sealed(id: &ProducerIdentity, first: u64, n: usize, tag: &str) -> Bytes {
    seal_batch(
        id,
        MessageType::Track,
        "tracks",
        first,
        &drafts(n, tag),
        NOW,
    )
    .unwrap()
    .bytes
}

fn wire(bytes: &[u8]) -> v1::Batch {
    v1::Batch::decode(bytes).unwrap()
}

fn encoded(batch: v1::Batch) -> Bytes {
    batch.encode_to_vec().into()
}

/// Decodes and verifies: the batch-level reason, if any.
fn verdict(f: &Fixture, bytes: &[u8]) -> Result<DecodedBatch, DenyReason> {
    open_batch(bytes, &f.cache, NOW).map(|v| v.batch)
}

#[test]
fn an_intact_batch_and_its_subsets_verify() {
    let f = fixture();
    let bytes = sealed(&f.radar, 101, 10, "a");
    let batch = verdict(&f, &bytes).expect("intact batch verifies");
    assert!(batch.is_complete());
    assert_eq!(batch.records.len(), 10);
    assert_eq!(batch.header.batch_id(), "USA.radar-1.tracks.101-110");
    assert!(batch.records.iter().all(|r| r.payload_matches));
    assert_eq!(batch.records[3].header.seq, 104);
    assert_eq!(batch.records[3].header.msg_id(), "USA.radar-1.tracks.104");
    for keep in [vec![0], vec![9], vec![1, 2, 7], vec![0, 4, 5, 6, 8]] {
        let part = batch.subset(&keep).unwrap();
        let decoded = verdict(&f, &part).expect("a subset verifies");
        assert!(!decoded.is_complete());
        let seqs: Vec<u64> = decoded.records.iter().map(|r| r.header.seq).collect();
        let expected: Vec<u64> = keep.iter().map(|k| 101 + *k as u64).collect();
        assert_eq!(seqs, expected);
        // A subset of the subset, proved from the subset alone.
        let again = decoded.subset(&[0]).unwrap();
        assert!(verdict(&f, &again).is_ok());
    }
}

#[test]
fn tampering_is_refused_with_its_reason() {
    let f = fixture();
    let bytes = sealed(&f.radar, 1, 8, "a");
    let other_batch = sealed(&f.radar, 9, 8, "b");
    let other_producer = sealed(&f.other, 1, 8, "c");
    let subset = verdict(&f, &bytes).unwrap().subset(&[1, 2, 6]).unwrap();

    let mut cases: Vec<(&str, Bytes, DenyReason)> = Vec::new();
    let mut push = |what, b, r| cases.push((what, b, r));

    push(
        "garbage",
        Bytes::from_static(b"\xff\xff garbage"),
        DenyReason::MalformedBatch,
    );
    let mut w = wire(&bytes);
    w.header = Bytes::from_static(b"\xff\xff");
    push("header garbage", encoded(w), DenyReason::MalformedHeader);

    // The header edited after signing: each field in turn.
    type Edit = fn(&mut v1::BatchHeader);
    let edits: [(&str, Edit, DenyReason); 7] = [
        (
            "first_seq",
            |h| h.first_seq = 0,
            DenyReason::MalformedHeader,
        ),
        ("last_seq", |h| h.last_seq += 1, DenyReason::BadSignature),
        (
            "feed",
            |h| h.feed = "other".into(),
            DenyReason::FeedNotPermitted,
        ),
        (
            "producer",
            |h| h.producer_id = "radar-2".into(),
            DenyReason::ProducerMismatch,
        ),
        (
            "root",
            |h| h.merkle_root = Bytes::from(vec![7; 32]),
            DenyReason::BadSignature,
        ),
        (
            "sealed_at",
            |h| h.sealed_at_ms += 1,
            DenyReason::BadSignature,
        ),
        (
            "type",
            |h| h.message_type = v1::MessageType::Alert as i32,
            DenyReason::BadSignature,
        ),
    ];
    for (what, edit, reason) in edits {
        let mut w = wire(&bytes);
        let mut h = v1::BatchHeader::decode(w.header.as_ref()).unwrap();
        edit(&mut h);
        w.header = h.encode_to_vec().into();
        push(what, encoded(w), reason);
    }
    let mut w = wire(&bytes);
    let mut sig = w.signature.to_vec();
    sig[100] ^= 0x01;
    w.signature = sig.into();
    push(
        "signature bit flipped",
        encoded(w),
        DenyReason::BadSignature,
    );
    let mut w = wire(&bytes);
    w.signature = f
        .radar
        .key
        .sign(&w.header, MessageType::Alert.context())
        .unwrap();
    push(
        "signed as alerts, sent as tracks",
        encoded(w),
        DenyReason::BadSignature,
    );

    let mut w = wire(&bytes);
    let mut rh = v1::RecordHeader::decode(w.records[3].header.as_ref()).unwrap();
    rh.label.as_mut().unwrap().releasable_to.push("FRA".into());
    w.records[3].header = rh.encode_to_vec().into();
    push("a record's label edited", encoded(w), DenyReason::BadProof);

    let mut w = wire(&bytes);
    w.records[3] = wire(&other_batch).records[3].clone();
    let mut rh = v1::RecordHeader::decode(w.records[3].header.as_ref()).unwrap();
    rh.seq = 4;
    w.records[3].header = rh.encode_to_vec().into();
    push(
        "a record from another batch",
        encoded(w),
        DenyReason::BadProof,
    );

    let mut w = wire(&bytes);
    w.records[5] = wire(&other_producer).records[5].clone();
    push(
        "a record of another producer",
        encoded(w),
        DenyReason::BadProof,
    );

    let mut w = wire(&bytes);
    w.records.swap(2, 3);
    push("records reordered", encoded(w), DenyReason::MalformedBatch);
    let mut w = wire(&bytes);
    let dup = w.records[2].clone();
    w.records.insert(3, dup);
    push(
        "a record duplicated",
        encoded(w),
        DenyReason::MalformedBatch,
    );
    let mut w = wire(&bytes);
    w.records.remove(4);
    push(
        "a record dropped, no proof",
        encoded(w),
        DenyReason::BadProof,
    );
    let mut w = wire(&bytes);
    w.records.clear();
    push("no records", encoded(w), DenyReason::MalformedBatch);
    // An empty protobuf group appended (field 5): prost would skip it, the
    // shell's scan would not; the two readings must never disagree.
    let mut grouped = bytes.to_vec();
    grouped.extend_from_slice(&[0x2b, 0x2c]);
    push(
        "a protobuf group appended",
        grouped.into(),
        DenyReason::MalformedBatch,
    );
    let mut w = wire(&bytes);
    let mut rh = v1::RecordHeader::decode(w.records[7].header.as_ref()).unwrap();
    rh.seq = 9;
    w.records[7].header = rh.encode_to_vec().into();
    push(
        "a seq beyond the range",
        encoded(w),
        DenyReason::MalformedBatch,
    );

    let mut w = wire(&subset);
    let mut p = w.proof[0].to_vec();
    p[0] ^= 0x80;
    w.proof[0] = p.into();
    push("a forged proof", encoded(w), DenyReason::BadProof);
    let mut w = wire(&subset);
    w.proof.pop();
    push("a truncated proof", encoded(w), DenyReason::BadProof);
    let mut w = wire(&subset);
    w.proof.push(Bytes::from(vec![0; 32]));
    push("a proof too long", encoded(w), DenyReason::BadProof);
    let mut w = wire(&subset);
    w.proof[0] = Bytes::from(vec![0; 31]);
    push(
        "a proof hash of 31 bytes",
        encoded(w),
        DenyReason::MalformedBatch,
    );
    let mut w = wire(&subset);
    w.records.push(wire(&bytes).records[7].clone());
    push(
        "a record added to a subset",
        encoded(w),
        DenyReason::BadProof,
    );
    let mut w = wire(&subset);
    w.records.remove(0);
    push(
        "a record dropped from a subset",
        encoded(w),
        DenyReason::BadProof,
    );

    let mut w = wire(&bytes);
    let mut h = v1::BatchHeader::decode(w.header.as_ref()).unwrap();
    h.producer_cert_sha256 = Bytes::from(vec![1; 32]);
    w.header = h.encode_to_vec().into();
    push(
        "an unknown certificate",
        encoded(w),
        DenyReason::UnknownCertificate,
    );

    for (what, bytes, reason) in cases {
        match verdict(&f, &bytes) {
            Ok(_) => panic!("{what}: verified"),
            Err(got) => assert_eq!(got, reason, "{what}"),
        }
    }
}

#[test]
fn an_edited_payload_is_refused_on_its_own() {
    let f = fixture();
    let bytes = sealed(&f.radar, 1, 4, "a");
    let mut w = wire(&bytes);
    w.records[2].payload = Bytes::from_static(b"edited");
    let batch = verdict(&f, &encoded(w)).expect("the batch still verifies");
    let matches: Vec<bool> = batch.records.iter().map(|r| r.payload_matches).collect();
    assert_eq!(matches, vec![true, true, false, true]);
}

#[test]
fn certificates_outside_their_window_or_feeds_are_refused() {
    let f = fixture();
    let batch = decode_batch(&sealed(&f.radar, 1, 2, "a")).unwrap();
    let cert = f.cache.get(&batch.header.producer_cert_sha256).unwrap();
    assert_eq!(verify_batch(&batch, &cert, NOW), Ok(()));
    assert_eq!(
        verify_batch(&batch, &cert, NOW + 1000),
        Err(DenyReason::CertificateExpired)
    );
    let other = f.cache.get(&f.other.certificate_sha256()).unwrap();
    assert_eq!(
        verify_batch(&batch, &other, NOW),
        Err(DenyReason::CertificateMismatch)
    );
    let sealed_elsewhere = seal_batch(
        &f.radar,
        MessageType::Track,
        "alerts",
        1,
        &drafts(1, "a"),
        NOW,
    )
    .unwrap();
    let decoded = decode_batch(&sealed_elsewhere.bytes).unwrap();
    assert_eq!(
        verify_batch(&decoded, &cert, NOW),
        Err(DenyReason::FeedNotPermitted)
    );
}

#[test]
fn a_batch_signed_under_a_reserved_identity_is_refused() {
    // The root certified a key as its nation's bridge; that key never signs
    // records, however well formed the batch.
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let anchors: TrustAnchors = BTreeMap::from([("USA".to_string(), root.public_key().clone())]);
    let cache = CertificateCache::new(anchors);
    for reserved in coalition_schemas::identities::RESERVED {
        let id = identity(&root, reserved, &["tracks"]);
        cache.add(&id.certificate).unwrap();
        let bytes = sealed(&id, 1, 2, "a");
        assert_eq!(
            open_batch(&bytes, &cache, NOW).map(|_| ()),
            Err(DenyReason::ProducerMismatch),
            "{reserved}"
        );
    }
}

#[test]
fn a_certificate_is_cached_only_in_its_canonical_encoding() {
    let f = fixture();
    let mut variant = f.radar.certificate.to_vec();
    // An unknown field appended: the root's signature still holds over the
    // inner bytes, but the encoding is not canonical.
    variant.extend_from_slice(&[0x78, 0x01]);
    let before = f.cache.len();
    assert_eq!(
        f.cache.add(&variant).err(),
        Some(DenyReason::BadCertificate)
    );
    assert_eq!(f.cache.len(), before);
}

#[test]
fn sealing_refuses_what_cannot_be_a_batch() {
    let f = fixture();
    let seal = |first, n| {
        seal_batch(
            &f.radar,
            MessageType::Track,
            "tracks",
            first,
            &drafts(n, "x"),
            NOW,
        )
    };
    assert!(seal(0, 1).is_err(), "seqs start at 1");
    assert!(seal(1, 0).is_err(), "at least one record");
    assert!(seal(1, 4097).is_err(), "at most 4096 records");
    assert!(seal(u64::MAX, 2).is_err(), "seqs would overflow");
    assert!(seal(u64::MAX - 1, 2).is_ok());
}

#[test]
fn scanning_finds_the_header_and_counts_records_without_decoding_them() {
    use coalition_core::batch::{peek_header, scan};
    let f = fixture();
    let bytes = sealed(&f.radar, 5, 7, "a");
    let (header, count) = scan(&bytes).expect("well formed");
    assert_eq!(count, 7);
    assert_eq!(header, wire(&bytes).header.as_ref());
    let peeked = peek_header(&bytes).unwrap();
    assert_eq!((peeked.first_seq, peeked.last_seq), (5, 11));
    let subset = verdict(&f, &bytes).unwrap().subset(&[0, 6]).unwrap();
    assert_eq!(scan(&subset).map(|(_, n)| n), Some(2));
    assert_eq!(scan(b"\x0a\x05ab"), None, "a length beyond the end");
    assert_eq!(scan(b"\xff"), None, "a truncated varint");
    assert_eq!(
        peek_header(b"garbage!").err(),
        Some(DenyReason::MalformedBatch)
    );
}
