//! The subscriber side: a durable pull consumer on the nation's INBOUND
//! stream (what the bridge admitted from partners) that yields verified,
//! typed deliveries with their label and lineage.
//!
//! Every delivery is verified again here against the subscriber's own trust
//! anchors (defence in depth: a subscriber does not have to trust that only
//! the bridge can write INBOUND). Duplicates of an already-delivered
//! (origin, producer, feed, seq) are acknowledged and skipped. A break in a
//! feed's continuity chain is filled by a replay from INBOUND where it can
//! be, and reported on the delivery as a gap where it cannot
//! ([`crate::continuity`]).
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use coalition_core::certificate::{CertificateCache, TrustAnchors};
use coalition_core::envelope::{open, MessageType};
use coalition_core::label::Label;
use coalition_core::DenyReason;
use coalition_schemas::headers;
use coalition_schemas::v1::{AlertV1, TrackV1, TrackV2};
use futures::StreamExt;
use prost::Message as _;

use crate::connect::ConnectSpec;
use crate::continuity::{missing_before, plan, replay, Delivered, DeliveredMap};
use crate::{now_ms, SdkError};

const INBOUND: &str = "INBOUND";

/// Options for [`Subscriber`]; a builder.
#[derive(Debug, Clone)]
pub struct SubscriberOptions {
    spec: ConnectSpec,
    anchors: TrustAnchors,
    durable: Option<String>,
}

impl SubscriberOptions {
    /// Connect to these servers.
    ///
    /// ```
    /// let opts = coalition_sdk::SubscriberOptions::new(["nats://127.0.0.1:4222"]);
    /// ```
    pub fn new<S: AsRef<str>>(servers: impl IntoIterator<Item = S>) -> Self {
        SubscriberOptions {
            spec: ConnectSpec::new(servers, "coalition-subscriber"),
            anchors: TrustAnchors::new(),
            durable: None,
        }
    }

    /// Authenticate as this NATS user.
    ///
    /// ```
    /// let opts = coalition_sdk::SubscriberOptions::new(["nats://127.0.0.1:4222"])
    ///     .credentials("GBR-subscriber", "password");
    /// ```
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.spec.credentials = Some((user.to_string(), password.to_string()));
        self
    }

    /// The national roots whose producers' messages this subscriber accepts.
    ///
    /// ```
    /// let opts = coalition_sdk::SubscriberOptions::new(["nats://127.0.0.1:4222"])
    ///     .trust_anchors(coalition_sdk::TrustAnchors::new());
    /// ```
    pub fn trust_anchors(mut self, anchors: TrustAnchors) -> Self {
        self.anchors = anchors;
        self
    }

    /// Name the subscription durably, so it resumes where it left off after a
    /// restart. Without it, each subscription starts from the oldest stored
    /// message.
    ///
    /// ```
    /// let opts = coalition_sdk::SubscriberOptions::new(["nats://127.0.0.1:4222"])
    ///     .durable("gbr-alerting-1");
    /// ```
    pub fn durable(mut self, name: &str) -> Self {
        self.durable = Some(name.to_string());
        self
    }

    /// Connects.
    pub async fn connect(self) -> Result<Subscriber, SdkError> {
        let client = self.spec.connect().await?;
        Ok(Subscriber {
            js: jetstream::new(client),
            cache: Arc::new(CertificateCache::new(self.anchors)),
            durable: self.durable,
            delivered: Arc::default(),
        })
    }
}

/// Which deliveries to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    kind: Option<MessageType>,
    origin: Option<String>,
}

impl Topic {
    /// Tracks from every partner.
    pub fn tracks() -> Self {
        Topic {
            kind: Some(MessageType::Track),
            origin: None,
        }
    }

    /// Alerts from every partner.
    pub fn alerts() -> Self {
        Topic {
            kind: Some(MessageType::Alert),
            origin: None,
        }
    }

    /// Everything from every partner.
    pub fn all() -> Self {
        Topic {
            kind: None,
            origin: None,
        }
    }

    /// Only what `nation` produced.
    pub fn from_nation(mut self, nation: &str) -> Self {
        self.origin = Some(nation.to_string());
        self
    }

    fn filter_subject(&self) -> String {
        format!(
            "in.{}.{}.>",
            self.kind.map_or("*", |k| k.as_str()),
            self.origin.as_deref().unwrap_or("*")
        )
    }
}

/// A connected subscriber.
#[derive(Debug)]
pub struct Subscriber {
    js: jetstream::Context,
    cache: Arc<CertificateCache>,
    durable: Option<String>,
    /// What this subscriber delivered, per feed, across its subscriptions.
    delivered: Arc<Mutex<DeliveredMap>>,
}

