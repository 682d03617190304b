//! Unit tests of the audit command's pure helpers.
use super::*;
use coalition_core::audit::{encode_block, AuditChain};

fn stored(n: u64) -> Vec<(u64, Vec<u8>)> {
    let mut chain = AuditChain::genesis("USA");
    (1..=n)
        .map(|i| {
            let record = v1::AuditRecord {
                msg_id: format!("m{i}"),
                ..Default::default()
            };
            let block = chain.seal(vec![record], None).unwrap();
            (10 + i, encode_block(&block).to_vec())
        })
        .collect()
}

#[test]
fn ranges_select_from_the_first_to_the_last_block_in_range() {
    let mut with_garbage = stored(5);
    with_garbage.insert(3, (99, b"garbage".to_vec()));
    let seqs = |v: Vec<(u64, Vec<u8>)>| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    let cases = [
        ((None, None), stored(5), vec![11, 12, 13, 14, 15]),
        ((Some(2), Some(4)), stored(5), vec![12, 13, 14]),
        ((Some(4), None), stored(5), vec![14, 15]),
        ((None, Some(1)), stored(5), vec![11]),
        ((Some(7), None), stored(5), vec![]),
        ((Some(3), Some(4)), with_garbage, vec![13, 99, 14]),
    ];
    for ((from, to), input, want) in cases {
        let range = IndexRange::new(from, to).unwrap();
        assert_eq!(seqs(range.select(input)), want, "{range}");
    }
    assert!(IndexRange::new(Some(5), Some(4)).is_err());
}

#[test]
fn records_print_every_field_that_explains_a_decision() {
    let record = v1::AuditRecord {
        decision: v1::AuditDecision::Deny as i32,
        stage: "egress".into(),
        partner: "GBR".into(),
        msg_id: "USA.radar-1.tracks.7".into(),
        reason: "noforn".into(),
        translator: "USA-GBR@1".into(),
        source_policy_version: 1,
        target_policy_version: 2,
        decided_at_ms: 1_700_000_000_000,
        ..Default::default()
    };
    let r = RecordRef {
        index: 3,
        position: 1,
        record: &record,
    };
    let text = describe(&r);
    for want in [
        "block 3, record 1: deny at egress, partner GBR",
        "reason:              noforn",
        "translator:          USA-GBR@1",
        "policy versions:     source v1, target v2",
        "label as produced:   -",
        "decided at:          2023-11-14T22:13:20.000Z",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert_eq!(
        one_line(3, &record),
        "2023-11-14T22:13:20.000Z block 3 deny egress GBR USA.radar-1.tracks.7 \
         reason=noforn translator=USA-GBR@1"
    );
}
