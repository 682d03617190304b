//! Merkle tree tests: the RFC 6962 reference roots, audit paths as
//! multiproofs, every subset of small trees, and tampering.
use super::*;

fn h(hex_str: &str) -> Hash {
    let v = hex::decode(hex_str).expect("hex");
    v.try_into().expect("32 bytes")
}

/// The Certificate Transparency reference leaves (RFC 6962 test data).
fn ct_leaves() -> Vec<Hash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|x| leaf_hash(&hex::decode(x).expect("hex")))
    .collect()
}

/// Roots of the first 1..=8 reference leaves.
const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn roots_match_the_rfc_6962_reference_roots() {
    let leaves = ct_leaves();
    for n in 1..=8 {
        assert_eq!(root(&leaves[..n]), Ok(h(CT_ROOTS[n - 1])), "size {n}");
    }
    assert_eq!(root(&[]), Err(ProofError::EmptyTree));
}

#[test]
fn a_one_leaf_proof_is_the_rfc_audit_path_in_left_to_right_order() {
    let leaves = ct_leaves();
    // RFC 6962 paths (bottom-up) for leaf 0 and leaf 5 of the 8-leaf tree;
    // a multiproof lists the same hashes left to right.
    let cases: [(usize, [&str; 3]); 2] = [
        (
            0,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            [
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            ],
        ),
    ];
    let all: Vec<(usize, Hash)> = leaves.iter().copied().enumerate().collect();
    for (index, path) in cases {
        let expected: Vec<Hash> = path.iter().map(|x| h(x)).collect();
        let (r, proof) = reduce_proof(8, &all, &[], &[index]).expect("prove");
        assert_eq!(r, h(CT_ROOTS[7]));
        assert_eq!(proof, expected, "leaf {index}");
        assert_eq!(
            root_from_proof(8, &[(index, leaves[index])], &proof),
            Ok(h(CT_ROOTS[7]))
        );
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[i as u8, (i >> 8) as u8, 0x5a]))
        .collect()
}

#[test]
fn every_subset_of_every_small_tree_proves_and_verifies() {
    for n in 1..=9usize {
        let leaves = leaves(n);
        let expected = root(&leaves).expect("root");
        let all: Vec<(usize, Hash)> = leaves.iter().copied().enumerate().collect();
        for mask in 0u32..(1 << n) {
            let keep: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let (r, proof) = reduce_proof(n, &all, &[], &keep).expect("prove");
            assert_eq!(r, expected);
            if keep.len() == n {
                assert!(proof.is_empty(), "all carried: no proof");
            }
            let carried: Vec<(usize, Hash)> = keep.iter().map(|i| (*i, leaves[*i])).collect();
            assert_eq!(
                root_from_proof(n, &carried, &proof),
                Ok(expected),
                "n={n} keep={keep:?}"
            );
        }
    }
}

#[test]
fn a_subset_of_a_subset_proves_from_the_first_proof_alone() {
    let n = 64;
    let leaves = leaves(n);
    let expected = root(&leaves).expect("root");
    let all: Vec<(usize, Hash)> = leaves.iter().copied().enumerate().collect();
    let first: Vec<usize> = (0..n).filter(|i| i % 3 != 0).collect();
    let (_, proof) = reduce_proof(n, &all, &[], &first).expect("prove");
    let known: Vec<(usize, Hash)> = first.iter().map(|i| (*i, leaves[*i])).collect();
    let second: Vec<usize> = first.iter().copied().filter(|i| i % 5 == 1).collect();
    let (r, smaller) = reduce_proof(n, &known, &proof, &second).expect("reduce");
    assert_eq!(r, expected);
    let carried: Vec<(usize, Hash)> = second.iter().map(|i| (*i, leaves[*i])).collect();
    assert_eq!(root_from_proof(n, &carried, &smaller), Ok(expected));
    // The same subset proved from the full tree gives the same proof.
    let (_, direct) = reduce_proof(n, &all, &[], &second).expect("prove");
    assert_eq!(smaller, direct);
}

#[test]
fn tampered_proofs_and_leaves_do_not_give_the_root() {
    let n = 13;
    let leaves = leaves(n);
    let expected = root(&leaves).expect("root");
    let all: Vec<(usize, Hash)> = leaves.iter().copied().enumerate().collect();
    let keep = [2usize, 3, 9];
    let (_, proof) = reduce_proof(n, &all, &[], &keep).expect("prove");
    let carried: Vec<(usize, Hash)> = keep.iter().map(|i| (*i, leaves[*i])).collect();

    // One flipped bit anywhere in the proof.
    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i][7] ^= 0x01;
        assert_ne!(root_from_proof(n, &carried, &bad), Ok(expected));
    }
    // Truncated and extended proofs.
    assert_eq!(
        root_from_proof(n, &carried, &proof[..proof.len() - 1]),
        Err(ProofError::ProofTooShort)
    );
    let mut longer = proof.clone();
    longer.push([0; 32]);
    assert_eq!(
        root_from_proof(n, &carried, &longer),
        Err(ProofError::ProofTooLong)
    );
    // A leaf moved to another index, a leaf from another tree, a leaf dropped.
    let moved = [(2, leaves[2]), (4, leaves[3]), (9, leaves[9])];
    assert_ne!(root_from_proof(n, &moved, &proof), Ok(expected));
    let foreign = [
        (2, leaves[2]),
        (3, leaf_hash(b"other batch")),
        (9, leaves[9]),
    ];
    assert_ne!(root_from_proof(n, &foreign, &proof), Ok(expected));
    let dropped = [(2, leaves[2]), (9, leaves[9])];
    assert_ne!(root_from_proof(n, &dropped, &proof), Ok(expected));
    // Reordered or repeated indices are refused outright.
    let reordered = [(3, leaves[3]), (2, leaves[2]), (9, leaves[9])];
    assert_eq!(
        root_from_proof(n, &reordered, &proof),
        Err(ProofError::NotIncreasing)
    );
    let repeated = [(2, leaves[2]), (2, leaves[2]), (9, leaves[9])];
    assert_eq!(
        root_from_proof(n, &repeated, &proof),
        Err(ProofError::NotIncreasing)
    );
    // An index beyond the tree. (The tree's size is not bound by the proof:
    // a batch's signed header fixes it, as first and last seq.)
    let beyond = [(2, leaves[2]), (3, leaves[3]), (13, leaves[9])];
    assert_eq!(
        root_from_proof(n, &beyond, &proof),
        Err(ProofError::IndexOutOfRange)
    );
}

#[test]
fn a_leaf_never_passes_for_an_inner_node() {
    // The bytes of an inner node's two children, offered as one leaf.
    let leaves = leaves(2);
    let mut concatenated = Vec::new();
    concatenated.extend_from_slice(&leaves[0]);
    concatenated.extend_from_slice(&leaves[1]);
    assert_ne!(leaf_hash(&concatenated), root(&leaves).expect("root"));
}

#[test]
fn keeping_a_leaf_that_is_not_known_is_refused() {
    let leaves = leaves(4);
    let known = [(0, leaves[0]), (1, leaves[1])];
    let (_, proof) = reduce_proof(
        4,
        &leaves.iter().copied().enumerate().collect::<Vec<_>>(),
        &[],
        &[0, 1],
    )
    .expect("prove");
    assert_eq!(
        reduce_proof(4, &known, &proof, &[2]),
        Err(ProofError::NotKnown)
    );
    assert_eq!(
        reduce_proof(4, &known, &proof, &[1, 0]),
        Err(ProofError::NotIncreasing)
    );
}
