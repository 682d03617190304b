//! Shared pieces of the CLI's integration tests: the built `coalition`
//! binary, and a real mesh (harness) with its bridges running in-process.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Runs the built `coalition` binary.
pub fn coalition(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coalition"))
        .args(args)
        .output()
        .unwrap()
}

/// A mesh for `toml` with every nation's bridge running in this process;
/// the bridges stop when the returned sender is dropped or sent `true`.
pub async fn mesh_with_bridges(
    toml: &str,
) -> (nats_harness::Mesh, tokio::sync::watch::Sender<bool>) {
    let topology = coalition_topology::parse_topology(toml, Path::new("<test>")).unwrap();
    let mesh = tokio::time::timeout(Duration::from_secs(90), nats_harness::Mesh::start(topology))
        .await
        .expect("mesh starts in time")
        .expect("mesh starts");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    for nation in &mesh.topology().nations {
        let settings =
            coalition_bridge::BridgeSettings::load(&mesh.bridge_config_path(&nation.code))
                .expect("bridge config loads");
        coalition_bridge::start(settings, shutdown.clone())
            .await
            .expect("bridge starts");
    }
    (mesh, stop)
}

pub mod webhook;

/// USA releases to GBR; USA has a track producer and an alert producer.
pub const ALERT_TOPOLOGY: &str = r#"
[mesh]
name = "alerts-pair"

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
producer = "cuas-1"
name = "alerts"
kind = "alert"
"#;

/// USA's producer `producer` of a mesh, connected with its real key.
pub async fn producer(mesh: &nats_harness::Mesh, producer: &str) -> coalition_sdk::Producer {
    let dir = mesh.dir();
    let clients =
        coalition_topology::ClientsConfig::load(&dir.join("clients").join("USA.toml")).unwrap();
    let root = coalition_sdk::load_trust_anchor(
        &nats_harness::nation_key_dir(dir, "USA").join("root.pub"),
    )
    .unwrap();
    let (key, cert) = nats_harness::producer_files(dir, "USA", producer);
    let identity = coalition_sdk::load_producer_identity(&key, &cert, "USA", &root).unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        coalition_sdk::ProducerOptions::from_clients(&clients, producer)
            .unwrap()
            .connect(identity),
    )
    .await
    .expect("producer connects in time")
    .unwrap()
}

/// Publishes alert `id` (v1) on USA's `alerts` feed, releasable to GBR.
pub async fn publish_alert(p: &coalition_sdk::Producer, id: &str) {
    let label = coalition_sdk::Label::new("USA", "SECRET", &["GBR"]);
    let alert = coalition_sdk::AlertV1 {
        alert_id: id.into(),
        severity: coalition_sdk::Severity::Critical as i32,
        summary: format!("summary of {id}"),
        track_id: "T-1".into(),
        raised_at_ms: 1_700_000_000_000,
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        p.publish("alerts", coalition_sdk::Record::alert(&label, &alert)),
    )
    .await
    .expect("published in time")
    .unwrap();
}

/// What a deployed nation's operations host holds, copied out of a mesh
/// folder into a folder of its own (the `--keys` of `--clients`): every
/// nation's `root.pub`, and of `nation` its revocation-authority key and
/// certificate and its producers' certificates. No root private key.
pub fn deployed_keys(mesh_dir: &Path, nation: &str) -> tempfile::TempDir {
    let keys = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(mesh_dir.join("keys")).unwrap() {
        let from = entry.unwrap().path();
        let root = from.join("root.pub");
        if !root.is_file() {
            continue;
        }
        let to = keys.path().join(from.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(&root, to.join("root.pub")).unwrap();
    }
    let (from, to) = (
        nats_harness::nation_key_dir(mesh_dir, nation),
        keys.path().join(nation),
    );
    for file in ["revocation-authority.key", "revocation-authority.cert"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    std::fs::create_dir_all(to.join("producers")).unwrap();
    // A nation without producers has no producers/ folder.
    let producers = std::fs::read_dir(from.join("producers"))
        .into_iter()
        .flatten();
    for entry in producers {
        let cert = entry.unwrap().path();
        if cert.extension().is_some_and(|e| e == "cert") {
            std::fs::copy(&cert, to.join("producers").join(cert.file_name().unwrap())).unwrap();
        }
    }
    keys
}

/// The clients file of `nation` in a mesh folder, as a string.
pub fn clients_file(mesh_dir: &Path, nation: &str) -> String {
    mesh_dir
        .join("clients")
        .join(format!("{nation}.toml"))
        .display()
        .to_string()
}

/// Polls `check` every 100 ms until it is true; panics with `what` after
/// `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
