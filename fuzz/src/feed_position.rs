//! The body of the `feed_position` fuzz target: an arbitrary stored
//! [`FeedState`], batch range, source-stream sequence, time and forward
//! window into `FeedState::judge`, `check_position` and
//! `FeedState::accepted`.
//!
//! Values are drawn from the input either freely or near the others (the
//! last seq, each other's ends, `0`, `u64::MAX`, `i64::MIN`, `i64::MAX`,
//! plus or minus a little), so the boundaries are reached often.
//!
//! Asserted, besides no panic (the fuzz build has overflow checks on):
//!
//! - `Again` exactly for a stream sequence at or below `decided_through`
//!   that the state lists; otherwise `judge` says what `check_position`
//!   says.
//! - With a position: a range whose last seq is at or below the last
//!   accepted one is never `Accept` (`feed_replay`); one that starts at or
//!   below it and ends above it is `feed_rollback`; anything accepted
//!   starts above it. Without a position, `check_position` accepts.
//! - The forward window: a gap of at most `window.seqs` is never a jump; a
//!   gap beyond `seqs + seqs_per_second × elapsed / 1000` (exact, in
//!   128-bit arithmetic, elapsed from the last seal to the batch's seal or
//!   now, whichever is earlier) is always a jump; where nothing saturates,
//!   a gap within it is accepted. A seal time later than now decides as
//!   now.
//! - `accepted`: the position becomes the batch's, `decided_through` the
//!   larger, the list starts afresh on a new cycle and grows otherwise; the
//!   same batch at the same stream sequence is then `Again`, at a stream
//!   sequence above `decided_through` `feed_replay`, and the next range
//!   (starting right after it, sealed at the same time) is accepted.
use coalition_core::feed_position::{
    check_position, BatchRange, FeedState, ForwardWindow, Judgement, Position,
};
use coalition_core::DenyReason;
use libfuzzer_sys::arbitrary::{Result, Unstructured};

/// Runs one input.
pub fn run(data: &[u8]) {
    let _ = run_structured(&mut Unstructured::new(data));
}

/// A `u64`: arbitrary, an extreme, or one of `near` plus or minus up to 3.
fn pick_u64(u: &mut Unstructured, near: &[u64]) -> Result<u64> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => u.arbitrary()?,
        1 => *u.choose(&[0, 1, u64::MAX - 1, u64::MAX])?,
        _ if near.is_empty() => u.arbitrary()?,
        _ => {
            let base = *u.choose(near)?;
            let delta = u.int_in_range(0..=3u64)?;
            if u.arbitrary::<bool>()? {
                base.wrapping_add(delta)
            } else {
                base.wrapping_sub(delta)
            }
        }
    })
}

/// An `i64` time: arbitrary, an extreme, or one of `near` plus or minus up
/// to 2 s.
fn pick_time(u: &mut Unstructured, near: &[i64]) -> Result<i64> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => u.arbitrary()?,
        1 => *u.choose(&[i64::MIN, -1, 0, 1, i64::MAX])?,
        _ if near.is_empty() => u.arbitrary()?,
        _ => {
            let base = *u.choose(near)?;
            base.wrapping_add(u.int_in_range(-2000..=2000i64)?)
        }
    })
}

