//! The body of the `merkle` fuzz target: trees of 1 to 4096 leaves, honest
//! multiproofs for arbitrary known sets, and forged ones from the input.
//!
//! The input is read as a structure (`arbitrary::Unstructured`):
//!
//! 1. **The honest tree.** A leaf count `n` in 1..=4096 (its bit length
//!    drawn first, so small trees are as frequent as large ones) and a
//!    salt; leaf `i` is `leaf_hash(salt || i)`. Its root from
//!    `merkle::root` must equal the root of an independent RFC 6962
//!    implementation here, which also lists every inner node.
//! 2. **Honest proofs.** A known set `K` (all leaves, a range, up to 64
//!    arbitrary indices, or every s-th; possibly empty) proved with
//!    `reduce_proof` over all leaves: it gives the root, `root_from_proof`
//!    rebuilds the root from `K` and the proof, the proof has at most
//!    `n - |K|` hashes and none exactly when `K` is every leaf. A subset
//!    `keep` of `K` reduced from `K`'s proof gives the root, a proof that
//!    rebuilds it, and the same proof as reducing from all leaves (a
//!    multiproof depends only on `n` and `keep`). A flipped bit in a proof
//!    hash or in a known leaf never gives the root.
//! 3. **Forged proofs.** A leaf count (the honest one, or any in 0..=4100),
//!    known leaves (indices from the input, in or out of order and range;
//!    hashes arbitrary, honest leaves, honest inner nodes, or leaf hashes of
//!    arbitrary bytes) and a proof (the same kinds of hashes, up to 64)
//!    into `root_from_proof` and `reduce_proof`. The failure asserted: with
//!    the honest leaf count, a result equal to the honest root although
//!    some claimed leaf is not the honest leaf at its index. Also asserted:
//!    `reduce_proof` succeeds exactly when `root_from_proof` does (for a
//!    valid keep list), with the same root, and its proof rebuilds that
//!    root from the kept leaves.
//!
//! With another leaf count, a proof may give the honest root for a leaf at
//! another index (the root alone does not bind the tree's size: a batch
//! binds it with the signed `first_seq`/`last_seq`), so nothing is asserted
//! about the claimed leaves there.
use coalition_core::merkle::{self, leaf_hash, node_hash, Hash};
use libfuzzer_sys::arbitrary::{Result, Unstructured};

/// Runs one input.
pub fn run(data: &[u8]) {
    let _ = run_structured(&mut Unstructured::new(data));
}

/// An honest tree: its leaves, root and every node as `(lo, hi, hash)`.
struct Tree {
    leaves: Vec<Hash>,
    root: Hash,
    nodes: Vec<(usize, usize, Hash)>,
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 section 2.1, written independently of `coalition_core::merkle`.
fn subtree(leaves: &[Hash], lo: usize, hi: usize, nodes: &mut Vec<(usize, usize, Hash)>) -> Hash {
    let h = if hi - lo == 1 {
        leaves[lo]
    } else {
        let mid = lo + split(hi - lo);
        let left = subtree(leaves, lo, mid, nodes);
        let right = subtree(leaves, mid, hi, nodes);
        node_hash(&left, &right)
    };
    nodes.push((lo, hi, h));
    h
}

fn honest_tree(n: usize, salt: u8) -> Tree {
    let leaves: Vec<Hash> = (0..n)
        .map(|i| {
            let mut preimage = vec![salt];
            preimage.extend_from_slice(&(i as u64).to_le_bytes());
            leaf_hash(&preimage)
        })
        .collect();
    let mut nodes = Vec::with_capacity(2 * n);
    let root = subtree(&leaves, 0, n, &mut nodes);
    Tree {
        leaves,
        root,
        nodes,
    }
}

/// A strictly increasing set of indices below `n` (possibly empty).
fn index_set(u: &mut Unstructured, n: usize) -> Result<Vec<usize>> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => (0..n).collect(),
        1 => {
            let a = u.int_in_range(0..=n - 1)?;
            let b = u.int_in_range(a..=n - 1)?;
            (a..=b).collect()
        }
        2 => {
            let count = u.int_in_range(0..=64usize)?;
            let mut v = Vec::with_capacity(count);
            for _ in 0..count {
                v.push(u.int_in_range(0..=n - 1)?);
            }
            v.sort_unstable();
            v.dedup();
            v
        }
        _ => {
            let step = u.int_in_range(1..=n)?;
            let offset = u.int_in_range(0..=step - 1)?;
            (offset..n).step_by(step).collect()
        }
    })
}

/// A subsequence of `from`, one input bit per element.
fn subsequence(u: &mut Unstructured, from: &[usize]) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for &i in from {
        if u.arbitrary::<bool>()? {
            out.push(i);
        }
    }
    Ok(out)
}

/// A hash for a forged leaf or proof: arbitrary, an honest leaf, an honest
/// node (any level), the leaf hash of arbitrary bytes, or a hash of the
/// honest proof.
fn pick_hash(u: &mut Unstructured, tree: &Tree, honest_proof: &[Hash]) -> Result<Hash> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => u.arbitrary::<[u8; 32]>()?,
        1 => tree.leaves[u.choose_index(tree.leaves.len())?],
        2 => tree.nodes[u.choose_index(tree.nodes.len())?].2,
        3 => {
            let len = u.int_in_range(0..=16usize)?;
            leaf_hash(u.bytes(len)?)
        }
        _ if honest_proof.is_empty() => tree.root,
        _ => honest_proof[u.choose_index(honest_proof.len())?],
    })
}

