//! The subscriber side of every mesh run, and the exactly-once check.
//!
//! One GBR subscription per lane lives for the whole run (a new one would
//! start from the oldest stored message and see earlier runs' records
//! again). Its task takes each record as the SDK delivers it
//! (`Subscription::next_event`), notes the time, acknowledges it
//! (`Delivery::ack`) and passes it on. [`Deliveries`] checks each against
//! what its run registered: per feed, the exact seqs expected, in order.
//!
//! - A seq delivered twice, a seq not expected, or one delivered after a
//!   later one is a **duplicate/order error**; an expected seq never
//!   delivered (no progress for [`STALL`]) or jumped over is a **loss**;
//!   a delivery the SDK marks with a gap is a loss too. Any of them makes
//!   the benchmark exit non-zero.
//! - Records the SDK skipped (it de-duplicates) are counted by reason and
//!   reported, not errors: the application never saw them twice.
//!
//! It does not time publishing; runs do.
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use coalition_sdk::{Payload, Subscription, SubscriptionEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::payload::{alert_sent_us, now_us};

/// A run waits this long without a delivery before it counts what is still
/// missing as lost.
pub const STALL: Duration = Duration::from_secs(60);

/// One record as delivered.
#[derive(Debug)]
struct Seen {
    feed: String,
    seq: u64,
    at: Instant,
    gap: Option<(u64, u64)>,
    /// Delivery time minus the send time an alert carries, in µs.
    latency_us: Option<i64>,
    /// For an alert, the same split at the bridges' decisions (µs): send
    /// to USA's release decision, to GBR's admit decision, to delivery.
    hops_us: Option<[i64; 3]>,
}

enum Event {
    Delivery(Seen),
    Skipped(&'static str),
    Error(String),
}

/// Starts the task that drains `subscription`.
fn drain(mut subscription: Subscription, tx: mpsc::UnboundedSender<Event>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = subscription.next_event().await {
            let event = match event {
                Ok(SubscriptionEvent::Delivery(d)) => {
                    let received_us = now_us();
                    let at = Instant::now();
                    let sent_us = match &d.payload {
                        Payload::Alert(a) => alert_sent_us(a),
                        _ => None,
                    };
                    let latency_us = sent_us.map(|sent| received_us - sent);
                    let hops_us =
                        match (sent_us, d.lineage.released_at_ms, d.lineage.admitted_at_ms) {
                            (Some(sent), Some(released), Some(admitted)) => Some([
                                released * 1000 - sent,
                                (admitted - released) * 1000,
                                received_us - admitted * 1000,
                            ]),
                            _ => None,
                        };
                    let seen = Seen {
                        feed: d.feed.clone(),
                        seq: d.seq,
                        at,
                        gap: d.gap,
                        latency_us,
                        hops_us,
                    };
                    if let Err(e) = d.ack().await {
                        let _ = tx.send(Event::Error(format!("ack failed: {e}")));
                    }
                    Event::Delivery(seen)
                }
                Ok(SubscriptionEvent::Skipped(s)) => Event::Skipped(s.reason.as_str()),
                Err(e) => Event::Error(format!("subscription error: {e}")),
            };
            if tx.send(event).is_err() {
                return;
            }
        }
    })
}

/// What one feed is expected to deliver, and what it did.
#[derive(Debug, Default)]
struct FeedState {
    expected: Vec<u64>,
    next: usize,
    delivered: usize,
    last_at: Option<Instant>,
    latencies_us: Vec<i64>,
    /// The same latencies with their seqs, to compare per alert.
    seq_latencies_us: Vec<(u64, i64)>,
    hops_us: Vec<[i64; 3]>,
}

/// What a wait found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivered: usize,
    pub missing: usize,
    pub last_at: Option<Instant>,
    /// Alert latencies (µs) of the feeds waited for, in delivery order.
    pub latencies_us: Vec<i64>,
    /// (seq, latency in µs), in delivery order: which alert took how long.
    pub seq_latencies_us: Vec<(u64, i64)>,
    /// Their split at the bridges' decisions (see `Seen::hops_us`).
    pub hops_us: Vec<[i64; 3]>,
}

/// The deliveries of one subscription, checked.
pub struct Deliveries {
    rx: mpsc::UnboundedReceiver<Event>,
    feeds: HashMap<String, FeedState>,
    errors: Vec<String>,
    skipped: BTreeMap<&'static str, u64>,
    task: JoinHandle<()>,
}

