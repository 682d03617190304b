//! `coalition subscribe --json` and the client commands against a deployed
//! nation (`--clients FILE --keys DIR` instead of `--dir/--nation`), on a
//! real mesh (real nats-server, in-process bridges, real ML-DSA): the JSON
//! lines parse and carry the origin, producer, seq, label, payload and
//! lineage; wrong combinations of flags are refused naming them.
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{coalition, mesh_with_bridges, producer, publish_alert, ALERT_TOPOLOGY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_of_a_deployed_nation_carry_label_payload_and_lineage() {
    let (mesh, stop) = mesh_with_bridges(ALERT_TOPOLOGY).await;
    let dir = mesh.dir();
    let clients = |n: &str| {
        dir.join("clients")
            .join(format!("{n}.toml"))
            .display()
            .to_string()
    };
    let keys = dir.join("keys").display().to_string();
    let (gbr, usa) = (clients("GBR"), clients("USA"));
    let subscriber = Command::new(env!("CARGO_BIN_EXE_coalition"))
        .args([
            "subscribe",
            "--clients",
            &gbr,
            "--keys",
            &keys,
            "--json",
            "--count",
            "2",
            "--idle-timeout",
            "90",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = coalition(&[
        "publish",
        "--clients",
        &usa,
        "--keys",
        &keys,
        "--producer",
        "radar-1",
        "--classification",
        "SECRET",
        "--rel",
        "GBR",
        "--track-id",
        "J-1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    publish_alert(&producer(&mesh, "cuas-1").await, "J-ALERT").await;
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || subscriber.wait_with_output()),
    )
    .await
    .expect("the subscriber ends in time")
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let track = lines
        .iter()
        .find(|l| l["kind"] == "track")
        .expect("a track");
    let alert = lines
        .iter()
        .find(|l| l["kind"] == "alert")
        .expect("an alert");
    for (l, producer, feed) in [(track, "radar-1", "tracks"), (alert, "cuas-1", "alerts")] {
        assert_eq!(l["origin"], "USA");
        assert_eq!(l["producer"], producer);
        assert_eq!(l["feed"], feed);
        assert_eq!(l["seq"], 1);
        assert_eq!(l["schema_version"], 1);
        assert_eq!(l["label"]["policy_id"], "USA");
        assert_eq!(l["label"]["classification"], "SECRET");
        assert_eq!(l["label"]["releasable_to"], serde_json::json!(["GBR"]));
        assert!(l["label"]["display"]
            .as_str()
            .unwrap()
            .contains("REL TO GBR"));
        assert_eq!(l["lineage"]["released_by"], "USA");
        assert_eq!(l["lineage"]["admitted_by"], "GBR");
        assert!(l["lineage"]["admitted_at_ms"].as_i64().unwrap() > 0);
        assert!(l["lineage"]["key_id"]
            .as_str()
            .is_some_and(|k| !k.is_empty()));
        assert!(l["lineage"]["lossy"].as_array().unwrap().is_empty());
        assert!(l["derived_from"].as_array().unwrap().is_empty());
    }
    assert_eq!(track["schema"], "coalition.v1.TrackV1");
    assert_eq!(track["payload"]["track_id"], "J-1");
    assert_eq!(alert["schema"], "coalition.v1.AlertV1");
    assert_eq!(alert["payload"]["alert_id"], "J-ALERT");
    assert_eq!(alert["payload"]["severity"], "SEVERITY_CRITICAL");
    assert_eq!(alert["payload"]["raised_at_ms"], 1_700_000_000_000_i64);
    let _ = stop.send(true);
}

#[test]
fn client_commands_need_exactly_one_way_to_reach_a_nation() {
    let table: [(&[&str], &str); 5] = [
        (&["subscribe"], "no nation to act in"),
        (
            &[
                "subscribe",
                "--dir",
                "d",
                "--nation",
                "GBR",
                "--clients",
                "c.toml",
                "--keys",
                "k",
            ],
            "--dir and --clients cannot be used together",
        ),
        (
            &["subscribe", "--clients", "c.toml"],
            "--clients needs --keys",
        ),
        (
            &[
                "publish",
                "--clients",
                "/nonexistent/c.toml",
                "--keys",
                "k",
                "--producer",
                "p",
                "--classification",
                "S",
                "--track-id",
                "T",
            ],
            "--clients /nonexistent/c.toml: no such file",
        ),
        (
            &[
                "subscribe",
                "--clients",
                "/nonexistent/c.toml",
                "--keys",
                "/nonexistent",
            ],
            "--clients /nonexistent/c.toml: no such file",
        ),
    ];
    for (args, want) in table {
        let out = coalition(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

#[test]
fn a_keys_folder_without_roots_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("GBR.toml");
    std::fs::write(
        &clients,
        r#"nation = "GBR"
servers = ["tls://127.0.0.1:1"]
[producers]
[subscriber]
user = "s"
tls = { ca = "ca.pem", certificate = "s.pem", key = "s.key" }
[auditor]
user = "a"
tls = { ca = "ca.pem", certificate = "a.pem", key = "a.key" }
[operator]
user = "o"
tls = { ca = "ca.pem", certificate = "o.pem", key = "o.key" }
"#,
    )
    .unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let out = coalition(&[
        "subscribe",
        "--clients",
        clients.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no <NATION>/root.pub in it"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_flags_leave_out_what_the_topic_does_not_ask_for() {
    let (mesh, stop) = mesh_with_bridges(ALERT_TOPOLOGY).await;
    let dir = mesh.dir().display().to_string();
    let subscriber = Command::new(env!("CARGO_BIN_EXE_coalition"))
        .args([
            "subscribe",
            "--dir",
            &dir,
            "--nation",
            "GBR",
            "--json",
            "--kind",
            "alert",
            "--category",
            "other",
            "--min-severity",
            "severe",
            "--count",
            "1",
            "--idle-timeout",
            "90",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cuas = producer(&mesh, "cuas-1").await;
    // A minor alert (v1 INFO) first: the server never sends it.
    let minor = coalition_sdk::AlertV1 {
        alert_id: "MINOR".into(),
        severity: coalition_sdk::Severity::Info as i32,
        summary: "minor".into(),
        track_id: "T-1".into(),
        raised_at_ms: 1_700_000_000_000,
    };
    let label = coalition_sdk::Label::new("USA", "SECRET", &["GBR"]);
    tokio::time::timeout(
        Duration::from_secs(60),
        cuas.publish("alerts", coalition_sdk::Record::alert(&label, &minor)),
    )
    .await
    .expect("in time")
    .expect("published");
    publish_alert(&cuas, "CRITICAL").await;
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || subscriber.wait_with_output()),
    )
    .await
    .expect("the subscriber ends in time")
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(line["payload"]["alert_id"], "CRITICAL", "{stdout}");
    let refused = coalition(&[
        "subscribe",
        "--dir",
        &dir,
        "--nation",
        "GBR",
        "--kind",
        "track",
        "--category",
        "air",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--kind alert"));
    let _ = stop.send(true);
}
