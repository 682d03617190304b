//! The bridge's audit writer: appends blocks of decision records to the
//! nation's `AUDIT` stream (subject `audit.<NATION>`, HOME account) and
//! waits until JetStream has stored each one.
//!
//! The chain itself (hashing, indexes, checkpoint signatures) is
//! `coalition_core::audit`; this file only orders writes, talks to
//! JetStream and decides when a checkpoint is due ([`checkpoint_due`]).
//! It does not verify the chain (that is `coalition audit verify`).
//!
//! One writer per nation is the design; a second one (e.g. a bridge
//! started twice) is detected with `Nats-Expected-Last-Subject-Sequence`:
//! the writer that loses reloads the head from the stream and retries once.
//! Delivery is at least once: a block whose acknowledgement was lost may
//! be stored while the caller sees an error and sends the records again.
//! A last stored block that cannot be continued (it does not decode, or
//! is another nation's) fails `open` and `append`: the bridge stops
//! auditing rather than start a second chain; `coalition audit verify`
//! shows what is wrong.
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use coalition_core::audit::{decode_block, encode_block, AuditChain};
use coalition_core::signed::CertifiedKey;
use coalition_schemas::v1;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::BridgeError;

/// The audit stream in the HOME account.
pub(crate) const AUDIT_STREAM: &str = "AUDIT";

/// The subject a nation's audit blocks are stored under.
pub(crate) fn audit_subject(nation: &str) -> String {
    coalition_topology::subjects::audit(nation)
}

/// When the writer adds a signed checkpoint to a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckpointPolicy {
    /// At most this many blocks between two checkpoints.
    pub(crate) every_blocks: u64,
    /// At most this long between two checkpoints (checked when a block is
    /// written; an idle bridge writes nothing).
    pub(crate) every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_blocks: 64,
            every: Duration::from_secs(10),
        }
    }
}

/// Whether the next block gets a checkpoint: the first after open
/// (`since` none), or once `blocks_since` blocks or `since` time passed.
pub(crate) fn checkpoint_due(
    policy: CheckpointPolicy,
    blocks_since: u64,
    since: Option<Duration>,
) -> bool {
    match since {
        None => true,
        Some(elapsed) => blocks_since + 1 >= policy.every_blocks || elapsed >= policy.every,
    }
}

/// The writer's view of the stream, changed only under the lock.
#[derive(Debug)]
struct Head {
    chain: AuditChain,
    /// Stream sequence of the last block on the subject; 0 when none.
    last_seq: u64,
    /// Blocks written since the last checkpoint.
    blocks_since_checkpoint: u64,
    /// When the last checkpoint was written by this writer; none yet.
    last_checkpoint: Option<Instant>,
}

/// Why one attempt to append failed.
enum AppendError {
    /// Another writer appended first: reload and retry.
    Conflict(String),
    /// Anything else.
    Failed(BridgeError),
}

