//! The order gate: a stage processes its source stream strictly in stream
//! sequence order, with no holes.
//!
//! Why: a pull request that was in flight when a leaf link (or a client
//! connection) died still has messages assigned to it; JetStream redelivers
//! them only after the ack wait, while later messages go to the next
//! request. Without the gate those later messages would overtake them, and
//! a feed would be delivered out of order. The stage's consumer reads the
//! whole stream unfiltered, so stream sequences are contiguous and any hole
//! is a message still to come (or, rarely, one that aged out of or was
//! deleted from the stream, which [`Gate::skip_to`] records).
//!
//! Pure: no clock, no I/O. The caller offers what arrives and takes what is
//! ready.
use std::collections::BTreeMap;

/// The most batches a stage pulls from its consumer, and takes from its
/// gate, at once.
pub(crate) const MAX_BATCH: usize = 256;

/// What happened to an offered message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer<T> {
    /// Already processed (a redelivery): acknowledge it, do nothing else.
    Stale(T),
    /// Kept until it is next in line (a redelivery of a held message
    /// replaces the older copy, which is returned to be dropped).
    Held(Option<T>),
}

/// Holds early messages until the one before them has been processed.
#[derive(Debug)]
pub(crate) struct Gate<T> {
    expected: u64,
    held: BTreeMap<u64, T>,
}

impl<T> Gate<T> {
    /// A gate expecting stream sequence `expected` next.
    pub(crate) fn new(expected: u64) -> Self {
        Gate {
            expected: expected.max(1),
            held: BTreeMap::new(),
        }
    }

    /// The next sequence to process.
    pub(crate) fn expected(&self) -> u64 {
        self.expected
    }

    /// How many messages wait for an earlier one.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

    /// The lowest sequence held, if any.
    pub(crate) fn first_held(&self) -> Option<u64> {
        self.held.keys().next().copied()
    }

    /// Offers the message with stream sequence `seq`.
    pub(crate) fn offer(&mut self, seq: u64, item: T) -> Offer<T> {
        if seq < self.expected {
            return Offer::Stale(item);
        }
        Offer::Held(self.held.insert(seq, item))
    }

    /// Removes and returns the messages that are next in line, in order,
    /// without advancing: call [`Gate::processed`] once they are stored.
    #[cfg(test)]
    pub(crate) fn take_ready(&mut self) -> Vec<(u64, T)> {
        let mut ready = Vec::new();
        let mut next = self.expected;
        while let Some(item) = self.held.remove(&next) {
            ready.push((next, item));
            next += 1;
        }
        ready
    }

    /// Like [`Gate::take_ready`], but at most `max` messages, and only while
    /// `admit` says yes (a rate limit): the rest stay held, in order.
    pub(crate) fn take_ready_while(
        &mut self,
        max: usize,
        mut admit: impl FnMut(u64, &T) -> bool,
    ) -> Vec<(u64, T)> {
        let mut ready = Vec::new();
        let mut next = self.expected;
        while ready.len() < max {
            match self.held.get(&next) {
                Some(item) if admit(next, item) => {}
                _ => break,
            }
            if let Some(item) = self.held.remove(&next) {
                ready.push((next, item));
            }
            next += 1;
        }
        ready
    }

    /// How many messages are next in line (counting at most `limit`).
    pub(crate) fn ready_len(&self, limit: usize) -> usize {
        (self.expected..)
            .take(limit)
            .take_while(|s| self.held.contains_key(s))
            .count()
    }

    /// Records that everything up to and including `seq` is processed.
    pub(crate) fn processed(&mut self, seq: u64) {
        self.expected = self.expected.max(seq + 1);
    }

    /// The stream no longer holds anything below `first_seq` (it aged
    /// out): stop waiting for it. Returns how many sequences were skipped.
    pub(crate) fn skip_to(&mut self, first_seq: u64) -> u64 {
        if first_seq <= self.expected {
            return 0;
        }
        let skipped = first_seq - self.expected;
        self.expected = first_seq;
        skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(v: Vec<(u64, &str)>) -> Vec<u64> {
        v.into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn in_order_messages_pass_straight_through() {
        let mut g = Gate::new(1);
        assert_eq!(g.offer(1, "a"), Offer::Held(None));
        assert_eq!(g.offer(2, "b"), Offer::Held(None));
        assert_eq!(seqs(g.take_ready()), vec![1, 2]);
        g.processed(2);
        assert_eq!(g.expected(), 3);
    }

    #[test]
    fn a_hole_holds_everything_after_it_until_filled() {
        let mut g = Gate::new(1);
        g.offer(1, "a");
        assert_eq!(seqs(g.take_ready()), vec![1]);
        g.processed(1);
        g.offer(4, "d");
        g.offer(5, "e");
        assert!(g.take_ready().is_empty(), "2 and 3 are missing");
        assert_eq!(g.held(), 2);
        g.offer(3, "c");
        assert!(g.take_ready().is_empty());
        g.offer(2, "b");
        assert_eq!(seqs(g.take_ready()), vec![2, 3, 4, 5]);
        g.processed(5);
        assert_eq!(g.held(), 0);
    }

    #[test]
    fn redeliveries_of_processed_messages_are_stale() {
        let mut g = Gate::new(1);
        g.offer(1, "a");
        g.take_ready();
        g.processed(1);
        assert_eq!(g.offer(1, "a again"), Offer::Stale("a again"));
    }

    #[test]
    fn a_redelivery_of_a_held_message_replaces_it() {
        let mut g = Gate::new(1);
        g.offer(2, "old");
        assert_eq!(g.offer(2, "new"), Offer::Held(Some("old")));
        g.offer(1, "a");
        assert_eq!(g.take_ready(), vec![(1, "a"), (2, "new")]);
    }

    #[test]
    fn failed_processing_does_not_advance() {
        let mut g = Gate::new(7);
        g.offer(7, "x");
        assert_eq!(seqs(g.take_ready()), vec![7]);
        // Not processed: the redelivery is accepted again.
        assert_eq!(g.offer(7, "x"), Offer::Held(None));
        assert_eq!(seqs(g.take_ready()), vec![7]);
    }

    #[test]
    fn aged_out_messages_are_skipped_and_counted() {
        let mut g = Gate::new(3);
        g.offer(10, "j");
        assert!(g.take_ready().is_empty());
        assert_eq!(g.skip_to(10), 7);
        assert_eq!(seqs(g.take_ready()), vec![10]);
        assert_eq!(g.skip_to(5), 0, "never moves backwards");
    }

    #[test]
    fn take_ready_while_stops_at_the_limit_the_first_refusal_or_a_hole() {
        let mut g = Gate::new(1);
        for (s, m) in [(1, "a"), (2, "b"), (3, "c"), (5, "e")] {
            g.offer(s, m);
        }
        assert_eq!(g.ready_len(10), 3);
        assert_eq!(g.ready_len(2), 2);
        assert_eq!(seqs(g.take_ready_while(1, |_, _| true)), vec![1]);
        g.processed(1);
        assert_eq!(seqs(g.take_ready_while(9, |_, m| *m != "c")), vec![2]);
        g.processed(2);
        assert!(g.take_ready_while(9, |_, _| false).is_empty(), "refused");
        assert_eq!(g.held(), 2, "c and e still held");
        assert_eq!(
            seqs(g.take_ready_while(9, |_, _| true)),
            vec![3],
            "4 is missing"
        );
    }

    #[test]
    fn starts_at_one_at_least() {
        assert_eq!(Gate::<()>::new(0).expected(), 1);
    }
}
