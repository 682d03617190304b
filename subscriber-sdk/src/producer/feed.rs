//! A feed's task: it owns the feed's batching. Records arrive over a
//! bounded channel; the task cuts them into batches ([`super::batcher`]),
//! gives each the next seqs, seals it on the blocking pool and hands it to
//! the feed's [`Publisher`] in order.
//!
//! Before the first batch the task takes the feed in the writers bucket
//! ([`Lease`]) and reads where the feed's seqs continue. If that fails, or
//! the hold is later lost, the task fails what is queued and stops; the
//! producer starts a new one on the next publish.
//!
//! Backpressure: each batch takes a place in the producer's in-flight
//! window before it is sealed and keeps it until it is stored or failed;
//! while the window is full the task waits, its channel fills and callers
//! wait to enqueue.
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use coalition_core::batch::{seal_batch, MAX_RECORDS};
use coalition_core::envelope::MessageType;
use coalition_topology::{streams, subjects};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::batcher::{Limits, Pending};
use super::item::Item;
use super::lease::{Lease, Lost};
use super::outbound::{accepted_seq, last_stored_seq};
use super::publisher::{CutBatch, FeedStatus, Publisher, ToPublisher};
use super::receipt::ReceiptSender;
use super::Shared;
use crate::{lane, now_ms, SdkError};

/// What callers send a feed's task.
// Records are nearly every command: boxing them would allocate per record
// to shrink the rare flush.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// A record to publish.
    Record { item: Item, receipt: ReceiptSender },
    /// Seal what waits and reply once everything is stored.
    Flush(oneshot::Sender<Result<(), SdkError>>),
    /// Like a flush, then release the feed and stop.
    Close(oneshot::Sender<Result<(), SdkError>>),
}

/// A running feed task, as the producer sees it.
#[derive(Debug)]
pub(crate) struct FeedHandle {
    pub kind: MessageType,
    pub tx: mpsc::Sender<Command>,
}

/// A record waiting in the batch being filled.
struct Queued {
    item: Item,
    receipt: ReceiptSender,
}

/// Starts the task of `feed`.
pub(crate) fn spawn(shared: Arc<Shared>, kind: MessageType, feed: &str) -> FeedHandle {
    let limits = shared.limits(kind);
    let (tx, rx) = mpsc::channel(limits.max_records.max(1));
    let subject = subjects::outbound_feed(lane(kind), &shared.identity.producer_id, feed);
    tokio::spawn(run(shared, kind, feed.to_string(), subject, rx));
    FeedHandle { kind, tx }
}

async fn run(
    shared: Arc<Shared>,
    kind: MessageType,
    feed: String,
    subject: String,
    mut rx: mpsc::Receiver<Command>,
) {
    match start(&shared, kind, &feed, &subject).await {
        Ok(started) => {
            let task = FeedTask {
                limits: shared.limits(kind),
                shared,
                kind,
                feed,
                rx,
                pending: Pending::default(),
                started,
            };
            task.run().await;
        }
        Err(e) => {
            tracing::warn!(%subject, error = %e, "feed not started");
            stop(&mut rx, Vec::new(), &e);
        }
    }
}

/// What a feed needs once it holds the feed.
struct Started {
    lease: Lease,
    lost: watch::Receiver<Option<Lost>>,
    next_seq: u64,
    status: Arc<FeedStatus>,
    in_flight: watch::Receiver<usize>,
    to_publisher: mpsc::UnboundedSender<ToPublisher>,
    publisher: JoinHandle<()>,
}

