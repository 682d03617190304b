//! A subscription: batch messages read from one or two INBOUND consumers,
//! verified ([`crate::open`]) and handed over one record at a time, in feed
//! order, exactly once per subscriber.
//!
//! - **De-duplication**: per feed chain (origin, producer, feed, served
//!   version), a record at or below the last seq delivered is skipped, and
//!   reported ([`SubscriptionEvent::Skipped`], a warning and
//!   `coalition_sdk_skipped_total{reason}`): never dropped silently.
//! - **Acknowledgement**: a batch message is acknowledged when each of its
//!   records was acknowledged by the application ([`crate::Delivery::ack`]) or
//!   skipped ([`crate::ack`]).
//! - **Gaps**: a break in a feed's chain of batch messages is filled by a
//!   replay from INBOUND where it can be, and reported on the next delivery
//!   where it cannot ([`crate::continuity`]).
//! - **Refusals**: a message that fails verification is terminated (never
//!   redelivered) and returned as an error; none of its records is
//!   delivered.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::StreamExt;

use crate::ack::{BatchAck, RecordAck};
use crate::certificates::Certificates;
use crate::continuity::FeedKey;
use crate::continuity::{missing_before, plan, replay, Delivered, DeliveredMap, Gap, Link};
use crate::events::{report, SkipReason, Skipped, SubscriptionEvent};
use crate::nak::{judge, Hold, NakHandle, NakInbox, Verdict};
use crate::open::{open_message, OpenedBatch};

mod handle;
use crate::scope::{Scope, ScopeState};
use crate::SdkError;
pub use handle::Subscription;

/// How long a subscription rides out consumer errors (a server restarting,
/// missed heartbeats) before it reports one.
const TOLERATE_FAILURE: Duration = Duration::from_secs(60);

/// Replayed messages remembered, so the consumer's own copies are reported
/// as [`SkipReason::Replayed`]; past this the memory starts afresh.
const REMEMBER_REPLAYED: usize = 100_000;

/// One INBOUND stream read by a durable consumer.
pub(crate) struct Lane {
    stream_name: &'static str,
    consumer: jetstream::consumer::PullConsumer,
    stream: jetstream::stream::Stream,
    messages: Option<pull::Stream>,
    /// Since when the consumer has been failing, if it is.
    failing_since: Option<std::time::Instant>,
    /// The consumer's acknowledged floor (a stream sequence) when the
    /// subscription started.
    ack_floor_at_start: u64,
}

impl Lane {
    pub(crate) async fn open(
        stream_name: &'static str,
        stream: jetstream::stream::Stream,
        consumer: jetstream::consumer::PullConsumer,
    ) -> Result<Lane, jetstream::consumer::StreamError> {
        let ack_floor_at_start = consumer.cached_info().ack_floor.stream_sequence;
        let messages = open_messages(&consumer).await?;
        Ok(Lane {
            stream_name,
            consumer,
            stream,
            messages: Some(messages),
            failing_since: None,
            ack_floor_at_start,
        })
    }

