//! The audit chain: sealing a bridge's decision records into hash-chained
//! blocks with signed checkpoints, and verifying a stored chain.
//!
//! Each block commits to its records and to the block before it:
//! `chain_sha256 = SHA-256(prev_chain_sha256 || records_sha256)`, where
//! `records_sha256` is SHA-256 over, for each record in order, its prost
//! encoding's length (u32, big-endian) followed by the encoding. Block 1
//! chains from 32 zero bytes. Indexes run 1, 2, 3, ... with no gaps. Some
//! blocks carry a checkpoint: the chain hash signed by the bridge's
//! certified key (identity [`BRIDGE_IDENTITY`]).
//!
//! This module does no I/O: the bridge stores what [`AuditChain::seal`]
//! returns, and the CLI feeds what it reads to [`verify_chain`].
//!
//! The hash covers the records only: a block's `nation` and `index` are
//! checked against the expected nation and the neighbouring blocks.
//!
//! What verification does *not* detect on its own: removal of the newest
//! blocks (the tail simply looks shorter; compare with a checkpoint seen
//! elsewhere), and the revocation of a bridge key that signed a checkpoint
//! (checkpoints are judged at their signing time, so a stolen key could
//! sign backdated ones).
use bytes::Bytes;
use coalition_schemas::v1;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::certificate::TrustAnchors;
use crate::revocation::BRIDGE_IDENTITY;
use crate::signed::{verify_certified_signature, CertifiedKey, ObjectKind};
use crate::CoreError;

/// The `prev_chain_sha256` of block 1.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// How far in the future (against the verifier's clock) a checkpoint may
/// claim to have been signed: clock skew between bridge and auditor.
pub const CHECKPOINT_SKEW_MS: i64 = 60_000;

/// SHA-256 over the length-prefixed encodings of `records`.
pub fn records_sha256(records: &[v1::AuditRecord]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for record in records {
        let encoded = record.encode_to_vec();
        // A record is far below 4 GiB (NATS caps messages at megabytes);
        // saturating keeps this total without a panic path.
        let len = u32::try_from(encoded.len()).unwrap_or(u32::MAX);
        hasher.update(len.to_be_bytes());
        hasher.update(&encoded);
    }
    hasher.finalize().into()
}

/// The chain hash of a block whose previous chain hash is `prev`.
pub fn chain_sha256(prev: &[u8], records: &[v1::AuditRecord]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(records_sha256(records));
    hasher.finalize().into()
}

/// The stored form of a block: one stream message.
pub fn encode_block(block: &v1::AuditBlock) -> Bytes {
    block.encode_to_vec().into()
}

/// Decodes one stored block (no checks; see [`verify_chain`]).
pub fn decode_block(raw: &[u8]) -> Result<v1::AuditBlock, CoreError> {
    v1::AuditBlock::decode(raw).map_err(|e| block_error(format!("does not decode: {e}")))
}

fn block_error(detail: impl Into<String>) -> CoreError {
    CoreError::InvalidObject {
        kind: "audit block",
        detail: detail.into(),
    }
}

/// The writer's side of a nation's chain: the next index and the head hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChain {
    /// The nation whose bridge writes this chain.
    nation: String,
    /// The index the next sealed block gets.
    next_index: u64,
    /// The chain hash of the last sealed block ([`GENESIS_HASH`] if none).
    head: [u8; 32],
}

impl AuditChain {
    /// An empty chain: the next block is block 1.
    pub fn genesis(nation: &str) -> Self {
        AuditChain {
            nation: nation.to_string(),
            next_index: 1,
            head: GENESIS_HASH,
        }
    }

    /// Continues after `last`, the newest stored block. Its stored chain
    /// hash is taken as the head without re-checking its records: a tampered
    /// last block is then reported by [`verify_chain`] at that block, rather
    /// than stopping the bridge from auditing anything.
    pub fn resume(nation: &str, last: &v1::AuditBlock) -> Result<Self, CoreError> {
        if last.nation != nation {
            return Err(block_error(format!(
                "the last stored block {} is {:?}'s, not {nation:?}'s",
                last.index, last.nation
            )));
        }
        let head: [u8; 32] = last.chain_sha256.as_ref().try_into().map_err(|_| {
            block_error(format!(
                "the last stored block {} has a {}-byte chain hash, expected 32",
                last.index,
                last.chain_sha256.len()
            ))
        })?;
        let next_index = last
            .index
            .checked_add(1)
            .filter(|_| last.index > 0)
            .ok_or_else(|| {
                block_error(format!("the last stored block has index {}", last.index))
            })?;
        Ok(AuditChain {
            nation: nation.to_string(),
            next_index,
            head,
        })
    }

    /// The nation.
    pub fn nation(&self) -> &str {
        &self.nation
    }

