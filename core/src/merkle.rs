//! Merkle trees over a batch's records: leaf and node hashing, the root, and
//! compact multiproofs for any subset of the leaves. Pure; no I/O.
//!
//! The tree has the shape of RFC 6962 section 2.1 (Certificate
//! Transparency), so trees of any size are well defined without padding or
//! duplicated leaves:
//!
//! - a leaf's hash is `SHA-256(0x00 || leaf bytes)`;
//! - an inner node's hash is `SHA-256(0x01 || left || right)`;
//! - the tree over leaves `[lo, hi)` with `n = hi - lo > 1` splits at
//!   `lo + k`, where `k` is the largest power of two smaller than `n`.
//!
//! The two prefixes keep a leaf from ever passing for an inner node (the
//! second-preimage attack on naive Merkle trees).
//!
//! A **multiproof** for a set of carried leaves is the list of hashes of
//! every *maximal* subtree that contains no carried leaf, in left-to-right
//! order (the order a depth-first, left-first walk meets them). Carrying
//! every leaf needs no proof; carrying one leaf gives its audit path. A
//! verifier rebuilds the root from the carried leaves and the proof and must
//! use every proof hash exactly once.
//!
//! What this module does not do: it knows nothing of signatures, records or
//! sequence numbers; [`crate::batch`] binds the root to a producer.
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a multiproof did not give a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// A tree needs at least one leaf.
    EmptyTree,
    /// A leaf index is not below the tree's size.
    IndexOutOfRange,
    /// Leaf indices are not strictly increasing (reordered or repeated).
    NotIncreasing,
    /// The proof ran out before every uncarried subtree was covered.
    ProofTooShort,
    /// Proof hashes were left over.
    ProofTooLong,
    /// A leaf to keep is not among the known ones.
    NotKnown,
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProofError::EmptyTree => "a Merkle tree needs at least one leaf",
            ProofError::IndexOutOfRange => "a leaf index is beyond the tree",
            ProofError::NotIncreasing => "leaf indices are not strictly increasing",
            ProofError::ProofTooShort => "the proof is missing hashes",
            ProofError::ProofTooLong => "the proof has hashes left over",
            ProofError::NotKnown => "a leaf to keep is not a known leaf",
        })
    }
}

impl std::error::Error for ProofError {}

/// `SHA-256(0x00 || bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(bytes);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root over `leaves` (leaf hashes, in order).
pub fn root(leaves: &[Hash]) -> Result<Hash, ProofError> {
    let known: Vec<(usize, Hash)> = leaves.iter().copied().enumerate().collect();
    root_from_proof(leaves.len(), &known, &[])
}

/// The root of a tree of `leaf_count` leaves, rebuilt from the `known`
/// leaves (`(index, leaf hash)`, strictly increasing indices) and a
/// multiproof covering every other leaf. Every proof hash must be used.
pub fn root_from_proof(
    leaf_count: usize,
    known: &[(usize, Hash)],
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    check_indices(leaf_count, known)?;
    let mut input = proof.iter().copied();
    let root = walk(0, leaf_count, known, None, &mut input)?;
    if input.next().is_some() {
        return Err(ProofError::ProofTooLong);
    }
    Ok(root)
}

/// From `known` leaves and the multiproof covering the rest, the root and
/// the multiproof for the subset `keep` (leaf indices, strictly increasing,
/// each one of the known). Proving a subset of a full tree is this with
/// every leaf known and an empty proof.
pub fn reduce_proof(
    leaf_count: usize,
    known: &[(usize, Hash)],
    proof: &[Hash],
    keep: &[usize],
) -> Result<(Hash, Vec<Hash>), ProofError> {
    check_indices(leaf_count, known)?;
    if keep.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ProofError::NotIncreasing);
    }
    if keep
        .iter()
        .any(|k| known.binary_search_by_key(k, |(i, _)| *i).is_err())
    {
        return Err(ProofError::NotKnown);
    }
    let mut input = proof.iter().copied();
    let mut output = Vec::new();
    let root = walk(0, leaf_count, known, Some((keep, &mut output)), &mut input)?;
    if input.next().is_some() {
        return Err(ProofError::ProofTooLong);
    }
    Ok((root, output))
}

fn check_indices(leaf_count: usize, known: &[(usize, Hash)]) -> Result<(), ProofError> {
    if leaf_count == 0 {
        return Err(ProofError::EmptyTree);
    }
    if known.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(ProofError::NotIncreasing);
    }
    if known.last().is_some_and(|(i, _)| *i >= leaf_count) {
        return Err(ProofError::IndexOutOfRange);
    }
    Ok(())
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// A subset to prove while walking, and where its proof goes.
type Emit<'a, 'b> = Option<(&'a [usize], &'b mut Vec<Hash>)>;

/// The hash of the subtree over `[lo, hi)`, from the `known` leaves in it
/// and hashes taken from `input` for the subtrees with none. With `emit`,
/// also writes the multiproof for `emit`'s leaves (a subset of `known`).
fn walk(
    lo: usize,
    hi: usize,
    known: &[(usize, Hash)],
    emit: Emit<'_, '_>,
    input: &mut impl Iterator<Item = Hash>,
) -> Result<Hash, ProofError> {
    if known.is_empty() {
        let h = input.next().ok_or(ProofError::ProofTooShort)?;
        if let Some((_, out)) = emit {
            out.push(h);
        }
        return Ok(h);
    }
    let emit = match emit {
        Some(([], out)) => {
            // Nothing to keep below here: one hash covers the whole subtree.
            let h = walk(lo, hi, known, None, input)?;
            out.push(h);
            return Ok(h);
        }
        other => other,
    };
    if hi - lo == 1 {
        return Ok(known[0].1);
    }
    let mid = lo + split(hi - lo);
    let at = known.partition_point(|(i, _)| *i < mid);
    let (left_known, right_known) = known.split_at(at);
    let (left, right) = match emit {
        Some((keep, out)) => {
            let k = keep.partition_point(|i| *i < mid);
            let (left_keep, right_keep) = keep.split_at(k);
            let left = walk(lo, mid, left_known, Some((left_keep, &mut *out)), input)?;
            let right = walk(mid, hi, right_known, Some((right_keep, out)), input)?;
            (left, right)
        }
        None => {
            let left = walk(lo, mid, left_known, None, input)?;
            let right = walk(mid, hi, right_known, None, input)?;
            (left, right)
        }
    };
    Ok(node_hash(&left, &right))
}

#[cfg(test)]
mod tests;
