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
//! (`core/src/batch`, `core/src/feed_position.rs`).
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use coalition_core::batch::{decode_batch, RecordDraft};
use coalition_core::DenyReason;
use coalition_schemas::v1::{self, AuditDecision};
use coalition_sdk::Subscription;
use coalition_topology::{streams, subjects, Credential, Kind};
use common::forge;
use common::policy::until_audited;
use common::*;
use nats_harness::Mesh;

/// USA releases to GBR. USA's `radar-1` writes two feeds and `radar-2`
/// one; no SDK of `radar-3` ever connects, so its certificate is on no
/// CONTROL stream until a test stores it.
const USA_TO_GBR_FEEDS: &str = r#"
[mesh]
name = "batch-security"
[[nation]]
code = "USA"
[[nation]]
code = "GBR"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks-b"
kind = "track"
[[feed]]
nation = "USA"
producer = "radar-2"
name = "tracks"
kind = "track"
[[feed]]
nation = "USA"
producer = "radar-3"
name = "tracks"
kind = "track"
"#;

/// Where a forged batch is written, as whom, and who must refuse it.
struct Door {
    /// The account's credential (it also says which account).
    cred: Credential,
    subject: String,
    /// The nation whose bridge reads what is written here.
    judge: &'static str,
    stage: &'static str,
    /// The partner as dead letters and metrics name it (`-` at egress).
    partner: &'static str,
}

impl Door {
    /// USA's OUTBOUND subject of `producer`'s `feed`, as that producer's
    /// own NATS user: all a hostile producer can write. USA's egress reads.
    fn egress(mesh: &Mesh, producer: &str, feed: &str) -> Door {
        Door {
            cred: forge::producer_credential(mesh, "USA", producer),
            subject: subjects::outbound(Kind::Track, producer, feed, None),
            judge: "USA",
            stage: "egress",
            partner: "-",
        }
    }

    /// USA's release account for `to`, as USA's bridge: a faulty or
    /// hostile sending bridge (or anyone on the path with its credential).
    /// `to`'s ingress reads.
    fn ingress(mesh: &Mesh, to: &'static str, producer: &str, feed: &str) -> Door {
        Door {
            cred: forge::release_credential(mesh, "USA", to),
            subject: subjects::released(Kind::Track, "USA", producer, feed, None),
            judge: to,
            stage: "ingress",
            partner: "USA",
        }
    }

    /// The audit log's partner field: empty at egress.
    fn audit_partner(&self) -> &'static str {
        if self.partner == "-" {
            ""
        } else {
            self.partner
        }
    }

    fn rejected(&self, reason: DenyReason) -> f64 {
        metric(&format!(
            "coalition_bridge_rejected_total{{nation=\"{}\",stage=\"{}\",partner=\"{}\",reason=\"{}\"}}",
            self.judge,
            self.stage,
            self.partner,
            reason.as_str()
        ))
    }
}

/// A forged batch written through a door, whose refusal is still to be
/// checked.
struct Written<'a> {
    door: &'a Door,
    bytes: Bytes,
    reason: DenyReason,
    /// Where it was stored in its stream.
    stream_seq: u64,
    /// The rejections counted before it was written.
    counted_before: f64,
}

/// Writes `bytes` through `door` with a `Nats-Msg-Id` never used before,
/// expecting a refusal for `reason`.
async fn write<'a>(mesh: &Mesh, door: &'a Door, bytes: Bytes, reason: DenyReason) -> Written<'a> {
    static ATTACKS: AtomicU64 = AtomicU64::new(1);
    let msg_id = format!("attack-{}", ATTACKS.fetch_add(1, Ordering::Relaxed));
    let counted_before = door.rejected(reason);
    let stream_seq = forge::publish_stored(
        mesh,
        "USA",
        door.cred.clone(),
        &door.subject,
        &msg_id,
        bytes.clone(),
    )
    .await;
    Written {
        door,
        bytes,
        reason,
        stream_seq,
        counted_before,
    }
}

