//! Sealed batches: the unit of signing, storing and moving.
//!
//! - **Sealing** (producer): up to [`MAX_RECORDS`] consecutive records of one
//!   feed; each record's header is a Merkle leaf ([`crate::merkle`]); one
//!   ML-DSA signature covers the [`BatchHeader`], which binds the producer,
//!   feed, seq range, Merkle root and certificate digest.
//! - **Decoding and verifying** (bridges, SDK): the signature is checked over
//!   the header bytes as received, every carried record's leaf and the
//!   multiproof must give the signed root, and each payload must match the
//!   digest in its record header. Each failure maps to one [`DenyReason`].
//! - **Subsets** (bridges): a batch re-encoded with only some of its records,
//!   the producer's header and signature unchanged, and the multiproof for
//!   them. A bridge never signs for a producer, and cannot alter, reorder or
//!   add a record without the root failing.
//!
//! The certificate travels by reference: batches name it by digest, and the
//! caller looks it up ([`CertificateCache::get`]). Nothing here does I/O.
use std::sync::Arc;

use bytes::Bytes;
use coalition_schemas::v1;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::certificate::{CertificateCache, VerifiedCertificate};
use crate::envelope::{Header, MessageType, ProducerIdentity, SourceRef};
use crate::label::Label;
use crate::merkle::{self, Hash};
use crate::{CoreError, DenyReason};

/// The most records one batch may hold.
pub const MAX_RECORDS: u64 = 4096;

/// What a shell needs of a batch before deciding it, read without decoding
/// its records: the signed header's bytes and how many records it carries.
/// `None` if the bytes are not a well-formed protobuf message (the decision
/// then refuses it as `malformed_batch`).
pub fn scan(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let mut rest = bytes;
    let mut header: &[u8] = &[];
    let mut records = 0usize;
    while !rest.is_empty() {
        let (key, after) = varint(rest)?;
        let wire_type = key & 7;
        rest = after;
        match wire_type {
            0 => rest = varint(rest)?.1,
            1 => rest = rest.get(8..)?,
            5 => rest = rest.get(4..)?,
            2 => {
                let (len, after) = varint(rest)?;
                let len = usize::try_from(len).ok()?;
                let (field, after) = (after.get(..len)?, after.get(len..)?);
                match key >> 3 {
                    1 => header = field,
                    3 => records += 1,
                    _ => {}
                }
                rest = after;
            }
            _ => return None,
        }
    }
    Some((header, records))
}

/// A protobuf varint and the bytes after it.
fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// The signed header of a batch, decoded (not verified) from the bytes
/// [`scan`] found.
pub fn peek_header(bytes: &[u8]) -> Result<BatchHeader, DenyReason> {
    let (header, _) = scan(bytes).ok_or(DenyReason::MalformedBatch)?;
    let wire = v1::BatchHeader::decode(header).map_err(|_| DenyReason::MalformedHeader)?;
    BatchHeader::try_from(wire)
}

/// A batch's decoded signed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchHeader {
    /// Tracks or alerts.
    pub message_type: MessageType,
    /// The producer's nation.
    pub origin: String,
    /// The producer.
    pub producer_id: String,
    /// The feed.
    pub feed: String,
    /// The first seq of the batch (leaf 0).
    pub first_seq: u64,
    /// The last seq of the batch.
    pub last_seq: u64,
    /// The Merkle root over the records' leaf hashes.
    pub merkle_root: Hash,
    /// SHA-256 of the producer's `SignedCertificate`.
    pub producer_cert_sha256: [u8; 32],
    /// When the producer sealed it, Unix ms.
    pub sealed_at_ms: i64,
}

impl BatchHeader {
    /// How many records (leaves) the batch holds.
    pub fn leaf_count(&self) -> usize {
        usize::try_from(self.last_seq - self.first_seq + 1).unwrap_or(usize::MAX)
    }