    /// The index the next sealed block gets.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The chain hash of the last sealed block.
    pub fn head(&self) -> [u8; 32] {
        self.head
    }

    /// Seals `records` into the next block and advances the chain. With
    /// `checkpoint`, the block also carries the new chain hash signed by
    /// that key (which must be certified by this chain's nation) at the
    /// given instant (Unix ms). On error the chain is unchanged.
    pub fn seal(
        &mut self,
        records: Vec<v1::AuditRecord>,
        checkpoint: Option<(&CertifiedKey, i64)>,
    ) -> Result<v1::AuditBlock, CoreError> {
        if records.is_empty() {
            return Err(block_error("a block needs at least one record"));
        }
        let next_index = self
            .next_index
            .checked_add(1)
            .ok_or_else(|| block_error("the chain has reached the last index"))?;
        let chain = chain_sha256(&self.head, &records);
        let mut block = v1::AuditBlock {
            nation: self.nation.clone(),
            index: self.next_index,
            prev_chain_sha256: Bytes::copy_from_slice(&self.head),
            chain_sha256: Bytes::copy_from_slice(&chain),
            records,
            checkpoint: None,
            checkpoint_signature: Bytes::new(),
            checkpoint_certificate: Bytes::new(),
        };
        if let Some((key, now_ms)) = checkpoint {
            self.sign_checkpoint(&mut block, key, now_ms)?;
        }
        self.next_index = next_index;
        self.head = chain;
        Ok(block)
    }

    fn sign_checkpoint(
        &self,
        block: &mut v1::AuditBlock,
        key: &CertifiedKey,
        now_ms: i64,
    ) -> Result<(), CoreError> {
        if key.nation != self.nation {
            return Err(block_error(format!(
                "a {} key cannot sign {}'s audit checkpoints",
                key.nation, self.nation
            )));
        }
        let checkpoint = v1::AuditCheckpoint {
            nation: self.nation.clone(),
            index: block.index,
            chain_sha256: block.chain_sha256.clone(),
            signed_at_ms: now_ms,
        };
        let signed = key.sign(ObjectKind::AuditCheckpoint, checkpoint.encode_to_vec())?;
        let signature = signed
            .signatures
            .into_iter()
            .next()
            .ok_or(CoreError::Signing)?;
        block.checkpoint = Some(checkpoint);
        block.checkpoint_signature = signature.signature;
        block.checkpoint_certificate = key.certificate.clone();
        Ok(())
    }
}

/// What is wrong with one stored block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblemKind {
    /// The message is not an `AuditBlock`.
    Undecodable(String),
    /// The block names another nation.
    WrongNation(String),
    /// The index is not the one after the previous block's: blocks are
    /// missing (`found > expected`), or repeated or out of order.
    IndexGap {
        /// The index that should come next.
        expected: u64,
        /// The index found.
        found: u64,
    },
    /// `prev_chain_sha256` is not the previous block's chain hash (or, for
    /// block 1, not the genesis hash).
    BrokenLink(String),
    /// `chain_sha256` does not match the block's records and prev hash.
    BadHash,
    /// The checkpoint is malformed, does not match the block, or its
    /// signature or certificate does not verify.
    BadCheckpoint(String),
}

impl std::fmt::Display for AuditProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditProblemKind::Undecodable(why) => write!(f, "not an audit block: {why}"),
            AuditProblemKind::WrongNation(n) => write!(f, "block of nation {n:?}"),
            AuditProblemKind::IndexGap { expected, found } if found > expected => write!(
                f,
                "expected index {expected}, found {found}: {} block(s) missing",
                found - expected
            ),
            AuditProblemKind::IndexGap { expected, found } => write!(
                f,
                "expected index {expected}, found {found}: block repeated or out of order"
            ),
            AuditProblemKind::BrokenLink(why) => write!(f, "broken link: {why}"),
            AuditProblemKind::BadHash => {
                write!(f, "chain hash does not match the block's records (altered)")
            }
            AuditProblemKind::BadCheckpoint(why) => write!(f, "bad checkpoint: {why}"),
        }
    }
}

/// One problem, located in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProblem {
    /// The stream sequence of the message.
    pub stream_seq: u64,
    /// The block's index, if the block decoded.
    pub index: Option<u64>,
    /// What is wrong.
    pub kind: AuditProblemKind,
}

impl std::fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(index) => write!(f, "block {index}")?,
            None => write!(f, "block ?")?,
        }
        write!(f, " (stream seq {}): {}", self.stream_seq, self.kind)
    }
}

