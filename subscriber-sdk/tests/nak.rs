//! `Delivery::nak` against a real nats-server, INBOUND written as the
//! bridge writes it: the record handed back and every record after it on
//! its feed come again after the delay, once each and in feed order; other
//! feeds go on meanwhile; the batch messages end acknowledged.
mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream;
use coalition_core::envelope::MessageType;
use coalition_sdk::{Delivery, SkipReason, Subscription, SubscriptionEvent, Topic};
use coalition_topology::streams;
use common::inbound::BridgeWriter;
use common::{consumer_info, delivery, mesh, subscriber, until, within};

const TRACK: MessageType = MessageType::Track;

/// How long a record is handed back for in these tests: long enough that
/// a delivery of another feed, stored after the nak, comes first.
const DELAY: Duration = Duration::from_secs(4);

/// Every message of `durable` on INBOUND acknowledged, none pending.
async fn all_acknowledged(js: &jetstream::Context, durable: &str) -> bool {
    let info = consumer_info(js, streams::INBOUND, durable).await;
    info.num_ack_pending == 0 && info.num_pending == 0
}

/// Radar-1's three messages stored, and a subscription to USA's tracks
/// under `durable`.
async fn three_messages_subscribed(
    mesh: &nats_harness::Mesh,
    durable: &str,
) -> (BridgeWriter, Subscription) {
    let bridge = BridgeWriter::new(mesh).await;
    three_messages(&bridge).await;
    let subscriber = subscriber(mesh, durable).await;
    let sub = within(
        "subscribe",
        subscriber.subscribe(Topic::tracks().from_nation("USA")),
    )
    .await
    .expect("subscribed");
    (bridge, sub)
}

/// (feed, seq) of a delivery.
fn at(d: &Delivery) -> (String, u64) {
    (d.feed.clone(), d.seq)
}

/// Stores seqs 1-3, 4-5 and 6-7 of radar-1's `tracks` as three batch
/// messages, chained.
async fn three_messages(bridge: &BridgeWriter) {
    bridge.store_certificate().await;
    let mut prev = 0;
    for (first, count) in [(1, 3), (4, 2), (6, 2)] {
        bridge
            .admit(&bridge.seal(TRACK, "tracks", first, count), None, prev)
            .await;
        prev = first + count - 1;
    }
}

#[tokio::test]
async fn a_nak_hands_the_record_and_the_rest_of_its_feed_back_after_the_delay_in_order() {
    let mesh = mesh().await;
    let (bridge, mut sub) = three_messages_subscribed(&mesh, "naks").await;

    let first = delivery(&mut sub).await;
    assert_eq!(at(&first), ("tracks".into(), 1));
    within("ack 1", first.ack()).await.expect("acked");
    let second = delivery(&mut sub).await;
    assert_eq!(at(&second), ("tracks".into(), 2));
    let naked_at = Instant::now();
    within("nak 2", second.nak(DELAY)).await.expect("naked");
    within("ack after the nak", second.ack())
        .await
        .expect("a no-op");

    // Another feed, stored after the nak, is not held up.
    bridge
        .admit(&bridge.seal(TRACK, "tracks-2", 1, 1), None, 0)
        .await;

    // Then `tracks` from 2 on: each once, in order, none before the delay.
    let mut got = Vec::new();
    let mut skipped = Vec::new();
    let mut first_again = None;
    while got.len() < 7 {
        let event = within("next event", sub.next_event())
            .await
            .expect("the subscription goes on")
            .expect("a verified message");
        // Shown if the test fails: how far the feed got, and when.
        let seen = match &event {
            SubscriptionEvent::Delivery(d) => {
                format!("delivered {:?} replayed={}", at(d), d.replayed)
            }
            SubscriptionEvent::Skipped(s) => format!("skipped {} {}", s.seq, s.reason),
        };
        eprintln!("{:?} after the nak: {seen}", naked_at.elapsed());
        match event {
            SubscriptionEvent::Delivery(d) => {
                if at(&d) == ("tracks".into(), 2) {
                    first_again = Some(naked_at.elapsed());
                }
                got.push(at(&d));
                within("ack", d.ack()).await.expect("acked");
            }
            SubscriptionEvent::Skipped(s) => skipped.push((s.seq, s.reason)),
        }
    }
    let expected: Vec<(String, u64)> = std::iter::once(("tracks-2".to_string(), 1))
        .chain((2..=7).map(|s| ("tracks".to_string(), s)))
        .collect();
    assert_eq!(got, expected, "the other feed first, then tracks from 2");
    let waited = first_again.expect("record 2 came again");
    assert!(
        waited + Duration::from_millis(50) >= DELAY,
        "record 2 came again after {waited:?}, before the {DELAY:?} delay"
    );
    // Record 1 was acknowledged before the nak: skipped when its message
    // came back, and said so. (A later message that overtook a held one is
    // replayed from INBOUND, and its own copy then skipped as replayed.)
    assert!(
        skipped.contains(&(1, SkipReason::Redelivered)),
        "record 1 is skipped as redelivered: {skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .all(|(_, r)| matches!(r, SkipReason::Redelivered | SkipReason::Replayed)),
        "only benign skips: {skipped:?}"
    );

    // Every message ends acknowledged, and nothing more comes.
    until("every message is acknowledged", || {
        all_acknowledged(&bridge.js, "naks")
    })
    .await;
    let more = tokio::time::timeout(Duration::from_secs(2), sub.next()).await;
    assert!(more.is_err(), "nothing more is delivered: {more:?}");
}

#[tokio::test]
async fn a_nak_rewinds_its_feed_past_deliveries_already_taken() {
    let mesh = mesh().await;
    let (bridge, mut sub) = three_messages_subscribed(&mesh, "rewind").await;

    // Take 1 to 5 (two messages), then hand 3 back and acknowledge the
    // rest: 4 and 5 come again anyway, after 3.
    let mut taken = Vec::new();
    for _ in 0..5 {
        taken.push(delivery(&mut sub).await);
    }
    assert_eq!(
        taken.iter().map(|d| d.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    within("nak 3", taken[2].nak(Duration::from_secs(1)))
        .await
        .expect("naked");
    for d in taken.iter().filter(|d| d.seq != 3) {
        within("ack", d.ack()).await.expect("acked");
    }

    let mut again = Vec::new();
    for _ in 0..5 {
        let d = delivery(&mut sub).await;
        again.push(d.seq);
        within("ack", d.ack()).await.expect("acked");
    }
    assert_eq!(again, [3, 4, 5, 6, 7], "the feed from 3 on, once each");
    until("every message is acknowledged", || {
        all_acknowledged(&bridge.js, "rewind")
    })
    .await;
    let more = tokio::time::timeout(Duration::from_secs(2), sub.next()).await;
    assert!(more.is_err(), "nothing more is delivered: {more:?}");
}
