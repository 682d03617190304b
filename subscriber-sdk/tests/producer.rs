//! The producer against a real nats-server: what it stores in OUTBOUND,
//! its certificate on CONTROL, seqs across restarts, one writer per feed,
//! alerts without linger, and retries of unstored batches.
mod common;

use std::time::Duration;

use coalition_core::envelope::MessageType;
use coalition_schemas::v1::{self, control_message::Body, AlertV1, ControlMessage};
use coalition_sdk::{PublishReceipt, SdkError};
use coalition_topology::{streams, subjects};
use common::{home, label, mesh, producer, producer_options, stored_batches, track, within};
use futures::FutureExt;
use prost::Message as _;

const TRACKS: &str = "out.track.radar-1.tracks";

/// The encoded size of a batch's records, as the byte limit counts them.
fn records_bytes(batch: &[u8]) -> usize {
    let batch = v1::Batch::decode(batch).expect("decodes");
    batch
        .records
        .iter()
        .map(|r| {
            let len = r.encoded_len();
            1 + prost::length_delimiter_len(len) + len
        })
        .sum()
}

fn track_id(payload: &[u8]) -> String {
    v1::TrackV1::decode(payload).expect("a track").track_id
}

#[tokio::test]
async fn tracks_are_stored_in_bounded_contiguous_batches_with_the_certificate() {
    let mesh = mesh().await;
    let usa = home(&mesh, "USA").await;
    let options = producer_options(&mesh)
        .max_batch_records(5)
        .max_batch_bytes(1_500)
        .linger(Duration::from_millis(20))
        .in_flight_batches(2);
    let producer = producer(&mesh, options).await;
    let ids: Vec<String> = (1..=23)
        .map(|i| match i % 4 {
            0 => format!("t{i}-{}", "x".repeat(600)),
            _ => format!("t{i}"),
        })
        .collect();
    let mut pending = Vec::new();
    for id in &ids {
        let sent = within(
            "enqueue",
            producer.send("tracks", coalition_sdk::Record::track(&label(), &track(id))),
        )
        .await;
        pending.push(sent.expect("enqueued"));
    }
    let mut receipts: Vec<PublishReceipt> = Vec::new();
    for p in pending {
        receipts.push(within("receipt", p).await.expect("stored"));
    }
    let seqs: Vec<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=23).collect::<Vec<_>>());

    let stored = stored_batches(&usa, streams::OUTBOUND, TRACKS).await;
    let mut next = 1;
    let mut stored_ids = Vec::new();
    for (batch, bytes, msg_id) in &stored {
        let h = &batch.header;
        assert!(
            batch.is_complete(),
            "a producer's batch carries every record"
        );
        assert_eq!(h.first_seq, next, "contiguous across batches");
        assert_eq!(h.message_type, MessageType::Track);
        assert_eq!(msg_id, &h.batch_id());
        assert!(
            batch.records.len() <= 5,
            "record bound: {}",
            batch.records.len()
        );
        assert!(
            batch.records.len() == 1 || records_bytes(bytes) <= 1_500,
            "byte bound: {} records, {} bytes",
            batch.records.len(),
            records_bytes(bytes)
        );
        next = h.last_seq + 1;
        stored_ids.extend(batch.records.iter().map(|r| track_id(&r.payload)));
    }
    assert_eq!(next, 24, "every record stored once");
    assert_eq!(stored_ids, ids, "in the order sent");
    assert!(stored.len() >= 5, "23 records at most 5 per batch");
    for r in &receipts {
        let batch = stored
            .iter()
            .find(|(b, _, _)| (b.header.first_seq, b.header.last_seq) == r.batch)
            .expect("the receipt names a stored batch");
        assert!(r.batch.0 <= r.seq && r.seq <= r.batch.1);
        assert!(!r.duplicate, "{}", batch.0.header.batch_id());
    }

    let identity = common::identity(&mesh, "USA", "radar-1");
    let subject = subjects::control_certificate("USA", "radar-1", &identity.certificate_sha256());
    let control = within("control", usa.get_stream(streams::CONTROL))
        .await
        .expect("CONTROL");
    let stored = within(
        "certificate",
        control.get_last_raw_message_by_subject(&subject),
    )
    .await
    .expect("the certificate is on CONTROL under its digest");
    let message = ControlMessage::decode(stored.payload.as_ref()).expect("a control message");
    assert_eq!(
        message.body,
        Some(Body::Certificate(identity.certificate.clone()))
    );
    within("close", producer.close()).await.expect("closes");
}

