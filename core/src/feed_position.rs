//! Feed positions are enforced, never trusted: a bridge accepts a
//! producer's batches on a feed only in increasing seq order, and only
//! within a forward window.
//!
//! - **Replay**: a batch whose whole seq range is at or below the last one
//!   accepted (an old batch sent again after the duplicate window, or old
//!   seqs re-signed): `feed_replay`.
//! - **Rollback**: a range that starts at or below the last accepted seq
//!   and ends above it (new content under used seqs): `feed_rollback`.
//! - **Jump**: a range that starts further beyond the last accepted seq
//!   than the window allows: `feed_jump`. The window is a number of seqs
//!   plus a rate times the time between the two batches' seals (so a feed
//!   whose records were refused, or aged out, for a long while can still
//!   resume), where a seal time later than now counts as now. A jump, if
//!   accepted, would make every later legitimate batch look like a replay.
//!
//! A batch the stage already accepted and sees again because it was
//! redelivered after a crash (its source-stream sequence is one the stored
//! position lists) is the same decision, not a replay.
//!
//! Pure: the bridge loads and stores [`FeedState`]s; time is an argument.
use crate::DenyReason;

/// How far ahead of the last accepted seq a batch may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardWindow {
    /// Seqs a batch may skip at once, whatever the time.
    pub seqs: u64,
    /// Further seqs allowed per second between the two batches' seals.
    pub seqs_per_second: u64,
}

impl Default for ForwardWindow {
    fn default() -> Self {
        ForwardWindow {
            seqs: 100_000,
            seqs_per_second: 50_000,
        }
    }
}

/// The last batch accepted on a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Its last seq.
    pub last_seq: u64,
    /// When it was sealed, Unix ms (producer clock).
    pub sealed_at_ms: i64,
}

/// A batch's claim about its place in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRange {
    /// First seq.
    pub first_seq: u64,
    /// Last seq.
    pub last_seq: u64,
    /// When the producer sealed it, Unix ms.
    pub sealed_at_ms: i64,
}

/// Checks `batch` against the feed's last accepted position at `now_ms`.
/// With no position yet (the first batch this bridge sees on the feed),
/// any range is accepted.
pub fn check_position(
    last: Option<Position>,
    batch: BatchRange,
    now_ms: i64,
    window: ForwardWindow,
) -> Result<(), DenyReason> {
    let Some(last) = last else {
        return Ok(());
    };
    if batch.last_seq <= last.last_seq {
        return Err(DenyReason::FeedReplay);
    }
    if batch.first_seq <= last.last_seq {
        return Err(DenyReason::FeedRollback);
    }
    let skipped = batch.first_seq - last.last_seq - 1;
    let elapsed_ms = batch
        .sealed_at_ms
        .min(now_ms)
        .saturating_sub(last.sealed_at_ms)
        .max(0);
    let allowance = window.seqs.saturating_add(
        window
            .seqs_per_second
            .saturating_mul(u64::try_from(elapsed_ms).unwrap_or(0))
            / 1000,
    );
    if skipped > allowance {
        return Err(DenyReason::FeedJump);
    }
    Ok(())
}

/// A stage's state for one feed, as stored after the cycle that last
/// changed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedState {
    /// The last batch accepted, if any.
    pub position: Option<Position>,
    /// Source-stream sequences of the batches accepted in the cycle that
    /// wrote this state.
    pub accepted_stream_seqs: Vec<u64>,
    /// The highest source-stream sequence decided when this was written.
    pub decided_through: u64,
}

/// What [`FeedState::judge`] decided about one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// In order: accept, and the feed's position moves to the batch.
    Accept,
    /// A redelivery of a batch this stage accepted before a restart:
    /// decide it again as before; the position does not move.
    Again,
    /// Refused, with the reason.
    Refuse(DenyReason),
}

impl FeedState {
    /// Judges the batch read at `stream_seq` of the stage's source stream.
    pub fn judge(
        &self,
        stream_seq: u64,
        batch: BatchRange,
        now_ms: i64,
        window: ForwardWindow,
    ) -> Judgement {
        if stream_seq <= self.decided_through && self.accepted_stream_seqs.contains(&stream_seq) {
            return Judgement::Again;
        }
        match check_position(self.position, batch, now_ms, window) {
            Ok(()) => Judgement::Accept,
            Err(reason) => Judgement::Refuse(reason),
        }
    }