/// The outcome of [`verify_chain`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Messages read (decodable or not).
    pub blocks_checked: u64,
    /// Records in the decodable blocks.
    pub records_checked: u64,
    /// Checkpoints whose signature verified.
    pub checkpoints_verified: u64,
    /// The index of the last block read that passed every check.
    pub last_verified_index: Option<u64>,
    /// The index of the last block whose checkpoint verified.
    pub last_checkpoint_index: Option<u64>,
    /// Everything wrong, in stream order.
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies stored blocks of `nation`'s chain, given as (stream sequence,
/// raw message, e.g. `Bytes`) in stream order, and reports every problem.
///
/// Verification may start at any block, e.g. to check a range: the first
/// block's `prev_chain_sha256` is taken as given, unless it is block 1,
/// which must chain from [`GENESIS_HASH`]. After a problem it goes on:
/// each next block is linked against the *stored* chain hash of the block
/// before, so one altered block is reported at its own index instead of
/// breaking every block after it. After an index gap the link is not
/// checked (the blocks in between are unknown); an undecodable message is
/// taken to be possibly one block, so the block after it may skip an index.
///
/// Checkpoints are judged at the instant they claim to be signed, so an
/// old chain still verifies after the bridge certificate expired; a
/// checkpoint claiming to be signed more than [`CHECKPOINT_SKEW_MS`] after
/// `now_ms` is refused.
pub fn verify_chain<B: AsRef<[u8]>>(
    nation: &str,
    blocks: impl IntoIterator<Item = (u64, B)>,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> AuditReport {
    let mut verifier = Verifier {
        nation,
        anchors,
        now_ms,
        expected_index: None,
        undecodable: 0,
        head: None,
        report: AuditReport::default(),
    };
    for (seq, raw) in blocks {
        verifier.check(seq, raw.as_ref());
    }
    verifier.report
}

/// The state of a verification run between two blocks.
struct Verifier<'a> {
    nation: &'a str,
    anchors: &'a TrustAnchors,
    now_ms: i64,
    /// The index the next block should have; `None` before the first.
    expected_index: Option<u64>,
    /// Undecodable messages since the last block: each may have been a
    /// block, so the next index may be that much higher without a gap.
    undecodable: u64,
    /// The previous block's stored chain hash; `None` when unknown (first
    /// block, after an undecodable message or a gap).
    head: Option<Vec<u8>>,
    report: AuditReport,
}

impl Verifier<'_> {
    fn check(&mut self, seq: u64, raw: &[u8]) {
        self.report.blocks_checked += 1;
        let block = match v1::AuditBlock::decode(raw) {
            Ok(block) => block,
            Err(e) => {
                self.report.problems.push(AuditProblem {
                    stream_seq: seq,
                    index: None,
                    kind: AuditProblemKind::Undecodable(e.to_string()),
                });
                self.undecodable += 1;
                self.head = None;
                return;
            }
        };
        self.report.records_checked += block.records.len() as u64;
        let problems = self.block_problems(&block);
        if problems.is_empty() {
            self.report.last_verified_index = Some(block.index);
        }
        let index = Some(block.index);
        self.report
            .problems
            .extend(problems.into_iter().map(|kind| AuditProblem {
                stream_seq: seq,
                index,
                kind,
            }));
        self.expected_index = Some(block.index.saturating_add(1));
        self.undecodable = 0;
        self.head = Some(block.chain_sha256.to_vec()).filter(|h| h.len() == 32);
    }

    fn block_problems(&mut self, block: &v1::AuditBlock) -> Vec<AuditProblemKind> {
        let mut problems = Vec::new();
        if block.nation != self.nation {
            problems.push(AuditProblemKind::WrongNation(block.nation.clone()));
        }
        let slack = self.undecodable;
        let in_sequence = match self.expected_index {
            Some(expected)
                if !(expected..=expected.saturating_add(slack)).contains(&block.index) =>
            {
                problems.push(AuditProblemKind::IndexGap {
                    expected,
                    found: block.index,
                });
                false
            }
            _ => true,
        };
        if let Some(why) = self.link_problem(block, in_sequence) {
            problems.push(AuditProblemKind::BrokenLink(why));
        }
        if chain_sha256(&block.prev_chain_sha256, &block.records)[..] != block.chain_sha256[..] {
            problems.push(AuditProblemKind::BadHash);
        }
        match self.checkpoint_problem(block) {
            Some(Ok(())) => {
                self.report.checkpoints_verified += 1;
                self.report.last_checkpoint_index = Some(block.index);
            }
            Some(Err(why)) => problems.push(AuditProblemKind::BadCheckpoint(why)),
            None => {}
        }
        problems
    }

    fn link_problem(&self, block: &v1::AuditBlock, in_sequence: bool) -> Option<String> {
        let prev = block.prev_chain_sha256.as_ref();
        if prev.len() != 32 {
            return Some(format!("prev hash is {} bytes, expected 32", prev.len()));
        }
        if block.index == 1 {
            return (prev != GENESIS_HASH)
                .then(|| "block 1 does not start from the genesis hash".to_string());
        }
        match &self.head {
            Some(head) if in_sequence && head[..] != *prev => Some(format!(
                "prev hash {} is not block {}'s chain hash {}",
                short_hex(prev),
                block.index.saturating_sub(1),
                short_hex(head)
            )),
            _ => None,
        }
    }

    /// `None` if the block has no checkpoint, else whether it verifies.
    fn checkpoint_problem(&self, block: &v1::AuditBlock) -> Option<Result<(), String>> {
        let Some(checkpoint) = &block.checkpoint else {
            let stray =
                !block.checkpoint_signature.is_empty() || !block.checkpoint_certificate.is_empty();
            return stray.then(|| Err("a signature but no checkpoint".to_string()));
        };
        Some(verify_checkpoint(
            block,
            checkpoint,
            self.nation,
            self.anchors,
            self.now_ms,
        ))
    }
}

