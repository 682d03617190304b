//! The attacker's tools for the sealed-batch security tests
//! (`batch_security.rs`, `batch_positions.rs`, `batch_certificates.rs`):
//! where a forged batch is written and as whom ([`Door`]), and the check
//! that it was refused with its reason, dead-lettered as written, audited
//! as a rejection of each record it decodes to and of nothing else, and
//! counted ([`Written::refused`]).
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use coalition_core::batch::{decode_batch, RecordDraft};
use coalition_core::DenyReason;
use coalition_schemas::v1::{self, AuditDecision};
use coalition_sdk::Subscription;
use coalition_topology::{streams, subjects, Credential, Kind};
use nats_harness::Mesh;

use super::forge;
use super::policy::until_audited;
use super::*;

/// USA releases to GBR. USA's `radar-1` writes two feeds and `radar-2`
/// one; no SDK of `radar-3` ever connects, so its certificate is on no
/// CONTROL stream until a test stores it.
pub const USA_TO_GBR_FEEDS: &str = r#"
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
pub struct Door {
    /// The account's credential (it also says which account).
    pub cred: Credential,
    pub subject: String,
    /// The nation whose bridge reads what is written here.
    pub judge: &'static str,
    pub stage: &'static str,
    /// The partner as dead letters and metrics name it (`-` at egress).
    pub partner: &'static str,
}

impl Door {
    /// USA's OUTBOUND subject of `producer`'s `feed`, as that producer's
    /// own NATS user: all a hostile producer can write. USA's egress reads.
    pub fn egress(mesh: &Mesh, producer: &str, feed: &str) -> Door {
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
    pub fn ingress(mesh: &Mesh, to: &'static str, producer: &str, feed: &str) -> Door {
        Door {
            cred: forge::release_credential(mesh, "USA", to),
            subject: subjects::released(Kind::Track, "USA", producer, feed, None),
            judge: to,
            stage: "ingress",
            partner: "USA",
        }
    }

    /// The audit log's partner field: empty at egress.
    pub fn audit_partner(&self) -> &'static str {
        if self.partner == "-" {
            ""
        } else {
            self.partner
        }
    }

    pub fn rejected(&self, reason: DenyReason) -> f64 {
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
pub struct Written<'a> {
    pub door: &'a Door,
    pub bytes: Bytes,
    pub reason: DenyReason,
    /// Where it was stored in its stream.
    pub stream_seq: u64,
    /// The rejections counted before it was written.
    pub counted_before: f64,
}

/// Writes `bytes` through `door` with a `Nats-Msg-Id` never used before,
/// expecting a refusal for `reason`.
pub async fn write<'a>(
    mesh: &Mesh,
    door: &'a Door,
    bytes: Bytes,
    reason: DenyReason,
) -> Written<'a> {
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
    pub async fn refused(self, mesh: &Mesh, msg_ids: &[String]) {
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
pub async fn refused(
    mesh: &Mesh,
    door: &Door,
    bytes: Bytes,
    reason: DenyReason,
    msg_ids: &[String],
) {
    write(mesh, door, bytes, reason)
        .await
        .refused(mesh, msg_ids)
        .await;
}

/// The dead letter on `subject` in `nation` whose `Nats-Msg-Id` is `id`,
/// waiting for it to be the last one there (attacks are checked one at a
/// time).
pub async fn dead_letter_with_id(
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
pub async fn home_stream(
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
pub fn ids(producer: &str, feed: &str, seqs: impl IntoIterator<Item = u64>) -> Vec<String> {
    seqs.into_iter()
        .map(|seq| format!("USA.{producer}.{feed}.{seq}"))
        .collect()
}

/// The audit of a batch that does not decode: one record, no msg id.
pub fn undecodable() -> Vec<String> {
    vec![String::new()]
}

/// `n` tracks `<prefix>-0`, `<prefix>-1`, ... labelled `label`.
pub fn drafts(prefix: &str, n: usize, label: &coalition_sdk::Label) -> Vec<RecordDraft> {
    (0..n)
        .map(|i| forge::track_record(label, &format!("{prefix}-{i}")))
        .collect()
}

/// What a bridge releases of `batch`: the records at `keep`, with the
/// producer's header and signature and their multiproof.
pub fn subset(batch: &[u8], keep: &[usize]) -> Bytes {
    decode_batch(batch)
        .expect("a genuine batch")
        .subset(keep)
        .expect("a subset")
}

pub fn wire(batch: &[u8]) -> v1::Batch {
    prost::Message::decode(batch).expect("a batch")
}

/// The next delivery is the track `id` at `seq`, with no gap.
pub async fn next_is(sub: &mut Subscription, id: &str, seq: u64) {
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
pub async fn legitimate(s: &mut Scene, id: &str, seq: u64) {
    let l = label("USA", "SECRET", &["GBR"]);
    assert_eq!(publish(&s.usa, &l, id).await, seq, "the producer's seq");
    next_is(&mut s.gbr_tracks, id, seq).await;
}

/// The scene, with `radar-1` having published seq 1 (so its certificate is
/// in USA's CONTROL and GBR's ingress has a position in the feed), and
/// radar-1's certificate stored in USA's release account for GBR, where a
/// forged release's reader looks.
pub async fn after_one_release() -> Scene {
    let mut s = scene(USA_TO_GBR_FEEDS).await;
    legitimate(&mut s, "LEGIT-1", 1).await;
    let rel = forge::release_credential(&s.mesh, "USA", "GBR");
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    forge::store_certificate(&s.mesh, "USA", rel, &radar_1).await;
    s
}

pub fn to_gbr() -> coalition_sdk::Label {
    label("USA", "SECRET", &["GBR"])
}

/// The payload of the last message on `subject` in `stream`, read in
/// USA's cluster as `cred`.
pub async fn stored_bytes(mesh: &Mesh, cred: Credential, stream: &str, subject: &str) -> Bytes {
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

/// How long a test watches for something that must not happen.
pub const NOTHING_FOR: Duration = Duration::from_secs(3);

/// The number of messages in `nation`'s DEADLETTER stream.
pub async fn dead_letters(mesh: &Mesh, nation: &str) -> u64 {
    let dlq = home_stream(mesh, nation, streams::DEADLETTER).await;
    within("DEADLETTER info", dlq.get_info())
        .await
        .expect("DEADLETTER info")
        .state
        .messages
}

/// The most DEADLETTER messages seen while polling for `NOTHING_FOR`.
pub async fn dead_letters_while_watching(mesh: &Mesh, nation: &str) -> u64 {
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
pub async fn scene_with_hold(toml: &str, hold_ms: u64) -> Scene {
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
