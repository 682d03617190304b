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
use tokio::sync::oneshot::error::TryRecvError;
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

/// Appends audit blocks for one nation, one at a time, each a group
/// commit of the appends that queued while the last one was stored.
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
    /// Appends waiting to be written in the next group ([`Auditor::append`]).
    queue: std::sync::Mutex<Vec<Queued>>,
}

/// One caller's records waiting for the next group commit, and where to
/// tell it the outcome.
struct Queued {
    records: Vec<v1::AuditRecord>,
    answer: tokio::sync::oneshot::Sender<Result<(), BridgeError>>,
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
            queue: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Appends `records` and waits until JetStream stored them: one group
    /// commit. Empty input: no-op.
    ///
    /// Appends that arrive while a block is being stored queue up; the
    /// first of them to take the lock afterwards writes every queued
    /// request's records (each request's records contiguous, requests in
    /// arrival order) as one block, or as several if one would be too
    /// large to store ([`blocks`]), and answers each waiting caller. The
    /// others find their answer when they get the lock. So a stage waits
    /// for at most the block in flight and its own, not for every other
    /// stage's block before it: an alert cycle's audit does not queue
    /// behind a row of track cycles. Adds a signed checkpoint when due
    /// (see [`checkpoint_due`]).
    pub(crate) async fn append(&self, records: Vec<v1::AuditRecord>) -> Result<(), BridgeError> {
        if records.is_empty() {
            return Ok(());
        }
        let (answer, mut answered) = tokio::sync::oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Queued { records, answer });
        let mut head = self.head.lock().await;
        match answered.try_recv() {
            // An earlier caller wrote our records in its group.
            Ok(result) => return result,
            // It took them and was cancelled before it answered: whether
            // they are stored is unknown, so the caller must not
            // acknowledge what they record.
            Err(TryRecvError::Closed) => {
                return Err(BridgeError::js(
                    format!("append to {}", self.subject),
                    "the group commit that took these records was cancelled",
                ))
            }
            // Not taken yet: they are in the queue, and we write it.
            Err(TryRecvError::Empty) => {}
        }
        let group = std::mem::take(
            &mut *self
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let mut answers = Vec::with_capacity(group.len());
        let mut records = Vec::new();
        for queued in group {
            records.extend(queued.records);
            answers.push(queued.answer);
        }
        let mut result = Ok(());
        for block in blocks(records, MAX_BLOCK_BYTES) {
            result = self.append_block(&mut head, block).await;
            if result.is_err() {
                break;
            }
        }
        drop(head);
        for answer in answers {
            // A caller that stopped waiting (its task was cancelled) has
            // nothing to be told.
            let _ = answer.send(result.clone());
        }
        // Our own answer was among them; the receiver is still ours.
        answered.try_recv().unwrap_or(result)
    }

    /// Appends one block. If another writer appended first, reloads the
    /// head from the stream and retries once.
    async fn append_block(
        &self,
        head: &mut Head,
        records: Vec<v1::AuditRecord>,
    ) -> Result<(), BridgeError> {
        match self.try_append(head, records.clone()).await {
            Ok(()) => Ok(()),
            Err(AppendError::Failed(e)) => Err(e),
            Err(AppendError::Conflict(why)) => {
                tracing::warn!(nation = %self.nation, "audit: {why}; reloading the chain head");
                let reloaded = load_head(&self.stream, &self.nation, &self.subject).await?;
                head.chain = reloaded.chain;
                head.last_seq = reloaded.last_seq;
                match self.try_append(head, records).await {
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
mod tests;
