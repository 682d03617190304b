//! The producer side of the mesh runs: tracks on several feeds at once,
//! either as fast as the SDK takes them ([`Until::Records`]) or at a set
//! rate ([`Until::Paced`]), and alerts at a set rate.
//!
//! Every record goes through `Producer::send` (`Record::track`, `Record::alert`)
//! (enqueued; the SDK batches, seals and publishes), and every receipt is
//! awaited before a run counts as published. Receipts must give each feed
//! the seqs 1, 2, 3, ... in order (every run uses fresh feeds); anything
//! else is an error, because the delivery check expects exactly those.
use std::sync::Arc;
use std::time::{Duration, Instant};

use coalition_sdk::{Label, PendingReceipt, Producer, TrackV1};

use crate::payload::{alert, now_us, track_of_size};
use crate::Failure;

/// Distinct tracks cycled through per feed (built before the clock starts;
/// enough that a repeat is far apart for the leaf link's compression).
const TRACK_POOL: usize = 1024;

/// What a feed's publisher did.
#[derive(Debug, Clone)]
pub struct FeedPublished {
    pub feed: String,
    /// How many records were enqueued (seqs 1..=records).
    pub records: u64,
    /// When the last receipt came back.
    pub stored_at: Instant,
}

/// When to stop a feed.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many records, enqueued as fast as the SDK takes them.
    Records(u64),
    /// After this long, at `per_second` records per second.
    Paced { per_second: f64, for_: Duration },
}

/// Publishes tracks of `size` bytes on every feed in `feeds` at once;
/// record k (0-based, seq k + 1) of a feed is labelled `labels[k %
/// labels.len()]`. Returns once every receipt is in.
pub async fn tracks(
    producer: Arc<Producer>,
    feeds: Vec<String>,
    size: usize,
    until: Until,
    labels: Vec<Label>,
) -> Result<Vec<FeedPublished>, Failure> {
    if labels.is_empty() {
        return Err("no labels to publish with".into());
    }
    let pool: Arc<Vec<TrackV1>> = Arc::new(
        (0..TRACK_POOL as u64)
            .map(|i| track_of_size(size, i))
            .collect(),
    );
    let labels = Arc::new(labels);
    let until = match until {
        Until::Paced { per_second, for_ } => Until::Paced {
            per_second: per_second / feeds.len() as f64,
            for_,
        },
        other => other,
    };
    let mut tasks = Vec::new();
    for feed in &feeds {
        let (producer, pool, feed, labels) =
            (producer.clone(), pool.clone(), feed.clone(), labels.clone());
        tasks.push(tokio::spawn(async move {
            let pending = enqueue(until, |k| {
                let (producer, pool, feed, labels) = (&producer, &pool, &feed, &labels);
                async move {
                    let track = &pool[(k % TRACK_POOL as u64) as usize];
                    let label = &labels[(k % labels.len() as u64) as usize];
                    producer
                        .send(feed, coalition_sdk::Record::track(label, track))
                        .await
                }
            })
            .await?;
            settle(feed, pending, 1).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// Publishes alerts on `feed`, each carrying its send time, at
/// `per_second` for `for_`; returns once every receipt is in. The feed
/// has stored `first_seq - 1` records before.
pub async fn alerts(
    producer: Arc<Producer>,
    feed: String,
    label: Label,
    per_second: f64,
    for_: Duration,
    first_seq: u64,
) -> Result<FeedPublished, Failure> {
    let pending = enqueue(Until::Paced { per_second, for_ }, |k| {
        let (producer, label, feed) = (&producer, &label, &feed);
        async move {
            let a = alert(k, now_us());
            producer
                .send(feed, coalition_sdk::Record::alert(label, &a))
                .await
        }
    })
    .await?;
    settle(feed, pending, first_seq).await
}

/// Calls `send(k)` for k = 0, 1, ... as `until` says; returns the receipts.
async fn enqueue<F, Fut>(until: Until, mut send: F) -> Result<Vec<PendingReceipt>, Failure>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<PendingReceipt, coalition_sdk::SdkError>>,
{
    let mut pending = Vec::new();
    match until {
        Until::Records(n) => {
            for k in 0..n {
                pending.push(send(k).await?);
            }
        }
        Until::Paced { per_second, for_ } => {
            let start = tokio::time::Instant::now();
            let every = Duration::from_secs_f64(1.0 / per_second.max(1e-3));
            let mut k = 0u64;
            loop {
                let due = start + every.mul_f64(k as f64);
                if due.duration_since(start) >= for_ {
                    break;
                }
                tokio::time::sleep_until(due).await;
                pending.push(send(k).await?);
                k += 1;
            }
        }
    }
    Ok(pending)
}

/// Awaits every receipt and checks the feed got seqs first_seq.. in order.
async fn settle(
    feed: String,
    pending: Vec<PendingReceipt>,
    first_seq: u64,
) -> Result<FeedPublished, Failure> {
    let records = pending.len() as u64;
    for (k, p) in pending.into_iter().enumerate() {
        let receipt = p.await?;
        let want = k as u64 + first_seq;
        if receipt.seq != want {
            return Err(format!(
                "feed {feed}: record {k} was stored as seq {}, not {want} (the feed was not fresh?)",
                receipt.seq
            )
            .into());
        }
    }
    Ok(FeedPublished {
        feed,
        records,
        stored_at: Instant::now(),
    })
}
