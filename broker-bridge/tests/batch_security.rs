//! Attacks on sealed batches, on a real mesh with real ML-DSA keys, by
//! two kinds of attacker:
//!
//! - a **hostile producer**: only its own NATS user and key
//!   (`forge::producer_credential`, `forge::identity`), publishing on its
//!   own OUTBOUND subjects; USA's egress must refuse;
//! - a **hostile partner or on-path attacker**: USA's bridge's credential
//!   in its release account for GBR (`forge::release_credential`), which
//!   models a faulty or hostile sending bridge writing RELEASED directly;
//!   GBR's ingress is the last line and must refuse.
//!
//! Every attack is refused with its own reason (the first failing step of
//! docs/wire-contract.md, "Verification order"), dead-lettered as written
//! (`dlq.<stage>.<reason>` with `Coalition-Reason`, `-Stage`, `-Partner`),
//! audited as a rejection of each record the batch decodes to (and of
//! nothing else), counted in `coalition_bridge_rejected_total`, and nothing
//! of it is released or delivered: the next delivery is the next
//! legitimate record, with its seq.
//!
//! What these tests do not cover: tampering with labels and payloads
//! (`sovereign_boundary.rs`, `schema_policy.rs`), garbage and misfiled
//! batches (`wire_edges.rs`), and the pure checks themselves
//! (`core/src/batch`, `core/src/feed_position.rs`). Feed positions
//! are attacked in `batch_positions.rs`, certificates in
//! `batch_certificates.rs`; the attacker's tools are `common/attack.rs`.
mod common;