    /// `<origin>.<producer>.<feed>.<first>-<last>`: the batch's JetStream
    /// de-duplication id.
    pub fn batch_id(&self) -> String {
        format!(
            "{}.{}.{}.{}-{}",
            self.origin, self.producer_id, self.feed, self.first_seq, self.last_seq
        )
    }
}

impl TryFrom<v1::BatchHeader> for BatchHeader {
    type Error = DenyReason;

    fn try_from(wire: v1::BatchHeader) -> Result<Self, DenyReason> {
        let v1::BatchHeader {
            message_type,
            origin,
            producer_id,
            feed,
            first_seq,
            last_seq,
            merkle_root,
            producer_cert_sha256,
            sealed_at_ms,
        } = wire;
        let message_type = match v1::MessageType::try_from(message_type) {
            Ok(v1::MessageType::Track) => MessageType::Track,
            Ok(v1::MessageType::Alert) => MessageType::Alert,
            _ => return Err(DenyReason::UnknownSchema),
        };
        if origin.is_empty() || producer_id.is_empty() || feed.is_empty() {
            return Err(DenyReason::MalformedHeader);
        }
        if first_seq == 0 || last_seq < first_seq || last_seq - first_seq >= MAX_RECORDS {
            return Err(DenyReason::MalformedHeader);
        }
        Ok(BatchHeader {
            message_type,
            origin,
            producer_id,
            feed,
            first_seq,
            last_seq,
            merkle_root: digest32(&merkle_root)?,
            producer_cert_sha256: digest32(&producer_cert_sha256)?,
            sealed_at_ms,
        })
    }
}

fn digest32(bytes: &[u8]) -> Result<[u8; 32], DenyReason> {
    bytes.try_into().map_err(|_| DenyReason::MalformedHeader)
}

/// One record as decoded from a batch (not verified on its own: see
/// [`verify_batch`]).
#[derive(Debug, Clone)]
pub struct DecodedRecord {
    /// The record's header joined with its batch's.
    pub header: Header,
    /// The record header's exact bytes (the leaf's preimage).
    pub header_bytes: Bytes,
    /// The payload.
    pub payload: Bytes,
    /// The leaf hash.
    pub leaf: Hash,
    /// Whether the payload matches the digest in the record header. A
    /// record whose payload does not is refused on its own
    /// (`payload_digest_mismatch`); the batch's other records are not.
    pub payload_matches: bool,
}

impl DecodedRecord {
    /// The record's leaf index in its batch's tree.
    pub fn leaf_index(&self, batch: &BatchHeader) -> usize {
        usize::try_from(self.header.seq - batch.first_seq).unwrap_or(usize::MAX)
    }
}

/// A batch decoded but not yet verified.
#[derive(Debug, Clone)]
pub struct DecodedBatch {
    /// The decoded signed header.
    pub header: BatchHeader,
    /// Its exact signed bytes.
    pub header_bytes: Bytes,
    /// The producer's signature.
    pub signature: Bytes,
    /// The records carried, in strictly increasing seq order.
    pub records: Vec<DecodedRecord>,
    /// The multiproof for the records carried.
    pub proof: Vec<Hash>,
}

