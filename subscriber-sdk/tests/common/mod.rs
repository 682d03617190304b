//! Shared pieces of the SDK's integration tests: a real two-nation mesh
//! from the harness, the streams the bridge would create (made here with
//! the bridge's HOME credential, since these tests run no bridge), and
//! helpers to read what a producer stored.
#![allow(dead_code)]

pub mod inbound;
pub mod recorder;

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use coalition_core::batch::{decode_batch, DecodedBatch};
use coalition_core::envelope::ProducerIdentity;
use coalition_sdk::{
    load_producer_identity, load_trust_anchor, Label, Producer, ProducerOptions, Subscriber,
    SubscriberOptions, TrackV1, TrustAnchors,
};
use coalition_topology::{parse_topology, streams};
use futures::StreamExt;
use nats_harness::Mesh;

/// USA (producer radar-1 with two track feeds and an alert feed) releases
/// to GBR.
pub const TOPOLOGY: &str = r#"
[mesh]
name = "sdk"
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
name = "tracks-2"
kind = "track"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "alerts"
kind = "alert"
"#;

pub const PRODUCER: &str = "radar-1";

/// Every await in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(60);

/// Awaits `f` for at most [`WAIT`], failing the test with `what` if not.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Waits until `check` holds, polling; fails the test after [`WAIT`].
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Starts the mesh and creates every nation's HOME streams.
pub async fn mesh() -> Mesh {
    let topology = parse_topology(TOPOLOGY, Path::new("<test>")).expect("test topology is valid");
    let mesh = within("mesh start", Mesh::start(topology))
        .await
        .expect("mesh starts");
    for nation in ["USA", "GBR"] {
        create_streams(&home(&mesh, nation).await).await;
    }
    mesh
}

/// JetStream in `nation`'s HOME account as its bridge (no permission
/// limits).
pub async fn home(mesh: &Mesh, nation: &str) -> jetstream::Context {
    let cfg = mesh.bridge_config(nation).expect("bridge config");
    let client = within(
        "bridge connect",
        mesh.connect_options(&cfg.home)
            .expect("connect options")
            .connect(mesh.client_urls(nation)),
    )
    .await
    .expect("bridge user connects");
    jetstream::new(client)
}