#[tokio::test]
async fn seqs_continue_after_a_restart_and_a_feed_has_one_writer() {
    let mesh = mesh().await;
    let first = producer(&mesh, producer_options(&mesh)).await;
    let receipt = within(
        "publish",
        first.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("a")),
        ),
    )
    .await
    .expect("stored");
    assert_eq!((receipt.seq, receipt.batch), (1, (1, 1)));
    let tracks: Vec<_> = (0..3).map(|i| (label(), track(&format!("b{i}")))).collect();
    let receipts = within(
        "publish many",
        first.publish_all(
            "tracks",
            tracks
                .iter()
                .map(|(l, t)| coalition_sdk::Record::track(l, t))
                .collect(),
        ),
    )
    .await
    .expect("stored");
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [2, 3, 4]
    );

    // A second writer of the same feed is refused while the first is live.
    let second = producer(&mesh, producer_options(&mesh)).await;
    let refused = within(
        "second writer",
        second.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("c")),
        ),
    )
    .await;
    match refused {
        Err(SdkError::FeedHeld { feed, holder }) => {
            assert_eq!(feed, "tracks");
            assert!(holder.contains("radar-1 instance"), "{holder}");
        }
        other => panic!("expected FeedHeld, got {other:?}"),
    }
    // Other feeds are its to take.
    let other = within(
        "other feed",
        second.publish(
            "tracks-2",
            coalition_sdk::Record::track(&label(), &track("d")),
        ),
    )
    .await
    .expect("stored");
    assert_eq!(other.seq, 1);
    let receipt = within(
        "first again",
        first.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("e")),
        ),
    )
    .await
    .expect("the first writer still holds it");
    assert_eq!(receipt.seq, 5);

    // Once the first closes, the second takes the feed and continues.
    within("close", first.close()).await.expect("closes");
    let receipt = within(
        "second takes over",
        second.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("f")),
        ),
    )
    .await
    .expect("stored");
    assert_eq!(receipt.seq, 6);

    // A dropped producer releases its feeds in the background.
    drop(second);
    let third = producer(&mesh, producer_options(&mesh)).await;
    let receipt = within(
        "third after a drop",
        third.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("g")),
        ),
    )
    .await
    .expect("stored");
    assert_eq!(receipt.seq, 7, "continues at the last stored seq + 1");
    within("close", third.close()).await.expect("closes");
}

