//! `coalition forward` against a real mesh (real nats-server, real ML-DSA,
//! in-process bridges) and a real HTTP server started by the test
//! (`common::webhook`), which fails on demand. The server counts requests
//! per alert, so "nothing lost, nothing posted twice" is checked where the
//! alerts arrive. Every wait polls a condition (the server's list, the
//! dead-letter file) with a generous limit.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::webhook::{Hook, Mode, Received};
use common::{mesh_with_bridges, producer, publish_alert, wait_until, ALERT_TOPOLOGY};

const LIMIT: Duration = Duration::from_secs(120);

/// A running `coalition forward`; killed (by its PID) on drop.
struct Forwarder {
    child: Child,
    log: PathBuf,
}

impl Forwarder {
    fn start(mesh_dir: &Path, out: &Path, url: &str, extra: &[&str]) -> Forwarder {
        let log = out.join("forward.log");
        let stdout = std::fs::File::create(&log).unwrap();
        let stderr = stdout.try_clone().unwrap();
        let dead = out.join("dead.jsonl");
        let mut args = vec![
            "forward".to_string(),
            "--dir".into(),
            mesh_dir.display().to_string(),
            "--nation".into(),
            "GBR".into(),
            "--webhook".into(),
            url.into(),
            "--dead-letter".into(),
            dead.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_coalition"))
            .args(&args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        Forwarder { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The alert id in a JSON body.
fn alert_id(r: &Received) -> String {
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("the body is JSON");
    v["payload"]["alert_id"].as_str().unwrap().to_string()
}

fn posts_of(hook: &Hook, id: &str) -> Vec<Received> {
    hook.received()
        .into_iter()
        .filter(|r| alert_id(r) == id)
        .collect()
}

/// Alert ids in the order of their first POST.
fn first_seen(hook: &Hook) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in hook.received() {
        let id = alert_id(&r);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each dead letter is one JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_survive_the_endpoint_down_for_10_s_and_slow_responses() {
    let (mesh, stop) = mesh_with_bridges(ALERT_TOPOLOGY).await;
    let out = tempfile::tempdir().unwrap();
    let mut hook = Hook::start().await;
    let fwd = Forwarder::start(
        mesh.dir(),
        out.path(),
        &hook.url(),
        &[
            "--max-tries",
            "1000",
            "--request-timeout-ms",
            "1000",
            "--retry-base-ms",
            "100",
            "--retry-max-delay-ms",
            "1000",
        ],
    );
    let cuas = producer(&mesh, "cuas-1").await;

    // Up: each alert posted once, as JSON, with its lineage.
    for id in ["A1", "A2", "A3"] {
        publish_alert(&cuas, id).await;
    }
    wait_until("A1..A3 posted", LIMIT, || first_seen(&hook).len() == 3).await;
    let first = &hook.received()[0];
    assert_eq!(first.content_type, "application/json");
    let body: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["origin"], "USA");
    assert_eq!(body["kind"], "alert");
    assert_eq!(body["payload"]["severity"], "SEVERITY_CRITICAL");
    assert_eq!(body["lineage"]["admitted_by"], "GBR");
    assert_eq!(body["lineage"]["released_by"], "USA");
    assert_eq!(first.key, format!("USA/cuas-1/alerts/{}/v1", body["seq"]));

    // Down for 10 s (the outage's length is the scenario, not a wait for
    // something): alerts published meanwhile are held, then posted once.
    hook.stop().await;
    for id in ["A4", "A5", "A6"] {
        publish_alert(&cuas, id).await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(first_seen(&hook).len(), 3, "nothing can arrive while down");
    hook.restart();
    wait_until("A4..A6 posted after the outage", LIMIT, || {
        first_seen(&hook).len() == 6
    })
    .await;

    // Slow: the first POST of each alert is answered after 3 s, beyond the
    // 1 s request timeout, so the forwarder gives up on it and tries again.
    // At least once: the endpoint received those alerts twice, with the
    // same Idempotency-Key and body, to de-duplicate on.
    hook.set_mode(Mode::SlowFirst(Duration::from_secs(3)));
    for id in ["A7", "A8"] {
        publish_alert(&cuas, id).await;
    }
    wait_until("A7 and A8 retried after the timeout", LIMIT, || {
        posts_of(&hook, "A7").len() >= 2 && posts_of(&hook, "A8").len() >= 2
    })
    .await;
    for id in ["A7", "A8"] {
        let posts = posts_of(&hook, id);
        assert!(posts
            .iter()
            .all(|p| p.key == posts[0].key && p.body == posts[0].body));
    }
    hook.set_mode(Mode::Accept);
    publish_alert(&cuas, "A9").await;
    wait_until("A9 posted", LIMIT, || first_seen(&hook).len() == 9).await;

    // Nothing lost, in order, and nothing but the timed-out ones twice.
    let want: Vec<String> = (1..=9).map(|i| format!("A{i}")).collect();
    assert_eq!(first_seen(&hook), want, "{}", fwd.log());
    for id in ["A1", "A2", "A3", "A4", "A5", "A6", "A9"] {
        assert_eq!(posts_of(&hook, id).len(), 1, "{id}\n{}", fwd.log());
    }
    assert!(dead_letters(&out.path().join("dead.jsonl")).is_empty());
    let _ = stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_dead_lettered_at_once_and_a_5xx_after_the_bounded_tries() {
    let (mesh, stop) = mesh_with_bridges(ALERT_TOPOLOGY).await;
    let out = tempfile::tempdir().unwrap();
    let dead = out.path().join("dead.jsonl");
    let hook = Hook::start().await;
    let fwd = Forwarder::start(
        mesh.dir(),
        out.path(),
        &hook.url(),
        &[
            "--max-tries",
            "3",
            "--retry-base-ms",
            "50",
            "--retry-max-delay-ms",
            "200",
        ],
    );
    let cuas = producer(&mesh, "cuas-1").await;

    hook.set_mode(Mode::Status(404));
    publish_alert(&cuas, "B1").await;
    wait_until("B1 dead-lettered", LIMIT, || {
        !dead_letters(&dead).is_empty()
    })
    .await;
    let d = &dead_letters(&dead)[0];
    assert_eq!(d["status"], 404, "{d}");
    assert_eq!(d["tries"], 1, "{d}");
    assert_eq!(d["alert"]["payload"]["alert_id"], "B1");
    assert_eq!(d["last_error"], "HTTP 404");
    assert_eq!(posts_of(&hook, "B1").len(), 1, "a 404 is not retried");

    hook.set_mode(Mode::Status(503));
    publish_alert(&cuas, "B2").await;
    wait_until("B2 dead-lettered", LIMIT, || dead_letters(&dead).len() == 2).await;
    let d = &dead_letters(&dead)[1];
    assert_eq!(
        (d["status"].clone(), d["tries"].clone()),
        (503.into(), 3.into()),
        "{d}"
    );
    assert_eq!(d["alert"]["payload"]["alert_id"], "B2");
    assert!(d["dead_lettered_at_ms"].as_i64().unwrap() > 0);
    assert_eq!(posts_of(&hook, "B2").len(), 3, "3 tries, then given up");

    // Both were acknowledged: the next alert is posted, and they are not
    // posted again.
    hook.set_mode(Mode::Accept);
    publish_alert(&cuas, "B3").await;
    wait_until("B3 posted", LIMIT, || posts_of(&hook, "B3").len() == 1).await;
    assert_eq!(posts_of(&hook, "B1").len(), 1);
    assert_eq!(posts_of(&hook, "B2").len(), 3, "{}", fwd.log());
    assert_eq!(dead_letters(&dead).len(), 2);
    let _ = stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarder_killed_with_an_alert_unacknowledged_posts_it_after_restart() {
    let (mesh, stop) = mesh_with_bridges(ALERT_TOPOLOGY).await;
    let out = tempfile::tempdir().unwrap();
    let mut hook = Hook::start().await;
    let flags = [
        "--max-tries",
        "1000",
        "--retry-base-ms",
        "50",
        "--retry-max-delay-ms",
        "200",
    ];
    let mut fwd = Forwarder::start(mesh.dir(), out.path(), &hook.url(), &flags);
    let cuas = producer(&mesh, "cuas-1").await;
    publish_alert(&cuas, "C1").await;
    wait_until("C1 posted", LIMIT, || posts_of(&hook, "C1").len() == 1).await;

    // The endpoint goes down; C2 is being retried (so not acknowledged)
    // when the forwarder is killed (SIGKILL, by its PID: a crash).
    hook.stop().await;
    publish_alert(&cuas, "C2").await;
    wait_until("the forwarder retrying C2", LIMIT, || {
        fwd.log().contains("webhook: retrying")
    })
    .await;
    fwd.child.kill().unwrap();
    fwd.child.wait().unwrap();
    hook.restart();
    publish_alert(&cuas, "C3").await;

    // Restarted under the same durable name: C2 and C3 come, C1 does not
    // come again (it was acknowledged in its own batch message).
    let _fwd = Forwarder::start(mesh.dir(), out.path(), &hook.url(), &flags);
    wait_until("C2 and C3 posted after the restart", LIMIT, || {
        posts_of(&hook, "C2").len() == 1 && posts_of(&hook, "C3").len() == 1
    })
    .await;
    assert_eq!(first_seen(&hook), ["C1", "C2", "C3"]);
    assert_eq!(posts_of(&hook, "C1").len(), 1);
    let _ = stop.send(true);
}

/// https: the forwarder checks the endpoint's certificate. Trusting only
/// the system's roots, it cannot complete a handshake with an endpoint
/// whose certificate the test's own authority issued: the alert is
/// dead-lettered after the bounded tries, never posted. Restarted with
/// `--webhook-ca` (that authority), the same durable subscription posts
/// the next alert over TLS, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_is_posted_over_tls_only_when_its_certificate_is_trusted() {
    let (mesh, stop) = mesh_with_bridges(ALERT_TOPOLOGY).await;
    let out = tempfile::tempdir().unwrap();
    let authority = coalition_tls::Authority::new("WEB", 1).unwrap();
    let server = authority
        .issue(
            "webhook",
            &["127.0.0.1".into()],
            coalition_tls::Usage::Server,
        )
        .unwrap();
    let ca = out.path().join("webhook-ca.pem");
    std::fs::write(&ca, &authority.own().certificate_pem).unwrap();
    let hook = Hook::start_tls(&server.certificate_pem, &server.key_pem).await;
    assert!(
        hook.url().starts_with("https://127.0.0.1:"),
        "{}",
        hook.url()
    );
    let retries = ["--retry-base-ms", "50", "--retry-max-delay-ms", "200"];
    let cuas = producer(&mesh, "cuas-1").await;

    let untrusting_out = out.path().join("untrusting");
    std::fs::create_dir(&untrusting_out).unwrap();
    let untrusting = Forwarder::start(
        mesh.dir(),
        &untrusting_out,
        &hook.url(),
        &[&["--max-tries", "2"][..], &retries[..]].concat(),
    );
    publish_alert(&cuas, "T1").await;
    let dead = untrusting_out.join("dead.jsonl");
    wait_until("T1 dead-lettered", LIMIT, || {
        !dead_letters(&dead).is_empty()
    })
    .await;
    let d = &dead_letters(&dead)[0];
    assert_eq!(d["alert"]["payload"]["alert_id"], "T1", "{d}");
    assert_eq!(
        (d["tries"].clone(), d["status"].clone()),
        (2.into(), serde_json::Value::Null),
        "{d}"
    );
    let error = d["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("certificate"),
        "the dead letter says why: {d}"
    );
    assert!(
        hook.received().is_empty(),
        "nothing is posted without trust"
    );
    assert!(hook.failed_handshakes() >= 2, "{}", untrusting.log());
    drop(untrusting);

    let trusting_out = out.path().join("trusting");
    std::fs::create_dir(&trusting_out).unwrap();
    let ca_arg = ca.display().to_string();
    let trusting = Forwarder::start(
        mesh.dir(),
        &trusting_out,
        &hook.url(),
        &[&["--webhook-ca", ca_arg.as_str()][..], &retries[..]].concat(),
    );
    publish_alert(&cuas, "T2").await;
    wait_until("T2 posted over TLS", LIMIT, || {
        !posts_of(&hook, "T2").is_empty()
    })
    .await;
    assert_eq!(posts_of(&hook, "T2").len(), 1, "{}", trusting.log());
    assert!(
        posts_of(&hook, "T1").is_empty(),
        "T1 was settled by its dead letter"
    );
    assert!(dead_letters(&trusting_out.join("dead.jsonl")).is_empty());
    let _ = stop.send(true);
}

#[test]
fn bad_forward_flags_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("d.jsonl").display().to_string();
    let base = ["forward", "--dir", "/nonexistent", "--nation", "GBR"];
    let table: [(&[&str], &str); 7] = [
        (
            &["--webhook", "ftp://x/", "--dead-letter", &dead],
            "--webhook \"ftp://x/\": scheme ftp",
        ),
        (
            &[
                "--webhook",
                "http://127.0.0.1:1/",
                "--dead-letter",
                &dead,
                "--max-tries",
                "0",
            ],
            "--max-tries must be at least 1",
        ),
        (
            &[
                "--webhook",
                "http://127.0.0.1:1/",
                "--dead-letter",
                &dead,
                "--retry-base-ms",
                "5000",
                "--retry-max-delay-ms",
                "100",
            ],
            "--retry-base-ms (5000)",
        ),
        (
            &[
                "--webhook",
                "http://127.0.0.1:1/",
                "--dead-letter",
                "/nonexistent/d.jsonl",
            ],
            "--dead-letter /nonexistent/d.jsonl",
        ),
        (
            &[
                "--webhook",
                "http://127.0.0.1:1/",
                "--dead-letter",
                &dead,
                "--webhook-ca",
                "/x.pem",
            ],
            "--webhook-ca is for an https://",
        ),
        (
            &[
                "--webhook",
                "http://127.0.0.1:1/",
                "--dead-letter",
                &dead,
                "--durable",
                "a.b",
            ],
            "--durable \"a.b\"",
        ),
        (
            &["--webhook", "http://127.0.0.1:1/", "--dead-letter", &dead],
            "/nonexistent: no such folder (expected a mesh folder",
        ),
    ];
    for (extra, want) in table {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let out = common::coalition(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let out = common::coalition(&[
        "forward",
        "--webhook",
        "http://127.0.0.1:1/",
        "--dead-letter",
        &dead,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give either --dir DIR --nation NATION"));
}

/// The interop venv's Python.
fn interop_python() -> PathBuf {
    nats_harness::interop_python().expect("the interop Python environment")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_alert_from_the_mesh_is_posted_as_cap_the_oasis_schema_accepts() {
    let (mesh, stop) = mesh_with_bridges(ALERT_TOPOLOGY).await;
    let out = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let fwd = Forwarder::start(mesh.dir(), out.path(), &hook.url(), &["--format", "cap"]);
    let cuas = producer(&mesh, "cuas-1").await;
    publish_alert(&cuas, "C1").await;
    wait_until("C1 posted", LIMIT, || !hook.received().is_empty()).await;
    let post = &hook.received()[0];
    assert_eq!(post.content_type, "application/cap+xml", "{}", fwd.log());
    for needle in [
        "urn:oasis:names:tc:emergency:cap:1.2",
        "<identifier>C1</identifier>",
        "<msgType>Alert</msgType>",
        "<severity>Extreme</severity>",
    ] {
        assert!(post.body.contains(needle), "{needle} in {}", post.body);
    }
    let file = out.path().join("c1.xml");
    std::fs::write(&file, &post.body).unwrap();
    let check = Command::new(interop_python())
        .arg("-B")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/python/validate_cap.py"))
        .arg(&file)
        .output()
        .expect("runs the CAP validator");
    assert!(
        check.status.success(),
        "the OASIS CAP 1.2 schema refuses it: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(dead_letters(&out.path().join("dead.jsonl")).is_empty());
    drop(fwd);
    let _ = stop.send(true);
}
