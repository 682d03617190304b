//! The producer side: records are batched per feed, sealed with the
//! producer's ML-DSA key (one signature per batch, off the async runtime)
//! and published to the nation's OUTBOUND stream of their kind, where the
//! bridge picks them up.
//!
//! # Guarantees
//!
//! - **Sequence numbers** are per feed, start at 1 and continue across
//!   restarts: before its first batch on a feed the producer reads the last
//!   batch stored on the feed's subject in OUTBOUND and the bridge's
//!   position of the feed in POSITIONS, and continues at the higher last
//!   seq + 1 (docs/wire-contract.md).
//! - **One writer per feed**: the producer takes the feed in HOME's
//!   `FEED_WRITERS` bucket first and renews it while it writes; a second
//!   writer gets [`SdkError::FeedHeld`] until the first stops (or died more
//!   than 10 s ago).
//! - **Order**: a feed's batches are published one at a time, in seq order:
//!   batch k+1 is sent only once the stream stored batch k. Sealing runs
//!   ahead, so consecutive batches are signed in parallel.
//! - **No seq is reused**: a seq is consumed once it is sealed into a
//!   batch, and that batch is only ever published with the same bytes (the
//!   same `Nats-Msg-Id`, `<origin>.<producer>.<feed>.<first>-<last>`, so
//!   JetStream absorbs a copy it already stored).
//! - **Failures**: if a batch is not stored, its records' receipts fail,
//!   and so do those of every later batch of the feed not yet stored. The
//!   SDK keeps those batches and publishes them again, first, on the next
//!   publish or [`Producer::flush`] of that feed, after checking what the
//!   stream already holds. Do not publish their records again. A batch still
//!   unstored when the producer is closed (and its last flush failed) is
//!   not published; its seqs are then used again by the next batch.
//! - **Receipts**: [`Producer::publish`] returns once the record's batch is
//!   stored; [`Producer::send`] returns a [`PendingReceipt`] as soon as the
//!   record is enqueued.
//!
//! # Batching
//!
//! A batch holds up to [`ProducerOptions::max_batch_records`] records and
//! [`ProducerOptions::max_batch_bytes`] bytes of encoded records; a track
//! waits at most [`ProducerOptions::linger`] for others to join it. Alerts
//! never wait: an alert is sealed as soon as its feed has nothing in flight,
//! together with whatever queued while the previous batch was sealed and
//! published. At most [`ProducerOptions::in_flight_batches`] batches per
//! producer are being sealed or published; beyond that, enqueueing waits.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_nats::jetstream::{self, kv};
use coalition_core::envelope::{MessageType, ProducerIdentity};
use coalition_topology::subjects;
use tokio::sync::{oneshot, Semaphore};

mod batcher;
mod feed;
mod item;
mod lease;
mod options;
mod outbound;
mod publisher;
mod receipt;
mod record;

use batcher::Limits;
use feed::{Command, FeedHandle};
use item::Item;
pub use options::ProducerOptions;
pub use receipt::{PendingReceipt, PublishReceipt};
pub use record::Record;

use crate::schema_watch::SchemaWatch;
use crate::{lane, SdkError};

/// What a producer's feed tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    js: jetstream::Context,
    identity: Arc<ProducerIdentity>,
    /// The limits of track batches; alerts use them with no linger.
    limits: Limits,
    /// The producer's in-flight window: one permit per batch being sealed
    /// or published.
    window: Arc<Semaphore>,
    /// HOME's `FEED_WRITERS` bucket.
    writers: kv::Store,
    /// How this producer describes itself in the writers bucket.
    writer: String,
}

impl Shared {
    fn limits(&self, kind: MessageType) -> Limits {
        match kind {
            MessageType::Track => self.limits,
            MessageType::Alert => Limits {
                linger: std::time::Duration::ZERO,
                ..self.limits
            },
        }
    }
}

/// A connected producer. Its methods take `&self`: share it between tasks
/// (for example in an `Arc`). Each feed is batched by a task of its own.
#[derive(Debug)]
pub struct Producer {
    shared: Arc<Shared>,
    /// The running feed tasks, by feed name.
    feeds: Mutex<HashMap<String, FeedHandle>>,
    /// The nation's schema policies, if followed ([`ProducerOptions::nation_root`]).
    schemas: Option<SchemaWatch>,
}