use bytes::Bytes;
use coalition_core::batch::decode_batch;
use coalition_core::DenyReason;
use coalition_schemas::v1::{self};
use common::attack::*;
use common::forge;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_carried_with_the_proof_of_another_batch_is_bad_proof() {
    let mut s = after_one_release().await;
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    let door = Door::ingress(&s.mesh, "GBR", "radar-1", "tracks");
    // Genuine batches of radar-1: seqs 2..=5, the next four, and a second
    // batch over the same seqs (what a producer's equivocation, or a
    // replaced batch, leaves in an attacker's hands). Their seqs come next
    // in the feed: if one were admitted, the legitimate seq 2 below would
    // be refused as a replay and the test would see it.
    let a = forge::seal(&radar_1, "tracks", 2, &drafts("A", 4, &to_gbr()));
    let b = forge::seal(&radar_1, "tracks", 6, &drafts("B", 4, &to_gbr()));
    let c = forge::seal(&radar_1, "tracks", 2, &drafts("C", 4, &to_gbr()));

    // A's seq 3 carried with the proof of B's second record (seq 7): the
    // same leaf position, the same proof length, another batch's hashes.
    let seq_3 = ids("radar-1", "tracks", [3]);
    let (a_3, b_7) = (subset(&a, &[1]), subset(&b, &[1]));
    let spliced = forge::edit(&a_3, |x| x.proof = wire(&b_7).proof);
    refused(&s.mesh, &door, spliced, DenyReason::BadProof, &seq_3).await;

    // C's seq 3 with C's own valid proof, under A's header and signature.
    let a_wire = wire(&a);
    let swapped = forge::edit(&subset(&c, &[1]), |x| {
        x.header = a_wire.header.clone();
        x.signature = a_wire.signature.clone();
    });
    refused(&s.mesh, &door, swapped, DenyReason::BadProof, &seq_3).await;

    legitimate(&mut s, "LEGIT-2", 2).await;
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_reordered_duplicated_or_dropped_in_a_batch_are_refused_at_egress_and_ingress() {
    let mut s = after_one_release().await;
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    // Seqs 2..=5, next in the feed.
    let sealed = forge::seal(&radar_1, "tracks", 2, &drafts("R", 4, &to_gbr()));
    // At egress the producer's own complete batch; at ingress what a
    // partner's release looks like: a subset (seqs 2, 3, 5) and its proof.
    let cases = [
        (
            Door::egress(&s.mesh, "radar-1", "tracks"),
            sealed.clone(),
            [2, 3, 4, 5].to_vec(),
        ),
        (
            Door::ingress(&s.mesh, "GBR", "radar-1", "tracks"),
            subset(&sealed, &[0, 1, 3]),
            [2, 3, 5].to_vec(),
        ),
    ];
    let malformed = DenyReason::MalformedBatch;
    for (door, batch, seqs) in &cases {
        let reordered = forge::edit(batch, |b| b.records.swap(1, 2));
        refused(&s.mesh, door, reordered, malformed, &undecodable()).await;

        let duplicated = forge::edit(batch, |b| {
            let again = b.records[1].clone();
            b.records.insert(2, again);
        });
        refused(&s.mesh, door, duplicated, malformed, &undecodable()).await;

        // The second record dropped, the proof left as it was.
        let dropped = forge::edit(batch, |b| {
            b.records.remove(1);
        });
        let carried = ids(
            "radar-1",
            "tracks",
            seqs.iter().copied().filter(|q| *q != seqs[1]),
        );
        refused(&s.mesh, door, dropped, DenyReason::BadProof, &carried).await;
    }

    legitimate(&mut s, "LEGIT-2", 2).await;
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_truncated_or_padded_proof_on_a_released_subset_is_bad_proof() {
    let mut s = after_one_release().await;
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    let door = Door::ingress(&s.mesh, "GBR", "radar-1", "tracks");
    // Seqs 10..=17, ahead of the feed; released: seqs 12 and 15, whose
    // multiproof has four hashes (leaves 0-1, 3, 4 and 6-7).
    let sealed = forge::seal(&radar_1, "tracks", 10, &drafts("P", 8, &to_gbr()));
    let released = subset(&sealed, &[2, 5]);
    assert_eq!(wire(&released).proof.len(), 4);
    let carried = ids("radar-1", "tracks", [12, 15]);

    let flipped = forge::edit(&released, |b| {
        let mut hash = b.proof[1].to_vec();
        hash[7] ^= 0x10;
        b.proof[1] = hash.into();
    });
    refused(&s.mesh, &door, flipped, DenyReason::BadProof, &carried).await;
    let truncated = forge::edit(&released, |b| {
        b.proof.pop();
    });
    refused(&s.mesh, &door, truncated, DenyReason::BadProof, &carried).await;
    // One hash too many (every proof hash must be used exactly once).
    let padded = forge::edit(&released, |b| {
        let extra = b.proof[0].clone();
        b.proof.push(extra);
    });
    refused(&s.mesh, &door, padded, DenyReason::BadProof, &carried).await;

    legitimate(&mut s, "LEGIT-2", 2).await;
    // Control: the same subset with its proof untouched is admitted, so the
    // proof was all that was wrong with the three above.
    let cred = door.cred.clone();
    forge::publish_raw(&s.mesh, "USA", cred, &door.subject, "genuine", released).await;
    for (id, seq) in [("P-2", 12), ("P-5", 15)] {
        let d = next_delivery(&mut s.gbr_tracks).await;
        assert_eq!((track_id(&d), d.seq), (id, seq), "the genuine subset");
    }
    s.bridges.shutdown().await;
}

/// A header field edited after signing, and the refusal the verification
/// order gives.
struct HeaderEdit {
    what: &'static str,
    edit: Box<dyn FnOnce(&mut v1::BatchHeader)>,
    reason: DenyReason,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_header_edited_after_signing_is_refused_at_the_first_check_it_fails() {
    let mut s = after_one_release().await;
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    // Seqs 2..=4, next in the feed.
    let sealed = forge::seal(&radar_1, "tracks", 2, &drafts("H", 3, &to_gbr()));
    let other = forge::seal(&radar_1, "tracks", 2, &drafts("X", 3, &to_gbr()));
    let other_root = decode_batch(&other).expect("a batch").header.merkle_root;
    let edit = |what, edit: Box<dyn FnOnce(&mut v1::BatchHeader)>, reason| HeaderEdit {
        what,
        edit,
        reason,
    };
    let cases = [
        edit(
            "last_seq one more: the records are still within the range; the signature fails",
            Box::new(|h| h.last_seq += 1),
            DenyReason::BadSignature,
        ),
        edit(
            "last_seq one less: a record is out of the range, found before any key is used",
            Box::new(|h| h.last_seq -= 1),
            DenyReason::MalformedBatch,
        ),
        edit(
            "first_seq one less",
            Box::new(|h| h.first_seq -= 1),
            DenyReason::BadSignature,
        ),
        edit(
            "feed: another feed the certificate permits",
            Box::new(|h| h.feed = "tracks-b".into()),
            DenyReason::BadSignature,
        ),
        edit(
            "feed: one the certificate does not permit, checked before the signature",
            Box::new(|h| h.feed = "decoy".into()),
            DenyReason::FeedNotPermitted,
        ),
        edit(
            "producer: another producer of the nation, not the certificate's",
            Box::new(|h| h.producer_id = "radar-2".into()),
            DenyReason::ProducerMismatch,
        ),
        edit(
            "merkle_root: another batch's",
            Box::new(move |h| h.merkle_root = Bytes::copy_from_slice(&other_root)),
            DenyReason::BadSignature,
        ),
        edit(
            "sealed_at_ms",
            Box::new(|h| h.sealed_at_ms += 1),
            DenyReason::BadSignature,
        ),
    ];
    for HeaderEdit { what, edit, reason } in cases {
        let mut header = None;
        let edited = forge::edit_header(&sealed, |h| {
            edit(h);
            header = Some(h.clone());
        });
        let h = header.expect("edited");
        // Written on the subject the edited header names, as an attacker
        // would (anything else is `subject_mismatch`).
        let door = Door::ingress(&s.mesh, "GBR", &h.producer_id, &h.feed);
        let audited = if reason == DenyReason::MalformedBatch {
            undecodable()
        } else {
            ids(&h.producer_id, &h.feed, 2..=4)
        };
        eprintln!("header edit: {what}");
        refused(&s.mesh, &door, edited, reason, &audited).await;
    }

    legitimate(&mut s, "LEGIT-2", 2).await;
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_of_another_producer_or_feed_under_a_batch_header_are_bad_proof() {
    let mut s = after_one_release().await;
    let (radar_1, radar_2) = (
        forge::identity(&s.mesh, "USA", "radar-1"),
        forge::identity(&s.mesh, "USA", "radar-2"),
    );
    let door = Door::ingress(&s.mesh, "GBR", "radar-1", "tracks");
    // Three genuine batches over seqs 2..=5: radar-1's on `tracks` (whose
    // header is kept), radar-2's on `tracks`, radar-1's on `tracks-b`. A
    // record header names neither producer nor feed: only the root binds
    // a record to its batch.
    let a = forge::seal(&radar_1, "tracks", 2, &drafts("A", 4, &to_gbr()));
    let b = forge::seal(&radar_2, "tracks", 2, &drafts("B", 4, &to_gbr()));
    let c = forge::seal(&radar_1, "tracks-b", 2, &drafts("C", 4, &to_gbr()));
    let (b_wire, c_wire) = (wire(&b), wire(&c));
    let all = ids("radar-1", "tracks", 2..=5);

    let half_b = forge::edit(&a, |x| {
        x.records[2..4].clone_from_slice(&b_wire.records[2..4])
    });
    refused(&s.mesh, &door, half_b, DenyReason::BadProof, &all).await;
    let all_b = forge::edit(&a, |x| x.records = b_wire.records.clone());
    refused(&s.mesh, &door, all_b, DenyReason::BadProof, &all).await;
    let one_c = forge::edit(&a, |x| x.records[1] = c_wire.records[1].clone());
    refused(&s.mesh, &door, one_c, DenyReason::BadProof, &all).await;
    // And B's released record with B's own proof, under A's header.
    let a_wire = wire(&a);
    let b_3 = forge::edit(&subset(&b, &[1]), |x| {
        x.header = a_wire.header.clone();
        x.signature = a_wire.signature.clone();
    });
    let seq_3 = ids("radar-1", "tracks", [3]);
    refused(&s.mesh, &door, b_3, DenyReason::BadProof, &seq_3).await;

    legitimate(&mut s, "LEGIT-2", 2).await;
    s.bridges.shutdown().await;
}