    /// The state after accepting `batch` at `stream_seq`. `new_cycle` says
    /// whether this is the first change of the state in the current cycle
    /// (the list of accepted stream sequences starts afresh).
    pub fn accepted(&self, stream_seq: u64, batch: BatchRange, new_cycle: bool) -> FeedState {
        let mut accepted = if new_cycle {
            Vec::new()
        } else {
            self.accepted_stream_seqs.clone()
        };
        accepted.push(stream_seq);
        FeedState {
            position: Some(Position {
                last_seq: batch.last_seq,
                sealed_at_ms: batch.sealed_at_ms,
            }),
            accepted_stream_seqs: accepted,
            decided_through: self.decided_through.max(stream_seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first_seq: u64, last_seq: u64, sealed_at_ms: i64) -> BatchRange {
        BatchRange {
            first_seq,
            last_seq,
            sealed_at_ms,
        }
    }

    const WINDOW: ForwardWindow = ForwardWindow {
        seqs: 1_000,
        seqs_per_second: 10_000,
    };

    #[test]
    fn positions_permit_and_deny() {
        let at = |last_seq| {
            Some(Position {
                last_seq,
                sealed_at_ms: 10_000,
            })
        };
        let now = 1_000_000;
        type Case = (
            &'static str,
            Option<Position>,
            BatchRange,
            Result<(), DenyReason>,
        );
        let cases: [Case; 12] = [
            ("first batch ever", None, range(1, 64, 10_000), Ok(())),
            (
                "first batch, any start",
                None,
                range(5_000_000, 5_000_063, 10_000),
                Ok(()),
            ),
            ("the next batch", at(64), range(65, 128, 10_001), Ok(())),
            (
                "a gap inside the window",
                at(64),
                range(1_065, 1_100, 10_000),
                Ok(()),
            ),
            (
                "replay of the same range",
                at(64),
                range(1, 64, 10_000),
                Err(DenyReason::FeedReplay),
            ),
            (
                "replay of an older range",
                at(128),
                range(1, 64, 9_000),
                Err(DenyReason::FeedReplay),
            ),
            (
                "ends at the last seq",
                at(64),
                range(60, 64, 10_000),
                Err(DenyReason::FeedReplay),
            ),
            (
                "rollback: overlaps",
                at(64),
                range(64, 100, 10_002),
                Err(DenyReason::FeedRollback),
            ),
            (
                "rollback: starts below",
                at(64),
                range(2, 200, 10_002),
                Err(DenyReason::FeedRollback),
            ),
            (
                "jump beyond the window",
                at(64),
                range(1_066, 1_100, 10_000),
                Err(DenyReason::FeedJump),
            ),
            (
                "a million ahead, same second",
                at(64),
                range(1_000_064, 1_000_064, 10_500),
                Err(DenyReason::FeedJump),
            ),
            (
                "a million ahead, 100 s later",
                at(64),
                range(1_000_064, 1_000_064, 110_000),
                Ok(()),
            ),
        ];
        for (what, last, batch, expected) in cases {
            assert_eq!(check_position(last, batch, now, WINDOW), expected, "{what}");
        }
    }

    #[test]
    fn a_seal_time_in_the_future_counts_as_now() {
        let last = Some(Position {
            last_seq: 10,
            sealed_at_ms: 1_000,
        });
        // 50,000 seqs skipped: 100 s after the last seal would allow it,
        // but now is only 1 s after it.
        let batch = range(50_011, 50_011, 101_000);
        assert_eq!(
            check_position(last, batch, 2_000, WINDOW),
            Err(DenyReason::FeedJump)
        );
        assert_eq!(check_position(last, batch, 101_000, WINDOW), Ok(()));
    }

    #[test]
    fn a_redelivered_accepted_batch_is_judged_again_not_as_a_replay() {
        let batch = range(1, 64, 10);
        let state = FeedState::default().accepted(7, batch, true);
        let state = state.accepted(9, range(65, 128, 11), false);
        assert_eq!(state.accepted_stream_seqs, vec![7, 9]);
        assert_eq!(state.judge(7, batch, 100, WINDOW), Judgement::Again);
        assert_eq!(
            state.judge(9, range(65, 128, 11), 100, WINDOW),
            Judgement::Again
        );
        // The same range at another stream sequence is a replay.
        assert_eq!(
            state.judge(12, batch, 100, WINDOW),
            Judgement::Refuse(DenyReason::FeedReplay)
        );
        // A batch refused in that cycle (stream seq 8) is refused again.
        assert_eq!(
            state.judge(8, batch, 100, WINDOW),
            Judgement::Refuse(DenyReason::FeedReplay)
        );
        // A new cycle starts its list afresh.
        let next = state.accepted(20, range(129, 130, 12), true);
        assert_eq!(next.accepted_stream_seqs, vec![20]);
        assert_eq!(next.decided_through, 20);
    }
}