/// Decodes batch bytes. Fails on anything that is not a well-formed batch:
/// records must be non-empty, within the header's range and in strictly
/// increasing seq order.
pub fn decode_batch(bytes: &[u8]) -> Result<DecodedBatch, DenyReason> {
    // What a shell read with `scan` (feed, certificate, record count) must
    // be what is decided: a batch the two readings disagree on (e.g. one
    // with protobuf groups, which prost skips and `scan` does not) is
    // refused.
    let (scanned_header, scanned_records) = scan(bytes).ok_or(DenyReason::MalformedBatch)?;
    let v1::Batch {
        header,
        signature,
        records,
        proof,
    } = v1::Batch::decode(bytes).map_err(|_| DenyReason::MalformedBatch)?;
    let wire = v1::BatchHeader::decode(header.as_ref()).map_err(|_| DenyReason::MalformedHeader)?;
    let batch = BatchHeader::try_from(wire)?;
    if records.is_empty()
        || proof.len() > batch.leaf_count()
        || records.len() != scanned_records
        || header.as_ref() != scanned_header
    {
        return Err(DenyReason::MalformedBatch);
    }
    let proof = proof
        .iter()
        .map(|p| <[u8; 32]>::try_from(p.as_ref()).map_err(|_| DenyReason::MalformedBatch))
        .collect::<Result<Vec<_>, _>>()?;
    let mut decoded = Vec::with_capacity(records.len());
    let mut previous = 0u64;
    for record in records {
        let r = decode_record(&batch, record)?;
        if r.header.seq <= previous {
            return Err(DenyReason::MalformedBatch);
        }
        previous = r.header.seq;
        decoded.push(r);
    }
    Ok(DecodedBatch {
        header: batch,
        header_bytes: header,
        signature,
        records: decoded,
        proof,
    })
}

fn decode_record(batch: &BatchHeader, record: v1::Record) -> Result<DecodedRecord, DenyReason> {
    let v1::Record { header, payload } = record;
    let v1::RecordHeader {
        schema_version,
        label,
        seq,
        payload_sha256,
        produced_at_ms,
        corrects_seq,
        derived_from,
        product_id,
    } = v1::RecordHeader::decode(header.as_ref()).map_err(|_| DenyReason::MalformedHeader)?;
    if seq < batch.first_seq || seq > batch.last_seq {
        return Err(DenyReason::MalformedBatch);
    }
    let label = label.ok_or(DenyReason::MalformedHeader)?;
    let payload_sha256 = digest32(&payload_sha256)?;
    let payload_matches = <[u8; 32]>::from(Sha256::digest(&payload)) == payload_sha256;
    let record_header = Header {
        message_type: batch.message_type,
        schema_version,
        label: label.into(),
        origin: batch.origin.clone(),
        producer_id: batch.producer_id.clone(),
        feed: batch.feed.clone(),
        seq,
        payload_sha256,
        produced_at_ms,
        producer_cert_sha256: batch.producer_cert_sha256,
        corrects_seq: (corrects_seq != 0).then_some(corrects_seq),
        product_id,
        derived_from: derived_from
            .into_iter()
            .map(SourceRef::try_from)
            .collect::<Result<_, _>>()?,
    };
    Ok(DecodedRecord {
        leaf: merkle::leaf_hash(&header),
        header: record_header,
        header_bytes: header,
        payload,
        payload_matches,
    })
}

impl DecodedBatch {
    /// Whether every record of the batch's range is carried (as a producer
    /// publishes it; only bridges carry subsets).
    pub fn is_complete(&self) -> bool {
        self.records.len() == self.header.leaf_count() && self.proof.is_empty()
    }

    /// The Merkle root the carried records and the proof give.
    pub fn computed_root(&self) -> Result<Hash, DenyReason> {
        merkle::root_from_proof(self.header.leaf_count(), &self.known_leaves(), &self.proof)
            .map_err(|_| DenyReason::BadProof)
    }

    fn known_leaves(&self) -> Vec<(usize, Hash)> {
        self.records
            .iter()
            .map(|r| (r.leaf_index(&self.header), r.leaf))
            .collect()
    }

    /// The batch carrying only the records at `keep` (positions into
    /// [`DecodedBatch::records`], strictly increasing), with the producer's
    /// header and signature and the multiproof for them. `keep` must not be
    /// empty: a batch carries at least one record.
    pub fn subset(&self, keep: &[usize]) -> Result<Bytes, CoreError> {
        let invalid = |detail: String| CoreError::InvalidObject {
            kind: "batch subset",
            detail,
        };
        if keep.is_empty() {
            return Err(invalid("a batch carries at least one record".into()));
        }
        if keep.windows(2).any(|w| w[0] >= w[1]) || keep.iter().any(|k| *k >= self.records.len()) {
            return Err(invalid(format!(
                "positions {keep:?} are not increasing positions among {} records",
                self.records.len()
            )));
        }
        let keep_leaves: Vec<usize> = keep
            .iter()
            .map(|k| self.records[*k].leaf_index(&self.header))
            .collect();
        let (_, proof) = merkle::reduce_proof(
            self.header.leaf_count(),
            &self.known_leaves(),
            &self.proof,
            &keep_leaves,
        )
        .map_err(|e| invalid(e.to_string()))?;
        Ok(encode(
            &self.header_bytes,
            &self.signature,
            keep.iter().map(|k| &self.records[*k]),
            proof,
        ))
    }