/// A stream as the bridge configures it.
pub fn stream_config(name: &str, subjects: &str) -> stream::Config {
    stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// The streams and bucket the bridge creates in HOME, as it creates them.
pub async fn create_streams(js: &jetstream::Context) {
    let mut configs = vec![
        stream_config(streams::OUTBOUND, "out.track.>"),
        stream_config(streams::OUTBOUND_ALERTS, "out.alert.>"),
        stream_config(streams::INBOUND, "in.track.>"),
        stream_config(streams::INBOUND_ALERTS, "in.alert.>"),
    ];
    configs.push(stream::Config {
        max_messages_per_subject: 1,
        ..stream_config(streams::CONTROL, "ctl.>")
    });
    configs.push(stream::Config {
        max_messages_per_subject: 1,
        ..stream_config(streams::POSITIONS, "pos.>")
    });
    for config in configs {
        within("create stream", js.get_or_create_stream(config))
            .await
            .expect("stream created");
    }
    within(
        "create writers bucket",
        js.create_key_value(kv::Config {
            bucket: streams::FEED_WRITERS_BUCKET.into(),
            history: 1,
            max_age: Duration::from_secs(10),
            storage: stream::StorageType::File,
            ..Default::default()
        }),
    )
    .await
    .expect("bucket created");
}

/// `producer`'s identity, loaded from the mesh's development PKI.
pub fn identity(mesh: &Mesh, nation: &str, producer: &str) -> ProducerIdentity {
    let root = load_trust_anchor(&mesh.root_public_key_path(nation)).expect("root key");
    let (key, cert) = mesh.producer_key_paths(nation, producer);
    load_producer_identity(&key, &cert, nation, &root).expect("producer identity")
}

/// Options to connect as USA's radar-1.
pub fn producer_options(mesh: &Mesh) -> ProducerOptions {
    ProducerOptions::from_clients(mesh.clients("USA").expect("clients"), PRODUCER)
        .expect("producer in clients file")
}

/// A producer connected with `options`.
pub async fn producer(mesh: &Mesh, options: ProducerOptions) -> Producer {
    within(
        "producer connect",
        options.connect(identity(mesh, "USA", PRODUCER)),
    )
    .await
    .expect("producer connects")
}

/// Every nation's root, as a subscriber's trust anchors.
pub fn anchors(mesh: &Mesh) -> TrustAnchors {
    ["USA", "GBR"]
        .into_iter()
        .map(|n| {
            (
                n.to_string(),
                load_trust_anchor(&mesh.root_public_key_path(n)).expect("root"),
            )
        })
        .collect()
}

/// GBR's subscriber, with a durable subscription name.
pub async fn subscriber(mesh: &Mesh, durable: &str) -> Subscriber {
    within(
        "subscriber connect",
        SubscriberOptions::from_clients(mesh.clients("GBR").expect("clients"))
            .trust_anchors(anchors(mesh))
            .durable(durable)
            .connect(),
    )
    .await
    .expect("subscriber connects")
}

/// GBR's subscriber with no durable name: its subscriptions are unnamed.
pub async fn unnamed_subscriber(mesh: &Mesh) -> Subscriber {
    within(
        "subscriber connect",
        SubscriberOptions::from_clients(mesh.clients("GBR").expect("clients"))
            .trust_anchors(anchors(mesh))
            .connect(),
    )
    .await
    .expect("subscriber connects")
}

pub fn label() -> Label {
    Label::new("USA", "SECRET", &["GBR"])
}

/// A track whose id is `id`.
pub fn track(id: &str) -> TrackV1 {
    TrackV1 {
        track_id: id.to_string(),
        latitude_deg: 51.5,
        longitude_deg: -0.12,
        altitude_m: 10_000.0,
        speed_mps: 240.0,
        heading_deg: 90.0,
        confidence: 0.9,
        observed_at_ms: 1,
    }
}

/// Every message stored on `subject` of `stream`, in stream order.
pub async fn read_subject(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
) -> Vec<jetstream::Message> {
    let stream = within("get stream", js.get_stream(stream))
        .await
        .expect("stream exists");
    let mut consumer = within(
        "reader",
        stream.create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: subject.into(),
            ..Default::default()
        }),
    )
    .await
    .expect("reader created");
    let pending = within("reader info", consumer.info())
        .await
        .expect("reader info")
        .num_pending;
    let mut out = Vec::new();
    if pending == 0 {
        return out;
    }
    let mut messages = within("reader messages", consumer.messages())
        .await
        .expect("messages");
    while (out.len() as u64) < pending {
        match within("next stored message", messages.next()).await {
            Some(Ok(m)) => out.push(m),
            Some(Err(e)) => eprintln!("reader: {e}"),
            None => break,
        }
    }
    out
}

/// The batches stored on `subject`, decoded, with their `Nats-Msg-Id`.
pub async fn stored_batches(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
) -> Vec<(DecodedBatch, Bytes, String)> {
    read_subject(js, stream, subject)
        .await
        .into_iter()
        .map(|m| {
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_string())
                .unwrap_or_default();
            let batch = decode_batch(&m.payload).expect("a stored batch decodes");
            (batch, m.payload.clone(), id)
        })
        .collect()
}

/// The info of the durable consumer `durable` on `stream`, read as the
/// bridge.
pub async fn consumer_info(
    js: &jetstream::Context,
    stream: &str,
    durable: &str,
) -> jetstream::consumer::Info {
    let stream = within("stream", js.get_stream(stream))
        .await
        .expect("stream");
    let mut consumer: jetstream::consumer::PullConsumer =
        within("consumer", stream.get_consumer(durable))
            .await
            .expect("consumer");
    within("consumer info", consumer.info())
        .await
        .expect("info")
        .clone()
}

/// How many messages `durable` on `stream` has delivered and not yet had
/// acknowledged.
pub async fn ack_pending(js: &jetstream::Context, stream: &str, durable: &str) -> usize {
    consumer_info(js, stream, durable).await.num_ack_pending
}

/// The subscription's next delivery, which must come and verify.
pub async fn delivery(sub: &mut coalition_sdk::Subscription) -> coalition_sdk::Delivery {
    within("next delivery", sub.next())
        .await
        .expect("the subscription goes on")
        .expect("a verified delivery")
}
