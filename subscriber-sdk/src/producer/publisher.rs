//! A feed's publisher: publishes its sealed batches one at a time, in seq
//! order, and keeps what it could not store to publish again, with the same
//! bytes, before anything newer.
//!
//! One batch of a feed is in the air at a time: batch k+1 is sent only once
//! the stream acknowledged batch k. So OUTBOUND holds a feed's batches in seq
//! order even across a reconnect or a stream leader change, which the
//! bridge requires (a batch below the last one it accepted is refused as a
//! replay). Sealing runs ahead of publishing (the feed task), within the
//! producer's in-flight window.
//!
//! When a batch is not stored, it and every later batch already cut are
//! failed to their callers and kept (`unstored`). The next batch cut on the
//! feed, or a flush, first settles them: it reads what the stream holds
//! for the feed (an acknowledgement may have been lost after the store),
//! drops what is there, and publishes the rest again.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::jetstream;
use coalition_core::batch::SealedBatch;
use coalition_core::CoreError;
use coalition_cpu_lanes::CpuError;
use coalition_schemas::headers;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

use super::lease::Hold;
use super::outbound::last_stored_seq;
use super::receipt::{PublishReceipt, ReceiptSender};
use crate::SdkError;

/// What a feed's cutter and publisher both see.
#[derive(Debug)]
pub(crate) struct FeedStatus {
    /// How many times a batch of the feed was not stored: a batch cut
    /// before the latest failure waits behind the unstored ones.
    pub failures: AtomicU64,
    /// Whether batches wait to be published again.
    pub unstored: AtomicBool,
    /// Whether sealing failed, so the feed must start afresh.
    pub broken: AtomicBool,
    /// Batches cut and not yet stored or failed.
    pub in_flight: watch::Sender<usize>,
}

impl FeedStatus {
    pub(crate) fn new() -> Self {
        FeedStatus {
            failures: AtomicU64::new(0),
            unstored: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            in_flight: watch::channel(0).0,
        }
    }
}

/// A batch cut by the feed task, being sealed on its lane's CPU threads
/// ([`coalition_cpu_lanes`]).
pub(crate) struct CutBatch {
    pub first: u64,
    pub last: u64,
    /// The subject it is published on (an alert batch's names its topic).
    pub subject: String,
    pub seal: JoinHandle<Result<Result<SealedBatch, CoreError>, CpuError>>,
    pub receipts: Vec<ReceiptSender>,
    /// [`FeedStatus::failures`] when it was cut.
    pub epoch: u64,
    /// Its place in the producer's in-flight window.
    pub permit: OwnedSemaphorePermit,
}

/// What the feed task asks of its publisher.
pub(crate) enum ToPublisher {
    /// Publish this batch after the ones before it.
    Batch(CutBatch),
    /// Publish every unstored batch again; reply whether all are stored.
    Settle(oneshot::Sender<Result<(), SdkError>>),
}

/// A feed's publisher task.
pub(crate) struct Publisher {
    pub js: jetstream::Context,
    pub stream: jetstream::stream::Stream,
    /// Every subject of the feed: the feed's subject for tracks, a filter
    /// over its topics for alerts (`out.alert.<producer>.<feed>.*.*`).
    pub subject: String,
    pub hold: Arc<Hold>,
    pub status: Arc<FeedStatus>,
    pub rx: mpsc::UnboundedReceiver<ToPublisher>,
    /// Sealed batches not stored, oldest first, with their subjects.
    pub unstored: VecDeque<(String, SealedBatch)>,
    /// Why the latest batch was not stored.
    pub last_failure: String,
}

impl Publisher {
    /// Publishes what the feed task sends until it stops.
    pub(crate) async fn run(mut self) {
        while let Some(message) = self.rx.recv().await {
            match message {
                ToPublisher::Batch(batch) => self.batch(batch).await,
                ToPublisher::Settle(reply) => {
                    let _ = reply.send(self.settle().await);
                }
            }
        }
    }

