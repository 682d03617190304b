//! The chaos tests' ledger: every delivery recorded in a bitset keyed by
//! (origin, producer, feed, seq), with duplicates, out-of-order deliveries,
//! the gaps the SDK reported and the deliveries that came from a gap
//! replay. Tests judge by it, never by totals.
use std::collections::BTreeMap;

/// (origin, producer, feed).
pub type FeedKey = (String, String, String);

/// USA's `radar-1` track feed, the one the chaos tests use.
pub fn feed() -> FeedKey {
    ("USA".into(), "radar-1".into(), "tracks".into())
}

/// Seen deliveries per feed.
#[derive(Default, Debug)]
pub struct Ledger {
    seen: BTreeMap<FeedKey, Vec<bool>>,
    /// Distinct seqs seen per feed, kept as they come (a wait asks for it
    /// after every delivery).
    distinct: BTreeMap<FeedKey, usize>,
    last: BTreeMap<FeedKey, u64>,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// (seq, gap) of every delivery the SDK reported a gap on.
    pub gaps: Vec<(u64, (u64, u64))>,
    /// Deliveries that came from a gap replay.
    pub replayed: u64,
}

impl Ledger {
    pub fn record(&mut self, d: &coalition_sdk::Delivery) {
        let key = (d.origin.clone(), d.producer_id.clone(), d.feed.clone());
        let bits = self.seen.entry(key.clone()).or_default();
        let i = d.seq as usize;
        if bits.len() <= i {
            bits.resize(i + 1, false);
        }
        if bits[i] {
            self.duplicates += 1;
        } else {
            *self.distinct.entry(key.clone()).or_default() += 1;
        }
        bits[i] = true;
        if self.last.get(&key).is_some_and(|l| *l >= d.seq) {
            self.out_of_order += 1;
        }
        self.last.insert(key, d.seq);
        if let Some(gap) = d.gap {
            self.gaps.push((d.seq, gap));
        }
        self.replayed += u64::from(d.replayed);
    }

    pub fn has(&self, feed: &FeedKey, seq: u64) -> bool {
        self.seen
            .get(feed)
            .and_then(|b| b.get(seq as usize).copied())
            .unwrap_or(false)
    }

    /// How many distinct seqs of `feed` were delivered.
    pub fn count(&self, feed: &FeedKey) -> usize {
        self.distinct.get(feed).copied().unwrap_or(0)
    }

    /// Whether every seq of `seqs` was delivered on `feed`. Cheap until
    /// enough distinct seqs arrived to cover them, so a wait can ask after
    /// every delivery (asking `missing` each time made a 50,000-record wait
    /// quadratic: it, not the mesh, took 26-47 s to catch up after a cut).
    pub fn has_all(&self, feed: &FeedKey, seqs: std::ops::RangeInclusive<u64>) -> bool {
        let want = (seqs.end() + 1).saturating_sub(*seqs.start()) as usize;
        self.count(feed) >= want && self.missing(feed, seqs).is_empty()
    }

    /// The seqs of `seqs` never delivered on `feed`.
    pub fn missing(&self, feed: &FeedKey, seqs: impl IntoIterator<Item = u64>) -> Vec<u64> {
        seqs.into_iter().filter(|s| !self.has(feed, *s)).collect()
    }
}
