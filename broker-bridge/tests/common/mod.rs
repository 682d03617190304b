//! Shared pieces of the bridge's integration tests: a real mesh from the
//! harness, in-process bridges, SDK producers and subscribers, and watchers
//! that subscribe to `>` in a nation's accounts.
#![allow(dead_code, unused_imports)]

pub mod alerts;
pub mod attack;
pub mod crash;
pub mod forge;
pub mod ledger;
pub mod own_machine;
pub mod policy;

pub use policy::now_ms;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coalition_bridge::{BridgeHandle, BridgeSettings};
use coalition_sdk::{
    load_producer_identity, load_trust_anchor, Label, Producer, ProducerOptions, Subscriber,
    SubscriberOptions, TrackV1, TrustAnchors,
};
use coalition_topology::parse_topology;
use futures::StreamExt;
use nats_harness::Mesh;
use tokio::sync::watch;

/// USA releases to GBR, which runs a 3-server cluster.
pub const USA_TO_GBR_CLUSTER: &str = r#"
[mesh]
name = "cluster"
[[nation]]
code = "USA"
[[nation]]
code = "GBR"
servers = 3
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
"#;

/// USA releases to GBR and to FRA, one server each; USA's `radar-1`.
pub const USA_TO_GBR_AND_FRA: &str = r#"
[mesh]
name = "usa-to-gbr-and-fra"
[[nation]]
code = "USA"
[[nation]]
code = "GBR"
[[nation]]
code = "FRA"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[link]]
from = "USA"
to = "FRA"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
"#;

/// USA releasing to GBR, one server each.
pub const USA_TO_GBR: &str = r#"
[mesh]
name = "usa-gbr"
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
"#;

/// USA and GBR, each releasing to the other.
pub const DUPLEX: &str = r#"
[mesh]
name = "duplex"
[[nation]]
code = "USA"
[[nation]]
code = "GBR"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[link]]
from = "GBR"
to = "USA"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
[[feed]]
nation = "GBR"
producer = "radar-2"
name = "tracks"
kind = "track"
"#;

/// Every await in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(60);

/// Awaits `f` for at most [`WAIT`], failing the test with `what` if not.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Starts a mesh from topology TOML text.
pub async fn mesh(toml: &str) -> Mesh {
    let topology = parse_topology(toml, Path::new("<test>")).expect("test topology is valid");
    within("mesh start", Mesh::start(topology))
        .await
        .expect("mesh starts")
}

/// Running bridges and the switch that stops them.
pub struct Bridges {
    pub stop: watch::Sender<bool>,
    pub handles: Vec<BridgeHandle>,
}

impl Bridges {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            within("bridge shutdown", h.join()).await;
        }
    }
}

/// Starts the bridge of every nation in `mesh`, in this process.
pub async fn bridges(mesh: &Mesh) -> Bridges {
    bridges_with(mesh, |_| {}).await
}

/// A connected producer of `nation`.
pub async fn producer(mesh: &Mesh, nation: &str, producer_id: &str) -> Producer {
    let root = load_trust_anchor(&mesh.root_public_key_path(nation)).expect("root key");
    let (key, cert) = mesh.producer_key_paths(nation, producer_id);
    let identity = load_producer_identity(&key, &cert, nation, &root).expect("producer identity");
    let clients = mesh.clients(nation).expect("clients config");
    within(
        "producer connect",
        ProducerOptions::from_clients(clients, producer_id)
            .expect("producer in clients file")
            .connect(identity),
    )
    .await
    .expect("producer connects")
}

/// Every nation's root, as a subscriber's trust anchors.
pub fn anchors(mesh: &Mesh) -> TrustAnchors {
    mesh.topology()
        .nations
        .iter()
        .map(|n| {
            (
                n.code.clone(),
                load_trust_anchor(&mesh.root_public_key_path(&n.code)).expect("root"),
            )
        })
        .collect()
}

/// A connected subscriber of `nation`.
pub async fn subscriber(mesh: &Mesh, nation: &str) -> Subscriber {
    let clients = mesh.clients(nation).expect("clients config");
    within(
        "subscriber connect",
        SubscriberOptions::from_clients(clients)
            .trust_anchors(anchors(mesh))
            .connect(),
    )
    .await
    .expect("subscriber connects")
}

/// A track whose id is `id` (tests look for the id's bytes anywhere).
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