    /// The batch as carried (every record it holds).
    pub fn encode(&self) -> Bytes {
        encode(
            &self.header_bytes,
            &self.signature,
            self.records.iter(),
            self.proof.clone(),
        )
    }
}

fn encode<'a>(
    header: &Bytes,
    signature: &Bytes,
    records: impl Iterator<Item = &'a DecodedRecord>,
    proof: Vec<Hash>,
) -> Bytes {
    v1::Batch {
        header: header.clone(),
        signature: signature.clone(),
        records: records
            .map(|r| v1::Record {
                header: r.header_bytes.clone(),
                payload: r.payload.clone(),
            })
            .collect(),
        proof: proof
            .into_iter()
            .map(|h| Bytes::copy_from_slice(&h))
            .collect(),
    }
    .encode_to_vec()
    .into()
}

/// Verifies who signed a decoded batch and that nothing in it changed: the
/// certificate is the one named and valid at `now_ms`, names this producer
/// and feed, the ML-DSA signature holds over the header bytes, and the
/// carried records and the proof give the signed Merkle root. Payload
/// digests are per record ([`DecodedRecord::payload_matches`]).
pub fn verify_batch(
    batch: &DecodedBatch,
    cert: &VerifiedCertificate,
    now_ms: i64,
) -> Result<(), DenyReason> {
    let h = &batch.header;
    if h.producer_cert_sha256 != cert.digest {
        return Err(DenyReason::CertificateMismatch);
    }
    if !cert.is_valid_at(now_ms) {
        return Err(DenyReason::CertificateExpired);
    }
    // A key certified under a reserved identity (a bridge's) never signs
    // records.
    if h.origin != cert.nation
        || h.producer_id != cert.producer_id
        || coalition_schemas::identities::is_reserved(&h.producer_id)
    {
        return Err(DenyReason::ProducerMismatch);
    }
    if !cert.feeds.contains(&h.feed) {
        return Err(DenyReason::FeedNotPermitted);
    }
    if !cert.key.verify(
        &batch.header_bytes,
        h.message_type.context(),
        &batch.signature,
    ) {
        return Err(DenyReason::BadSignature);
    }
    if batch.computed_root()? != h.merkle_root {
        return Err(DenyReason::BadProof);
    }
    Ok(())
}

/// A batch whose producer signature, certificate and Merkle proof verified.
#[derive(Debug, Clone)]
pub struct VerifiedBatch {
    /// The batch.
    pub batch: DecodedBatch,
    /// The producer's certificate.
    pub certificate: Arc<VerifiedCertificate>,
}

/// Decodes `bytes`, finds the named certificate in `cache`
/// (`unknown_certificate` if it is not there yet: the caller may hold the
/// batch and look the certificate up) and verifies the batch at `now_ms`.
pub fn open_batch(
    bytes: &[u8],
    cache: &CertificateCache,
    now_ms: i64,
) -> Result<VerifiedBatch, DenyReason> {
    let batch = decode_batch(bytes)?;
    let certificate = cache
        .get(&batch.header.producer_cert_sha256)
        .ok_or(DenyReason::UnknownCertificate)?;
    verify_batch(&batch, &certificate, now_ms)?;
    Ok(VerifiedBatch { batch, certificate })
}