impl Deliveries {
    /// Starts draining `subscription`.
    pub fn start(subscription: Subscription) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Deliveries {
            task: drain(subscription, tx),
            rx,
            feeds: HashMap::new(),
            errors: Vec::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Expect exactly `seqs` (increasing) on `feed`, in that order.
    pub fn expect(&mut self, feed: &str, seqs: Vec<u64>) {
        self.feeds.insert(
            feed.to_string(),
            FeedState {
                expected: seqs,
                ..FeedState::default()
            },
        );
    }

    /// Processes deliveries until every one of `feeds` has all it expects,
    /// or nothing arrives for [`STALL`] (what is missing then is lost).
    pub async fn wait(&mut self, feeds: &[String]) -> Outcome {
        let done = |me: &Self| {
            feeds
                .iter()
                .all(|f| me.feeds.get(f).is_none_or(|s| s.next >= s.expected.len()))
        };
        while !done(self) {
            match tokio::time::timeout(STALL, self.rx.recv()).await {
                Ok(Some(event)) => self.on_event(event),
                Ok(None) => {
                    self.errors
                        .push("the subscription ended before the run was delivered".into());
                    break;
                }
                Err(_) => break,
            }
        }
        let mut outcome = Outcome {
            delivered: 0,
            missing: 0,
            last_at: None,
            latencies_us: Vec::new(),
            seq_latencies_us: Vec::new(),
            hops_us: Vec::new(),
        };
        for f in feeds {
            let Some(s) = self.feeds.get_mut(f) else {
                continue;
            };
            let missing = s.expected.len().saturating_sub(s.next);
            if missing > 0 {
                self.errors.push(format!(
                    "lost: feed {f}: {missing} of {} records never delivered (from seq {})",
                    s.expected.len(),
                    s.expected[s.next]
                ));
                s.next = s.expected.len();
            }
            outcome.delivered += s.delivered;
            outcome.missing += missing;
            outcome.last_at = outcome.last_at.max(s.last_at);
            outcome.latencies_us.append(&mut s.latencies_us);
            outcome.seq_latencies_us.append(&mut s.seq_latencies_us);
            outcome.hops_us.append(&mut s.hops_us);
        }
        outcome
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Delivery(seen) => self.on_delivery(seen),
            Event::Skipped(reason) => *self.skipped.entry(reason).or_default() += 1,
            Event::Error(e) => self.errors.push(e),
        }
    }

    fn on_delivery(&mut self, seen: Seen) {
        let Some(s) = self.feeds.get_mut(&seen.feed) else {
            self.errors.push(format!(
                "unexpected: feed {} seq {} belongs to no run",
                seen.feed, seen.seq
            ));
            return;
        };
        s.delivered += 1;
        s.last_at = Some(seen.at);
        if let Some(l) = seen.latency_us {
            s.latencies_us.push(l);
            s.seq_latencies_us.push((seen.seq, l));
        }
        if let Some(h) = seen.hops_us {
            s.hops_us.push(h);
        }
        if let Some((a, b)) = seen.gap {
            self.errors.push(format!(
                "lost: feed {} seq {}: the SDK reports seqs {a}-{b} missing before it",
                seen.feed, seen.seq
            ));
        }
        match s.expected.get(s.next) {
            Some(&want) if want == seen.seq => s.next += 1,
            Some(&want) if seen.seq > want => match s.expected.binary_search(&seen.seq) {
                Ok(at) => {
                    self.errors.push(format!(
                        "lost or out of order: feed {} delivered seq {} while seq {want} was due ({} skipped)",
                        seen.feed,
                        seen.seq,
                        at - s.next
                    ));
                    s.next = at + 1;
                }
                Err(_) => self.errors.push(format!(
                    "unexpected: feed {} delivered seq {}, which was not published to GBR",
                    seen.feed, seen.seq
                )),
            },
            _ => self.errors.push(format!(
                "duplicate or out of order: feed {} delivered seq {} again or late",
                seen.feed, seen.seq
            )),
        }
    }

    /// Every error so far (loss, duplicate, order, subscription).
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Records the SDK skipped, by reason.
    pub fn skipped(&self) -> &BTreeMap<&'static str, u64> {
        &self.skipped
    }

    /// Stops the draining task.
    pub fn stop(self) {
        self.task.abort();
    }
}
