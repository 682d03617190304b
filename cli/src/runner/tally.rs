//! What the runner saw: every publish with the receivers it expects, every
//! delivery, and the bridges' denial counters; and the verdict.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// One message of one feed: a producer's seqs are counted per feed, so two
/// feeds of one producer have the same seqs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MsgKey {
    pub origin: String,
    pub producer: String,
    pub feed: String,
    pub seq: u64,
}

impl std::fmt::Display for MsgKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}#{}",
            self.origin, self.producer, self.feed, self.seq
        )
    }
}

/// Events from producers and subscribers.
#[derive(Debug)]
pub enum Event {
    /// A producer stored a message.
    Published {
        key: MsgKey,
        label: String,
        expected: BTreeSet<String>,
        /// (partner, reason) for every partner that should deny it.
        denials: Vec<(String, &'static str)>,
    },
    /// A subscriber received a verified delivery.
    Delivered {
        receiver: String,
        key: MsgKey,
        label: String,
    },
    /// A producer or subscriber failed.
    Failed { who: String, error: String },
}

/// Accumulated observations.
#[derive(Debug, Default)]
pub struct Tally {
    pub published: BTreeMap<MsgKey, (BTreeSet<String>, Instant)>,
    pub delivered: BTreeMap<(String, MsgKey), u32>,
    /// (origin, partner, reason) -> expected denial count.
    pub expected_denials: BTreeMap<(String, String, String), u64>,
    pub failures: Vec<String>,
    pub latencies_ms: Vec<f64>,
}

/// The verdict of a bounded run.
#[derive(Debug, Default)]
pub struct Verdict {
    pub expected: usize,
    pub delivered: usize,
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub duplicates: usize,
    pub denial_mismatches: Vec<String>,
    /// Deliveries of messages the runner did not publish (someone
    /// published by hand meanwhile): counted apart, not judged.
    pub by_hand: usize,
    /// Denials beyond what the runner's messages explain: messages
    /// published by hand, most likely. Reported, not failed (a runner
    /// message denied wrongly shows as missing).
    pub extra_denials: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.duplicates == 0
            && self.denial_mismatches.is_empty()
    }
}

impl Tally {
    /// Records an event; returns a line to print, if any.
    pub fn record(&mut self, event: Event, now: Instant) -> Option<String> {
        match event {
            Event::Published {
                key,
                label,
                expected,
                denials,
            } => {
                for (partner, reason) in denials {
                    *self
                        .expected_denials
                        .entry((key.origin.clone(), partner, reason.to_string()))
                        .or_default() += 1;
                }
                let to = if expected.is_empty() {
                    "nobody".to_string()
                } else {
                    expected.iter().cloned().collect::<Vec<_>>().join(", ")
                };
                let line = format!("{:<4} published {key} [{label}] -> {to}", key.origin);
                self.published.insert(key, (expected, now));
                Some(line)
            }
            Event::Delivered {
                receiver,
                key,
                label,
            } => {
                let latency = self
                    .published
                    .get(&key)
                    .map(|(_, at)| now.duration_since(*at).as_secs_f64() * 1000.0);
                if let Some(ms) = latency {
                    self.latencies_ms.push(ms);
                }
                let line = format!(
                    "{receiver:<4} received  {key} [{label}]{}",
                    latency.map_or(String::new(), |ms| format!(" {ms:.0} ms"))
                );
                *self.delivered.entry((receiver, key)).or_default() += 1;
                Some(line)
            }
            Event::Failed { who, error } => {
                let line = format!("ERROR {who}: {error}");
                self.failures.push(line.clone());
                Some(line)
            }
        }
    }

    /// Whether every expected delivery has arrived.
    pub fn complete(&self) -> bool {
        self.published.iter().all(|(key, (expected, _))| {
            expected
                .iter()
                .all(|r| self.delivered.contains_key(&(r.clone(), key.clone())))
        })
    }

