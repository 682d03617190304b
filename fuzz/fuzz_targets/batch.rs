//! Sealed batches: any bytes through `scan`, `peek_header`, `decode_batch`,
//! `open_batch` and `verify_batch` (against the fixed world's certificate
//! cache), `computed_root` and `DecodedBatch::subset`. The body and its
//! invariants are in `src/batch.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| coalition_fuzz::batch::run(data));
