//! The subscriber against a real nats-server, with INBOUND written as the
//! bridge would write it: delivery record by record, acknowledgement after
//! the last record, skips reported, gaps replayed or reported,
//! certificates fetched from CONTROL, both lanes. Tampered messages are
//! `tampered.rs`'s.
mod common;

use async_nats::jetstream;
use coalition_core::envelope::MessageType;
use coalition_core::schema::transcode_payload;
use coalition_core::DenyReason;
use coalition_schemas::v1;
use coalition_sdk::{
    Delivery, Payload, SdkError, SkipReason, Skipped, SubscriberOptions, Subscription,
    SubscriptionEvent, Topic,
};
use coalition_topology::streams;
use common::inbound::{admitted, payload, unpublished_identity, BridgeWriter};
use common::{ack_pending, consumer_info, delivery, mesh, subscriber, until, within};
use prost::Message as _;

const TRACK: MessageType = MessageType::Track;

async fn event(sub: &mut Subscription) -> SubscriptionEvent {
    within("next event", sub.next_event())
        .await
        .expect("the subscription goes on")
        .expect("a verified message")
}

fn track_id(d: &Delivery) -> &str {
    match &d.payload {
        Payload::Track(t) => &t.track_id,
        other => panic!("not a v1 track: {other:?}"),
    }
}

#[tokio::test]
async fn records_are_delivered_one_by_one_and_the_message_acked_after_the_last() {
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge.store_certificate().await;
    let batch = bridge.seal(TRACK, "tracks", 1, 3);
    bridge.admit(&batch, None, 0).await;

    let subscriber = subscriber(&mesh, "in-order").await;
    let topic = Topic::tracks().from_nation("USA");
    let mut sub = within("subscribe", subscriber.subscribe(topic))
        .await
        .expect("subscribed");
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(delivery(&mut sub).await);
    }
    let seqs: Vec<u64> = got.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let ids: Vec<&str> = got.iter().map(track_id).collect();
    assert_eq!(ids, ["tracks-1", "tracks-2", "tracks-3"]);
    let d = &got[0];
    assert_eq!(
        (d.origin.as_str(), d.producer_id.as_str(), d.feed.as_str()),
        ("USA", "radar-1", "tracks")
    );
    assert_eq!(d.label, common::label());
    assert_eq!((d.gap, d.replayed, d.schema_version), (None, false, 1));
    let l = &d.lineage;
    assert_eq!(l.admitted_by.as_deref(), Some("GBR"));
    assert_eq!(l.released_by.as_deref(), Some("USA"));
    assert_eq!(l.decision.as_deref(), Some("admit"));
    assert_eq!(l.policy_versions.as_deref(), Some("USA/v1 -> GBR/v1"));
    assert_eq!(l.translator.as_deref(), Some("USA-GBR@1"));
    assert_eq!(
        l.translated_label.as_deref(),
        Some("GBR/v1 SECRET REL TO GBR")
    );
    assert_eq!(l.key_id.as_ref().map(String::len), Some(32));

    let gbr = &bridge.js;
    assert_eq!(ack_pending(gbr, streams::INBOUND, "in-order").await, 1);
    within("ack", got[0].ack()).await.expect("acked");
    within("ack", got[1].ack()).await.expect("acked");
    within("ack again", got[1].ack()).await.expect("a no-op");
    // Nothing was sent to the server yet: the message waits for its last record.
    assert_eq!(ack_pending(gbr, streams::INBOUND, "in-order").await, 1);
    within("ack", got[2].ack()).await.expect("acked");
    until("the message is acknowledged", || async {
        ack_pending(gbr, streams::INBOUND, "in-order").await == 0
    })
    .await;
}