fn with_hashes(indices: &[usize], tree: &Tree) -> Vec<(usize, Hash)> {
    indices.iter().map(|&i| (i, tree.leaves[i])).collect()
}

fn run_structured(u: &mut Unstructured) -> Result<()> {
    // As many small trees as large ones: a bit length, then a count of it.
    let bits = u.int_in_range(0..=12u32)?;
    let n = u.int_in_range(1usize << bits..=((2usize << bits) - 1).min(4096))?;
    let salt: u8 = u.arbitrary()?;
    let tree = honest_tree(n, salt);
    assert_eq!(
        merkle::root(&tree.leaves),
        Ok(tree.root),
        "root of {n} leaves"
    );
    let root = tree.root;
    let all = with_hashes(&(0..n).collect::<Vec<_>>(), &tree);

    // Honest proofs.
    let k = index_set(u, n)?;
    let known = with_hashes(&k, &tree);
    let (r, proof) = merkle::reduce_proof(n, &all, &[], &k).expect("proving known leaves");
    assert_eq!(r, root);
    assert_eq!(merkle::root_from_proof(n, &known, &proof), Ok(root));
    assert!(
        proof.len() <= n - k.len(),
        "{} hashes for {} leaves",
        proof.len(),
        n - k.len()
    );
    assert_eq!(proof.is_empty(), k.len() == n);
    let keep = subsequence(u, &k)?;
    let (r, keep_proof) =
        merkle::reduce_proof(n, &known, &proof, &keep).expect("reducing an honest proof");
    assert_eq!(r, root);
    assert_eq!(
        merkle::root_from_proof(n, &with_hashes(&keep, &tree), &keep_proof),
        Ok(root)
    );
    let (_, direct) = merkle::reduce_proof(n, &all, &[], &keep).expect("proving kept leaves");
    assert_eq!(
        keep_proof, direct,
        "the multiproof for {keep:?} depends on where it came from"
    );
    if !proof.is_empty() {
        let mut bad = proof.clone();
        let at = u.choose_index(bad.len())?;
        let bit = u.int_in_range(0..=255u8)?;
        bad[at][usize::from(bit / 8)] ^= 1 << (bit % 8);
        assert_ne!(merkle::root_from_proof(n, &known, &bad), Ok(root));
    }
    if !known.is_empty() {
        let mut bad = known.clone();
        let at = u.choose_index(bad.len())?;
        bad[at].1[0] ^= 0x80;
        assert_ne!(merkle::root_from_proof(n, &bad, &proof), Ok(root));
    }

    // Forged proofs.
    let m = if u.arbitrary::<bool>()? {
        n
    } else {
        u.int_in_range(0..=4100usize)?
    };
    let count = u.int_in_range(0..=64usize)?;
    let mut claimed: Vec<(usize, Hash)> = Vec::with_capacity(count);
    let mut next = 0usize;
    for _ in 0..count {
        let index = if u.arbitrary::<bool>()? {
            // Increasing, as a verifier expects.
            next = next.saturating_add(u.int_in_range(0..=3usize)?);
            let i = next;
            next = next.saturating_add(1);
            i
        } else {
            usize::from(u.arbitrary::<u16>()?)
        };
        claimed.push((index, pick_hash(u, &tree, &proof)?));
    }
    let proof_len = u.int_in_range(0..=64usize)?;
    let mut forged = Vec::with_capacity(proof_len);
    for _ in 0..proof_len {
        forged.push(pick_hash(u, &tree, &proof)?);
    }
    let got = merkle::root_from_proof(m, &claimed, &forged);
    if m == n && got == Ok(root) {
        for (i, h) in &claimed {
            assert!(
                tree.leaves.get(*i) == Some(h),
                "a forged proof gives the root of {n} leaves for leaf {i} = {h:02x?}, \
                 claimed {claimed:02x?}, proof {forged:02x?}"
            );
        }
    }
    let indices: Vec<usize> = claimed.iter().map(|(i, _)| *i).collect();
    let keep = if u.arbitrary::<bool>()? {
        subsequence(u, &indices)?
    } else {
        let len = u.int_in_range(0..=8usize)?;
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            v.push(usize::from(u.arbitrary::<u16>()?));
        }
        v
    };
    let reduced = merkle::reduce_proof(m, &claimed, &forged, &keep);
    let keep_valid = keep.windows(2).all(|w| w[0] < w[1])
        && keep.iter().all(|k| claimed.iter().any(|(i, _)| i == k));
    if keep_valid {
        assert_eq!(
            reduced.is_ok(),
            got.is_ok(),
            "reduce_proof: {reduced:?}, root_from_proof: {got:?}"
        );
    }
    if let Ok((r, p)) = &reduced {
        assert_eq!(got, Ok(*r), "reduce_proof and root_from_proof disagree");
        let kept: Vec<(usize, Hash)> = keep
            .iter()
            .map(|k| {
                let at = claimed
                    .binary_search_by_key(k, |(i, _)| *i)
                    .expect("a kept leaf is a known one");
                claimed[at]
            })
            .collect();
        assert_eq!(
            merkle::root_from_proof(m, &kept, p),
            Ok(*r),
            "a reduced proof does not rebuild its root"
        );
    }
    Ok(())
}