impl Written<'_> {
    /// Asserts the refusal: dead-lettered as written, with its reason,
    /// stage and partner; audited as a rejection of exactly `msg_ids` (the
    /// records the batch decodes to; `[""]` if it does not decode) and of
    /// nothing else; counted once per record.
    async fn refused(self, mesh: &Mesh, msg_ids: &[String]) {
        let Written {
            door,
            bytes,
            reason,
            stream_seq,
            counted_before,
        } = self;
        let (judge, stage, reason_name) = (door.judge, door.stage, reason.as_str());
        let subject = subjects::deadletter(stage, reason_name);
        let dlq_id = format!("dlq.{stage}.{}.{stream_seq}", door.partner);
        let dead = dead_letter_with_id(mesh, judge, &subject, &dlq_id).await;
        assert_eq!(dead.payload, bytes, "{dlq_id}: kept as written");
        for (name, want) in [
            ("Coalition-Reason", reason_name),
            ("Coalition-Stage", stage),
            ("Coalition-Partner", door.partner),
            ("Coalition-Source-Subject", door.subject.as_str()),
        ] {
            let got = dead.headers.get(name).map(|v| v.to_string());
            assert_eq!(got.as_deref(), Some(want), "{dlq_id}: header {name}");
        }

        let partner = door.audit_partner();
        let ours = |r: &v1::AuditRecord| {
            r.stage == stage && r.partner == partner && r.source_stream_seq == stream_seq
        };
        for id in msg_ids {
            until_audited(
                mesh,
                judge,
                &format!("{judge} audits {id:?} rejected as {reason_name}"),
                |r| {
                    ours(r)
                        && r.decision == AuditDecision::Reject as i32
                        && r.reason == reason_name
                        && &r.msg_id == id
                },
            )
            .await;
        }
        // Nothing else was decided about it: no release, no admission.
        let mut decided: Vec<(i32, String, String)> = audit_records(mesh, judge)
            .await
            .into_iter()
            .filter(|r| ours(r))
            .map(|r| (r.decision, r.reason, r.msg_id))
            .collect();
        decided.sort();
        let mut want: Vec<(i32, String, String)> = msg_ids
            .iter()
            .map(|id| {
                let reject = AuditDecision::Reject as i32;
                (reject, reason_name.to_string(), id.clone())
            })
            .collect();
        want.sort();
        assert_eq!(
            decided, want,
            "{judge} {stage}: all it decided about {dlq_id}"
        );

        let records = msg_ids.len() as f64;
        until(
            &format!("{judge} counts {records} {stage} rejections as {reason_name}"),
            || door.rejected(reason) >= counted_before + records,
        )
        .await;
    }
}

/// Writes `bytes` through `door` and asserts it is refused for `reason`
/// ([`Written::refused`]).
async fn refused(mesh: &Mesh, door: &Door, bytes: Bytes, reason: DenyReason, msg_ids: &[String]) {
    write(mesh, door, bytes, reason)
        .await
        .refused(mesh, msg_ids)
        .await;
}

