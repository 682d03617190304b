//! `coalition audit verify|show|tail|dump` against a real nats-server:
//! blocks are written to USA's AUDIT stream the way the bridge writes them
//! (core's `AuditChain`, one JetStream message per block), then the CLI
//! verifies them, finds a message's records, tails and dumps the log, and
//! reports a deleted block and a forged one at the right indexes; through
//! the mesh folder (`--dir/--nation`) and as a deployed nation
//! (`--clients`, with `--keys` for `verify`).
mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use coalition_core::audit::{encode_block, AuditChain};
use coalition_core::certificate::{issue_certificate, CertificateRequest};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::revocation::BRIDGE_IDENTITY;
use coalition_core::signed::CertifiedKey;
use coalition_schemas::v1;
use tokio::io::{AsyncBufReadExt, BufReader};

const TOPOLOGY: &str = include_str!("../../topologies/pair.toml");
/// Generous bound on every wait: the CI machine has two cores.
const LIMIT: Duration = Duration::from_secs(90);

async fn coalition(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_coalition"));
    command.args(args).kill_on_drop(true);
    tokio::time::timeout(LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("coalition {args:?} did not finish"))
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A bridge key for `nation`, certified by its dev root.
fn bridge_key(dir: &Path, nation: &str) -> CertifiedKey {
    let root_file = nats_harness::nation_key_dir(dir, nation).join("root.key");
    let root = SigningKeyPair::from_private_file(&std::fs::read(root_file).unwrap()).unwrap();
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, &format!("{nation}/bridge"));
    let now = now_ms();
    let request = CertificateRequest {
        nation: nation.into(),
        producer_id: BRIDGE_IDENTITY.into(),
        public_key: key.public_key().clone(),
        not_before_ms: now - 60_000,
        not_after_ms: now + 3_600_000,
        feeds: vec!["audit".into()],
        max_classification: "SECRET".into(),
    };
    let certificate = issue_certificate(&root, &request).unwrap();
    CertifiedKey {
        nation: nation.into(),
        key,
        certificate,
    }
}

