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
