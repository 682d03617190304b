//! Merkle trees and multiproofs: arbitrary leaf counts (1 to 4096), known
//! sets and proofs into `merkle::root_from_proof` and `merkle::reduce_proof`.
//! The body and its invariants are in `src/merkle.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| coalition_fuzz::merkle::run(data));