#[tokio::test]
async fn alerts_are_sealed_at_once_and_flush_seals_what_lingers() {
    let mesh = mesh().await;
    let usa = home(&mesh, "USA").await;
    // Tracks linger for a minute here: far longer than any wait below.
    let options = producer_options(&mesh).linger(Duration::from_secs(60));
    let producer = producer(&mesh, options).await;
    let lingering = within(
        "enqueue track",
        producer.send(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("slow")),
        ),
    )
    .await
    .expect("enqueued");

    let alert = AlertV1 {
        alert_id: "a-1".into(),
        summary: "contact".into(),
        ..Default::default()
    };
    let receipt = within(
        "alert",
        producer.publish("alerts", coalition_sdk::Record::alert(&label(), &alert)),
    )
    .await
    .expect("stored");
    assert_eq!((receipt.seq, receipt.batch), (1, (1, 1)));
    // On its topic's subject: a v1 alert of no severity is `other.unknown`.
    let on_topic = "out.alert.radar-1.alerts.other.unknown";
    let alerts = stored_batches(&usa, streams::OUTBOUND_ALERTS, on_topic).await;
    assert_eq!(alerts.len(), 1, "one alert, one batch");
    let (batch, _, _) = &alerts[0];
    assert_eq!(batch.header.message_type, MessageType::Alert);
    assert_eq!(batch.records.len(), 1);
    assert!(batch.is_complete());

    // The track sent before the alert still waits for its linger...
    let mut lingering = lingering;
    assert!(
        (&mut lingering).now_or_never().is_none(),
        "the track lingers"
    );
    assert!(stored_batches(&usa, streams::OUTBOUND, TRACKS)
        .await
        .is_empty());
    // ...until a flush seals it with what joined it.
    let joined = within(
        "enqueue",
        producer.send(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("joined")),
        ),
    )
    .await
    .expect("enqueued");
    within("flush", producer.flush()).await.expect("flushed");
    let a = within("receipt", lingering).await.expect("stored");
    let b = within("receipt", joined).await.expect("stored");
    assert_eq!((a.seq, b.seq, a.batch), (1, 2, (1, 2)));
    within("close", producer.close()).await.expect("closes");
}

#[tokio::test]
async fn a_batch_not_stored_is_published_again_first_with_the_same_id() {
    let mesh = mesh().await;
    let usa = home(&mesh, "USA").await;
    let producer = producer(&mesh, producer_options(&mesh)).await;
    within(
        "publish",
        producer.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("one")),
        ),
    )
    .await
    .expect("stored");

    // OUTBOUND goes away: the next batch cannot be stored.
    within("delete", usa.delete_stream(streams::OUTBOUND))
        .await
        .expect("deleted");
    let failed = within(
        "publish",
        producer.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("two")),
        ),
    )
    .await;
    match failed {
        Err(SdkError::Publish {
            subject, detail, ..
        }) => {
            assert_eq!(subject, TRACKS);
            assert!(detail.contains("published again"), "{detail}");
        }
        other => panic!("expected a publish error, got {other:?}"),
    }

    // Back again (empty): the kept batch goes first, as seq 2.
    within(
        "recreate",
        usa.create_stream(common::stream_config(streams::OUTBOUND, "out.track.>")),
    )
    .await
    .expect("recreated");
    let receipt = within(
        "publish",
        producer.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("three")),
        ),
    )
    .await
    .expect("stored");
    assert_eq!(receipt.seq, 3);
    let stored = stored_batches(&usa, streams::OUTBOUND, TRACKS).await;
    let got: Vec<(String, String)> = stored
        .iter()
        .map(|(b, _, id)| (id.clone(), track_id(&b.records[0].payload)))
        .collect();
    assert_eq!(
        got,
        [
            ("USA.radar-1.tracks.2-2".to_string(), "two".to_string()),
            ("USA.radar-1.tracks.3-3".to_string(), "three".to_string()),
        ]
    );
    within("close", producer.close()).await.expect("closes");
}

#[tokio::test]
async fn the_last_stored_message_must_be_a_batch() {
    let mesh = mesh().await;
    let usa = home(&mesh, "USA").await;
    within("garbage", async {
        usa.publish(TRACKS, "not a batch".into())
            .await
            .expect("published")
            .await
    })
    .await
    .expect("stored");
    let producer = producer(&mesh, producer_options(&mesh)).await;
    let refused = within(
        "publish",
        producer.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("x")),
        ),
    )
    .await;
    match refused {
        Err(SdkError::Publish { detail, .. }) => {
            assert!(detail.contains("not a valid batch"), "{detail}")
        }
        other => panic!("expected a publish error, got {other:?}"),
    }
    // A feed name that is not a subject token is refused before anything.
    let invalid = within(
        "publish",
        producer.publish("a.b", coalition_sdk::Record::track(&label(), &track("x"))),
    )
    .await;
    assert!(
        matches!(invalid, Err(SdkError::InvalidFeed { .. })),
        "{invalid:?}"
    );
    let wrong_kind = within(
        "publish",
        producer.publish(
            "tracks",
            coalition_sdk::Record::alert(&label(), &AlertV1::default()),
        ),
    )
    .await;
    assert!(
        matches!(wrong_kind, Err(SdkError::InvalidFeed { .. })),
        "{wrong_kind:?}"
    );
}

