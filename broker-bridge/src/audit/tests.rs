//! The audit writer against a real nats-server: restarts, a second
//! writer and group commits still make one verifiable chain.
use std::path::Path;

use coalition_core::audit::verify_chain;
use coalition_core::certificate::{issue_certificate, CertificateRequest, TrustAnchors};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::revocation::BRIDGE_IDENTITY;
use nats_harness::{free_loopback_ports, HarnessError, ServerProcess};

use super::*;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_cycle_s_records_are_cut_into_blocks_under_the_size_bound_in_order() {
    let record = |i: u64| v1::AuditRecord {
        msg_id: format!("USA.radar-1.tracks.{i:04}"),
        detail: "x".repeat(90),
        ..Default::default()
    };
    let records: Vec<_> = (0..1000).map(record).collect();
    let each = {
        use prost::Message as _;
        record(0).encoded_len() + 8
    };
    let cut = blocks(records.clone(), 10 * each);
    assert_eq!(cut.len(), 100, "ten records a block");
    assert!(cut.iter().all(|b| b.len() == 10));
    let again: Vec<_> = cut.into_iter().flatten().collect();
    assert_eq!(again, records, "nothing lost, reordered or repeated");
    assert_eq!(blocks(Vec::new(), 100).len(), 0);
    // A record larger than the bound is a block of its own.
    let big = v1::AuditRecord {
        detail: "y".repeat(500),
        ..Default::default()
    };
    let cut = blocks(vec![record(1), big.clone(), record(2)], 200);
    assert_eq!(cut.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
}

#[test]
fn checkpoints_are_due_first_then_every_64_blocks_or_10_seconds() {
    let policy = CheckpointPolicy::default();
    let secs = |s| Some(Duration::from_secs(s));
    let cases = [
        ("first block after open", 0, None, true),
        ("next block", 0, secs(0), false),
        ("63rd block since", 62, secs(9), false),
        ("64th block since", 63, secs(9), true),
        ("10 s since", 0, secs(10), true),
    ];
    for (name, blocks, since, due) in cases {
        assert_eq!(checkpoint_due(policy, blocks, since), due, "{name}");
    }
}

/// A single JetStream server on fresh ports, and its client URL.
async fn jetstream_server(dir: &Path) -> (ServerProcess, String) {
    for _ in 0..3 {
        let ports = free_loopback_ports(2).expect("free ports");
        let config = dir.join("audit.conf");
        let store = dir.join("js");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{}\nhttp: 127.0.0.1:{}\njetstream {{ store_dir: {store:?} }}\n",
                ports[0], ports[1]
            ),
        )
        .expect("write config");
        let log = dir.join("audit.log");
        let mut server = ServerProcess::spawn("AUDIT", &config, &log, ports[1]).expect("spawn");
        match server.wait_healthy(LIMIT).await {
            Ok(()) => return (server, format!("nats://127.0.0.1:{}", ports[0])),
            Err(HarnessError::PortInUse { .. }) => continue,
            Err(e) => panic!("nats-server did not become healthy: {e}"),
        }
    }
    panic!("ports kept being taken");
}

fn bridge_key() -> (Arc<CertifiedKey>, TrustAnchors) {
    let root = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, "USA/bridge");
    let now = crate::time::now_ms();
    let request = CertificateRequest {
        nation: "USA".into(),
        producer_id: BRIDGE_IDENTITY.into(),
        public_key: key.public_key().clone(),
        not_before_ms: now - 60_000,
        not_after_ms: now + 3_600_000,
        feeds: vec!["audit".into()],
        max_classification: "SECRET".into(),
    };
    let certificate = issue_certificate(&root, &request).expect("certificate");
    let anchors = [("USA".to_string(), root.public_key().clone())].into();
    let nation = "USA".to_string();
    (
        Arc::new(CertifiedKey {
            nation,
            key,
            certificate,
        }),
        anchors,
    )
}

fn record(msg_id: &str) -> v1::AuditRecord {
    v1::AuditRecord {
        decision: v1::AuditDecision::Release as i32,
        stage: "egress".into(),
        msg_id: msg_id.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_a_second_writer_still_make_one_verifiable_chain() {
    tokio::time::timeout(LIMIT, run_writers())
        .await
        .expect("timed out");
}

async fn run_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = jetstream_server(dir.path()).await;
    let js = jetstream::new(async_nats::connect(url.as_str()).await.expect("connect"));
    let (key, anchors) = bridge_key();
    let open = || Auditor::open(js.clone(), "USA", 1, Some(key.clone()));
    let (a, b) = (open().await.expect("open a"), open().await.expect("open b"));
    a.append(vec![record("m1"), record("m2")])
        .await
        .expect("a 1");
    a.append(vec![]).await.expect("empty");
    b.append(vec![record("m3")])
        .await
        .expect("b, after reloading");
    a.append(vec![record("m4")])
        .await
        .expect("a, after reloading");
    open()
        .await
        .expect("reopen")
        .append(vec![record("m5")])
        .await
        .expect("c");
    let mut stored = Vec::new();
    for seq in 1..=4 {
        let m = a.stream.get_raw_message(seq).await.expect("stored block");
        let id = m.headers.get("Nats-Msg-Id").map(|v| v.to_string());
        assert_eq!(id.as_deref(), Some(format!("audit.USA.{seq}").as_str()));
        stored.push((seq, m.payload));
    }
    assert!(
        a.stream.get_raw_message(5).await.is_err(),
        "one block per append"
    );
    let report = verify_chain("USA", stored, &anchors, crate::time::now_ms());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(
        (report.records_checked, report.last_verified_index),
        (5, Some(4))
    );
    // The first block of each writer (a, b, the reopened one) is signed.
    assert_eq!(report.checkpoints_verified, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_that_queue_while_a_block_is_stored_go_in_one_block() {
    tokio::time::timeout(LIMIT, run_group_commit())
        .await
        .expect("timed out");
}

async fn run_group_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = jetstream_server(dir.path()).await;
    let js = jetstream::new(async_nats::connect(url.as_str()).await.expect("connect"));
    let (key, anchors) = bridge_key();
    let auditor = Auditor::open(js.clone(), "USA", 1, Some(key))
        .await
        .expect("open");
    // Polled in order by one task: the first append takes the lock and
    // stores its block; the other 19 queue meanwhile and are one group.
    let appends = (0..20).map(|i| {
        let auditor = &auditor;
        async move {
            let ids = [format!("m{i}.a"), format!("m{i}.b")];
            auditor
                .append(ids.iter().map(|id| record(id)).collect())
                .await
        }
    });
    for (i, result) in futures::future::join_all(appends)
        .await
        .into_iter()
        .enumerate()
    {
        result.unwrap_or_else(|e| panic!("append {i}: {e}"));
    }
    let mut stored = Vec::new();
    let mut ids = Vec::new();
    for seq in 1..=2 {
        let m = auditor
            .stream
            .get_raw_message(seq)
            .await
            .expect("stored block");
        let block = decode_block(&m.payload).expect("block decodes");
        ids.extend(block.records.iter().map(|r| r.msg_id.clone()));
        stored.push((seq, m.payload));
    }
    assert!(
        auditor.stream.get_raw_message(3).await.is_err(),
        "the 19 appends that queued are one block"
    );
    let expected: Vec<String> = (0..20)
        .flat_map(|i| [format!("m{i}.a"), format!("m{i}.b")])
        .collect();
    assert_eq!(
        ids, expected,
        "each append's records once, together, in order"
    );
    let report = verify_chain("USA", stored, &anchors, crate::time::now_ms());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.records_checked, 40);
}