async fn start(
    shared: &Arc<Shared>,
    kind: MessageType,
    feed: &str,
    subject: &str,
) -> Result<Started, SdkError> {
    let lease = Lease::take(
        &shared.writers,
        &shared.identity.producer_id,
        feed,
        &shared.writer,
    )
    .await?;
    let name = streams::outbound(lane(kind));
    let stream = shared.js.get_stream(name).await.map_err(|e| {
        SdkError::StreamUnavailable {
            source: None,
            stream: name.into(),
            detail: e.to_string(),
        }
        .with_source(e)
    })?;
    let identity = &shared.identity;
    let accepted = accepted_seq(
        &shared.js,
        &identity.nation,
        lane(kind),
        &identity.producer_id,
        feed,
    )
    .await?;
    let next_seq = last_stored_seq(&stream, subject)
        .await?
        .max(accepted)
        .checked_add(1)
        .filter(|next| next.checked_add(MAX_RECORDS).is_some())
        .ok_or_else(|| SdkError::Publish {
            source: None,
            subject: subject.to_string(),
            detail: "the feed's sequence numbers are used up; publish on a new feed".into(),
        })?;
    let status = Arc::new(FeedStatus::new());
    let (to_publisher, rx) = mpsc::unbounded_channel();
    let publisher = Publisher {
        js: shared.js.clone(),
        stream,
        subject: subject.to_string(),
        hold: lease.hold(),
        status: status.clone(),
        rx,
        unstored: VecDeque::new(),
        last_failure: String::new(),
    };
    tracing::debug!(%subject, next_seq, "feed started");
    Ok(Started {
        lost: lease.lost(),
        in_flight: status.in_flight.subscribe(),
        lease,
        next_seq,
        status,
        to_publisher,
        publisher: tokio::spawn(publisher.run()),
    })
}

/// Fails every queued record and command with `error`, and closes the
/// channel so the producer starts a new task on the next publish.
fn stop(rx: &mut mpsc::Receiver<Command>, pending: Vec<Queued>, error: &SdkError) {
    rx.close();
    for q in pending {
        let _ = q.receipt.send(Err(error.duplicate()));
    }
    while let Ok(command) = rx.try_recv() {
        match command {
            Command::Record { receipt, .. } => {
                let _ = receipt.send(Err(error.duplicate()));
            }
            Command::Flush(reply) | Command::Close(reply) => {
                let _ = reply.send(Err(error.duplicate()));
            }
        }
    }
}

struct FeedTask {
    shared: Arc<Shared>,
    kind: MessageType,
    feed: String,
    limits: Limits,
    rx: mpsc::Receiver<Command>,
    pending: Pending<Queued>,
    started: Started,
}