#[tokio::test]
async fn many_tasks_publish_through_one_producer() {
    let mesh = mesh().await;
    let usa = home(&mesh, "USA").await;
    let options = producer_options(&mesh)
        .max_batch_records(7)
        .in_flight_batches(3);
    let producer = std::sync::Arc::new(producer(&mesh, options).await);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let p = producer.clone();
        tasks.spawn(async move {
            let feed = if t % 2 == 0 { "tracks" } else { "tracks-2" };
            let mut seqs = Vec::new();
            for i in 0..10 {
                let id = format!("{t}-{i}");
                let r = p
                    .publish(feed, coalition_sdk::Record::track(&label(), &track(&id)))
                    .await;
                seqs.push(r.expect("stored").seq);
            }
            (feed, seqs)
        });
    }
    let mut by_feed: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    while let Some(joined) = within("tasks", tasks.join_next()).await {
        let (feed, seqs) = joined.expect("task ran");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a task's records in its order"
        );
        by_feed.entry(feed).or_default().extend(seqs);
    }
    for (feed, mut seqs) in by_feed {
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "{feed}");
        let subject = format!("out.track.radar-1.{feed}");
        let stored = stored_batches(&usa, streams::OUTBOUND, &subject).await;
        let mut next = 1;
        for (batch, _, _) in &stored {
            assert_eq!(batch.header.first_seq, next, "{feed}");
            assert!(batch.records.len() <= 7);
            next = batch.header.last_seq + 1;
        }
        assert_eq!(next, 41, "{feed}");
    }
    let producer = std::sync::Arc::into_inner(producer).expect("the tasks are done");
    within("close", producer.close()).await.expect("closes");
}

/// After a producer was away longer than OUTBOUND's retention, OUTBOUND no
/// longer holds its feed's last batch; its next seq must still follow what
/// the bridge accepted (POSITIONS), or the bridge refuses it as a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seqs_continue_after_the_bridges_position_when_outbound_no_longer_holds_the_feed() {
    use prost::Message as _;
    let mesh = mesh().await;
    let js = home(&mesh, "USA").await;
    let position = coalition_schemas::v1::FeedPosition {
        last_seq: 500,
        sealed_at_ms: 1,
        accepted_stream_seqs: vec![1],
        decided_through_stream_seq: 1,
    };
    let subject = coalition_topology::subjects::position(
        &coalition_topology::subjects::position_stage("egress", coalition_topology::Kind::Track),
        "USA",
        "radar-1",
        "tracks",
    );
    within("store a position", async {
        js.publish(subject, position.encode_to_vec().into())
            .await
            .expect("publish")
            .await
            .expect("stored")
    })
    .await;
    let producer = producer(&mesh, producer_options(&mesh)).await;
    let receipt = within(
        "publish",
        producer.publish(
            "tracks",
            coalition_sdk::Record::track(&label(), &track("after")),
        ),
    )
    .await
    .expect("stored");
    assert_eq!(receipt.seq, 501, "continues after the bridge's position");
    // A feed the bridge has no position for starts at 1.
    let other = within(
        "publish on another feed",
        producer.publish(
            "tracks-2",
            coalition_sdk::Record::track(&label(), &track("other")),
        ),
    )
    .await
    .expect("stored");
    assert_eq!(other.seq, 1);
}
