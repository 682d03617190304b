//! `coalition publish` and `coalition subscribe` against a real mesh folder
//! (real nats-server, in-process bridges): the subscriber prints what was
//! released to its nation, and a NOFORN track never shows.
mod common;

use std::process::{Command, Stdio};

use common::{coalition, mesh_with_bridges};

const TOPOLOGY: &str = include_str!("../../topologies/pair.toml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_tracks_reach_the_cli_subscriber_except_noforn() {
    let (mesh, stop) = mesh_with_bridges(TOPOLOGY).await;
    let dir = mesh.dir().display().to_string();
    let subscriber = Command::new(env!("CARGO_BIN_EXE_coalition"))
        .args([
            "subscribe",
            "--dir",
            &dir,
            "--nation",
            "GBR",
            "--count",
            "2",
            "--idle-timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = [
        "publish",
        "--dir",
        &dir,
        "--nation",
        "USA",
        "--producer",
        "radar-1",
        "--classification",
        "SECRET",
        "--rel",
        "GBR",
    ];
    for extra in [
        vec!["--track-id", "CLI-1"],
        vec!["--caveat", "NOFORN", "--track-id", "CLI-NOFORN"],
        vec!["--track-id", "CLI-2"],
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra).collect();
        let out = coalition(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = tokio::task::spawn_blocking(move || subscriber.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].contains("seq 1")
            && lines[0].contains("track CLI-1")
            && lines[0].contains("admitted by GBR"),
        "{stdout}"
    );
    assert!(
        lines[1].contains("seq 3") && lines[1].contains("track CLI-2"),
        "{stdout}"
    );
    assert!(!stdout.contains("NOFORN"));
    // Bad input: an unknown producer and a folder that is no mesh.
    let out = coalition(&[
        "publish",
        "--dir",
        &dir,
        "--nation",
        "USA",
        "--producer",
        "ghost",
        "--classification",
        "SECRET",
        "--track-id",
        "X",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no producer \"ghost\""));
    let out = coalition(&["subscribe", "--dir", "/nonexistent", "--nation", "GBR"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = stop.send(true);
}