/// One record for a producer to seal.
#[derive(Debug, Clone)]
pub struct RecordDraft {
    /// The payload's schema version.
    pub schema_version: u32,
    /// The label.
    pub label: Label,
    /// The encoded payload.
    pub payload: Bytes,
    /// The seq this delta corrects, if any.
    pub corrects_seq: Option<u64>,
    /// The product (track id or alert id).
    pub product_id: String,
    /// Sources, for a composite product.
    pub derived_from: Vec<SourceRef>,
    /// When the record was produced, Unix ms.
    pub produced_at_ms: i64,
}

/// A sealed batch, ready to publish.
#[derive(Debug, Clone)]
pub struct SealedBatch {
    /// The encoded `Batch`.
    pub bytes: Bytes,
    /// Its signed header.
    pub header: BatchHeader,
}

/// Seals `records` as seqs `first_seq..` of `feed`: one record header (leaf)
/// per record, the Merkle root over them, one signature over the batch
/// header at `now_ms`.
pub fn seal_batch(
    identity: &ProducerIdentity,
    message_type: MessageType,
    feed: &str,
    first_seq: u64,
    records: &[RecordDraft],
    now_ms: i64,
) -> Result<SealedBatch, CoreError> {
    let seal_error = |detail: &str| CoreError::Seal(detail.into());
    if first_seq == 0 {
        return Err(seal_error("sequence numbers start at 1"));
    }
    let count = u64::try_from(records.len()).unwrap_or(u64::MAX);
    if count == 0 || count > MAX_RECORDS {
        return Err(CoreError::Seal(format!(
            "a batch holds 1 to {MAX_RECORDS} records, not {count}"
        )));
    }
    let last_seq = first_seq
        .checked_add(count - 1)
        .ok_or_else(|| seal_error("sequence numbers overflow"))?;
    let wire_records: Vec<v1::Record> = records
        .iter()
        .zip(0..count)
        .map(|(r, i)| v1::Record {
            header: record_header_bytes(r, first_seq + i),
            payload: r.payload.clone(),
        })
        .collect();
    let leaves: Vec<Hash> = wire_records
        .iter()
        .map(|r| merkle::leaf_hash(&r.header))
        .collect();
    let root = merkle::root(&leaves).map_err(|e| CoreError::Seal(e.to_string()))?;
    let header = BatchHeader {
        message_type,
        origin: identity.nation.clone(),
        producer_id: identity.producer_id.clone(),
        feed: feed.to_string(),
        first_seq,
        last_seq,
        merkle_root: root,
        producer_cert_sha256: identity.certificate_sha256(),
        sealed_at_ms: now_ms,
    };
    let header_bytes: Bytes = v1::BatchHeader {
        message_type: message_type.to_wire() as i32,
        origin: header.origin.clone(),
        producer_id: header.producer_id.clone(),
        feed: header.feed.clone(),
        first_seq,
        last_seq,
        merkle_root: Bytes::copy_from_slice(&root),
        producer_cert_sha256: Bytes::copy_from_slice(&header.producer_cert_sha256),
        sealed_at_ms: now_ms,
    }
    .encode_to_vec()
    .into();
    let signature = identity.key.sign(&header_bytes, message_type.context())?;
    let bytes = v1::Batch {
        header: header_bytes,
        signature,
        records: wire_records,
        proof: Vec::new(),
    }
    .encode_to_vec()
    .into();
    Ok(SealedBatch { bytes, header })
}

fn record_header_bytes(r: &RecordDraft, seq: u64) -> Bytes {
    v1::RecordHeader {
        schema_version: r.schema_version,
        label: Some((&r.label).into()),
        seq,
        payload_sha256: Bytes::copy_from_slice(&Sha256::digest(&r.payload)),
        produced_at_ms: r.produced_at_ms,
        corrects_seq: r.corrects_seq.unwrap_or(0),
        derived_from: r.derived_from.iter().map(v1::SourceRef::from).collect(),
        product_id: r.product_id.clone(),
    }
    .encode_to_vec()
    .into()
}
