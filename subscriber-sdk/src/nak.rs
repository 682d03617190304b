//! Handing a record back ([`crate::Delivery::nak`]): the record, and every
//! record after it on its feed, is delivered again after a delay, in feed
//! order.
//!
//! A nak cannot simply put one record back: a batch message carries many
//! records and the subscription delivers each feed in order, exactly once.
//! So a nak of record `k` of message `M`:
//!
//! 1. puts a [`Hold`] on the feed (`k`, `M`'s place in its stream, until
//!    when), through the subscription's [`NakInbox`], *before* the server
//!    hears of it, so a redelivery can never overtake the hold;
//! 2. naks `M` on the server with the delay (its records acknowledged
//!    before stay counted; `M` itself is never acknowledged by them now);
//! 3. the subscription then rewinds the feed to `k - 1`, drops the feed's
//!    deliveries it had queued from `k` on (naking their messages too), and
//!    naks every later message of the feed that arrives while the hold
//!    lasts ([`judge`]);
//! 4. when `M` comes back after the delay, the hold is released: its
//!    records before `k` are skipped as redelivered, and `k` and what
//!    follows are delivered again. A later message that arrives before `M`
//!    is naked again for a moment, or, if it overtakes a message, the gap
//!    replay from INBOUND puts the feed back in order
//!    ([`crate::continuity`]).
//!
//! If `M` never comes back (terminated meanwhile, or acknowledged by
//! another subscriber sharing the durable name), the hold ends
//! [`WAIT_FOR_HELD`] after its delay and the gap replay takes over from
//! `k - 1`.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::continuity::FeedKey;

/// How long after its delay a hold waits for its message before the feed
/// goes on without it (the consumer's ack wait).
pub(crate) const WAIT_FOR_HELD: Duration = Duration::from_secs(30);

/// How soon a later message that arrived after the delay, but before the
/// held one, is offered again.
pub(crate) const RETRY_LATER: Duration = Duration::from_millis(250);

/// A held message that comes back this much before its delay is over
/// (clocks of client and server differ by the nak's trip) is taken.
const EARLY: Duration = Duration::from_millis(20);

/// A feed handed back from `from_seq` on: nothing of it is delivered
/// until the message that carried `from_seq` comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hold {
    /// The record handed back.
    pub from_seq: u64,
    /// The lane (INBOUND stream) of its message.
    pub lane: usize,
    /// Its message's place in that stream.
    pub stream_seq: u64,
    /// Not before then.
    pub until: Instant,
}

impl Hold {
    /// Of two holds on one feed, the one to keep: the earlier record wins
    /// (everything after it comes again anyway).
    pub(crate) fn merge(self, other: Hold) -> Hold {
        if other.from_seq < self.from_seq {
            other
        } else {
            self
        }
    }
}

/// What to do with a message of a held feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not concerned by the hold: process it as usual.
    Deliver,
    /// The held message is back (or will not come): end the hold, then
    /// process it as usual.
    Release,
    /// Too early: nak it again with this delay, deliver nothing of it.
    NakAgain(Duration),
}

/// What to do with the message at `stream_seq` of `lane`, of a feed held
/// by `hold`, at `now`. Pure.
pub(crate) fn judge(hold: &Hold, lane: usize, stream_seq: u64, now: Instant) -> Verdict {
    if lane != hold.lane || stream_seq < hold.stream_seq {
        // Another lane, or an earlier message: its records are at or below
        // the rewound position, skipped as usual.
        return Verdict::Deliver;
    }
    let left = hold.until.saturating_duration_since(now);
    if stream_seq == hold.stream_seq {
        return if left <= EARLY {
            Verdict::Release
        } else {
            Verdict::NakAgain(left)
        };
    }
    if now >= hold.until + WAIT_FOR_HELD {
        return Verdict::Release;
    }
    Verdict::NakAgain(left.max(RETRY_LATER))
}

/// Where a delivery's nak goes: its feed, its message's place, and the
/// inbox of the subscription that delivered it.
#[derive(Debug, Clone)]
pub(crate) struct NakHandle {
    pub key: FeedKey,
    pub lane: usize,
    pub stream_seq: u64,
    pub inbox: NakInbox,
}

impl NakHandle {
    /// Posts the hold for record `seq`, `delay` from now.
    pub(crate) fn hold(&self, seq: u64, delay: Duration) {
        self.inbox.post(
            self.key.clone(),
            Hold {
                from_seq: seq,
                lane: self.lane,
                stream_seq: self.stream_seq,
                until: Instant::now() + delay,
            },
        );
    }
}

/// Holds posted by deliveries, not yet taken up by their subscription.
#[derive(Debug, Clone, Default)]
pub(crate) struct NakInbox(Arc<Mutex<HashMap<FeedKey, Hold>>>);

impl NakInbox {
    fn post(&self, key: FeedKey, hold: Hold) {
        let mut posted = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let merged = match posted.remove(&key) {
            Some(before) => before.merge(hold),
            None => hold,
        };
        posted.insert(key, merged);
    }

    /// Takes every hold posted since the last call.
    pub(crate) fn take(&self) -> HashMap<FeedKey, Hold> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_feed_lets_through_only_what_keeps_its_order() {
        let t0 = Instant::now();
        let hold = Hold {
            from_seq: 5,
            lane: 0,
            stream_seq: 10,
            until: t0 + Duration::from_secs(2),
        };
        let s = Duration::from_secs;
        // (what, lane, stream seq, now, verdict)
        let cases: [(&str, usize, u64, Instant, Verdict); 9] = [
            ("another lane", 1, 12, t0, Verdict::Deliver),
            ("an earlier message", 0, 9, t0, Verdict::Deliver),
            ("the held one, early", 0, 10, t0, Verdict::NakAgain(s(2))),
            ("the held one, on time", 0, 10, t0 + s(2), Verdict::Release),
            (
                "the held one, a hair early",
                0,
                10,
                t0 + s(2) - Duration::from_millis(5),
                Verdict::Release,
            ),
            ("a later one, early", 0, 11, t0, Verdict::NakAgain(s(2))),
            (
                "a later one, after the delay",
                0,
                11,
                t0 + s(3),
                Verdict::NakAgain(RETRY_LATER),
            ),
            (
                "a later one, the held one lost",
                0,
                11,
                t0 + s(2) + WAIT_FOR_HELD,
                Verdict::Release,
            ),
            ("the held one, late", 0, 10, t0 + s(60), Verdict::Release),
        ];
        for (what, lane, stream_seq, now, verdict) in cases {
            assert_eq!(judge(&hold, lane, stream_seq, now), verdict, "{what}");
        }
    }

    #[test]
    fn the_earlier_record_handed_back_governs_its_feed() {
        let t = Instant::now();
        let hold = |from_seq, stream_seq| Hold {
            from_seq,
            lane: 0,
            stream_seq,
            until: t,
        };
        assert_eq!(hold(7, 3).merge(hold(5, 2)), hold(5, 2));
        assert_eq!(hold(5, 2).merge(hold(7, 3)), hold(5, 2));
        assert_eq!(hold(5, 2).merge(hold(5, 2)), hold(5, 2));
    }
}
