//! Feed positions: arbitrary stored `FeedState`s, batch ranges, stream
//! sequences, times and windows into `FeedState::judge`, `check_position`
//! and `FeedState::accepted`. The body and its invariants are in
//! `src/feed_position.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| coalition_fuzz::feed_position::run(data));