pub fn label(policy: &str, classification: &str, to: &[&str]) -> Label {
    Label::new(policy, classification, to)
}

/// Everything seen by subscriptions to `>` in all of a nation's accounts:
/// (account, subject, payload).
#[derive(Clone, Default)]
pub struct Watch {
    pub seen: Arc<Mutex<Vec<(String, String, bytes::Bytes)>>>,
}

impl Watch {
    /// Whether any message seen so far contains `needle` in its payload.
    pub fn saw(&self, needle: &[u8]) -> bool {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, _, p)| contains(p, needle))
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Subscribes to `>` in every account of `nation` (as the bridge's users,
/// which may read everything there) and records what arrives.
pub async fn watch_everything(mesh: &Mesh, nation: &str) -> Watch {
    let watch = Watch::default();
    for (account, cred) in mesh.bridge_accounts(nation) {
        let client = within(
            "watcher connect",
            mesh.connect_options(&cred)
                .expect("TLS options")
                .connect(mesh.client_urls(nation)),
        )
        .await
        .expect("watcher connects");
        let mut sub = client.subscribe(">").await.expect("subscribe >");
        within("watcher flush", client.flush())
            .await
            .expect("flush");
        let seen = watch.seen.clone();
        tokio::spawn(async move {
            let _client = client;
            while let Some(m) = sub.next().await {
                seen.lock()
                    .unwrap()
                    .push((account.clone(), m.subject.to_string(), m.payload));
            }
        });
    }
    watch
}

/// The usual cast: a mesh with its bridges, a GBR subscriber to tracks, and
/// USA's `radar-1` producer.
pub struct Scene {
    pub mesh: Mesh,
    pub bridges: Bridges,
    pub gbr: coalition_sdk::Subscriber,
    pub gbr_tracks: coalition_sdk::Subscription,
    pub usa: Producer,
}

/// Starts a [`Scene`] on `toml` (which must have USA -> GBR and USA's `radar-1`).
pub async fn scene(toml: &str) -> Scene {
    let mesh = mesh(toml).await;
    let bridges = bridges(&mesh).await;
    let gbr = subscriber(&mesh, "GBR").await;
    let gbr_tracks = within("subscribe", gbr.subscribe(coalition_sdk::Topic::tracks()))
        .await
        .expect("subscribes");
    let usa = producer(&mesh, "USA", "radar-1").await;
    Scene {
        mesh,
        bridges,
        gbr,
        gbr_tracks,
        usa,
    }
}

/// Publishes a track with id `id` on feed `tracks`; returns its seq.
pub async fn publish(producer: &Producer, label: &Label, id: &str) -> u64 {
    within(
        "publish",
        producer.publish("tracks", coalition_sdk::Record::track(label, &track(id))),
    )
    .await
    .expect("published")
    .seq
}

/// The next delivery, verified, acknowledged.
pub async fn next_delivery(sub: &mut coalition_sdk::Subscription) -> coalition_sdk::Delivery {
    let d = within("delivery", sub.next())
        .await
        .expect("subscription open")
        .expect("delivery verifies");
    within("ack", d.ack()).await.expect("ack");
    d
}

/// The track id of a delivery that must be a track.
pub fn track_id(d: &coalition_sdk::Delivery) -> &str {
    match &d.payload {
        coalition_sdk::Payload::Track(t) => &t.track_id,
        coalition_sdk::Payload::TrackV2(t) => &t.track_id,
        other => panic!("expected a track, got {other:?}"),
    }
}

/// A JetStream context in `nation`'s cluster as `cred`.
pub async fn jetstream_as(
    mesh: &Mesh,
    nation: &str,
    cred: coalition_topology::Credential,
) -> async_nats::jetstream::Context {
    let client = within(
        "connect",
        mesh.connect_options(&cred)
            .expect("TLS options")
            .connect(mesh.client_urls(nation)),
    )
    .await
    .expect("connects");
    async_nats::jetstream::new(client)
}

/// Starts every nation's bridge after `tweak` has adjusted its settings
/// (e.g. a shorter staleness bound).
pub async fn bridges_with(mesh: &Mesh, tweak: impl Fn(&mut BridgeSettings)) -> Bridges {
    bridges_where(mesh, |_| true, tweak).await
}

/// Starts, in this process, the bridge of every nation of `mesh` that
/// `include` accepts, after `tweak` has adjusted its settings.
pub async fn bridges_where(
    mesh: &Mesh,
    include: impl Fn(&str) -> bool,
    tweak: impl Fn(&mut BridgeSettings),
) -> Bridges {
    let (stop, shutdown) = watch::channel(false);
    let mut handles = Vec::new();
    for n in mesh.topology().nations.iter().filter(|n| include(&n.code)) {
        let mut settings =
            BridgeSettings::load(&mesh.bridge_config_path(&n.code)).expect("bridge config loads");
        tweak(&mut settings);
        handles.push(
            within(
                "bridge start",
                coalition_bridge::start(settings, shutdown.clone()),
            )
            .await
            .expect("bridge starts"),
        );
    }
    Bridges { stop, handles }
}

/// `nation`'s root signing key, from the mesh's development PKI.
pub fn root_key(mesh: &Mesh, nation: &str) -> coalition_core::keys::SigningKeyPair {
    let path = nats_harness::nation_key_dir(mesh.dir(), nation).join("root.key");
    coalition_core::keys::SigningKeyPair::from_private_file(&std::fs::read(path).expect("root key"))
        .expect("root key decodes")
}

/// A control publisher in `nation` (as its bridge's HOME user: tests
/// publish what the operator user may not, such as forged objects).
pub async fn control(mesh: &Mesh, nation: &str) -> coalition_sdk::ControlPublisher {
    let cfg = mesh.bridge_config(nation).expect("bridge config");
    within(
        "control connect",
        coalition_sdk::ControlPublisher::connect(&cfg.servers, nation, &cfg.home),
    )
    .await
    .expect("control connects")
}

/// Every block of `nation`'s audit log: (stream sequence, raw block).
pub async fn audit_blocks(mesh: &Mesh, nation: &str) -> Vec<(u64, bytes::Bytes)> {
    let cred = mesh
        .bridge_config(nation)
        .expect("bridge config")
        .home
        .clone();
    let js = jetstream_as(mesh, nation, cred).await;
    let stream = within("audit stream", js.get_stream("AUDIT"))
        .await
        .expect("AUDIT stream");
    let last = within("audit info", stream.get_info())
        .await
        .expect("AUDIT info")
        .state
        .last_sequence;
    let mut out = Vec::new();
    if last == 0 {
        return out;
    }
    let consumer = within(
        "audit consumer",
        stream.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()),
    )
    .await
    .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    while let Some(m) = within("audit read", messages.next()).await {
        let m = m.expect("audit message");
        let seq = m.info().expect("metadata").stream_sequence;
        out.push((seq, m.payload.clone()));
        if seq >= last {
            break;
        }
    }
    out
}