impl Subscriber {
    /// Starts receiving `topic`.
    pub async fn subscribe(&self, topic: Topic) -> Result<Subscription, SdkError> {
        let consume_error = |e: &dyn std::fmt::Display| SdkError::Consume {
            stream: INBOUND.into(),
            detail: e.to_string(),
        };
        let stream =
            self.js
                .get_stream(INBOUND)
                .await
                .map_err(|e| SdkError::StreamUnavailable {
                    stream: INBOUND.into(),
                    detail: e.to_string(),
                })?;
        let config = pull::Config {
            durable_name: self.durable.clone(),
            filter_subject: topic.filter_subject(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            // A named subscription waits for its subscriber however long it
            // is away; an unnamed one is removed after 5 idle minutes.
            inactive_threshold: if self.durable.is_some() {
                Duration::ZERO
            } else {
                Duration::from_secs(300)
            },
            ..Default::default()
        };
        // Always a durable consumer: it is replicated like the stream, so it
        // survives the loss of a server. An unnamed subscription gets a
        // random name.
        let name = self.durable.clone().unwrap_or_else(|| {
            let mut id = [0u8; 8];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
            format!("sub-{}", hex::encode(id))
        });
        let config = pull::Config {
            durable_name: Some(name.clone()),
            ..config
        };
        let consumer = stream
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|e| consume_error(&e))?;
        let ack_floor_at_start = consumer.cached_info().ack_floor.stream_sequence;
        let messages = open_messages(&consumer)
            .await
            .map_err(|e| consume_error(&e))?;
        Ok(Subscription {
            consumer,
            stream,
            messages: Some(messages),
            failing_since: None,
            cache: self.cache.clone(),
            delivered: self.delivered.clone(),
            ready: VecDeque::new(),
            ack_floor_at_start,
        })
    }
}

/// What a delivery carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A track delta (schema version 1).
    Track(TrackV1),
    /// A track delta in schema version 2.
    TrackV2(TrackV2),
    /// An alert.
    Alert(AlertV1),
}

/// Where a delivery came from and who let it through, from the bridges'
/// lineage headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The nation whose bridge released it.
    pub released_by: Option<String>,
    /// When, Unix ms.
    pub released_at_ms: Option<i64>,
    /// The nation whose bridge admitted it.
    pub admitted_by: Option<String>,
    /// When, Unix ms.
    pub admitted_at_ms: Option<i64>,
    /// The producer key's id (hex).
    pub key_id: Option<String>,
    /// The decision recorded by the admitting bridge.
    pub decision: Option<String>,
    /// The label as translated into this nation's vocabulary.
    pub translated_label: Option<String>,
    /// The translator that admitted it, `<id>@<version>`.
    pub translator: Option<String>,
    /// `<origin>/v<n> -> <receiver>/v<m>`: the policy versions decided under.
    pub policy_versions: Option<String>,
}

/// One verified message.
#[derive(Debug)]
pub struct Delivery {
    /// The producer's nation.
    pub origin: String,
    /// The producer.
    pub producer_id: String,
    /// The feed.
    pub feed: String,
    /// Position in the feed.
    pub seq: u64,
    /// If this delta corrects an earlier one, its seq.
    pub corrects_seq: Option<u64>,
    /// The label, as signed by the producer.
    pub label: Label,
    /// The typed payload.
    pub payload: Payload,
    /// Lineage.
    pub lineage: Lineage,
    /// Feed seqs missing before this one (first, last): admitted to this
    /// nation or released to it, but not found in INBOUND even after a
    /// replay. Seqs refused on the way are not gaps; the range may still
    /// include some this nation's bridge refused (its audit log says which).
    pub gap: Option<(u64, u64)>,
    /// True if the delivery came from a replay that filled a gap, not from
    /// the subscription's consumer (acknowledging it is then a no-op: the
    /// consumer's own copy is acknowledged when it arrives).
    pub replayed: bool,
    /// For a composite product (e.g. a fused track), every source it was
    /// derived from, as signed by its producer.
    pub derived_from: Vec<coalition_core::envelope::SourceRef>,
    message: Option<jetstream::Message>,
}

impl Delivery {
    /// Acknowledges the delivery; until then it is redelivered after 30 s.
    pub async fn ack(&self) -> Result<(), SdkError> {
        let Some(message) = &self.message else {
            return Ok(());
        };
        message.ack().await.map_err(|e| SdkError::Consume {
            stream: INBOUND.into(),
            detail: format!("ack failed: {e}"),
        })
    }
}

/// How long a subscription rides out consumer errors (a server restarting,
/// missed heartbeats) before it reports one.
const TOLERATE_FAILURE: Duration = Duration::from_secs(60);