/// The dead letter on `subject` in `nation` whose `Nats-Msg-Id` is `id`,
/// waiting for it to be the last one there (attacks are checked one at a
/// time).
async fn dead_letter_with_id(
    mesh: &Mesh,
    nation: &str,
    subject: &str,
    id: &str,
) -> async_nats::jetstream::message::StreamMessage {
    let dlq = home_stream(mesh, nation, streams::DEADLETTER).await;
    within(&format!("dead letter {id} on {subject}"), async {
        loop {
            if let Ok(m) = dlq.get_last_raw_message_by_subject(subject).await {
                if m.headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.to_string())
                    .as_deref()
                    == Some(id)
                {
                    return m;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// A stream of `nation`'s HOME account, read as its bridge.
async fn home_stream(
    mesh: &Mesh,
    nation: &str,
    name: &str,
) -> async_nats::jetstream::stream::Stream {
    let home = mesh
        .bridge_config(nation)
        .expect("bridge config")
        .home
        .clone();
    let js = jetstream_as(mesh, nation, home).await;
    within(&format!("stream {name}"), js.get_stream(name))
        .await
        .expect("stream exists")
}

/// `USA.<producer>.<feed>.<seq>` for each of `seqs`: the msg ids of the
/// records audited.
fn ids(producer: &str, feed: &str, seqs: impl IntoIterator<Item = u64>) -> Vec<String> {
    seqs.into_iter()
        .map(|seq| format!("USA.{producer}.{feed}.{seq}"))
        .collect()
}

/// The audit of a batch that does not decode: one record, no msg id.
fn undecodable() -> Vec<String> {
    vec![String::new()]
}

/// `n` tracks `<prefix>-0`, `<prefix>-1`, ... labelled `label`.
fn drafts(prefix: &str, n: usize, label: &coalition_sdk::Label) -> Vec<RecordDraft> {
    (0..n)
        .map(|i| forge::track_record(label, &format!("{prefix}-{i}")))
        .collect()
}

/// What a bridge releases of `batch`: the records at `keep`, with the
/// producer's header and signature and their multiproof.
fn subset(batch: &[u8], keep: &[usize]) -> Bytes {
    decode_batch(batch)
        .expect("a genuine batch")
        .subset(keep)
        .expect("a subset")
}

fn wire(batch: &[u8]) -> v1::Batch {
    prost::Message::decode(batch).expect("a batch")
}

/// The next delivery is the track `id` at `seq`, with no gap.
async fn next_is(sub: &mut Subscription, id: &str, seq: u64) {
    let d = next_delivery(sub).await;
    assert_eq!(
        (track_id(&d), d.seq, d.gap),
        (id, seq, None),
        "the next delivery must be the next legitimate record"
    );
}

/// Publishes a genuine track `id` as the scene's producer (USA's
/// `radar-1`, feed `tracks`) and asserts it is GBR's next delivery, at
/// `seq`.
async fn legitimate(s: &mut Scene, id: &str, seq: u64) {
    let l = label("USA", "SECRET", &["GBR"]);
    assert_eq!(publish(&s.usa, &l, id).await, seq, "the producer's seq");
    next_is(&mut s.gbr_tracks, id, seq).await;
}

/// The scene, with `radar-1` having published seq 1 (so its certificate is
/// in USA's CONTROL and GBR's ingress has a position in the feed), and
/// radar-1's certificate stored in USA's release account for GBR, where a
/// forged release's reader looks.
async fn after_one_release() -> Scene {
    let mut s = scene(USA_TO_GBR_FEEDS).await;
    legitimate(&mut s, "LEGIT-1", 1).await;
    let rel = forge::release_credential(&s.mesh, "USA", "GBR");
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    forge::store_certificate(&s.mesh, "USA", rel, &radar_1).await;
    s
}

fn to_gbr() -> coalition_sdk::Label {
    label("USA", "SECRET", &["GBR"])
}

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

/// The payload of the last message on `subject` in `stream`, read in
/// USA's cluster as `cred`.
async fn stored_bytes(mesh: &Mesh, cred: Credential, stream: &str, subject: &str) -> Bytes {
    let js = jetstream_as(mesh, "USA", cred).await;
    let stream = within("stream", js.get_stream(stream))
        .await
        .expect("stream");
    within(
        "last message",
        stream.get_last_raw_message_by_subject(subject),
    )
    .await
    .expect("stored")
    .payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_released_batch_replayed_after_the_duplicate_window_or_a_restart_is_feed_replay() {
    let mut s = scene(USA_TO_GBR_FEEDS).await;
    let egress = Door::egress(&s.mesh, "radar-1", "tracks");
    let ingress = Door::ingress(&s.mesh, "GBR", "radar-1", "tracks");
    let home = s.mesh.bridge_config("USA").expect("config").home.clone();
    let one = ids("radar-1", "tracks", [1]);
    let two = ids("radar-1", "tracks", [2]);

    legitimate(&mut s, "LEGIT-1", 1).await;
    // The exact bytes of seq 1 as the producer stored them, and as USA's
    // bridge released them to GBR (the test reads them; the attackers kept
    // what they wrote or saw).
    let outbound = streams::outbound(Kind::Track);
    let released = streams::released(Kind::Track);
    let out_1 = stored_bytes(&s.mesh, home.clone(), outbound, &egress.subject).await;
    let rel_1 = stored_bytes(&s.mesh, ingress.cred.clone(), released, &ingress.subject).await;

    // "After the duplicate window": the 2-minute window's only effect is
    // that JetStream drops a message whose Nats-Msg-Id it stored within
    // it. Once it has passed, the same bytes are stored again as a new
    // message, exactly as they are now under a Nats-Msg-Id never used:
    // so a new id now is that replay, without waiting two minutes.
    let replay = DenyReason::FeedReplay;
    refused(&s.mesh, &egress, out_1.clone(), replay, &one).await;
    refused(&s.mesh, &ingress, rel_1, DenyReason::FeedReplay, &one).await;
    legitimate(&mut s, "LEGIT-2", 2).await;

    // After a restart of both bridges the positions come from POSITIONS:
    // seq 2's batch, the last accepted, and seq 1's are replays still.
    let out_2 = stored_bytes(&s.mesh, home, outbound, &egress.subject).await;
    let rel_2 = stored_bytes(&s.mesh, ingress.cred.clone(), released, &ingress.subject).await;
    let Scene {
        mesh,
        bridges: before,
        gbr,
        gbr_tracks,
        usa,
    } = s;
    before.shutdown().await;
    let mut s = Scene {
        bridges: bridges(&mesh).await,
        mesh,
        gbr,
        gbr_tracks,
        usa,
    };
    refused(&s.mesh, &egress, out_2, DenyReason::FeedReplay, &two).await;
    refused(&s.mesh, &egress, out_1, DenyReason::FeedReplay, &one).await;
    refused(&s.mesh, &ingress, rel_2, DenyReason::FeedReplay, &two).await;

    legitimate(&mut s, "LEGIT-3", 3).await;
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_content_signed_under_used_seqs_is_feed_rollback_at_egress_and_ingress() {
    let mut s = scene(USA_TO_GBR_FEEDS).await;
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    legitimate(&mut s, "LEGIT-1", 1).await;
    legitimate(&mut s, "LEGIT-2", 2).await;

    // The producer's own key signs new content for seqs 2..=4: it starts
    // at the last accepted seq and ends above it.
    let egress = Door::egress(&s.mesh, "radar-1", "tracks");
    let rollback = forge::seal(&radar_1, "tracks", 2, &drafts("ROLLBACK", 3, &to_gbr()));
    let used = ids("radar-1", "tracks", 2..=4);
    let rollback_by = DenyReason::FeedRollback;
    refused(&s.mesh, &egress, rollback, rollback_by, &used).await;
    // New content for seqs 1..=2, all at or below it: old seqs signed again.
    let resigned = forge::seal(&radar_1, "tracks", 1, &drafts("RESIGNED", 2, &to_gbr()));
    let old = ids("radar-1", "tracks", 1..=2);
    refused(&s.mesh, &egress, resigned, DenyReason::FeedReplay, &old).await;
    legitimate(&mut s, "LEGIT-3", 3).await;

    // After that legitimate release (GBR's ingress accepted seq 3), a
    // hostile USA bridge writes new content signed for seqs 3..=5 straight
    // into the release account.
    let ingress = Door::ingress(&s.mesh, "GBR", "radar-1", "tracks");
    forge::store_certificate(&s.mesh, "USA", ingress.cred.clone(), &radar_1).await;
    let rollback = forge::seal(&radar_1, "tracks", 3, &drafts("ROLLIN", 3, &to_gbr()));
    let used = ids("radar-1", "tracks", 3..=5);
    refused(&s.mesh, &ingress, rollback, rollback_by, &used).await;

    legitimate(&mut s, "LEGIT-4", 4).await;
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seq_far_beyond_the_forward_window_is_feed_jump_and_the_feed_goes_on_for_every_partner() {
    let mesh = mesh(USA_TO_GBR_AND_FRA).await;
    let running = bridges(&mesh).await;
    let (gbr, fra) = (
        subscriber(&mesh, "GBR").await,
        subscriber(&mesh, "FRA").await,
    );
    let mut gbr_tracks = within("subscribe", gbr.subscribe(coalition_sdk::Topic::tracks()))
        .await
        .expect("subscribes");
    let mut fra_tracks = within("subscribe", fra.subscribe(coalition_sdk::Topic::tracks()))
        .await
        .expect("subscribes");
    let usa = producer(&mesh, "USA", "radar-1").await;
    let radar_1 = forge::identity(&mesh, "USA", "radar-1");
    let to_both = label("USA", "SECRET", &["GBR", "FRA"]);

    assert_eq!(publish(&usa, &to_both, "LEGIT-1").await, 1);
    // Seq 1 + 10^6, sealed now (within a second or so of seq 1): the window
    // allows 100,000 seqs plus 50,000 per second between the two seals.
    let jump = 1 + 1_000_000;
    let far = forge::seal(&radar_1, "tracks", jump, &drafts("JUMP", 1, &to_both));
    let egress = Door::egress(&mesh, "radar-1", "tracks");
    let far_seq = ids("radar-1", "tracks", [jump]);
    refused(&mesh, &egress, far.clone(), DenyReason::FeedJump, &far_seq).await;
    next_is(&mut gbr_tracks, "LEGIT-1", 1).await;
    next_is(&mut fra_tracks, "LEGIT-1", 1).await;

    // And written straight into USA's release account for GBR, once GBR's
    // ingress holds seq 1.
    let ingress = Door::ingress(&mesh, "GBR", "radar-1", "tracks");
    forge::store_certificate(&mesh, "USA", ingress.cred.clone(), &radar_1).await;
    refused(&mesh, &ingress, far, DenyReason::FeedJump, &far_seq).await;

    // Neither moved the feed: the next legitimate records reach both.
    for (id, seq) in [("LEGIT-2", 2), ("LEGIT-3", 3)] {
        assert_eq!(publish(&usa, &to_both, id).await, seq);
        next_is(&mut gbr_tracks, id, seq).await;
        next_is(&mut fra_tracks, id, seq).await;
    }
    running.shutdown().await;
}

/// How long a test watches for something that must not happen.
const NOTHING_FOR: Duration = Duration::from_secs(3);

/// The number of messages in `nation`'s DEADLETTER stream.
async fn dead_letters(mesh: &Mesh, nation: &str) -> u64 {
    let dlq = home_stream(mesh, nation, streams::DEADLETTER).await;
    within("DEADLETTER info", dlq.get_info())
        .await
        .expect("DEADLETTER info")
        .state
        .messages
}

/// The most DEADLETTER messages seen while polling for `NOTHING_FOR`.
async fn dead_letters_while_watching(mesh: &Mesh, nation: &str) -> u64 {
    let until = tokio::time::Instant::now() + NOTHING_FOR;
    let mut most = 0;
    while tokio::time::Instant::now() < until {
        most = most.max(dead_letters(mesh, nation).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    most
}

/// Starts a mesh on `toml` with bridges holding a batch for its
/// certificate `hold_ms`, a GBR subscriber to tracks and USA's `radar-1`.
async fn scene_with_hold(toml: &str, hold_ms: u64) -> Scene {
    let mesh = mesh(toml).await;
    let running = bridges_with(&mesh, |settings| {
        settings.config.feeds.certificate_hold_ms = hold_ms;
    })
    .await;
    let gbr = subscriber(&mesh, "GBR").await;
    let gbr_tracks = within("subscribe", gbr.subscribe(coalition_sdk::Topic::tracks()))
        .await
        .expect("subscribes");
    let usa = producer(&mesh, "USA", "radar-1").await;
    Scene {
        mesh,
        bridges: running,
        gbr,
        gbr_tracks,
        usa,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_naming_a_certificate_not_on_control_yet_is_held_then_admitted_when_it_arrives() {
    // A hold far longer than the test watches, so a slow machine cannot
    // turn the hold into a refusal (the default is 10 s).
    let mut s = scene_with_hold(USA_TO_GBR_FEEDS, 40_000).await;
    let radar_3 = forge::identity(&s.mesh, "USA", "radar-3");
    let door = Door::egress(&s.mesh, "radar-3", "tracks");
    let dead_before = dead_letters(&s.mesh, "USA").await;

    // A valid batch of radar-3, whose SDK never connected: its certificate
    // is on no CONTROL stream.
    let held = forge::seal(&radar_3, "tracks", 1, &drafts("HELD", 1, &to_gbr()));
    let (cred, subject) = (door.cred.clone(), door.subject.as_str());
    let seq = forge::publish_stored(&s.mesh, "USA", cred, subject, "held", held).await;
    let outbound = home_stream(&s.mesh, "USA", streams::outbound(Kind::Track)).await;
    let consumer = || async {
        within(
            "egress consumer info",
            outbound.consumer_info(streams::EGRESS_CONSUMER),
        )
        .await
        .expect("egress consumer")
    };
    within("USA's egress reads the batch", async {
        while consumer().await.delivered.stream_sequence < seq {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // Watching for something that must NOT happen, for NOTHING_FOR: no
    // delivery in GBR, no dead letter in USA.
    let (delivered, most_dead) = tokio::join!(
        tokio::time::timeout(NOTHING_FOR, s.gbr_tracks.next()),
        dead_letters_while_watching(&s.mesh, "USA"),
    );
    assert!(
        delivered.is_err(),
        "delivered while its certificate is unknown: {delivered:?}"
    );
    assert_eq!(
        most_dead, dead_before,
        "nothing is dead-lettered while it is held"
    );
    assert!(
        consumer().await.ack_floor.stream_sequence < seq,
        "held: read, not acknowledged"
    );

    // The producer's certificate arrives on HOME's CONTROL (stored with the
    // producer's own credential, as its SDK would on connect).
    forge::store_certificate(&s.mesh, "USA", door.cred.clone(), &radar_3).await;
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!(
        (d.producer_id.as_str(), track_id(&d), d.seq),
        ("radar-3", "HELD-0", 1),
        "admitted once its certificate is known"
    );
    until_audited(&s.mesh, "USA", "USA audits the release", |r| {
        r.decision == AuditDecision::Release as i32
            && r.msg_id == "USA.radar-3.tracks.1"
            && r.source_stream_seq == seq
    })
    .await;
    legitimate(&mut s, "LEGIT-1", 1).await;
    assert_eq!(
        dead_letters(&s.mesh, "USA").await,
        dead_before,
        "nothing was dead-lettered"
    );
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_that_never_arrives_is_unknown_certificate_after_the_hold_and_other_producers_flow(
) {
    let hold = Duration::from_secs(4);
    let mut s = scene_with_hold(USA_TO_GBR_FEEDS, hold.as_millis() as u64).await;
    let radar_3 = forge::identity(&s.mesh, "USA", "radar-3");
    let door = Door::egress(&s.mesh, "radar-3", "tracks");
    let never = forge::seal(&radar_3, "tracks", 1, &drafts("NEVER", 1, &to_gbr()));
    let written = write(&s.mesh, &door, never, DenyReason::UnknownCertificate).await;
    // Another producer's track, published right after it: it waits behind
    // the held batch for at most the hold, then goes.
    legitimate(&mut s, "LEGIT-1", 1).await;
    written
        .refused(&s.mesh, &ids("radar-3", "tracks", [1]))
        .await;

    // The cool-down: for 60 s after that refusal, radar-3's batches naming
    // an unknown certificate are refused at once, not held again, so a
    // producer cannot stall its nation's egress hold after hold. Held, the
    // next batch and the track behind it would wait the whole hold (the
    // bridge times it from when it first holds the batch, after it was
    // written), so a delivery sooner than the hold shows it was not held.
    let started = tokio::time::Instant::now();
    let again = forge::seal(&radar_3, "tracks", 2, &drafts("AGAIN", 1, &to_gbr()));
    let written = write(&s.mesh, &door, again, DenyReason::UnknownCertificate).await;
    legitimate(&mut s, "LEGIT-2", 2).await;
    let waited = started.elapsed();
    assert!(
        waited < hold,
        "refused at once in the cool-down, not held: the next track waited {waited:?}"
    );
    written
        .refused(&s.mesh, &ids("radar-3", "tracks", [2]))
        .await;
    legitimate(&mut s, "LEGIT-3", 3).await;
    s.bridges.shutdown().await;
}
