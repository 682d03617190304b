//! `Subscription::close` against a real nats-server with the generated
//! permissions: an unnamed subscription leaves no consumer behind, a named
//! one keeps its consumers (and so its position) for the next subscriber of
//! that name.
mod common;

use async_nats::jetstream;
use coalition_core::envelope::MessageType;
use coalition_sdk::Topic;
use coalition_topology::streams;
use common::inbound::BridgeWriter;
use common::{mesh, subscriber, unnamed_subscriber, within};
use futures::TryStreamExt as _;

/// The consumer names on `stream`, read as the bridge.
async fn consumers(js: &jetstream::Context, stream: &str) -> Vec<String> {
    let stream = within("stream", js.get_stream(stream))
        .await
        .expect("stream");
    within("consumer names", stream.consumer_names().try_collect())
        .await
        .expect("names")
}

#[tokio::test]
async fn an_unnamed_subscription_leaves_nothing_behind_and_a_named_one_keeps_its_consumers() {
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge.store_certificate().await;
    bridge
        .admit(&bridge.seal(MessageType::Track, "tracks", 1, 1), None, 0)
        .await;
    let gbr = &bridge.js;
    let lanes = [streams::INBOUND, streams::INBOUND_ALERTS];

    // Unnamed, on both lanes: one consumer per lane while it runs...
    let unnamed = unnamed_subscriber(&mesh).await;
    let mut sub = within("subscribe", unnamed.subscribe(Topic::all()))
        .await
        .expect("subscribed");
    let delivery = within("a delivery", sub.next())
        .await
        .expect("the subscription goes on")
        .expect("verified");
    within("ack", delivery.ack()).await.expect("acked");
    for lane in lanes {
        assert_eq!(consumers(gbr, lane).await.len(), 1, "{lane} while open");
    }
    // ...and none once closed.
    within("close", sub.close()).await.expect("closed");
    for lane in lanes {
        assert!(consumers(gbr, lane).await.is_empty(), "{lane} after close");
    }

    // Named: its consumers stay, and the next subscriber of that name
    // resumes after what was acknowledged (nothing is delivered again).
    let named = subscriber(&mesh, "kept").await;
    let mut sub = within("subscribe", named.subscribe(Topic::tracks()))
        .await
        .expect("subscribed");
    let delivery = within("a delivery", sub.next())
        .await
        .expect("the subscription goes on")
        .expect("verified");
    within("ack", delivery.ack()).await.expect("acked");
    within("close", sub.close()).await.expect("closed");
    assert_eq!(consumers(gbr, streams::INBOUND).await, ["kept"]);
    let again = subscriber(&mesh, "kept").await;
    let mut sub = within("subscribe again", again.subscribe(Topic::tracks()))
        .await
        .expect("subscribed");
    let more = tokio::time::timeout(std::time::Duration::from_secs(2), sub.next()).await;
    assert!(more.is_err(), "nothing delivered twice: {more:?}");
}
