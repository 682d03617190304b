//! Audit chain tests: sealing, resuming, and one tamper test per way a
//! stored chain can be altered, each expecting a precise report.
use std::sync::OnceLock;

use super::*;
use crate::certificate::{issue_certificate, CertificateRequest};
use crate::keys::{Algorithm, SigningKeyPair};

const NOW: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

struct Fixture {
    /// USA's bridge key, certified as `bridge`.
    bridge: CertifiedKey,
    /// A USA key certified as a producer, not a bridge.
    producer: CertifiedKey,
    /// A USA bridge key certified by a root nobody trusts.
    rogue: CertifiedKey,
    /// A USA bridge key whose certificate expired an hour before `NOW`.
    expired: CertifiedKey,
    anchors: TrustAnchors,
}

fn certify(root: &SigningKeyPair, identity: &str, from: i64, until: i64) -> CertifiedKey {
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, &format!("USA/{identity}"));
    let certificate = issue_certificate(
        root,
        &CertificateRequest {
            nation: "USA".into(),
            producer_id: identity.into(),
            public_key: key.public_key().clone(),
            not_before_ms: from,
            not_after_ms: until,
            feeds: vec!["audit".into()],
            max_classification: "SECRET".into(),
        },
    )
    .unwrap();
    CertifiedKey {
        nation: "USA".into(),
        key,
        certificate,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
        let rogue_root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
        let window = (NOW - HOUR, NOW + HOUR);
        Fixture {
            bridge: certify(&root, BRIDGE_IDENTITY, window.0, window.1),
            producer: certify(&root, "sensor-1", window.0, window.1),
            rogue: certify(&rogue_root, BRIDGE_IDENTITY, window.0, window.1),
            expired: certify(&root, BRIDGE_IDENTITY, NOW - 2 * HOUR, NOW - HOUR),
            anchors: [("USA".to_string(), root.public_key().clone())].into(),
        }
    })
}

fn label(classification: &str) -> v1::ConfidentialityLabel {
    v1::ConfidentialityLabel {
        policy_id: "USA".into(),
        classification: classification.into(),
        releasable_to: vec!["GBR".into(), "USA".into()],
        caveats: vec![],
        informative: vec!["EXERCISE".into()],
        policy_version: 2,
    }
}

fn record(msg_id: &str) -> v1::AuditRecord {
    // Every field, no `..`: a new field breaks this test until it gets a
    // tamper case below too.
    v1::AuditRecord {
        decision: v1::AuditDecision::Release as i32,
        stage: "egress".into(),
        partner: "GBR".into(),
        msg_id: msg_id.into(),
        reason: String::new(),
        label_as_produced: Some(label("SECRET")),
        label_as_translated: Some(label("UK SECRET")),
        translator: "usa-gbr@3".into(),
        source_policy_version: 2,
        target_policy_version: 5,
        key_id: "ab".repeat(32),
        schema: "coalition.v1.Track@1".into(),
        decided_at_ms: NOW,
        source_stream_seq: 42,
        detail: String::new(),
    }
}

/// `n` blocks of two records each; the blocks in `checkpoints` are signed.
fn chain(n: u64, checkpoints: &[u64]) -> Vec<v1::AuditBlock> {
    let mut writer = AuditChain::genesis("USA");
    (1..=n)
        .map(|i| {
            let records = vec![
                record(&format!("USA.sensor-1.tracks.{}", 2 * i)),
                record(&format!("USA.sensor-1.tracks.{}", 2 * i + 1)),
            ];
            let signer = checkpoints.contains(&i).then_some((&fixture().bridge, NOW));
            writer.seal(records, signer).unwrap()
        })
        .collect()
}

/// Stored form: stream sequences deliberately differ from indexes.
fn stored(blocks: &[v1::AuditBlock]) -> Vec<(u64, Bytes)> {
    blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (100 + i as u64, b.encode_to_vec().into()))
        .collect()
}

fn verify(stored: Vec<(u64, Bytes)>) -> AuditReport {
    verify_chain("USA", stored, &fixture().anchors, NOW)
}

/// (block index, problem) pairs.
fn problems(report: &AuditReport) -> Vec<(Option<u64>, AuditProblemKind)> {
    report
        .problems
        .iter()
        .map(|p| (p.index, p.kind.clone()))
        .collect()
}