/// A stream of deliveries.
pub struct Subscription {
    consumer: jetstream::consumer::PullConsumer,
    stream: jetstream::stream::Stream,
    messages: Option<pull::Stream>,
    /// Since when the consumer has been failing, if it is.
    failing_since: Option<std::time::Instant>,
    cache: Arc<CertificateCache>,
    delivered: Arc<Mutex<DeliveredMap>>,
    /// Deliveries decided but not yet handed over (a replay yields several).
    ready: VecDeque<Delivery>,
    /// The consumer's acknowledged floor (a stream sequence) when the
    /// subscription started.
    ack_floor_at_start: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next delivery. Duplicates are skipped; a message that fails
    /// verification is terminated (not redelivered) and returned as an
    /// error. Transient consumer errors (a server restarting, missed
    /// heartbeats) are ridden out; one is returned only after the consumer
    /// has failed for a minute without a break.
    pub async fn next(&mut self) -> Option<Result<Delivery, SdkError>> {
        loop {
            if let Some(d) = self.ready.pop_front() {
                return Some(Ok(d));
            }
            let item = match self.messages.as_mut() {
                Some(messages) => messages.next().await,
                None => None,
            };
            let message = match item {
                Some(Ok(m)) => {
                    self.failing_since = None;
                    m
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "subscription: transient consumer error");
                    if let Some(err) = self.failing(e.to_string()) {
                        return Some(Err(err));
                    }
                    continue;
                }
                None => {
                    if let Some(err) = self.reopen().await {
                        return Some(Err(err));
                    }
                    continue;
                }
            };
            if let Err(e) = self.deliver(message).await {
                return Some(Err(e));
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
            stream: INBOUND.into(),
            detail: format!("failing for {TOLERATE_FAILURE:?}: {detail}"),
        })
    }

    /// Re-opens the message stream after it ended.
    async fn reopen(&mut self) -> Option<SdkError> {
        match open_messages(&self.consumer).await {
            Ok(m) => {
                self.messages = Some(m);
                None
            }
            Err(e) => {
                self.messages = None;
                tokio::time::sleep(Duration::from_millis(250)).await;
                self.failing(e.to_string())
            }
        }
    }

    /// Verifies a consumed message and queues it (after whatever a replay
    /// found before it), or skips it as a duplicate.
    async fn deliver(&mut self, message: jetstream::Message) -> Result<(), SdkError> {
        let opened = match open_delivery(&self.cache, &message).await {
            Ok(o) => o,
            Err(e) => {
                let _ = message.ack_with(AckKind::Term).await;
                return Err(e);
            }
        };
        let key = opened.feed_key();
        let last = self.delivered().get(&key).copied();
        if last.is_some_and(|l| opened.seq <= l.seq) {
            let _ = message.ack().await;
            return Ok(());
        }
        let prev = link_of(&message);
        let stream_seq = stream_seq_of(&message);
        let subject = message.subject.to_string();
        let mut gap = missing_before(last.map(|l| l.seq), opened.seq, prev);
        if let (Some(_), Some(l), Some(_)) = (gap, last, prev) {
            let (replayed, still_missing) = self.fill(&subject, l, (opened.seq, prev), true).await;
            self.ready.extend(replayed);
            gap = still_missing;
        } else if last.is_none()
            && prev.is_some_and(|p| p > 0)
            && stream_seq > self.ack_floor_at_start + 1
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
                stream_seq: self.ack_floor_at_start,
            };
            let (replayed, _) = self.fill(&subject, from, (opened.seq, prev), false).await;
            self.ready.extend(replayed);
        }
        self.delivered().insert(
            key,
            Delivered {
                seq: opened.seq,
                stream_seq,
            },
        );
        self.ready
            .push_back(opened.into_delivery(Some(message), gap, false));
        Ok(())
    }

    /// Replays the feed's subject after the last delivered message; returns
    /// what it found to deliver before `current`, and the gap still before
    /// `current`. A replay that fails leaves the gap as it was.
    async fn fill(
        &mut self,
        subject: &str,
        last: Delivered,
        current: (u64, Option<u64>),
        report_gaps: bool,
    ) -> (Vec<Delivery>, Option<(u64, u64)>) {
        let found = match replay(&self.stream, subject, last.stream_seq + 1).await {
            Ok(found) => found,
            Err(detail) => {
                tracing::warn!(%subject, %detail, "gap replay failed; the gap is reported as it stands");
                return (vec![], missing_before(Some(last.seq), current.0, current.1));
            }
        };
        let mut opened = Vec::with_capacity(found.len());
        for m in found {
            match open_delivery(&self.cache, &m).await {
                Ok(o) => opened.push((o, link_of(&m), stream_seq_of(&m))),
                Err(e) => {
                    tracing::warn!(%subject, error = %e, "replayed message does not verify; skipped")
                }
            }
        }
        let links: Vec<(u64, Option<u64>)> = opened.iter().map(|(o, p, _)| (o.seq, *p)).collect();
        let (planned, current_gap) = plan(last.seq, &links, current);
        let current_gap = current_gap.filter(|_| report_gaps);
        let mut slots: Vec<Option<(Opened, Option<u64>, u64)>> =
            opened.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(planned.len());
        for (i, gap) in planned {
            if let Some((o, _, stream_seq)) = slots.get_mut(i).and_then(Option::take) {
                // Recorded as delivered as it is queued: the consumer's own
                // copy, if it comes later, is then skipped as a duplicate.
                self.delivered().insert(
                    o.feed_key(),
                    Delivered {
                        seq: o.seq,
                        stream_seq,
                    },
                );
                out.push(o.into_delivery(None, gap.filter(|_| report_gaps), true));
            }
        }
        tracing::info!(%subject, filled = out.len(), still_missing = ?current_gap, "gap replayed from INBOUND");
        (out, current_gap)
    }

    fn delivered(&self) -> std::sync::MutexGuard<'_, DeliveredMap> {
        self.delivered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A verified message with its decoded payload.
