//! When to cut a batch: the pure rules, with time as an argument.
//!
//! A feed's records wait in a [`Pending`] batch until one of these holds:
//!
//! - it has [`Limits::max_records`] records, or the next record would take
//!   it past them;
//! - its records' encoded size reached [`Limits::max_bytes`], or the next
//!   record would take it past them (a record larger than the limit on its
//!   own is sealed alone: a batch always takes at least one record);
//! - the linger elapsed since its first record arrived;
//! - with a zero linger (alerts always), the feed has nothing in flight:
//!   what queued while the previous batch was sealed and published goes
//!   out together, and a lone record goes out at once.
//!
//! Nothing here does I/O or reads a clock.
use std::time::{Duration, Instant};

/// How large a batch may grow and how long its first record may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// At most this many records (1 to `coalition_core::batch::MAX_RECORDS`).
    pub max_records: usize,
    /// At most this many bytes of encoded records, unless one record alone
    /// is larger.
    pub max_bytes: usize,
    /// How long a batch's first record may wait for more; zero seals as
    /// soon as the feed has nothing in flight.
    pub linger: Duration,
}

/// The records of the batch being filled, with their total encoded size.
#[derive(Debug)]
pub(crate) struct Pending<T> {
    items: Vec<T>,
    bytes: usize,
    /// When the first record arrived.
    opened_at: Option<Instant>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            items: Vec::new(),
            bytes: 0,
            opened_at: None,
        }
    }
}

impl<T> Pending<T> {
    /// The first record waiting, if any.
    pub(crate) fn first(&self) -> Option<&T> {
        self.items.first()
    }

    /// Whether no record waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether a record of `size` bytes fits without breaking a limit (it
    /// always fits an empty batch).
    pub(crate) fn fits(&self, size: usize, limits: &Limits) -> bool {
        self.items.is_empty()
            || (self.items.len() < limits.max_records
                && self.bytes.saturating_add(size) <= limits.max_bytes)
    }

    /// Adds a record of `size` bytes that arrived at `now`. The caller
    /// checks [`Pending::fits`] first and cuts if it does not.
    pub(crate) fn push(&mut self, item: T, size: usize, now: Instant) {
        self.opened_at.get_or_insert(now);
        self.bytes = self.bytes.saturating_add(size);
        self.items.push(item);
    }

    /// Whether no further record can join.
    pub(crate) fn is_full(&self, limits: &Limits) -> bool {
        self.items.len() >= limits.max_records.max(1) || self.bytes >= limits.max_bytes
    }

    /// When the linger of the waiting records ends, if they wait for one.
    pub(crate) fn deadline(&self, limits: &Limits) -> Option<Instant> {
        if limits.linger.is_zero() {
            return None;
        }
        self.opened_at.map(|t| t + limits.linger)
    }

    /// Whether to cut now: something waits, and it is full, its linger is
    /// over, or (zero linger) the feed has nothing in flight (`idle`).
    pub(crate) fn is_due(&self, limits: &Limits, now: Instant, idle: bool) -> bool {
        if self.items.is_empty() {
            return false;
        }
        if self.is_full(limits) {
            return true;
        }
        match self.deadline(limits) {
            Some(deadline) => now >= deadline,
            None => idle,
        }
    }

