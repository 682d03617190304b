//! Per-feed continuity on real NATS: a break in a partner's release chain
//! reaches subscribers as a gap at exactly the missing seqs; a gap whose
//! messages are still in INBOUND is filled by the SDK's replay; a refused
//! message is never a gap (sovereign_boundary.rs checks that one).
mod common;

use std::time::Duration;

use async_nats::jetstream;
use coalition_sdk::{SubscriberOptions, Topic};
use common::*;
use futures::StreamExt;

/// A JetStream context in `nation`'s `account`, as its bridge's user there.
async fn account_js(mesh: &nats_harness::Mesh, nation: &str, account: &str) -> jetstream::Context {
    let (_, cred) = mesh
        .bridge_accounts(nation)
        .into_iter()
        .find(|(a, _)| a == account)
        .unwrap_or_else(|| panic!("{nation} has no account {account}"));
    jetstream_as(mesh, nation, cred).await
}

/// Waits until `stream` holds `n` messages.
async fn wait_stored(js: &jetstream::Context, stream: &str, n: u64) {
    within(&format!("{stream} holds {n}"), async {
        loop {
            let mut s = js.get_stream(stream).await.expect("stream");
            if s.info().await.expect("info").state.messages >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

/// Deletes from `stream` the messages whose `Coalition-Seq` is in `seqs`.
async fn delete_feed_seqs(js: &jetstream::Context, stream: &str, seqs: &[u64]) {
    let mut s = js.get_stream(stream).await.expect("stream");
    let last = s.info().await.expect("info").state.last_sequence;
    let mut deleted = Vec::new();
    for stream_seq in 1..=last {
        let Ok(m) = s.get_raw_message(stream_seq).await else {
            continue;
        };
        let seq: u64 = m
            .headers
            .get("Coalition-Seq")
            .and_then(|v| v.as_str().parse().ok())
            .expect("a feed message carries Coalition-Seq");
        if seqs.contains(&seq) {
            s.delete_message(stream_seq).await.expect("delete");
            deleted.push(seq);
        }
    }
    assert_eq!(deleted, seqs, "deleted exactly these from {stream}");
}

fn secret() -> coalition_sdk::Label {
    label("USA", "SECRET", &["GBR"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn released_messages_lost_upstream_reach_the_subscriber_as_a_gap_at_their_seqs() {
    let mut s = scene(USA_TO_GBR).await;
    for i in 1..=3 {
        publish(&s.usa, &secret(), &format!("T{i}")).await;
    }
    for i in 1..=3 {
        let d = next_delivery(&mut s.gbr_tracks).await;
        assert_eq!((d.seq, d.gap), (i, None));
    }
    s.mesh.cut_link("USA", "GBR").expect("cut");
    s.mesh
        .wait_link("USA", "GBR", false)
        .await
        .expect("link down");
    for i in 4..=10 {
        publish(&s.usa, &secret(), &format!("T{i}")).await;
    }
    let rel = account_js(&s.mesh, "USA", "REL_GBR").await;
    wait_stored(&rel, "RELEASED", 10).await;
    // Released, then lost by the sending side before GBR read them.
    delete_feed_seqs(&rel, "RELEASED", &[4, 5]).await;
    s.mesh.restore_link("USA", "GBR").expect("restore");

    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!(
        (d.seq, d.gap, d.replayed),
        (6, Some((4, 5)), false),
        "the first message after the loss names exactly what was lost"
    );
    for i in 7..=10 {
        let d = next_delivery(&mut s.gbr_tracks).await;
        assert_eq!((d.seq, d.gap), (i, None));
    }
    let breaks = r#"coalition_bridge_continuity_breaks_total{nation="GBR",stage="ingress"}"#;
    until("GBR counts the break", || metric(breaks) >= 1.0).await;
    s.bridges.shutdown().await;
}

/// A named subscriber of GBR.
async fn named_subscriber(mesh: &nats_harness::Mesh, durable: &str) -> coalition_sdk::Subscriber {
    let clients = mesh.clients("GBR").expect("clients config");
    within(
        "subscriber connect",
        SubscriberOptions::from_clients(clients)
            .trust_anchors(anchors(mesh))
            .durable(durable)
            .connect(),
    )
    .await
    .expect("subscriber connects")
}

/// Waits until no pull request of a dropped subscription is left on the
/// consumer (they expire after 5 s), so nothing published next is handed
/// to it.
async fn no_pull_waiting(durable: &mut jetstream::consumer::PullConsumer) {
    within("no pull request waiting", async {
        while durable.info().await.expect("consumer info").num_waiting > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gap_still_in_inbound_is_replayed_and_one_that_is_not_is_reported() {
    let mesh = mesh(USA_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    let subscriber = named_subscriber(&mesh, "alerting").await;
    let home = account_js(&mesh, "GBR", "HOME").await;

    let mut first = subscriber
        .subscribe(Topic::tracks())
        .await
        .expect("subscribes");
    for i in 1..=3 {
        publish(&usa, &secret(), &format!("T{i}")).await;
    }
    for i in 1..=3 {
        assert_eq!(next_delivery(&mut first).await.seq, i);
    }
    drop(first);
    let inbound = home.get_stream("INBOUND").await.expect("INBOUND");
    let mut durable: jetstream::consumer::PullConsumer =
        inbound.get_consumer("alerting").await.expect("durable");
    no_pull_waiting(&mut durable).await;
    for i in 4..=6 {
        publish(&usa, &secret(), &format!("T{i}")).await;
    }
    wait_stored(&home, "INBOUND", 6).await;
    // Another reader of the same durable takes 4 and 5 (an operator's tool,
    // a second instance sharing the name).
    let mut taken = durable
        .fetch()
        .max_messages(2)
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .expect("fetch");
    let mut taken_seqs = Vec::new();
    while let Some(m) = taken.next().await {
        let m = m.expect("message");
        m.ack().await.expect("ack");
        taken_seqs.push(
            m.headers
                .as_ref()
                .and_then(|h| h.get("Coalition-Seq"))
                .map(|v| v.to_string()),
        );
    }
    assert_eq!(taken_seqs, [Some("4".to_string()), Some("5".to_string())]);

    let mut second = subscriber
        .subscribe(Topic::tracks())
        .await
        .expect("subscribes");
    let got: Vec<_> = {
        let mut got = Vec::new();
        for _ in 4..=6 {
            let d = next_delivery(&mut second).await;
            got.push((d.seq, d.gap, d.replayed));
        }
        got
    };
    assert_eq!(
        got,
        [(4, None, true), (5, None, true), (6, None, false)],
        "the replay fills the gap in feed order before the message that revealed it"
    );

    // 7 is deleted from INBOUND before anyone reads it: no replay can
    // find it, so 8 reports it.
    drop(second);
    no_pull_waiting(&mut durable).await;
    for i in 7..=8 {
        publish(&usa, &secret(), &format!("T{i}")).await;
    }
    wait_stored(&home, "INBOUND", 8).await;
    delete_feed_seqs(&home, "INBOUND", &[7]).await;
    let mut third = subscriber
        .subscribe(Topic::tracks())
        .await
        .expect("subscribes");
    let d = next_delivery(&mut third).await;
    assert_eq!((d.seq, d.gap, d.replayed), (8, Some((7, 7)), false));
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_named_subscription_resumes_after_its_subscriber_restarts_missing_and_repeating_nothing()
{
    let mesh = mesh(USA_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    let home = account_js(&mesh, "GBR", "HOME").await;

    let before = named_subscriber(&mesh, "ops-display").await;
    let mut sub = before.subscribe(Topic::tracks()).await.expect("subscribes");
    for i in 1..=5 {
        publish(&usa, &secret(), &format!("T{i}")).await;
    }
    for i in 1..=5 {
        assert_eq!(next_delivery(&mut sub).await.seq, i);
    }
    let inbound = home.get_stream("INBOUND").await.expect("INBOUND");
    let mut durable: jetstream::consumer::PullConsumer =
        inbound.get_consumer("ops-display").await.expect("durable");
    within("the five acknowledgements are stored", async {
        while durable
            .info()
            .await
            .expect("info")
            .ack_floor
            .stream_sequence
            < 5
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let info = durable.info().await.expect("info");
    assert_eq!(
        info.config.inactive_threshold,
        Duration::ZERO,
        "a named subscription must wait for its subscriber however long it is away"
    );
    eprintln!("first five delivered and acknowledged");
    // The subscriber goes away (its process restarts) while tracks flow.
    drop(sub);
    drop(before);
    for i in 6..=10 {
        publish(&usa, &secret(), &format!("T{i}")).await;
    }
    wait_stored(&home, "INBOUND", 10).await;

    let after = named_subscriber(&mesh, "ops-display").await;
    let mut sub = after.subscribe(Topic::tracks()).await.expect("subscribes");
    let mut got = Vec::new();
    for _ in 6..=10 {
        let d = next_delivery(&mut sub).await;
        got.push((d.seq, d.gap));
    }
    assert_eq!(got, (6..=10).map(|i| (i, None)).collect::<Vec<_>>());
    // And nothing more: no repeat of 1..=5.
    let extra = tokio::time::timeout(Duration::from_secs(3), sub.next()).await;
    assert!(
        extra.is_err(),
        "nothing beyond 10 may be delivered: {:?}",
        extra.map(|d| d.map(|d| d.map(|d| d.seq)))
    );
    bridges.shutdown().await;
}