#[test]
fn records_hash_is_sha256_of_length_prefixed_encodings() {
    let records = vec![record("a"), record("bb")];
    let mut concatenated = Vec::new();
    for r in &records {
        let encoded = r.encode_to_vec();
        concatenated.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        concatenated.extend_from_slice(&encoded);
    }
    let expected: [u8; 32] = Sha256::digest(&concatenated).into();
    assert_eq!(records_sha256(&records), expected);
    let mut linked = GENESIS_HASH.to_vec();
    linked.extend_from_slice(&expected);
    let expected_chain: [u8; 32] = Sha256::digest(&linked).into();
    assert_eq!(chain_sha256(&GENESIS_HASH, &records), expected_chain);
}

#[test]
fn sealing_numbers_and_links_blocks_from_genesis() {
    let blocks = chain(3, &[2]);
    assert_eq!(blocks[0].prev_chain_sha256.as_ref(), &GENESIS_HASH);
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(block.index, i as u64 + 1);
        assert_eq!(block.nation, "USA");
        if i > 0 {
            assert_eq!(block.prev_chain_sha256, blocks[i - 1].chain_sha256);
        }
        assert_eq!(block.checkpoint.is_some(), block.index == 2);
    }
    let checkpoint = blocks[1].checkpoint.as_ref().unwrap();
    assert_eq!(checkpoint.chain_sha256, blocks[1].chain_sha256);
    assert_eq!((checkpoint.index, checkpoint.signed_at_ms), (2, NOW));
    assert_eq!(
        blocks[1].checkpoint_certificate,
        fixture().bridge.certificate
    );
}

#[test]
fn resuming_continues_the_chain_as_if_never_stopped() {
    let blocks = chain(3, &[]);
    let mut resumed = AuditChain::resume("USA", &blocks[2]).unwrap();
    assert_eq!(resumed.next_index(), 4);
    assert_eq!(resumed.head()[..], blocks[2].chain_sha256[..]);
    let next = resumed.seal(vec![record("x")], None).unwrap();
    let mut all = blocks;
    all.push(next);
    let report = verify(stored(&all));
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.last_verified_index, Some(4));
}