/// Checks that `checkpoint` describes `block` and is signed by a bridge key
/// `nation`'s root certified.
fn verify_checkpoint(
    block: &v1::AuditBlock,
    checkpoint: &v1::AuditCheckpoint,
    nation: &str,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<(), String> {
    if checkpoint.nation != nation {
        return Err(format!("it names nation {:?}", checkpoint.nation));
    }
    if checkpoint.index != block.index {
        return Err(format!("it names block {}", checkpoint.index));
    }
    if checkpoint.chain_sha256 != block.chain_sha256 {
        return Err("its chain hash is not the block's".to_string());
    }
    if checkpoint.signed_at_ms > now_ms.saturating_add(CHECKPOINT_SKEW_MS) {
        return Err(format!(
            "signed at {} ms, in the future",
            checkpoint.signed_at_ms
        ));
    }
    let object = v1::SignedObject {
        body: checkpoint.encode_to_vec().into(),
        signatures: vec![v1::ObjectSignature {
            signer: nation.to_string(),
            key_sha256: certified_key_id(&block.checkpoint_certificate),
            signature: block.checkpoint_signature.clone(),
            certificate: block.checkpoint_certificate.clone(),
        }],
    };
    verify_certified_signature(
        &object,
        ObjectKind::AuditCheckpoint,
        nation,
        BRIDGE_IDENTITY,
        anchors,
        checkpoint.signed_at_ms,
    )
    .map_err(|e| match e {
        CoreError::InvalidObject { detail, .. } => detail,
        other => other.to_string(),
    })
}

/// The id (SHA-256 of the encoded key) of the key a certificate names,
/// without checking the certificate (that is done by the caller); empty if
/// it does not decode.
fn certified_key_id(signed_certificate: &[u8]) -> Bytes {
    v1::SignedCertificate::decode(signed_certificate)
        .ok()
        .and_then(|s| v1::ProducerCertificate::decode(s.certificate.as_ref()).ok())
        .and_then(|c| c.public_key)
        .map(|k| Bytes::copy_from_slice(&Sha256::digest(&k.key)))
        .unwrap_or_default()
}

fn short_hex(bytes: &[u8]) -> String {
    hex::encode(&bytes[..bytes.len().min(8)])
}

/// Where a record sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordRef<'a> {
    /// The block's index.
    pub index: u64,
    /// The record's position in the block (0-based).
    pub position: usize,
    /// The record.
    pub record: &'a v1::AuditRecord,
}

/// Every record about `msg_id`, in block order: answers "which policy
/// version, translator and key admitted (or denied) this message".
pub fn records_for<'a>(
    blocks: impl IntoIterator<Item = &'a v1::AuditBlock>,
    msg_id: &str,
) -> Vec<RecordRef<'a>> {
    blocks
        .into_iter()
        .flat_map(|block| {
            block
                .records
                .iter()
                .enumerate()
                .map(move |(position, record)| RecordRef {
                    index: block.index,
                    position,
                    record,
                })
        })
        .filter(|r| r.record.msg_id == msg_id)
        .collect()
}

/// The lower-case name of a record's decision (`release`, `deny`, ...).
pub fn decision_name(decision: i32) -> &'static str {
    match v1::AuditDecision::try_from(decision) {
        Ok(v1::AuditDecision::Release) => "release",
        Ok(v1::AuditDecision::Deny) => "deny",
        Ok(v1::AuditDecision::Admit) => "admit",
        Ok(v1::AuditDecision::Reject) => "reject",
        Ok(v1::AuditDecision::Revoke) => "revoke",
        Ok(v1::AuditDecision::Hold) => "hold",
        Ok(v1::AuditDecision::Unspecified) | Err(_) => "unspecified",
    }
}

#[cfg(test)]
mod tests;