    /// Takes the waiting records, leaving the batch empty.
    pub(crate) fn take(&mut self) -> Vec<T> {
        self.bytes = 0;
        self.opened_at = None;
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn limits(max_records: usize, max_bytes: usize, linger_ms: u64) -> Limits {
        Limits {
            max_records,
            max_bytes,
            linger: MS * linger_ms as u32,
        }
    }

    /// Feeds records of `sizes`, all at once, through the rules the feed
    /// task applies, and returns the sizes of each batch cut.
    fn split(sizes: &[usize], limits: &Limits) -> Vec<Vec<usize>> {
        let now = Instant::now();
        let mut pending = Pending::default();
        let mut batches = Vec::new();
        for &size in sizes {
            if !pending.fits(size, limits) {
                batches.push(pending.take());
            }
            pending.push(size, size, now);
            if pending.is_full(limits) {
                batches.push(pending.take());
            }
        }
        if !pending.is_empty() {
            batches.push(pending.take());
        }
        batches
    }

    #[test]
    fn batches_are_bounded_by_records_and_bytes() {
        type Case = (&'static str, Limits, Vec<usize>, Vec<Vec<usize>>);
        let cases: [Case; 6] = [
            (
                "records bound",
                limits(3, 1_000, 5),
                vec![10; 7],
                vec![vec![10; 3], vec![10; 3], vec![10]],
            ),
            (
                "bytes bound",
                limits(64, 100, 5),
                vec![40, 40, 40, 40],
                vec![vec![40, 40], vec![40, 40]],
            ),
            (
                "exactly the byte limit is full",
                limits(64, 100, 5),
                vec![50, 50, 1],
                vec![vec![50, 50], vec![1]],
            ),
            (
                "an oversized record goes alone",
                limits(64, 100, 5),
                vec![10, 500, 10],
                vec![vec![10], vec![500], vec![10]],
            ),
            (
                "one record per batch",
                limits(1, 1_000, 5),
                vec![1, 2, 3],
                vec![vec![1], vec![2], vec![3]],
            ),
            ("nothing", limits(8, 100, 5), vec![], vec![]),
        ];
        for (what, limits, sizes, expected) in cases {
            let batches = split(&sizes, &limits);
            assert_eq!(batches, expected, "{what}");
            for b in &batches {
                assert!(b.len() <= limits.max_records, "{what}: {b:?}");
                assert!(
                    b.len() == 1 || b.iter().sum::<usize>() <= limits.max_bytes,
                    "{what}: {b:?}"
                );
            }
        }
    }

    #[test]
    fn when_a_batch_is_due() {
        let t0 = Instant::now();
        // (what, limits, records, now - t0, idle, due)
        type Case = (&'static str, Limits, usize, u64, bool, bool);
        let cases: [Case; 9] = [
            (
                "empty is never due",
                limits(4, 1_000, 5),
                0,
                100,
                true,
                false,
            ),
            ("linger running", limits(4, 1_000, 5), 1, 4, true, false),
            ("linger over", limits(4, 1_000, 5), 1, 5, false, true),
            ("full before linger", limits(2, 1_000, 5), 2, 0, false, true),
            ("tracks ignore idle", limits(4, 1_000, 5), 1, 0, true, false),
            (
                "zero linger, busy feed",
                limits(4, 1_000, 0),
                1,
                0,
                false,
                false,
            ),
            (
                "zero linger, idle feed",
                limits(4, 1_000, 0),
                1,
                0,
                true,
                true,
            ),
            (
                "zero linger, busy but full",
                limits(2, 1_000, 0),
                2,
                0,
                false,
                true,
            ),
            (
                "zero linger, long busy",
                limits(4, 1_000, 0),
                3,
                60_000,
                false,
                false,
            ),
        ];
        for (what, limits, records, elapsed_ms, idle, due) in cases {
            let mut pending = Pending::default();
            for _ in 0..records {
                pending.push((), 1, t0);
            }
            let now = t0 + MS * elapsed_ms as u32;
            assert_eq!(pending.is_due(&limits, now, idle), due, "{what}");
        }
    }

    #[test]
    fn the_linger_runs_from_the_first_record() {
        let t0 = Instant::now();
        let l = limits(10, 1_000, 5);
        let mut pending = Pending::default();
        pending.push((), 1, t0);
        pending.push((), 1, t0 + 3 * MS);
        assert_eq!(pending.deadline(&l), Some(t0 + 5 * MS));
        pending.take();
        assert_eq!(pending.deadline(&l), None);
        pending.push((), 1, t0 + 9 * MS);
        assert_eq!(pending.deadline(&l), Some(t0 + 14 * MS));
        assert_eq!(pending.deadline(&limits(10, 1_000, 0)), None);
    }
}