#[tokio::test]
async fn a_certificate_is_fetched_from_control_and_an_absent_one_refuses_the_message() {
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    let stranger = unpublished_identity(&mesh);
    let unknown = BridgeWriter::seal_as(&stranger, TRACK, "tracks-2", 1, 1);
    bridge.admit(&unknown, None, 0).await;
    let known = bridge.seal(TRACK, "tracks", 1, 2);
    bridge.admit(&known, None, 0).await;

    let subscriber = subscriber(&mesh, "certificates").await;
    let mut sub = within("subscribe", subscriber.subscribe(Topic::tracks()))
        .await
        .expect("subscribed");
    // Never published: refused after the SDK waited for it.
    match within("unknown certificate", sub.next()).await {
        Some(Err(SdkError::Verification { subject, reason })) => {
            assert_eq!(subject, "in.track.USA.radar-1.tracks-2.v1");
            assert_eq!(reason, DenyReason::UnknownCertificate);
        }
        other => panic!("expected unknown_certificate, got {other:?}"),
    }
    // Published late, while the SDK looks for it: fetched and delivered.
    let late = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        bridge.store_certificate().await;
        bridge
    });
    let d = delivery(&mut sub).await;
    assert_eq!((d.feed.as_str(), d.seq), ("tracks", 1));
    let bridge = within("late certificate", late).await.expect("stored");
    assert_eq!(delivery(&mut sub).await.seq, 2);
    until(
        "the refused message is terminated; the other waits for its acks",
        || async { ack_pending(&bridge.js, streams::INBOUND, "certificates").await == 1 },
    )
    .await;
}

fn skipped(event: SubscriptionEvent) -> Skipped {
    match event {
        SubscriptionEvent::Skipped(s) => s,
        SubscriptionEvent::Delivery(d) => panic!("expected a skip, got delivery of seq {}", d.seq),
    }
}

fn delivered(event: SubscriptionEvent) -> Delivery {
    match event {
        SubscriptionEvent::Delivery(d) => d,
        SubscriptionEvent::Skipped(s) => panic!("expected a delivery, got {s:?}"),
    }
}

#[tokio::test]
async fn a_record_at_or_below_the_last_delivered_is_reported_not_dropped() {
    let counters = common::recorder::counters();
    let metric = r#"coalition_sdk_skipped_total{reason="already_delivered"}"#;
    let before = counters.get(metric);
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge.store_certificate().await;
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 1, 3), None, 0)
        .await;
    // Validly signed, overlapping what was delivered.
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 3, 3), None, 3)
        .await;
    // Validly signed, a million ahead: every later record lands below it.
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 1_000_000, 1), None, 5)
        .await;
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 6, 2), None, 1_000_000)
        .await;

    let subscriber = subscriber(&mesh, "skips").await;
    let mut sub = within("subscribe", subscriber.subscribe(Topic::tracks()))
        .await
        .expect("subscribed");
    let mut deliveries = Vec::new();
    for seq in [1, 2, 3] {
        let d = delivered(event(&mut sub).await);
        assert_eq!(d.seq, seq);
        deliveries.push(d);
    }
    let s = skipped(event(&mut sub).await);
    assert_eq!(
        (s.seq, s.last_delivered_seq, s.reason, s.feed.as_str()),
        (3, 3, SkipReason::AlreadyDelivered, "tracks")
    );
    for seq in [4, 5, 1_000_000] {
        let d = delivered(event(&mut sub).await);
        assert_eq!(d.seq, seq);
        deliveries.push(d);
    }
    for seq in [6, 7] {
        let s = skipped(event(&mut sub).await);
        assert_eq!(
            (s.seq, s.last_delivered_seq, s.reason),
            (seq, 1_000_000, SkipReason::AlreadyDelivered)
        );
    }
    assert!(counters.get(metric) >= before + 3, "each skip is counted");
    for d in &deliveries {
        within("ack", d.ack()).await.expect("acked");
    }
    until(
        "every message acknowledged, skipped records included",
        || async { ack_pending(&bridge.js, streams::INBOUND, "skips").await == 0 },
    )
    .await;
}

