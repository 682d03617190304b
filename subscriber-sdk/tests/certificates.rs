//! Certificate lookups against a real nats-server: a certificate CONTROL
//! cannot be asked for (its stream away, as while every server of the
//! nation restarts) is waited for, not refused as unknown.
mod common;

use std::time::Duration;

use coalition_core::envelope::MessageType;
use coalition_sdk::Topic;
use coalition_topology::streams;
use common::inbound::BridgeWriter;
use common::{mesh, subscriber, within};

#[tokio::test]
async fn a_lookup_waits_while_control_cannot_answer_instead_of_refusing_the_message() {
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge
        .admit(&bridge.seal(MessageType::Track, "tracks", 1, 1), None, 0)
        .await;
    // CONTROL goes away, with the certificate not yet stored.
    let mut control = within("CONTROL", bridge.js.get_stream(streams::CONTROL))
        .await
        .expect("stream");
    let config = within("CONTROL info", control.info())
        .await
        .expect("info")
        .config
        .clone();
    within("delete CONTROL", bridge.js.delete_stream(streams::CONTROL))
        .await
        .expect("deleted");

    let subscriber = subscriber(&mesh, "control-away").await;
    let mut sub = within("subscribe", subscriber.subscribe(Topic::tracks()))
        .await
        .expect("subscribed");
    // It comes back after longer than the SDK waits for a certificate that
    // CONTROL says it does not hold (10 s).
    let back = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(12)).await;
        within("CONTROL back", bridge.js.create_stream(config))
            .await
            .expect("recreated");
        bridge.store_certificate().await;
    });
    let delivery = within("the delivery", sub.next())
        .await
        .expect("the subscription goes on")
        .expect("verified once CONTROL answers, not refused as unknown");
    assert_eq!((delivery.feed.as_str(), delivery.seq), ("tracks", 1));
    within("CONTROL came back", back).await.expect("task");
}