/// Resolves when the hold is lost (never if its sender is gone).
async fn lost(rx: &mut watch::Receiver<Option<Lost>>) {
    if rx.wait_for(Option::is_some).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl FeedTask {
    async fn run(mut self) {
        loop {
            let idle = *self.started.in_flight.borrow() == 0;
            let now = Instant::now().into_std();
            if self.pending.is_due(&self.limits, now, idle) {
                self.cut().await;
                continue;
            }
            if self.started.status.broken.load(Ordering::SeqCst) {
                let error = SdkError::Publish {
                    source: None,
                    subject: self.started_subject(),
                    detail: "sealing a batch failed; the feed starts afresh on the next publish"
                        .into(),
                };
                return self.stop(error).await;
            }
            let deadline = self.pending.deadline(&self.limits).map(Instant::from_std);
            let wait_idle = self.limits.linger.is_zero() && !self.pending.is_empty();
            tokio::select! {
                            command = self.rx.recv() => match command {
                                Some(Command::Record { item, receipt }) => self.enqueue(item, receipt).await,
                                Some(Command::Flush(reply)) => {
                                    self.cut().await;
                                    self.send(ToPublisher::Settle(reply));
                                }
                                Some(Command::Close(reply)) => return self.finish(Some(reply)).await,
                                None => return self.finish(None).await,
                            },
                            () = sleep_until(deadline) => {}
                            _ = self.started.in_flight.changed(), if wait_idle => {}
                            () = lost(&mut self.started.lost) => {
                                let error = self.started.lease.hold().check().err().unwrap_or(SdkError::Publish {
            source: None,
                                    subject: self.started_subject(),
                                    detail: "the feed's hold was lost".into(),
                                });
                                return self.stop(error).await;
                            }
                        }
        }
    }

    /// The feed's subjects (see [`Publisher::subject`]).
    fn started_subject(&self) -> String {
        subjects::outbound_feed(
            lane(self.kind),
            &self.shared.identity.producer_id,
            &self.feed,
        )
    }

    async fn enqueue(&mut self, item: Item, receipt: ReceiptSender) {
        let size = item.encoded_size();
        // A batch is stored on one subject: an alert of another topic
        // starts the next batch.
        let same_topic = self
            .pending
            .first()
            .is_none_or(|q: &Queued| q.item.topic == item.topic);
        if !same_topic || !self.pending.fits(size, &self.limits) {
            self.cut().await;
        }
        let now = Instant::now().into_std();
        self.pending.push(Queued { item, receipt }, size, now);
    }

    fn send(&self, message: ToPublisher) {
        // The publisher outlives the sender; if it is gone, the receipts in
        // the message are dropped and their callers told the producer stopped.
        let _ = self.started.to_publisher.send(message);
    }

    /// Asks the publisher to store what it kept; waits for the answer.
    async fn settle(&self) -> Result<(), SdkError> {
        let (tx, rx) = oneshot::channel();
        self.send(ToPublisher::Settle(tx));
        rx.await.unwrap_or_else(|_| {
            Err(SdkError::Publish {
                source: None,
                subject: self.started_subject(),
                detail: "the feed's publisher stopped".into(),
            })
        })
    }

    /// Cuts what waits into a batch: its seqs, its place in the window, its
    /// seal on the blocking pool, then to the publisher.
    async fn cut(&mut self) {
        let queued = self.pending.take();
        if queued.is_empty() {
            return;
        }
        if self.started.status.unstored.load(Ordering::SeqCst) {
            if let Err(e) = self.settle().await {
                let error = SdkError::Publish {
                    source: None,
                    subject: self.started_subject(),
                    detail: format!(
                        "not published: earlier batches of this feed are still not stored ({e}); \
                         nothing newer is published before them"
                    ),
                };
                for q in queued {
                    let _ = q.receipt.send(Err(error.duplicate()));
                }
                return;
            }
        }
        let Ok(permit) = self.shared.window.clone().acquire_owned().await else {
            return; // The window is never closed.
        };
        let subject = subjects::outbound(
            lane(self.kind),
            &self.shared.identity.producer_id,
            &self.feed,
            queued[0].item.topic.as_ref(),
        );
        let first = self.started.next_seq;
        let count = u64::try_from(queued.len()).unwrap_or(u64::MAX);
        let last = first.saturating_add(count - 1);
        self.started.next_seq = last.saturating_add(1);
        let (drafts, receipts): (Vec<_>, Vec<_>) = queued
            .into_iter()
            .map(|q| (q.item.draft(), q.receipt))
            .unzip();
        let (identity, kind, feed) = (self.shared.identity.clone(), self.kind, self.feed.clone());
        let seal = tokio::spawn(coalition_cpu_lanes::run(crate::cpu_lane(kind), move || {
            seal_batch(&identity, kind, &feed, first, &drafts, now_ms())
        }));
        self.started.status.in_flight.send_modify(|n| *n += 1);
        let epoch = self.started.status.failures.load(Ordering::SeqCst);
        self.send(ToPublisher::Batch(CutBatch {
            first,
            last,
            subject,
            seal,
            receipts,
            epoch,
            permit,
        }));
    }

    /// Seals what waits, waits until everything is stored, releases the
    /// feed and stops.
    async fn finish(mut self, reply: Option<oneshot::Sender<Result<(), SdkError>>>) {
        self.cut().await;
        let result = self.settle().await;
        let Started {
            lease,
            to_publisher,
            publisher,
            ..
        } = self.started;
        drop(to_publisher);
        let _ = publisher.await;
        lease.release().await;
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }

    /// Stops after a failure: fails what waits and releases the feed.
    async fn stop(mut self, error: SdkError) {
        let pending = self.pending.take();
        stop(&mut self.rx, pending, &error);
        let Started {
            lease,
            to_publisher,
            publisher,
            ..
        } = self.started;
        drop(to_publisher);
        let _ = publisher.await;
        lease.release().await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