/// The last dead letter on `subject` in `nation`, waiting for it to appear.
pub async fn dead_letter(
    mesh: &nats_harness::Mesh,
    nation: &str,
    subject: &str,
) -> async_nats::jetstream::message::StreamMessage {
    let home = mesh.bridge_config(nation).unwrap().home.clone();
    let dlq = jetstream_as(mesh, nation, home)
        .await
        .get_stream("DEADLETTER")
        .await
        .unwrap();
    within(&format!("dead letter on {subject}"), async {
        loop {
            match dlq.get_last_raw_message_by_subject(subject).await {
                Ok(m) => break m,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
}

/// Every record of `nation`'s audit log, in order.
pub async fn audit_records(mesh: &Mesh, nation: &str) -> Vec<coalition_schemas::v1::AuditRecord> {
    audit_blocks(mesh, nation)
        .await
        .iter()
        .flat_map(|(_, raw)| {
            coalition_core::audit::decode_block(raw)
                .expect("block decodes")
                .records
        })
        .collect()
}

/// The value of the metric line starting with `prefix` (e.g.
/// `coalition_bridge_partner_stale{nation="GBR",partner="USA"}`), or 0.
pub fn metric(prefix: &str) -> f64 {
    let text = coalition_bridge::telemetry::render();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (normalise(name) == normalise(prefix)).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

fn normalise(series: &str) -> String {
    let Some((name, labels)) = series.split_once('{') else {
        return series.to_string();
    };
    let mut parts: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
    parts.sort();
    format!("{name}{{{}}}", parts.join(","))
}

/// Polls `check` every 100 ms until it is true, failing after [`WAIT`].
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    within(what, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}