/// The key and certificate of USA's producer `radar-1`: certified, but
/// not as a bridge.
fn producer_key(dir: &Path) -> CertifiedKey {
    let (key, cert) = nats_harness::producer_files(dir, "USA", "radar-1");
    CertifiedKey {
        nation: "USA".into(),
        key: SigningKeyPair::from_private_file(&std::fs::read(key).unwrap()).unwrap(),
        certificate: std::fs::read(cert).unwrap().into(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn label(policy: &str) -> v1::ConfidentialityLabel {
    v1::ConfidentialityLabel {
        policy_id: policy.into(),
        classification: "SECRET".into(),
        releasable_to: vec!["GBR".into(), "USA".into()],
        policy_version: 1,
        ..Default::default()
    }
}

/// Block `i`'s records: track `i` released to GBR, track `100 + i` denied.
fn records(i: u64) -> Vec<v1::AuditRecord> {
    let release = v1::AuditRecord {
        decision: v1::AuditDecision::Release as i32,
        stage: "egress".into(),
        partner: "GBR".into(),
        msg_id: format!("USA.radar-1.tracks.{i}"),
        label_as_produced: Some(label("USA")),
        label_as_translated: Some(label("GBR")),
        translator: "USA-GBR@1".into(),
        source_policy_version: 1,
        target_policy_version: 1,
        key_id: "5eed".repeat(16),
        schema: "coalition.v1.Track@1".into(),
        decided_at_ms: now_ms(),
        source_stream_seq: i,
        ..Default::default()
    };
    let deny = v1::AuditRecord {
        decision: v1::AuditDecision::Deny as i32,
        msg_id: format!("USA.radar-1.tracks.{}", 100 + i),
        reason: "caveat-forbids-release".into(),
        translator: String::new(),
        ..release.clone()
    };
    vec![release, deny]
}

/// Publishes `block` as the bridge does; returns its stream sequence.
async fn store(js: &jetstream::Context, block: &v1::AuditBlock) -> u64 {
    let publish = PublishMessage::build()
        .payload(encode_block(block))
        .message_id(format!("audit.USA.{}", block.index));
    let ack = js.send_publish("audit.USA", publish).await.unwrap();
    tokio::time::timeout(LIMIT, ack)
        .await
        .unwrap()
        .unwrap()
        .sequence
}

/// A mesh with USA's AUDIT stream, written to as USA's bridge would.
struct Fixture {
    mesh: nats_harness::Mesh,
    js: jetstream::Context,
    stream: stream::Stream,
    chain: AuditChain,
    /// Stream sequence of each block, by index (0 unused).
    seqs: Vec<u64>,
}

impl Fixture {
    async fn start() -> Self {
        let topology = coalition_topology::parse_topology(TOPOLOGY, Path::new("<test>")).unwrap();
        let mesh = tokio::time::timeout(LIMIT, nats_harness::Mesh::start(topology))
            .await
            .unwrap()
            .unwrap();
        let home = mesh.bridge_config("USA").unwrap().home.clone();
        let urls = mesh.client_urls("USA");
        let client = mesh
            .connect_options(&home)
            .unwrap()
            .connect(urls.as_slice())
            .await
            .unwrap();
        let js = jetstream::new(client);
        // As the bridge creates it.
        let stream = js
            .get_or_create_stream(stream::Config {
                name: "AUDIT".into(),
                subjects: vec!["audit.>".into()],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .unwrap();
        Fixture {
            mesh,
            js,
            stream,
            chain: AuditChain::genesis("USA"),
            seqs: vec![0],
        }
    }

    /// Seals and stores the next block, signed if `signer`.
    async fn append(&mut self, signer: Option<&CertifiedKey>) {
        let index = self.chain.next_index();
        let block = self
            .chain
            .seal(records(index), signer.map(|k| (k, now_ms())))
            .unwrap();
        self.seqs.push(store(&self.js, &block).await);
    }

    fn dir(&self) -> String {
        self.mesh.dir().display().to_string()
    }

    /// Runs `coalition audit <sub> --dir <mesh> --nation USA <extra>`.
    async fn audit(&self, sub: &str, extra: &[&str]) -> Output {
        let dir = self.dir();
        let mut args = vec!["audit", sub, "--dir", &dir, "--nation", "USA"];
        args.extend(extra);
        coalition(&args).await
    }

    /// Runs `coalition audit <sub> --clients <USA's clients file> <extra>`,
    /// as on a deployed nation's host.
    async fn audit_deployed(&self, sub: &str, extra: &[&str]) -> Output {
        let clients = common::clients_file(self.mesh.dir(), "USA");
        let mut args = vec!["audit", sub, "--clients", &clients];
        args.extend(extra);
        coalition(&args).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_show_and_tail_on_a_real_audit_stream() {
    // Every await below is bounded by this (and the CLI runs by `LIMIT`).
    tokio::time::timeout(4 * LIMIT, scenario())
        .await
        .expect("the audit scenario did not finish in time");
}

async fn scenario() {
    let mut f = Fixture::start().await;
    let signer = bridge_key(f.mesh.dir(), "USA");
    for i in 1..=6 {
        f.append([1, 4].contains(&i).then_some(&signer)).await;
    }
    a_clean_chain_verifies_and_explains_its_records(&f).await;
    a_deployed_nation_s_log_is_read_with_its_clients_file(&f).await;
    follow_prints_new_blocks(&mut f).await;
    tampering_is_reported_at_the_block_where_it_happened(&f).await;
    bad_input_says_where_and_why(&f.dir()).await;
}

async fn a_clean_chain_verifies_and_explains_its_records(f: &Fixture) {
    let out = f.audit("verify", &[]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary = "USA audit log: 6 blocks, 12 records, 2 checkpoints verified \
                   (last at block 4); last verified block 6";
    assert!(stdout.contains(summary), "{stdout}");
    let out = f
        .audit("verify", &["--from-index", "2", "--to-index", "4"])
        .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("3 blocks, 6 records, 1 checkpoints verified"),
        "{stdout}"
    );

    // Which translator, policy versions and key released track 3.
    let out = f.audit("show", &["--msg-id", "USA.radar-1.tracks.3"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for want in [
        "block 3, record 0: release at egress, partner GBR",
        "label as produced:   USA/v1 SECRET REL TO GBR, USA",
        "label as translated: GBR/v1 SECRET REL TO GBR, USA",
        "translator:          USA-GBR@1",
        "policy versions:     source v1, target v1",
        "schema:              coalition.v1.Track@1",
        &format!("key:                 {}", "5eed".repeat(16)),
    ] {
        assert!(stdout.contains(want), "{want:?} not in\n{stdout}");
    }

    // The latest records, newest last.
    let out = f.audit("tail", &["--count", "3"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].contains("block 5 deny egress GBR USA.radar-1.tracks.105"),
        "{stdout}"
    );
    assert!(
        lines[2].contains("block 6 deny egress GBR USA.radar-1.tracks.106"),
        "{stdout}"
    );
    assert!(
        lines[2].contains("reason=caveat-forbids-release"),
        "{stdout}"
    );
}

/// The same log through USA's clients file (the auditor user): `verify`
/// with a keys folder holding only the roots, `show`, `tail` and `dump`
/// with no keys at all.
async fn a_deployed_nation_s_log_is_read_with_its_clients_file(f: &Fixture) {
    let keys = common::deployed_keys(f.mesh.dir(), "USA");
    let roots = tempfile::tempdir().unwrap();
    for nation in ["USA", "GBR"] {
        std::fs::create_dir(roots.path().join(nation)).unwrap();
        let root = keys.path().join(nation).join("root.pub");
        std::fs::copy(root, roots.path().join(nation).join("root.pub")).unwrap();
    }
    let roots = roots.path().display().to_string();
    let out = f.audit_deployed("verify", &["--keys", &roots]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary = "USA audit log: 6 blocks, 12 records, 2 checkpoints verified \
                   (last at block 4); last verified block 6";
    assert!(stdout.contains(summary), "{stdout}");
    // Without USA's root the checkpoints cannot be verified.
    std::fs::remove_file(Path::new(&roots).join("USA").join("root.pub")).unwrap();
    let out = f.audit_deployed("verify", &["--keys", &roots]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("bad checkpoint"), "{stdout}");

    let out = f
        .audit_deployed("show", &["--msg-id", "USA.radar-1.tracks.3"])
        .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("block 3, record 0: release at egress, partner GBR")
            && stdout.contains("translator:          USA-GBR@1"),
        "{stdout}"
    );
    let out = f.audit_deployed("tail", &["--count", "1"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("block 6 deny egress GBR USA.radar-1.tracks.106"),
        "{stdout}"
    );
    let out = f.audit_deployed("dump", &[]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 12, "{stdout}");
    assert!(lines.iter().all(|l| l["nation"] == "USA"), "{stdout}");
    assert_eq!(lines[4]["msg_id"], "USA.radar-1.tracks.3", "{stdout}");
    assert_eq!(lines[4]["decision"], "release", "{stdout}");
}

/// Block 3 deleted, and a forged block 8 appended: it does not link to
/// block 7, and its checkpoint is signed by a producer's key.
async fn tampering_is_reported_at_the_block_where_it_happened(f: &Fixture) {
    assert!(f.stream.delete_message(f.seqs[3]).await.unwrap());
    let fake_block_7 = v1::AuditBlock {
        nation: "USA".into(),
        index: 7,
        chain_sha256: vec![7; 32].into(),
        ..Default::default()
    };
    let mut forged_chain = AuditChain::resume("USA", &fake_block_7).unwrap();
    let forger = producer_key(f.mesh.dir());
    let forged = forged_chain
        .seal(records(8), Some((&forger, now_ms())))
        .unwrap();
    let forged_seq = store(&f.js, &forged).await;

    let out = f.audit("verify", &[]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("3 problem(s) in USA's audit log"),
        "{stderr}"
    );
    assert!(stdout.contains("7 blocks, 14 records"), "{stdout}");
    for want in [
        format!(
            "block 4 (stream seq {}): expected index 3, found 4: 1 block(s) missing",
            f.seqs[4]
        ),
        format!(
            "block 8 (stream seq {forged_seq}): broken link: prev hash 0707070707070707 \
             is not block 7's chain hash"
        ),
        format!(
            "block 8 (stream seq {forged_seq}): bad checkpoint: signer certificate is for \
             USA/radar-1, expected USA/bridge"
        ),
    ] {
        assert!(stdout.contains(&want), "{want:?} not in\n{stdout}");
    }

    // The deleted block's records are gone; the others are still found.
    let out = f.audit("show", &["--msg-id", "USA.radar-1.tracks.3"]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    let none = "no record in USA's audit log is about USA.radar-1.tracks.3";
    assert!(stderr.contains(none), "{stderr}");
    let out = f
        .audit("show", &["--msg-id", "USA.radar-1.tracks.105"])
        .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("block 5, record 1: deny at egress"),
        "{stdout}"
    );
}

/// `tail --follow` prints what is appended after it started.
async fn follow_prints_new_blocks(f: &mut Fixture) {
    let dir = f.dir();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_coalition"))
        .args(["audit", "tail", "--count", "1", "--follow", "--dir", &dir])
        .args(["--nation", "USA"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut expect_line = async |want: &str| {
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line from tail --follow; expected {want:?}"))
            .unwrap()
            .expect("tail --follow ended");
        assert!(line.contains(want), "{want:?} not in {line:?}");
    };
    expect_line("block 6 deny egress GBR USA.radar-1.tracks.106").await;
    f.append(None).await;
    expect_line("block 7 release egress GBR USA.radar-1.tracks.7 translator=USA-GBR@1").await;
    expect_line("block 7 deny egress GBR USA.radar-1.tracks.107 reason=").await;
    child.kill().await.unwrap();
}

/// Missing folder, unknown nation, unreachable server: one clear line each.
async fn bad_input_says_where_and_why(dir: &str) {
    let out = coalition(&[
        "audit",
        "verify",
        "--dir",
        "/nonexistent",
        "--nation",
        "USA",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("/nonexistent: no such folder"),
        "{:?}",
        text(&out)
    );
    let out = coalition(&["audit", "tail", "--dir", dir, "--nation", "FRA"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("clients/FRA.toml not found"),
        "{:?}",
        text(&out)
    );
    // A copy of USA's folder whose servers are gone.
    let copy = tempfile::tempdir().unwrap();
    // `audit` connects as the auditor, from the clients file.
    let original = Path::new(dir).join("clients").join("USA.toml");
    let mut config = coalition_topology::ClientsConfig::load(&original).unwrap();
    let port = nats_harness::free_loopback_ports(1).unwrap()[0];
    config.servers = vec![format!("nats://127.0.0.1:{port}")];
    std::fs::create_dir_all(copy.path().join("clients")).unwrap();
    let text_config = toml::to_string(&config).unwrap();
    std::fs::write(copy.path().join("clients").join("USA.toml"), text_config).unwrap();
    let copy_dir = copy.path().display().to_string();
    let out = coalition(&["audit", "tail", "--dir", &copy_dir, "--nation", "USA"]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot connect to USA's servers nats://127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