    /// Compares what happened with what was expected; `denied` is the
    /// bridges' `(nation, partner, reason) -> count`.
    pub fn verdict(&self, denied: &BTreeMap<(String, String, String), u64>) -> Verdict {
        let mut v = Verdict::default();
        for (key, (expected, _)) in &self.published {
            for r in expected {
                v.expected += 1;
                if !self.delivered.contains_key(&(r.clone(), key.clone())) {
                    v.missing.push(format!("{r} never received {key}"));
                }
            }
        }
        for ((receiver, key), count) in &self.delivered {
            let Some((expected, _)) = self.published.get(key) else {
                v.by_hand += 1;
                continue;
            };
            v.delivered += 1;
            v.duplicates += (*count as usize).saturating_sub(1);
            if !expected.contains(receiver) {
                v.unexpected
                    .push(format!("{receiver} received {key} (not expected)"));
            }
        }
        let keys: BTreeSet<_> = self.expected_denials.keys().chain(denied.keys()).collect();
        for k in keys {
            let want = self.expected_denials.get(k).copied().unwrap_or(0);
            let got = denied.get(k).copied().unwrap_or(0);
            let line = format!(
                "{}->{} {}: bridge denied {got}, expected {want}",
                k.0, k.1, k.2
            );
            if got < want {
                v.denial_mismatches.push(line);
            } else if got > want {
                v.extra_denials.push(line);
            }
        }
        v
    }

    /// The latency percentile `p` (0..=100) in ms.
    pub fn latency_percentile(&self, p: f64) -> Option<f64> {
        let mut v = self.latencies_ms.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v.get(idx).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u64) -> MsgKey {
        feed_key("tracks", seq)
    }

    fn feed_key(feed: &str, seq: u64) -> MsgKey {
        MsgKey {
            origin: "USA".into(),
            producer: "p".into(),
            feed: feed.into(),
            seq,
        }
    }

    #[test]
    fn verdict_catches_missing_unexpected_duplicate_and_denial_mismatch() {
        let now = Instant::now();
        let mut t = Tally::default();
        t.record(
            Event::Published {
                key: key(1),
                label: "l".into(),
                expected: ["GBR".to_string()].into(),
                denials: vec![("FRA".into(), "caveat_forbids_release")],
            },
            now,
        );
        t.record(
            Event::Published {
                key: key(2),
                label: "l".into(),
                expected: BTreeSet::new(),
                denials: vec![],
            },
            now,
        );
        let denied: BTreeMap<_, _> = [(
            (
                "USA".to_string(),
                "FRA".to_string(),
                "caveat_forbids_release".to_string(),
            ),
            1u64,
        )]
        .into();
        assert!(!t.complete());
        assert!(!t.verdict(&denied).passed(), "missing delivery");
        t.record(
            Event::Delivered {
                receiver: "GBR".into(),
                key: key(1),
                label: "l".into(),
            },
            now,
        );
        assert!(t.complete());
        assert!(t.verdict(&denied).passed());
        assert!(
            !t.verdict(&BTreeMap::new()).passed(),
            "denial not counted by the bridge"
        );
        let mut more = denied.clone();
        more.values_mut().for_each(|n| *n += 2);
        let v = t.verdict(&more);
        assert!(v.passed(), "extra denials are reported, not failed");
        assert_eq!(v.extra_denials.len(), 1);
        t.record(
            Event::Delivered {
                receiver: "GBR".into(),
                key: key(1),
                label: "l".into(),
            },
            now,
        );
        assert_eq!(t.verdict(&denied).duplicates, 1);
        t.record(
            Event::Delivered {
                receiver: "FRA".into(),
                key: key(2),
                label: "l".into(),
            },
            now,
        );
        assert_eq!(t.verdict(&denied).unexpected.len(), 1);
    }

    #[test]
    fn two_feeds_of_one_producer_are_told_apart_and_hand_published_messages_are_counted_apart() {
        let now = Instant::now();
        let mut t = Tally::default();
        for feed in ["tracks", "tracks-2"] {
            t.record(
                Event::Published {
                    key: feed_key(feed, 1),
                    label: "l".into(),
                    expected: ["GBR".to_string()].into(),
                    denials: vec![],
                },
                now,
            );
        }
        t.record(
            Event::Delivered {
                receiver: "GBR".into(),
                key: feed_key("tracks", 1),
                label: "l".into(),
            },
            now,
        );
        assert!(!t.complete(), "the second feed's seq 1 is still owed");
        t.record(
            Event::Delivered {
                receiver: "GBR".into(),
                key: feed_key("tracks-2", 1),
                label: "l".into(),
            },
            now,
        );
        // Published by someone else, by hand: not the runner's to judge.
        t.record(
            Event::Delivered {
                receiver: "GBR".into(),
                key: feed_key("manual", 7),
                label: "l".into(),
            },
            now,
        );
        let v = t.verdict(&BTreeMap::new());
        assert!(t.complete());
        assert_eq!((v.expected, v.delivered, v.duplicates), (2, 2, 0));
        assert_eq!(v.by_hand, 1);
        assert!(v.passed(), "{v:?}");
    }
}