/// Appends audit blocks for one nation, one at a time.
pub(crate) struct Auditor {
    js: jetstream::Context,
    stream: stream::Stream,
    nation: String,
    subject: String,
    /// Signs checkpoints; without it blocks carry none.
    signer: Option<Arc<CertifiedKey>>,
    policy: CheckpointPolicy,
    /// Serialises appends: the chain is a sequence.
    head: Mutex<Head>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("nation", &self.nation)
            .field("signs", &self.signer.is_some())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Creates the AUDIT stream if missing (subjects `audit.>`, limits
    /// retention, file storage, `replicas`, no max age, duplicate window
    /// 2 min) and resumes the chain from the last stored block of
    /// `audit.<nation>` (none: genesis).
    pub(crate) async fn open(
        js: jetstream::Context,
        nation: &str,
        replicas: usize,
        signer: Option<Arc<CertifiedKey>>,
    ) -> Result<Self, BridgeError> {
        if let Some(key) = signer.as_ref().filter(|k| k.nation != nation) {
            return Err(BridgeError::Config(format!(
                "the audit checkpoint key is certified by {}, not {nation}",
                key.nation
            )));
        }
        let stream =
            crate::bus::ensure_stream(&js, AUDIT_STREAM, "audit.>", replicas, Duration::ZERO)
                .await?;
        let subject = audit_subject(nation);
        let head = load_head(&stream, nation, &subject).await?;
        Ok(Auditor {
            js,
            stream,
            nation: nation.to_string(),
            subject,
            signer,
            policy: CheckpointPolicy::default(),
            head: Mutex::new(head),
        })
    }

    /// Appends `records` as one block, or as several if one would be too
    /// large to store ([`blocks`]), and waits until JetStream stored each.
    /// Empty input: no-op. Adds a signed checkpoint when due (see
    /// [`checkpoint_due`]). The lock is taken per block, so another stage's
    /// block (an alert's) may be appended between the blocks of a large
    /// cycle instead of waiting for all of them.
    pub(crate) async fn append(&self, records: Vec<v1::AuditRecord>) -> Result<(), BridgeError> {
        for block in blocks(records, MAX_BLOCK_BYTES) {
            self.append_block(block).await?;
        }
        Ok(())
    }

    /// Appends one block. If another writer appended first, reloads the
    /// head from the stream and retries once.
    async fn append_block(&self, records: Vec<v1::AuditRecord>) -> Result<(), BridgeError> {
        let mut head = self.head.lock().await;
        match self.try_append(&mut head, records.clone()).await {
            Ok(()) => Ok(()),
            Err(AppendError::Failed(e)) => Err(e),
            Err(AppendError::Conflict(why)) => {
                tracing::warn!(nation = %self.nation, "audit: {why}; reloading the chain head");
                let reloaded = load_head(&self.stream, &self.nation, &self.subject).await?;
                head.chain = reloaded.chain;
                head.last_seq = reloaded.last_seq;
                match self.try_append(&mut head, records).await {
                    Ok(()) => Ok(()),
                    Err(AppendError::Failed(e)) => Err(e),
                    Err(AppendError::Conflict(why)) => Err(BridgeError::js(
                        format!("append to {} (after reloading once)", self.subject),
                        why,
                    )),
                }
            }
        }
    }

    /// Seals the next block on a copy of the chain, publishes it, and
    /// advances `head` only once JetStream stored it.
    async fn try_append(
        &self,
        head: &mut Head,
        records: Vec<v1::AuditRecord>,
    ) -> Result<(), AppendError> {
        let since = head.last_checkpoint.map(|t| t.elapsed());
        let signer = self
            .signer
            .as_deref()
            .filter(|_| checkpoint_due(self.policy, head.blocks_since_checkpoint, since));
        let mut chain = head.chain.clone();
        let block = chain
            .seal(records, signer.map(|key| (key, crate::time::now_ms())))
            .map_err(|e| {
                AppendError::Failed(BridgeError::js(format!("seal {}", self.subject), e))
            })?;
        let publish = jetstream::message::PublishMessage::build()
            .payload(encode_block(&block))
            .message_id(format!("{}.{}", self.subject, block.index))
            .expected_last_subject_sequence(head.last_seq);
        let what = || format!("append block {} to {}", block.index, self.subject);
        let ack = self
            .js
            .send_publish(self.subject.clone(), publish)
            .await
            .map_err(|e| AppendError::Failed(BridgeError::js(what(), e)))?
            .await
            .map_err(|e| match e.kind() {
                PublishErrorKind::WrongLastSequence => AppendError::Conflict(format!(
                    "{} was appended to by another writer",
                    self.subject
                )),
                _ => AppendError::Failed(BridgeError::js(what(), e)),
            })?;
        if ack.duplicate {
            // Block `index` was already stored (by another writer, or by an
            // attempt whose acknowledgement was lost): not these records.
            return Err(AppendError::Conflict(format!(
                "block {} is already in {}",
                block.index, self.subject
            )));
        }
        head.chain = chain;
        head.last_seq = ack.sequence;
        if block.checkpoint.is_some() {
            head.blocks_since_checkpoint = 0;
            head.last_checkpoint = Some(Instant::now());
        } else {
            head.blocks_since_checkpoint += 1;
        }
        Ok(())
    }
}

/// The most encoded record bytes one block holds: far below nats-server's
/// default 1 MiB message limit, with room for a checkpoint (a signature
/// and a certificate, about 9 KB) and the block's own fields.
const MAX_BLOCK_BYTES: usize = 256 * 1024;

/// `records` in order, cut into blocks of at most `max_bytes` of encoded
/// records each (a record larger than that is a block of its own).
fn blocks(records: Vec<v1::AuditRecord>, max_bytes: usize) -> Vec<Vec<v1::AuditRecord>> {
    use prost::Message as _;
    let mut out: Vec<Vec<v1::AuditRecord>> = Vec::new();
    let mut size = 0usize;
    for record in records {
        // A record's bytes in the block: its encoding, its tag and length.
        let len = record.encoded_len() + 8;
        match out.last_mut() {
            Some(block) if size + len <= max_bytes => {
                block.push(record);
                size += len;
            }
            _ => {
                out.push(vec![record]);
                size = len;
            }
        }
    }
    out
}

/// The chain head from the last stored block of `subject`.
async fn load_head(
    stream: &stream::Stream,
    nation: &str,
    subject: &str,
) -> Result<Head, BridgeError> {
    let (chain, last_seq) = match stream.get_last_raw_message_by_subject(subject).await {
        Ok(message) => {
            let what = || {
                format!(
                    "resume the audit chain from {AUDIT_STREAM} seq {}",
                    message.sequence
                )
            };
            let block = decode_block(&message.payload).map_err(|e| BridgeError::js(what(), e))?;
            let chain =
                AuditChain::resume(nation, &block).map_err(|e| BridgeError::js(what(), e))?;
            (chain, message.sequence)
        }
        Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
            (AuditChain::genesis(nation), 0)
        }
        Err(e) => {
            return Err(BridgeError::js(
                format!("read the last block of {subject}"),
                e,
            ))
        }
    };
    Ok(Head {
        chain,
        last_seq,
        blocks_since_checkpoint: 0,
        last_checkpoint: None,
    })
}

#[cfg(test)]
mod tests {
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
}