#[test]
fn resume_refuses_blocks_it_cannot_continue() {
    let good = chain(1, &[]).remove(0);
    let with = |edit: fn(&mut v1::AuditBlock)| {
        let mut block = good.clone();
        edit(&mut block);
        block
    };
    let cases = [
        ("own block", good.clone(), None),
        (
            "another nation's",
            with(|b| b.nation = "GBR".into()),
            Some("GBR"),
        ),
        (
            "short chain hash",
            with(|b| b.chain_sha256.truncate(31)),
            Some("31-byte"),
        ),
        ("index 0", with(|b| b.index = 0), Some("index 0")),
    ];
    for (name, block, error) in cases {
        match (AuditChain::resume("USA", &block), error) {
            (Ok(c), None) => assert_eq!(c.next_index(), 2, "{name}"),
            (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, expected error {want:?}"),
        }
    }
}

#[test]
fn seal_refuses_empty_blocks_and_foreign_keys_and_leaves_the_chain_unchanged() {
    let mut writer = AuditChain::genesis("GBR");
    let before = writer.clone();
    assert!(writer.seal(vec![], None).is_err());
    let err = writer
        .seal(vec![record("x")], Some((&fixture().bridge, NOW)))
        .unwrap_err();
    assert!(err.to_string().contains("USA key"), "{err}");
    assert_eq!(writer, before);
    assert!(writer.seal(vec![record("x")], None).is_ok());
    assert_eq!(writer.next_index(), 2);
}

#[test]
fn a_clean_chain_verifies_with_counts() {
    let report = verify(stored(&chain(5, &[1, 4])));
    assert_eq!(
        report,
        AuditReport {
            blocks_checked: 5,
            records_checked: 10,
            checkpoints_verified: 2,
            last_verified_index: Some(5),
            last_checkpoint_index: Some(4),
            problems: vec![],
        }
    );
}

#[test]
fn altering_any_record_field_is_reported_at_exactly_that_block() {
    type Tamper = fn(&mut v1::AuditRecord);
    let tampers: Vec<(&str, Tamper)> = vec![
        ("decision", |r| r.decision = v1::AuditDecision::Admit as i32),
        ("stage", |r| r.stage = "ingress".into()),
        ("partner", |r| r.partner = "FRA".into()),
        ("msg_id", |r| r.msg_id.push('0')),
        ("reason", |r| r.reason = "expired".into()),
        ("label_as_produced", |r| {
            r.label_as_produced.as_mut().unwrap().classification = "UNCLASSIFIED".into()
        }),
        ("label_as_translated", |r| {
            r.label_as_translated
                .as_mut()
                .unwrap()
                .releasable_to
                .push("FRA".into())
        }),
        ("translator", |r| r.translator = "usa-gbr@2".into()),
        ("source_policy_version", |r| r.source_policy_version = 1),
        ("target_policy_version", |r| r.target_policy_version = 4),
        ("key_id", |r| r.key_id = "cd".repeat(32)),
        ("schema", |r| r.schema = "coalition.v1.Track@2".into()),
        ("decided_at_ms", |r| r.decided_at_ms += 1),
        ("source_stream_seq", |r| r.source_stream_seq += 1),
        ("detail", |r| r.detail = "nothing to see".into()),
    ];
    let blocks = chain(5, &[3, 5]);
    for (field, tamper) in tampers {
        let mut altered = blocks.clone();
        tamper(&mut altered[2].records[1]);
        let report = verify(stored(&altered));
        assert_eq!(
            problems(&report),
            vec![(Some(3), AuditProblemKind::BadHash)],
            "altered {field}"
        );
        assert_eq!(report.problems[0].stream_seq, 102, "{field}");
        assert_eq!(report.checkpoints_verified, 2, "{field}");
    }
}

/// The stored form of `blocks` after `edit`.
fn altered(
    blocks: &[v1::AuditBlock],
    edit: impl Fn(&mut Vec<v1::AuditBlock>),
) -> Vec<(u64, Bytes)> {
    let mut b = blocks.to_vec();
    edit(&mut b);
    stored(&b)
}

type Case = (
    &'static str,
    Vec<(u64, Bytes)>,
    Vec<(Option<u64>, AuditProblemKind)>,
);

#[test]
fn missing_repeated_or_reordered_blocks_are_index_gaps_where_they_happened() {
    let blocks = chain(6, &[]);
    let gap = |expected, found| AuditProblemKind::IndexGap { expected, found };
    let cases: Vec<Case> = vec![
        ("untouched", altered(&blocks, |_| {}), vec![]),
        (
            "block 3 deleted",
            altered(&blocks, |b| {
                b.remove(2);
            }),
            vec![(Some(4), gap(3, 4))],
        ),
        (
            "blocks 3 and 4 swapped",
            altered(&blocks, |b| b.swap(2, 3)),
            vec![
                (Some(4), gap(3, 4)),
                (Some(3), gap(5, 3)),
                (Some(5), gap(4, 5)),
            ],
        ),
        (
            "block 3 stored twice",
            altered(&blocks, |b| b.insert(3, b[2].clone())),
            vec![(Some(3), gap(4, 3))],
        ),
    ];
    for (name, stored, expected) in cases {
        assert_eq!(problems(&verify(stored)), expected, "{name}");
    }
}

#[test]
fn altered_block_headers_are_reported_where_they_happened() {
    let blocks = chain(6, &[]);
    let rewritten_hash = chain_sha256(&blocks[1].chain_sha256, &blocks[2].records[..1]);
    let cases: Vec<Case> = vec![
        (
            "block 3 claims another nation",
            altered(&blocks, |b| b[2].nation = "GBR".into()),
            vec![(Some(3), AuditProblemKind::WrongNation("GBR".into()))],
        ),
        (
            "block 3 loses a record and gets a recomputed chain hash",
            altered(&blocks, |b| {
                b[2].records.pop();
                b[2].chain_sha256 = rewritten_hash.to_vec().into();
            }),
            vec![(
                Some(4),
                AuditProblemKind::BrokenLink(format!(
                    "prev hash {} is not block 3's chain hash {}",
                    short_hex(&blocks[2].chain_sha256),
                    short_hex(&rewritten_hash)
                )),
            )],
        ),
        (
            "block 1 not from genesis",
            altered(&blocks, |b| b[0].prev_chain_sha256 = vec![1; 32].into()),
            vec![
                (
                    Some(1),
                    AuditProblemKind::BrokenLink(
                        "block 1 does not start from the genesis hash".into(),
                    ),
                ),
                (Some(1), AuditProblemKind::BadHash),
            ],
        ),
    ];
    for (name, stored, expected) in cases {
        assert_eq!(problems(&verify(stored)), expected, "{name}");
    }
}

#[test]
fn undecodable_messages_are_reported_without_blaming_their_neighbours() {
    let blocks = chain(4, &[]);
    let garbage = Bytes::from_static(b"\xff\xff\xff not a block");
    let mut replaced = stored(&blocks);
    replaced[1].1 = garbage.clone();
    let mut inserted = stored(&blocks);
    inserted.insert(2, (999, garbage));
    for (name, stored) in [("replaced", replaced), ("inserted", inserted)] {
        let report = verify(stored);
        assert_eq!(report.problems.len(), 1, "{name}: {:?}", report.problems);
        assert_eq!(report.problems[0].index, None, "{name}");
        assert!(
            matches!(report.problems[0].kind, AuditProblemKind::Undecodable(_)),
            "{name}"
        );
        assert_eq!(report.last_verified_index, Some(4), "{name}");
    }
}

/// Verifies blocks 1-3, block 2 sealed with `key` signing at `at`, then
/// altered by `edit`.
fn with_checkpoint(key: &CertifiedKey, at: i64, edit: impl Fn(&mut v1::AuditBlock)) -> AuditReport {
    let mut writer = AuditChain::genesis("USA");
    let mut blocks = vec![writer.seal(vec![record("a")], None).unwrap()];
    blocks.push(writer.seal(vec![record("b")], Some((key, at))).unwrap());
    blocks.push(writer.seal(vec![record("c")], None).unwrap());
    edit(&mut blocks[1]);
    verify(stored(&blocks))
}

/// Checks that block 2's checkpoint verified (`refusal` none), or is the
/// only problem, refused for a reason containing `refusal`.
fn assert_checkpoint(name: &str, report: &AuditReport, refusal: Option<&str>) {
    let Some(why) = refusal else {
        assert!(report.is_clean(), "{name}: {:?}", report.problems);
        assert_eq!(report.last_checkpoint_index, Some(2), "{name}");
        return;
    };
    assert_eq!(report.problems.len(), 1, "{name}: {:?}", report.problems);
    let p = &report.problems[0];
    assert_eq!(p.index, Some(2), "{name}");
    assert!(
        matches!(&p.kind, AuditProblemKind::BadCheckpoint(w) if w.contains(why)),
        "{name}: {}",
        p.kind
    );
    assert_eq!(report.checkpoints_verified, 0, "{name}");
}

#[test]
fn checkpoints_verify_only_from_a_trusted_bridge_key_valid_when_signed() {
    let f = fixture();
    let keep = |_: &mut v1::AuditBlock| {};
    let cases = [
        ("bridge key", with_checkpoint(&f.bridge, NOW, keep), None),
        (
            "expired certificate, signed while valid",
            with_checkpoint(&f.expired, NOW - 90 * 60_000, keep),
            None,
        ),
        (
            "expired certificate, signed after",
            with_checkpoint(&f.expired, NOW, keep),
            Some("is not valid at"),
        ),
        (
            "key certified as a producer",
            with_checkpoint(&f.producer, NOW, keep),
            Some("expected USA/bridge"),
        ),
        (
            "untrusted root",
            with_checkpoint(&f.rogue, NOW, keep),
            Some("certificate"),
        ),
        (
            "signed in the future",
            with_checkpoint(&f.bridge, NOW + 2 * CHECKPOINT_SKEW_MS, keep),
            Some("future"),
        ),
    ];
    for (name, report, refusal) in cases {
        assert_checkpoint(name, &report, refusal);
    }
}

#[test]
fn checkpoints_altered_after_signing_are_refused() {
    let key = &fixture().bridge;
    let cases = [
        (
            "signature bit flipped",
            with_checkpoint(key, NOW, |b| {
                let mut s = b.checkpoint_signature.to_vec();
                s[10] ^= 1;
                b.checkpoint_signature = s.into();
            }),
            "does not verify",
        ),
        (
            "signed time altered",
            with_checkpoint(key, NOW, |b| {
                b.checkpoint.as_mut().unwrap().signed_at_ms -= 1
            }),
            "does not verify",
        ),
        (
            "names another block",
            with_checkpoint(key, NOW, |b| b.checkpoint.as_mut().unwrap().index = 3),
            "names block 3",
        ),
        (
            "names another nation",
            with_checkpoint(key, NOW, |b| {
                b.checkpoint.as_mut().unwrap().nation = "GBR".into()
            }),
            "names nation",
        ),
        (
            "another chain hash",
            with_checkpoint(key, NOW, |b| {
                b.checkpoint.as_mut().unwrap().chain_sha256 = vec![0; 32].into()
            }),
            "not the block's",
        ),
        (
            "signature without checkpoint",
            with_checkpoint(key, NOW, |b| b.checkpoint = None),
            "no checkpoint",
        ),
    ];
    for (name, report, refusal) in cases {
        assert_checkpoint(name, &report, Some(refusal));
    }
}

#[test]
fn verification_may_start_anywhere_but_block_1_starts_from_genesis() {
    let blocks = chain(5, &[]);
    let report = verify(stored(&blocks[2..]));
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(
        (report.blocks_checked, report.last_verified_index),
        (3, Some(5))
    );
    let mut first = blocks[0].clone();
    first.prev_chain_sha256 = blocks[3].chain_sha256.clone();
    first.chain_sha256 = chain_sha256(&first.prev_chain_sha256, &first.records)
        .to_vec()
        .into();
    let report = verify(stored(&[first]));
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.last_verified_index, None);
}