    /// The next message. Transient consumer errors (a server restarting,
    /// missed heartbeats) are ridden out; one is returned only after the
    /// consumer has failed for a minute without a break. Cancel-safe.
    async fn next(&mut self) -> Result<jetstream::Message, SdkError> {
        loop {
            let item = match self.messages.as_mut() {
                Some(messages) => messages.next().await,
                None => None,
            };
            match item {
                Some(Ok(m)) => {
                    self.failing_since = None;
                    return Ok(m);
                }
                Some(Err(e)) => {
                    tracing::debug!(stream = self.stream_name, error = %e, "subscription: transient consumer error");
                    if let Some(err) = self.failing(e.to_string()) {
                        return Err(err);
                    }
                }
                None => {
                    if let Some(err) = self.reopen().await {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// Notes a failure; returns an error once failures have lasted too long.
    fn failing(&mut self, detail: String) -> Option<SdkError> {
        let since = *self
            .failing_since
            .get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < TOLERATE_FAILURE {
            return None;
        }
        self.failing_since = None;
        Some(SdkError::Consume {
            source: None,
            stream: self.stream_name.into(),
            detail: format!("failing for {TOLERATE_FAILURE:?}: {detail}"),
        })
    }

    /// Re-opens the message stream after it ended.
    async fn reopen(&mut self) -> Option<SdkError> {
        self.messages = None;
        match open_messages(&self.consumer).await {
            Ok(m) => {
                self.messages = Some(m);
                None
            }
            Err(e) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                self.failing(e.to_string())
            }
        }
    }
}

/// Opens a consumer's message stream with short pull expiry and heartbeats,
/// so a pull request stranded on a server that died is noticed in seconds,
/// not after the 30 s default.
async fn open_messages(
    consumer: &jetstream::consumer::PullConsumer,
) -> Result<pull::Stream, jetstream::consumer::StreamError> {
    consumer
        .stream()
        .expires(Duration::from_secs(5))
        .heartbeat(Duration::from_secs(1))
        .messages()
        .await
}

/// What a [`Subscription`] reads and remembers; [`handle`] wraps it so it
/// can be polled as a `futures::Stream`.
pub(crate) struct SubscriptionCore {
    lanes: Vec<Lane>,
    /// The lane to look at first next time (the lanes take turns).
    next_lane: usize,
    certs: Arc<Certificates>,
    delivered: Arc<Mutex<DeliveredMap>>,
    /// (lane, stream sequence) of messages a replay delivered.
    replayed: HashSet<(usize, u64)>,
    /// Events decided but not yet handed over (a message yields several).
    ready: VecDeque<SubscriptionEvent>,
    /// The alert scope (area, expiry) and the alerts given under it.
    scope: ScopeState,
    /// Feeds handed back by a nak, until their message comes back
    /// ([`crate::nak`]).
    holds: HashMap<FeedKey, Hold>,
    /// Where this subscription's deliveries post their naks.
    naks: NakInbox,
}

impl SubscriptionCore {
    pub(crate) fn new(
        lanes: Vec<Lane>,
        certs: Arc<Certificates>,
        delivered: Arc<Mutex<DeliveredMap>>,
        scope: Scope,
    ) -> Self {
        SubscriptionCore {
            lanes,
            next_lane: 0,
            certs,
            delivered,
            replayed: HashSet::new(),
            ready: VecDeque::new(),
            scope: ScopeState::new(scope),
            holds: HashMap::new(),
            naks: NakInbox::default(),
        }
    }

    /// The names of the streams read.
    pub(crate) fn streams(&self) -> Vec<&'static str> {
        self.lanes.iter().map(|l| l.stream_name).collect()
    }

    /// Each lane's stream, by name, for deleting the subscription's
    /// consumers when it closes.
    pub(crate) fn stream_handles(&self) -> Vec<(&'static str, jetstream::stream::Stream)> {
        self.lanes
            .iter()
            .map(|l| (l.stream_name, l.stream.clone()))
            .collect()
    }

    /// The next event: a delivery, or a record skipped and why.
    pub async fn next_event(&mut self) -> Option<Result<SubscriptionEvent, SdkError>> {
        loop {
            self.take_naks().await;
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if self.lanes.is_empty() {
                return None;
            }
            let (lane, message) = match self.next_message().await {
                Ok(m) => m,
                Err(e) => return Some(Err(e)),
            };
            if let Err(e) = self.deliver(lane, message).await {
                return Some(Err(e));
            }
        }
    }

    /// The next message of any lane; the lanes take turns when several
    /// have one ready.
    async fn next_message(&mut self) -> Result<(usize, jetstream::Message), SdkError> {
        let n = self.lanes.len();
        let start = self.next_lane % n;
        let mut lanes: Vec<(usize, &mut Lane)> = self.lanes.iter_mut().enumerate().collect();
        lanes.rotate_left(start);
        let waiting = lanes
            .into_iter()
            .map(|(i, lane)| Box::pin(async move { (i, lane.next().await) }));
        let ((i, result), _, _) = futures::future::select_all(waiting).await;
        self.next_lane = i + 1;
        result.map(|m| (i, m))
    }

    /// Verifies a consumed message and queues its records (after whatever a
    /// replay found before it), skipping those already delivered.
    async fn deliver(&mut self, lane: usize, message: jetstream::Message) -> Result<(), SdkError> {
        let opened = match open_message(&self.certs, &message).await {
            Ok(o) => o,
            Err(e) => {
                let _ = message.ack_with(AckKind::Term).await;
                return Err(e);
            }
        };
        self.take_naks().await;
        if let Some(hold) = self.holds.get(&opened.key) {
            match judge(hold, lane, opened.stream_seq, std::time::Instant::now()) {
                Verdict::Deliver => {}
                Verdict::Release => {
                    self.holds.remove(&opened.key);
                }
                Verdict::NakAgain(delay) => {
                    if let Err(e) = message.ack_with(AckKind::Nak(Some(delay))).await {
                        // Redelivered after the ack wait instead.
                        tracing::warn!(error = %e, "naking a message of a held feed failed");
                    }
                    return Ok(());
                }
            }
        }
        let last = self.delivered().get(&opened.key).copied();
        let subject = message.subject.to_string();
        let reason = if self.replayed.remove(&(lane, opened.stream_seq)) {
            SkipReason::Replayed
        } else if message.info().is_ok_and(|i| i.delivered > 1) {
            SkipReason::Redelivered
        } else {
            SkipReason::AlreadyDelivered
        };
        let mut gap = missing_before(last.map(|l| l.seq), opened.link);
        if let (Some(_), Some(l), Some(_)) = (gap, last, opened.link.prev) {
            gap = self.fill(lane, &subject, l, opened.link, true).await;
        } else if last.is_none()
            && opened.link.prev.is_some_and(|p| p > 0)
            && opened.stream_seq > self.lanes[lane].ack_floor_at_start + 1
        {
            // The first message of this feed since the subscription
            // started, and not the first one after the consumer's
            // acknowledged floor: an earlier one may have been handed to a
            // pull request of the previous subscriber that died with it, and
            // will come back only after the ack wait. Replay from the floor
            // so the feed is delivered in order. What the replay does not
            // find was never this subscription's to see: not a gap.
            let from = Delivered {
                seq: 0,
                stream_seq: self.lanes[lane].ack_floor_at_start,
            };
            self.fill(lane, &subject, from, opened.link, false).await;
        }
        let records = opened.records.len();
        let ack = BatchAck::new(message, records);
        let skipped = self.queue(lane, opened, Some(&ack), gap, reason);
        if let Err(e) = ack.done(skipped).await {
            // Redelivered after the ack wait, and skipped again then.
            tracing::warn!(error = %e, "acknowledging a message of skipped records failed");
        }
        Ok(())
    }

    /// Queues the records of a verified message: a delivery for each above
    /// the feed's last delivered seq (the first carrying `gap`), a skip for
    /// each other. Returns how many were skipped.
    fn queue(
        &mut self,
        lane: usize,
        opened: OpenedBatch,
        ack: Option<&Arc<BatchAck>>,
        gap: Gap,
        reason: SkipReason,
    ) -> usize {
        let OpenedBatch {
            key,
            stream_seq,
            records,
            ..
        } = opened;
        let replayed = ack.is_none();
        let mut gap = gap;
        let mut skipped = 0;
        for record in records {
            let seq = record.header.seq;
            let last = self.delivered().get(&key).map(|d| d.seq);
            if let Some(last) = last.filter(|l| seq <= *l) {
                let skip = Skipped {
                    origin: key.origin.clone(),
                    producer_id: key.producer_id.clone(),
                    feed: key.feed.clone(),
                    schema_version: key.version,
                    seq,
                    last_delivered_seq: last,
                    reason,
                };
                report(&skip);
                self.ready.push_back(SubscriptionEvent::Skipped(skip));
                skipped += 1;
                continue;
            }
            self.delivered()
                .insert(key.clone(), Delivered { seq, stream_seq });
            if !self.scope.admits(&record.payload, crate::now_ms()) {
                // Left out at the subscriber's request: done, not delivered.
                skipped += 1;
                continue;
            }
            let record_ack = ack.map(|a| RecordAck::new(a.clone()));
            let nak = NakHandle {
                key: key.clone(),
                lane,
                stream_seq,
                inbox: self.naks.clone(),
            };
            self.ready
                .push_back(SubscriptionEvent::Delivery(record.into_delivery(
                    record_ack,
                    Some(nak),
                    gap.take(),
                    replayed,
                )));
        }
        skipped
    }

    /// Replays the feed's subject after the message of the last delivered
    /// record and queues what it found before `current`; returns the gap
    /// still before `current`. A replay that fails leaves the gap as it was.
    async fn fill(
        &mut self,
        lane: usize,
        subject: &str,
        last: Delivered,
        current: Link,
        report_gaps: bool,
    ) -> Gap {
        let stream = &self.lanes[lane].stream;
        let found = match replay(stream, subject, last.stream_seq + 1).await {
            Ok(found) => found,
            Err(detail) => {
                tracing::warn!(%subject, %detail, "gap replay failed; the gap is reported as it stands");
                return missing_before(Some(last.seq), current);
            }
        };
        let mut opened = Vec::with_capacity(found.len());
        for m in found {
            match open_message(&self.certs, &m).await {
                Ok(o) => opened.push(Some(o)),
                Err(e) => {
                    tracing::warn!(%subject, error = %e, "replayed message does not verify; skipped")
                }
            }
        }
        let links: Vec<Link> = opened.iter().flatten().map(|o| o.link).collect();
        let (planned, current_gap) = plan(last.seq, &links, current);
        let mut filled = 0;
        for (i, gap) in planned {
            if let Some(o) = opened.get_mut(i).and_then(Option::take) {
                if self.replayed.len() >= REMEMBER_REPLAYED {
                    self.replayed.clear();
                }
                self.replayed.insert((lane, o.stream_seq));
                filled += o.records.len();
                // Recorded as delivered as it is queued: the consumer's own
                // copy, when it comes, is then skipped as replayed.
                self.queue(
                    lane,
                    o,
                    None,
                    gap.filter(|_| report_gaps),
                    SkipReason::AlreadyDelivered,
                );
            }
        }
        let current_gap = current_gap.filter(|_| report_gaps);
        tracing::info!(%subject, filled, still_missing = ?current_gap, "gap replayed from INBOUND");
        current_gap
    }

    /// Takes up the naks posted since the last call: each held feed is
    /// rewound to just before the record handed back, and its deliveries
    /// queued from there on are dropped, their messages naked too (they
    /// come again after the held one).
    async fn take_naks(&mut self) {
        for (key, posted) in self.naks.take() {
            let hold = match self.holds.remove(&key) {
                Some(before) => before.merge(posted),
                None => posted,
            };
            self.holds.insert(key.clone(), hold);
            {
                let mut delivered = self.delivered();
                if let Some(d) = delivered.get_mut(&key).filter(|d| d.seq >= hold.from_seq) {
                    *d = Delivered {
                        seq: hold.from_seq.saturating_sub(1),
                        stream_seq: hold.stream_seq.saturating_sub(1),
                    };
                }
            }
            let mut messages: Vec<Arc<BatchAck>> = Vec::new();
            self.ready.retain(|event| {
                let SubscriptionEvent::Delivery(d) = event else {
                    return true;
                };
                let of_feed = d.nak.as_ref().is_some_and(|h| h.key == key);
                if !of_feed || d.seq < hold.from_seq {
                    return true;
                }
                if let Some(batch) = d.ack.as_ref().map(RecordAck::batch) {
                    if !messages.iter().any(|m| Arc::ptr_eq(m, batch)) {
                        messages.push(batch.clone());
                    }
                }
                false
            });
            let delay = hold
                .until
                .saturating_duration_since(std::time::Instant::now());
            for message in messages {
                if let Err(e) = message.nak(delay).await {
                    // Redelivered after the ack wait instead.
                    tracing::warn!(error = %e, "naking a message of a held feed failed");
                }
            }
            tracing::info!(feed = %key.feed, producer = %key.producer_id, from_seq = hold.from_seq, ?delay, "feed handed back by a nak");
        }
    }

    fn delivered(&self) -> std::sync::MutexGuard<'_, DeliveredMap> {
        self.delivered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