#[tokio::test]
async fn a_gap_is_replayed_from_inbound_or_reported() {
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge.store_certificate().await;
    // tracks: 1-2, then 5-6 (linked to 4) before 3-4 is stored.
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 1, 2), None, 0)
        .await;
    let three_four = bridge.seal(TRACK, "tracks", 3, 2);
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 5, 2), None, 4)
        .await;
    bridge.admit(&three_four, None, 2).await;
    // tracks-2: 1-2, then 5-6 (linked to 4); 3-4 never stored. A subset
    // too: of 5-6 only 6 was admitted.
    bridge
        .admit(&bridge.seal(TRACK, "tracks-2", 1, 2), None, 0)
        .await;
    bridge
        .admit(&bridge.seal(TRACK, "tracks-2", 5, 2), Some(&[1]), 4)
        .await;

    let subscriber = subscriber(&mesh, "gaps").await;
    let mut sub = within("subscribe", subscriber.subscribe(Topic::tracks()))
        .await
        .expect("subscribed");
    let mut acks = Vec::new();
    for (seq, replayed) in [
        (1, false),
        (2, false),
        (3, true),
        (4, true),
        (5, false),
        (6, false),
    ] {
        let d = delivered(event(&mut sub).await);
        assert_eq!(
            (d.feed.as_str(), d.seq, d.replayed, d.gap),
            ("tracks", seq, replayed, None)
        );
        acks.push(d);
    }
    for seq in [3, 4] {
        let s = skipped(event(&mut sub).await);
        assert_eq!((s.seq, s.reason), (seq, SkipReason::Replayed));
    }
    for seq in [1, 2] {
        let d = delivered(event(&mut sub).await);
        assert_eq!((d.feed.as_str(), d.seq, d.gap), ("tracks-2", seq, None));
        acks.push(d);
    }
    let d = delivered(event(&mut sub).await);
    assert_eq!(
        (d.feed.as_str(), d.seq, d.gap),
        ("tracks-2", 6, Some((3, 4)))
    );
    acks.push(d);
    for d in &acks {
        within("ack", d.ack()).await.expect("acked");
    }
    until("every message acknowledged", || async {
        ack_pending(&bridge.js, streams::INBOUND, "gaps").await == 0
    })
    .await;
}

#[tokio::test]
async fn topics_read_both_lanes_and_serve_a_transcoded_version() {
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge.store_certificate().await;
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 1, 1), None, 0)
        .await;
    bridge
        .admit(&bridge.seal(MessageType::Alert, "alerts", 1, 1), None, 0)
        .await;
    // The same track served in v2 (a dual-run window): transcoded by the
    // bridge, checked by the SDK against its own transcoding.
    let v1_track = bridge.seal(TRACK, "tracks", 2, 1);
    let (v2, _) = transcode_payload(MessageType::Track, &payload(TRACK, "tracks", 2), 1, 2)
        .expect("transcodes");
    let mut records = admitted(1);
    records[0].transcoded_payload = v2;
    let inbound = v1::InboundBatch {
        batch: v1_track.encode(),
        version: 2,
        records,
    };
    bridge
        .store_raw(
            "in.track.USA.radar-1.tracks.v2",
            inbound.encode_to_vec().into(),
            2,
            0,
        )
        .await;

    let subscriber = subscriber(&mesh, "lanes").await;
    let mut all = within("subscribe", subscriber.subscribe(Topic::all()))
        .await
        .expect("subscribed");
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let d = delivery(&mut all).await;
        kinds.push(match &d.payload {
            Payload::Track(t) => format!("track {}", t.track_id),
            Payload::Alert(a) => format!("alert {}", a.alert_id),
            Payload::AlertV2(a) => format!("alert v2 {}", a.alert_id),
            Payload::TrackV2(t) => format!("v2 {}", t.track_id),
        });
        within("ack", d.ack()).await.expect("acked");
    }
    kinds.sort();
    assert_eq!(kinds, ["alert alerts-1", "track tracks-1"]);

    // One durable name serves one topic.
    let refused = within(
        "subscribe",
        subscriber.subscribe(Topic::tracks().version(2)),
    )
    .await;
    assert!(
        matches!(refused, Err(SdkError::Consume { .. })),
        "{refused:?}"
    );
    let subscriber = common::subscriber(&mesh, "lanes-v2").await;
    let mut v2_tracks = within(
        "subscribe",
        subscriber.subscribe(Topic::tracks().version(2)),
    )
    .await
    .expect("subscribed");
    let d = delivery(&mut v2_tracks).await;
    assert_eq!((d.seq, d.schema_version), (2, 2));
    assert!(matches!(&d.payload, Payload::TrackV2(t) if t.track_id == "tracks-2"));
    assert_eq!(d.lineage.transcoded_from, Some(1));
    assert!(
        !d.lineage.lossy.is_empty(),
        "v1 confidence is semantic in v2"
    );
}