#[test]
fn records_for_finds_every_record_about_a_message() {
    let mut blocks = chain(3, &[]);
    let mut admitted = record("USA.sensor-1.tracks.4");
    admitted.decision = v1::AuditDecision::Admit as i32;
    blocks[2].records.push(admitted);
    let found = records_for(&blocks, "USA.sensor-1.tracks.4");
    let at: Vec<_> = found
        .iter()
        .map(|r| (r.index, r.position, decision_name(r.record.decision)))
        .collect();
    assert_eq!(at, vec![(2, 0, "release"), (3, 2, "admit")]);
    assert!(records_for(&blocks, "USA.sensor-1.tracks.99").is_empty());
}

#[test]
fn problems_and_decisions_read_as_one_line_naming_block_and_stream_sequence() {
    let line = |index, kind| {
        AuditProblem {
            stream_seq: 7,
            index,
            kind,
        }
        .to_string()
    };
    let gap = |expected, found| AuditProblemKind::IndexGap { expected, found };
    let missing = "block 4 (stream seq 7): expected index 3, found 4: 1 block(s) missing";
    assert_eq!(line(Some(4), gap(3, 4)), missing);
    let back = "block 3 (stream seq 7): expected index 5, found 3: block repeated or out of order";
    assert_eq!(line(Some(3), gap(5, 3)), back);
    let garbage = AuditProblemKind::Undecodable("bad wire type".into());
    let text = "block ? (stream seq 7): not an audit block: bad wire type";
    assert_eq!(line(None, garbage), text);
    let names: Vec<_> = (0..=7).map(decision_name).collect();
    let expected = "unspecified release deny admit reject revoke hold unspecified";
    assert_eq!(names.join(" "), expected);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Flipping any bit of any stored block is reported, unless the block
    /// still decodes to exactly what was sealed (protobuf ignores unknown
    /// fields, so such a flip changes nothing the log says).
    #[test]
    fn any_bit_flip_is_reported_or_changes_nothing(
        block in 0usize..4,
        byte in proptest::prelude::any::<proptest::sample::Index>(),
        bit in 0u8..8,
    ) {
        let blocks = chain(4, &[2]);
        let mut stored = stored(&blocks);
        let mut raw = stored[block].1.to_vec();
        let at = byte.index(raw.len());
        raw[at] ^= 1 << bit;
        let unchanged = decode_block(&raw).is_ok_and(|b| b == blocks[block]);
        stored[block].1 = raw.into();
        let report = verify(stored);
        proptest::prop_assert!(report.is_clean() == unchanged, "{:?}", report.problems);
    }
}