    async fn batch(&mut self, cut: CutBatch) {
        let CutBatch {
            first,
            last,
            subject,
            seal,
            receipts,
            epoch,
            permit,
        } = cut;
        let sealed = match seal.await {
            Ok(Ok(Ok(sealed))) => sealed,
            Ok(Ok(Err(e))) => return self.unsealed(receipts, e.to_string(), permit),
            Ok(Err(e)) => return self.unsealed(receipts, e.to_string(), permit),
            Err(e) => return self.unsealed(receipts, e.to_string(), permit),
        };
        if epoch < self.status.failures.load(Ordering::SeqCst) || !self.unstored.is_empty() {
            // Cut before an earlier batch failed: it waits behind that one.
            let detail = format!(
                "not stored: an earlier batch of this feed was not stored ({}); batch {first}-{last} \
                 is kept and published, with the same bytes, after it on the next publish or flush \
                 of this feed; do not publish its records again",
                self.last_failure
            );
            self.fail(receipts, &detail);
            self.unstored.push_back((subject, sealed));
            return self.done(permit);
        }
        match self.publish(&subject, &sealed).await {
            Ok(duplicate) => {
                for (receipt, seq) in receipts.into_iter().zip(first..=last) {
                    let _ = receipt.send(Ok(PublishReceipt {
                        seq,
                        duplicate,
                        batch: (first, last),
                    }));
                }
            }
            Err(e) => {
                let detail = format!(
                    "{e}; batch {first}-{last} is kept and published again, with the same bytes, \
                     before anything newer on the next publish or flush of this feed; do not \
                     publish its records again"
                );
                self.failed(e.to_string());
                match e {
                    SdkError::FeedHeld { .. } => self.fail_with(receipts, &e),
                    _ => self.fail(receipts, &detail),
                }
                self.unstored.push_back((subject, sealed));
            }
        }
        self.done(permit);
    }

    /// Sealing failed (it should not: the key signs whatever it is given):
    /// the batch's seqs were never published, so the feed starts afresh
    /// from what the stream holds.
    fn unsealed(
        &mut self,
        receipts: Vec<ReceiptSender>,
        error: String,
        permit: OwnedSemaphorePermit,
    ) {
        tracing::error!(subject = %self.subject, %error, "sealing a batch failed");
        self.status.broken.store(true, Ordering::SeqCst);
        self.failed(error.clone());
        self.fail(receipts, &format!("sealing failed: {error}"));
        self.done(permit);
    }

    fn failed(&mut self, why: String) {
        self.last_failure = why;
        self.status.failures.fetch_add(1, Ordering::SeqCst);
        self.status.unstored.store(true, Ordering::SeqCst);
    }

    fn fail(&self, receipts: Vec<ReceiptSender>, detail: &str) {
        self.fail_with(
            receipts,
            &SdkError::Publish {
                source: None,
                subject: self.subject.clone(),
                detail: detail.to_string(),
            },
        );
    }

    fn fail_with(&self, receipts: Vec<ReceiptSender>, error: &SdkError) {
        for receipt in receipts {
            let _ = receipt.send(Err(error.duplicate()));
        }
    }

    fn done(&self, permit: OwnedSemaphorePermit) {
        drop(permit);
        self.status
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Publishes the unstored batches again, oldest first, after dropping
    /// those the stream already holds.
    async fn settle(&mut self) -> Result<(), SdkError> {
        if self.unstored.is_empty() {
            return Ok(());
        }
        let stored = last_stored_seq(&self.stream, &self.subject).await;
        let stored = stored.inspect_err(|e| self.last_failure = e.to_string())?;
        while self
            .unstored
            .front()
            .is_some_and(|(_, b)| b.header.last_seq <= stored)
        {
            self.unstored.pop_front();
        }
        while let Some((subject, batch)) = self.unstored.front().cloned() {
            if let Err(e) = self.publish(&subject, &batch).await {
                self.failed(e.to_string());
                return Err(e);
            }
            tracing::info!(subject = %self.subject, batch = %batch.header.batch_id(), "unstored batch published again");
            self.unstored.pop_front();
        }
        self.status.unstored.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Publishes one batch and waits for the stream's acknowledgement;
    /// returns whether it was a duplicate.
    async fn publish(&self, subject: &str, batch: &SealedBatch) -> Result<bool, SdkError> {
        self.hold.confirm().await?;
        let error = |detail: String| SdkError::Publish {
            source: None,
            subject: subject.to_string(),
            detail,
        };
        let mut hdrs = async_nats::HeaderMap::new();
        hdrs.insert(headers::MSG_ID, batch.header.batch_id().as_str());
        let ack = self
            .js
            .publish_with_headers(subject.to_string(), hdrs, batch.bytes.clone())
            .await
            .map_err(|e| error(e.to_string()).with_source(e))?
            .await
            .map_err(|e| {
                error(format!(
                    "{e} (is the nation's bridge running? it creates the OUTBOUND streams)"
                ))
            })?;
        Ok(ack.duplicate)
    }
}