async fn redelivered(js: &jetstream::Context, stream: &str, durable: &str) -> usize {
    consumer_info(js, stream, durable).await.num_redelivered
}

/// Issue 19, item 4 (in part): a subscription is a `futures::Stream` of
/// deliveries; `in_progress` keeps a batch message pending without
/// acknowledging it; `term` gives the message up for good, and it is not
/// redelivered.
#[tokio::test]
async fn a_subscription_is_a_stream_and_a_delivery_can_be_kept_in_progress_or_terminated() {
    use futures::StreamExt as _;
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge.store_certificate().await;
    let last = bridge
        .admit(&bridge.seal(TRACK, "tracks", 1, 2), None, 0)
        .await;
    bridge
        .admit(&bridge.seal(TRACK, "tracks", 3, 1), None, last)
        .await;

    let subscriber = subscriber(&mesh, "as-stream").await;
    let sub = within(
        "subscribe",
        subscriber.subscribe(Topic::tracks().from_nation("USA")),
    )
    .await
    .expect("subscribed");
    // Read through the Stream trait only.
    let mut stream = sub.boxed();
    let mut got = Vec::new();
    for _ in 0..3 {
        let next = within("next from the stream", stream.next()).await;
        got.push(
            next.expect("the stream goes on")
                .expect("a verified delivery"),
        );
    }
    assert_eq!(got.iter().map(|d| d.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(got.iter().all(|d| !d.replayed && d.gap.is_none()));

    let gbr = &bridge.js;
    // In progress: still pending, not acknowledged, not redelivered.
    within("in progress", got[0].in_progress())
        .await
        .expect("sent");
    assert_eq!(ack_pending(gbr, streams::INBOUND, "as-stream").await, 2);
    // The first message (seqs 1-2) is terminated through its first record:
    // no longer pending, although record 2 was never acknowledged; the
    // second (seq 3) is acknowledged.
    within("term", got[0].term()).await.expect("terminated");
    until("the terminated message is no longer pending", || async {
        ack_pending(gbr, streams::INBOUND, "as-stream").await == 1
    })
    .await;
    within("term again", got[1].term()).await.expect("a no-op");
    within("ack after term", got[1].ack())
        .await
        .expect("a no-op");
    within("ack", got[2].ack()).await.expect("acked");
    until("both messages are settled", || async {
        ack_pending(gbr, streams::INBOUND, "as-stream").await == 0
    })
    .await;
    assert_eq!(redelivered(gbr, streams::INBOUND, "as-stream").await, 0);
    // Nothing more comes: the terminated message is not redelivered.
    let more = tokio::time::timeout(std::time::Duration::from_secs(2), stream.next()).await;
    assert!(more.is_err(), "nothing more is delivered: {more:?}");
}

/// A failed connect says where it tried, and carries async-nats's typed
/// error as its source, so a caller can match on its kind.
#[tokio::test]
async fn a_failed_connect_carries_the_typed_cause_as_its_source() {
    let port = nats_harness::free_loopback_ports(1).expect("a free port")[0];
    let url = format!("nats://127.0.0.1:{port}");
    let refused = within(
        "connect to nothing",
        SubscriberOptions::new([url.as_str()]).connect(),
    )
    .await;
    let error = match refused {
        Err(e) => e,
        Ok(_) => panic!("connected to a port nothing listens on"),
    };
    assert!(
        matches!(&error, SdkError::Connect { servers, .. } if servers == &url),
        "{error:?}"
    );
    let source = std::error::Error::source(&error).expect("the cause is the source");
    let cause = source
        .downcast_ref::<async_nats::ConnectError>()
        .expect("the source is async-nats's ConnectError");
    assert_eq!(cause.kind(), async_nats::ConnectErrorKind::Io, "{cause}");
}