fn run_structured(u: &mut Unstructured) -> Result<()> {
    let position = if u.arbitrary::<bool>()? {
        Some(Position {
            last_seq: pick_u64(u, &[])?,
            sealed_at_ms: pick_time(u, &[])?,
        })
    } else {
        None
    };
    let last = position.map(|p| p.last_seq);
    let decided_through = pick_u64(u, &[])?;
    let listed = u.int_in_range(0..=8usize)?;
    let mut accepted_stream_seqs = Vec::with_capacity(listed);
    for _ in 0..listed {
        accepted_stream_seqs.push(pick_u64(u, &[decided_through])?);
    }
    let state = FeedState {
        position,
        accepted_stream_seqs,
        decided_through,
    };
    let mut near: Vec<u64> = last.into_iter().collect();
    let first_seq = pick_u64(u, &near)?;
    near.push(first_seq);
    let last_seq = pick_u64(u, &near)?;
    let last_sealed: Vec<i64> = position.map(|p| p.sealed_at_ms).into_iter().collect();
    let sealed_at_ms = pick_time(u, &last_sealed)?;
    let mut times = last_sealed.clone();
    times.push(sealed_at_ms);
    let now_ms = pick_time(u, &times)?;
    let batch = BatchRange {
        first_seq,
        last_seq,
        sealed_at_ms,
    };
    let window = ForwardWindow {
        seqs: pick_u64(u, &[100_000])?,
        seqs_per_second: pick_u64(u, &[50_000])?,
    };
    let mut stream_near = state.accepted_stream_seqs.clone();
    stream_near.push(decided_through);
    let stream_seq = pick_u64(u, &stream_near)?;

    // judge and check_position.
    let judged = state.judge(stream_seq, batch, now_ms, window);
    let checked = check_position(position, batch, now_ms, window);
    let again = stream_seq <= decided_through && state.accepted_stream_seqs.contains(&stream_seq);
    assert_eq!(
        judged == Judgement::Again,
        again,
        "{state:?} at {stream_seq}: {judged:?}"
    );
    if !again {
        let expected = match checked {
            Ok(()) => Judgement::Accept,
            Err(reason) => Judgement::Refuse(reason),
        };
        assert_eq!(judged, expected);
    }
    // A seal time later than now decides as now.
    let clamped = BatchRange {
        sealed_at_ms: sealed_at_ms.min(now_ms),
        ..batch
    };
    assert_eq!(check_position(position, clamped, now_ms, window), checked);
    match position {
        None => assert_eq!(checked, Ok(()), "the first batch on a feed is refused"),
        Some(p) => {
            if batch.last_seq <= p.last_seq {
                assert_ne!(judged, Judgement::Accept, "{batch:?} after {p:?} accepted");
                assert_eq!(checked, Err(DenyReason::FeedReplay));
            } else if batch.first_seq <= p.last_seq {
                assert_eq!(checked, Err(DenyReason::FeedRollback));
            } else {
                let skipped = batch.first_seq - p.last_seq - 1;
                let elapsed = (i128::from(sealed_at_ms.min(now_ms)) - i128::from(p.sealed_at_ms))
                    .max(0) as u128;
                let rate = u128::from(window.seqs_per_second) * elapsed;
                let allowance = u128::from(window.seqs) + rate / 1000;
                if skipped <= window.seqs {
                    assert_eq!(checked, Ok(()), "a gap within window.seqs");
                }
                if u128::from(skipped) > allowance {
                    assert_eq!(
                        checked,
                        Err(DenyReason::FeedJump),
                        "a gap beyond the window"
                    );
                }
                let saturates = elapsed > i64::MAX as u128
                    || rate > u128::from(u64::MAX)
                    || allowance > u128::from(u64::MAX);
                if !saturates && u128::from(skipped) <= allowance {
                    assert_eq!(checked, Ok(()), "a gap within the window");
                }
            }
            if checked.is_ok() {
                assert!(batch.first_seq > p.last_seq);
            }
        }
    }

    // accepted.
    let new_cycle = u.arbitrary::<bool>()?;
    let after = state.accepted(stream_seq, batch, new_cycle);
    assert_eq!(
        after.position,
        Some(Position {
            last_seq: batch.last_seq,
            sealed_at_ms: batch.sealed_at_ms,
        })
    );
    assert_eq!(after.decided_through, decided_through.max(stream_seq));
    let mut expected_list = if new_cycle {
        Vec::new()
    } else {
        state.accepted_stream_seqs.clone()
    };
    expected_list.push(stream_seq);
    assert_eq!(after.accepted_stream_seqs, expected_list);
    assert_eq!(
        after.judge(stream_seq, batch, now_ms, window),
        Judgement::Again,
        "a redelivered accepted batch"
    );
    if let Some(later) = after.decided_through.checked_add(1) {
        assert_eq!(
            after.judge(later, batch, now_ms, window),
            Judgement::Refuse(DenyReason::FeedReplay),
            "the same batch at a new stream sequence"
        );
        let extra = u.int_in_range(0..=4096u64)?;
        if let Some(first) = batch.last_seq.checked_add(1) {
            if let Some(last) = first.checked_add(extra) {
                let next = BatchRange {
                    first_seq: first,
                    last_seq: last,
                    sealed_at_ms: batch.sealed_at_ms,
                };
                assert_eq!(
                    after.judge(later, next, now_ms, window),
                    Judgement::Accept,
                    "the next batch after {batch:?}"
                );
            }
        }
    }
    Ok(())
}