struct Opened {
    seq: u64,
    header: coalition_core::envelope::Header,
    payload: Payload,
    lineage: Lineage,
}

impl Opened {
    fn feed_key(&self) -> crate::continuity::FeedKey {
        let h = &self.header;
        (h.origin.clone(), h.producer_id.clone(), h.feed.clone())
    }

    fn into_delivery(
        self,
        message: Option<jetstream::Message>,
        gap: Option<(u64, u64)>,
        replayed: bool,
    ) -> Delivery {
        let h = self.header;
        Delivery {
            origin: h.origin,
            producer_id: h.producer_id,
            feed: h.feed,
            seq: h.seq,
            corrects_seq: h.corrects_seq,
            label: h.label,
            payload: self.payload,
            lineage: self.lineage,
            gap,
            replayed,
            derived_from: h.derived_from,
            message,
        }
    }
}

fn link_of(message: &jetstream::Message) -> Option<u64> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::PREV_SEQ))
        .and_then(|v| v.as_str().parse().ok())
}

fn stream_seq_of(message: &jetstream::Message) -> u64 {
    message.info().map_or(0, |i| i.stream_sequence)
}

/// Verifies a message from INBOUND against the subscriber's trust anchors
/// and its subject, and decodes its payload.
async fn open_delivery(
    cache: &Arc<CertificateCache>,
    message: &jetstream::Message,
) -> Result<Opened, SdkError> {
    let subject = message.subject.to_string();
    let cache = cache.clone();
    let bytes = message.payload.clone();
    let verified = tokio::task::spawn_blocking(move || open(&bytes, &cache, now_ms()))
        .await
        .map_err(|e| SdkError::Consume {
            stream: INBOUND.into(),
            detail: format!("verification task failed: {e}"),
        })?;
    let fail = |reason: DenyReason| SdkError::Verification {
        subject: subject.clone(),
        reason,
    };
    let h = verified.map_err(fail)?.envelope;
    let expected = format!(
        "in.{}.{}.{}.{}",
        h.header.message_type.as_str(),
        h.header.origin,
        h.header.producer_id,
        h.header.feed
    );
    if subject != expected {
        return Err(fail(DenyReason::SubjectMismatch));
    }
    let payload = decode_payload(h.header.message_type, h.header.schema_version, &h.payload)
        .map_err(|detail| SdkError::Payload {
            subject: subject.clone(),
            schema: h.header.message_type.schema_id().into(),
            detail,
        })?;
    Ok(Opened {
        seq: h.header.seq,
        header: h.header,
        payload,
        lineage: lineage(message.headers.as_ref()),
    })
}

fn decode_payload(kind: MessageType, version: u32, bytes: &[u8]) -> Result<Payload, String> {
    match (kind, version) {
        (MessageType::Track, 1) => TrackV1::decode(bytes).map(Payload::Track),
        (MessageType::Track, 2) => TrackV2::decode(bytes).map(Payload::TrackV2),
        (MessageType::Alert, 1) => AlertV1::decode(bytes).map(Payload::Alert),
        (kind, version) => {
            return Err(format!(
                "{} version {version} is not known to this SDK",
                kind.as_str()
            ))
        }
    }
    .map_err(|e| e.to_string())
}

fn lineage(hdrs: Option<&async_nats::HeaderMap>) -> Lineage {
    let get = |name: &str| {
        hdrs.and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let ms = |name: &str| get(name).and_then(|v| v.parse().ok());
    Lineage {
        released_by: get(headers::RELEASED_BY),
        released_at_ms: ms(headers::RELEASED_AT),
        admitted_by: get(headers::ADMITTED_BY),
        admitted_at_ms: ms(headers::ADMITTED_AT),
        key_id: get(headers::KEY_ID),
        decision: get(headers::DECISION),
        translated_label: get(headers::TRANSLATED_LABEL),
        translator: get(headers::TRANSLATOR),
        policy_versions: get(headers::POLICY_VERSIONS),
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