impl Producer {
    /// Publishes `record` on `feed` and waits until its batch is stored.
    ///
    /// ```no_run
    /// # async fn demo(producer: coalition_sdk::Producer) -> Result<(), coalition_sdk::SdkError> {
    /// use coalition_sdk::{Label, Record, TrackV1};
    /// let label = Label::new("USA", "SECRET", &["GBR"]);
    /// let receipt = producer.publish("tracks", Record::track(&label, &TrackV1::default())).await?;
    /// println!("seq {}", receipt.seq);
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, feed: &str, record: Record) -> Result<PublishReceipt, SdkError> {
        self.send(feed, record).await?.await
    }

    /// Enqueues `record` on `feed`; await the [`PendingReceipt`] for its
    /// receipt. Waits only while the producer's in-flight window is full.
    pub async fn send(&self, feed: &str, record: Record) -> Result<PendingReceipt, SdkError> {
        self.enqueue(record.kind, feed, record.item).await
    }

    /// Publishes many records on `feed`: enqueues them all, then waits
    /// until all are stored. Receipts come back in order. On an error, the
    /// first error is returned once every record's fate is known; records
    /// before the failed batch are stored, and the failed batches are
    /// published again first on the feed's next publish or flush.
    pub async fn publish_all(
        &self,
        feed: &str,
        records: Vec<Record>,
    ) -> Result<Vec<PublishReceipt>, SdkError> {
        let mut pending = Vec::new();
        for record in records {
            pending.push(self.send(feed, record).await?);
        }
        let mut receipts = Vec::with_capacity(pending.len());
        let mut first_error = None;
        for p in pending {
            match p.await {
                Ok(r) => receipts.push(r),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(receipts),
        }
    }

    /// Seals and publishes everything enqueued so far on every feed (without
    /// waiting for a linger) and waits until it is stored; batches kept
    /// after a failure are published again first.
    pub async fn flush(&self) -> Result<(), SdkError> {
        self.tell_every_feed(Command::Flush).await
    }

    /// Flushes every feed, releases them in the writers bucket (so another
    /// writer may take them at once) and disconnects. Dropping a producer
    /// does the same in the background, as far as the runtime lets it.
    pub async fn close(self) -> Result<(), SdkError> {
        self.tell_every_feed(Command::Close).await
    }

    /// Sends every running feed task a command and waits for all replies;
    /// returns the first error. A task that stopped has failed its
    /// receipts already.
    async fn tell_every_feed(
        &self,
        command: fn(oneshot::Sender<Result<(), SdkError>>) -> Command,
    ) -> Result<(), SdkError> {
        let mut replies = Vec::new();
        for tx in self.senders() {
            let (reply, rx) = oneshot::channel();
            if tx.send(command(reply)).await.is_ok() {
                replies.push(rx);
            }
        }
        let mut result = Ok(());
        for rx in replies {
            if let Ok(Err(e)) = rx.await {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }

    /// The producer's id.
    pub fn producer_id(&self) -> &str {
        &self.shared.identity.producer_id
    }

    fn senders(&self) -> Vec<tokio::sync::mpsc::Sender<Command>> {
        self.feeds().values().map(|h| h.tx.clone()).collect()
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<String, FeedHandle>> {
        self.feeds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check_schema(&self, kind: MessageType, version: u32) -> Result<(), SdkError> {
        match &self.schemas {
            Some(schemas) => schemas.check(kind, version),
            None => Ok(()),
        }
    }

    /// Enqueues one record on its feed's task, starting the task if needed.
    async fn enqueue(
        &self,
        kind: MessageType,
        feed: &str,
        mut item: Item,
    ) -> Result<PendingReceipt, SdkError> {
        self.check_schema(kind, item.schema_version)?;
        if kind == MessageType::Alert {
            item.topic = Some(item.alert_topic()?);
        }
        let subject = subjects::outbound(
            lane(kind),
            &self.shared.identity.producer_id,
            feed,
            item.topic.as_ref(),
        );
        let (receipt, pending) = PendingReceipt::new(subject);
        let mut command = Command::Record { item, receipt };
        // A task that stopped (its feed could not be taken, or its hold was
        // lost) is replaced once: the new one takes the feed afresh.
        for _attempt in 0..2 {
            let tx = self.feed_sender(kind, feed)?;
            match tx.send(command).await {
                Ok(()) => return Ok(pending),
                Err(returned) => command = returned.0,
            }
        }
        Err(SdkError::Publish {
            source: None,
            subject: pending.subject,
            detail: "the feed's task stopped twice in a row; see the errors returned before".into(),
        })
    }

    /// The channel of `feed`'s task, started if there is none (or it stopped).
    fn feed_sender(
        &self,
        kind: MessageType,
        feed: &str,
    ) -> Result<tokio::sync::mpsc::Sender<Command>, SdkError> {
        let mut feeds = self.feeds();
        if let Some(handle) = feeds.get(feed) {
            if handle.kind != kind {
                return Err(SdkError::InvalidFeed {
                    feed: feed.to_string(),
                    detail: format!(
                        "this producer publishes {}s on it; a feed carries one kind, so publish {}s on a feed of their own",
                        handle.kind.as_str(),
                        kind.as_str()
                    ),
                });
            }
            if !handle.tx.is_closed() {
                return Ok(handle.tx.clone());
            }
        }
        if !subjects::is_token(feed) {
            return Err(SdkError::InvalidFeed {
                feed: feed.to_string(),
                detail: "a feed name is letters, digits, - and _ only".into(),
            });
        }
        let handle = feed::spawn(self.shared.clone(), kind, feed);
        let tx = handle.tx.clone();
        feeds.insert(feed.to_string(), handle);
        Ok(tx)
    }
}
