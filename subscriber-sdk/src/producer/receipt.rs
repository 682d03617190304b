//! What a producer hands back for each record: a [`PublishReceipt`] once its
//! batch is stored, or a [`PendingReceipt`] to await it.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::SdkError;

/// What the stream acknowledged about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The record's sequence number in its feed.
    pub seq: u64,
    /// Whether JetStream had stored its batch before (a retry of a batch
    /// that was stored although its acknowledgement was lost).
    pub duplicate: bool,
    /// The first and last sequence numbers of the batch it was sealed in.
    pub batch: (u64, u64),
}

/// The sender half: resolved by the producer's feed task.
pub(crate) type ReceiptSender = oneshot::Sender<Result<PublishReceipt, SdkError>>;

/// A record enqueued for publishing. Await it for its
/// [`PublishReceipt`], once its batch is stored (or for the error that
/// kept it from being stored). Dropping it does not cancel the record.
///
/// ```no_run
/// # async fn demo(producer: &coalition_sdk::Producer) -> Result<(), coalition_sdk::SdkError> {
/// # let (label, track) = (coalition_sdk::Label::new("USA", "SECRET", &[]), coalition_sdk::TrackV1::default());
/// let pending = producer.send("tracks", coalition_sdk::Record::track(&label, &track)).await?;
/// // ... enqueue more ...
/// let receipt = pending.await?;
/// println!("stored as seq {}", receipt.seq);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a PendingReceipt says whether the record was stored; await it"]
pub struct PendingReceipt {
    pub(crate) rx: oneshot::Receiver<Result<PublishReceipt, SdkError>>,
    /// The feed's subject, for the error if the producer stops first.
    pub(crate) subject: String,
}

impl PendingReceipt {
    pub(crate) fn new(subject: String) -> (ReceiptSender, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, PendingReceipt { rx, subject })
    }
}

impl Future for PendingReceipt {
    type Output = Result<PublishReceipt, SdkError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(_)) => Poll::Ready(Err(SdkError::Publish {
                source: None,
                subject: std::mem::take(&mut self.subject),
                detail: "the producer stopped before the record's batch was stored \
                         (it was dropped or its runtime shut down)"
                    .into(),
            })),
        }
    }
}
