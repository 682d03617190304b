//! The public face of a subscription: `next`, `next_event`, and
//! `futures::Stream` of deliveries.
//!
//! The reading state ([`SubscriptionCore`]) moves into the future that
//! waits for the next event and comes back when it is ready, so the
//! subscription can be polled as a stream without borrowing itself. A wait
//! that is dropped half way (a `select!` branch not taken) is kept and
//! resumed by the next call: no message is lost to cancellation.
use std::pin::Pin;
use std::task::{Context, Poll};

use async_nats::jetstream;
use futures::future::BoxFuture;
use futures::Stream;

use super::SubscriptionCore;
use crate::events::SubscriptionEvent;
use crate::{Delivery, SdkError};

type Event = Option<Result<SubscriptionEvent, SdkError>>;

fn consumer_not_found(e: &jetstream::stream::ConsumerError) -> bool {
    matches!(
        e.kind(),
        jetstream::stream::ConsumerErrorKind::JetStream(j)
            if j.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND
    )
}

/// A stream of verified deliveries (and, through
/// [`Subscription::next_event`], of the records skipped and why).
///
/// ```no_run
/// # async fn demo(mut tracks: coalition_sdk::Subscription) -> Result<(), coalition_sdk::SdkError> {
/// use futures::StreamExt;
/// while let Some(delivery) = tracks.next().await {
///     let delivery = delivery?;
///     delivery.ack().await?;
/// }
/// # Ok(()) }
/// ```
pub struct Subscription {
    core: Option<Box<SubscriptionCore>>,
    waiting: Option<BoxFuture<'static, (Box<SubscriptionCore>, Event)>>,
    streams: Vec<&'static str>,
    /// For an unnamed subscription, the consumers it made: `close` deletes
    /// them. A named one's are kept for the next subscriber of that name.
    ephemeral: Option<Ephemeral>,
}

/// The consumers (one per lane, one name) of a subscription that was not
/// given a durable name.
pub(crate) struct Ephemeral {
    /// The consumer name, on every lane's stream.
    pub name: String,
    /// Each lane's stream.
    pub streams: Vec<(&'static str, jetstream::stream::Stream)>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// `ephemeral_name`: the consumer name of an unnamed subscription
    /// (deleted on [`Subscription::close`]); `None` for a named one.
    pub(crate) fn new(core: SubscriptionCore, ephemeral_name: Option<String>) -> Self {
        let ephemeral = ephemeral_name.map(|name| Ephemeral {
            name,
            streams: core.stream_handles(),
        });
        Subscription {
            streams: core.streams(),
            core: Some(Box::new(core)),
            waiting: None,
            ephemeral,
        }
    }

    /// Stops receiving and leaves nothing behind that the subscriber did
    /// not ask to keep.
    ///
    /// - An unnamed subscription's consumers are deleted from the server at
    ///   once (without `close` they are removed after 5 idle minutes).
    /// - A named one's ([`crate::SubscriberOptions::durable`]) are kept: the
    ///   next subscription under that name resumes where this one stopped.
    ///
    /// Either way, deliveries not acknowledged are not lost: a named
    /// subscription gets them again, and an unnamed one never had a
    /// position to keep.
    ///
    /// ```no_run
    /// # async fn demo(tracks: coalition_sdk::Subscription) -> Result<(), coalition_sdk::SdkError> {
    /// tracks.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(mut self) -> Result<(), SdkError> {
        // Stop reading first: the pull requests end with the core.
        self.waiting = None;
        self.core = None;
        let Some(Ephemeral { name, streams }) = self.ephemeral.take() else {
            return Ok(());
        };
        for (stream_name, stream) in streams {
            match stream.delete_consumer(&name).await {
                Ok(_) => {}
                // Already gone (its idle limit passed): nothing is left.
                Err(e) if consumer_not_found(&e) => {}
                Err(e) => {
                    return Err(SdkError::Close {
                        source: None,
                        stream: stream_name.into(),
                        consumer: name,
                        detail: e.to_string(),
                    }
                    .with_source(e))
                }
            }
        }
        Ok(())
    }

    /// The next delivery. Records skipped are not returned, but each is
    /// logged as a warning and counted (`coalition_sdk_skipped_total`); use
    /// [`Subscription::next_event`] to see them. A message that fails
    /// verification is terminated (not redelivered) and returned as an
    /// error. Consumer errors are returned only after a minute of failing.
    /// The same as the [`Stream`] implementation's `next`.
    pub async fn next(&mut self) -> Option<Result<Delivery, SdkError>> {
        std::future::poll_fn(|cx| self.poll_delivery(cx)).await
    }

    /// The next event: a delivery, or a record skipped and why.
    pub async fn next_event(&mut self) -> Event {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.waiting.is_none() {
            let Some(mut core) = self.core.take() else {
                return Poll::Ready(None);
            };
            self.waiting = Some(Box::pin(async move {
                let event = core.next_event().await;
                (core, event)
            }));
        }
        let Some(waiting) = self.waiting.as_mut() else {
            return Poll::Ready(None);
        };
        match waiting.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((core, event)) => {
                self.waiting = None;
                self.core = Some(core);
                Poll::Ready(event)
            }
        }
    }

    fn poll_delivery(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Delivery, SdkError>>> {
        loop {
            return match self.poll_event(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(SubscriptionEvent::Skipped(_)))) => continue,
                Poll::Ready(Some(Ok(SubscriptionEvent::Delivery(d)))) => Poll::Ready(Some(Ok(d))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
            };
        }
    }
}

/// Verified deliveries, as [`Subscription::next`] returns them.
impl Stream for Subscription {
    type Item = Result<Delivery, SdkError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_delivery(cx)
    }
}
