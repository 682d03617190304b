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
use coalition_core::envelope::MessageType;
use futures::StreamExt;

use crate::connect::ConnectSpec;
use crate::continuity::{missing_before, plan, replay, Delivered, DeliveredMap};
use crate::delivery::{link_of, open_delivery, stream_seq_of, Delivery, Opened, INBOUND};
use crate::SdkError;

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

    /// The subscriber of a nation's clients file: its servers, its NATS
    /// user and its TLS identity.
    pub fn from_clients(clients: &coalition_topology::ClientsConfig) -> Self {
        Self::new(&clients.servers)
            .credentials(&clients.subscriber.user, &clients.subscriber.password)
            .tls(clients.subscriber_tls.clone())
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

    /// Connect over mutual TLS with these files (the authority to trust,
    /// this client's certificate and key). A generated mesh requires it.
    pub fn tls(mut self, files: coalition_tls::ClientTls) -> Self {
        self.spec.tls = Some(files);
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

/// Which deliveries to receive, and in which schema version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    kind: Option<MessageType>,
    origin: Option<String>,
    version: u32,
}

impl Topic {
    fn of(kind: Option<MessageType>) -> Self {
        Topic {
            kind,
            origin: None,
            version: 1,
        }
    }

    /// Tracks from every partner, in schema version 1.
    pub fn tracks() -> Self {
        Self::of(Some(MessageType::Track))
    }

    /// Alerts from every partner, in schema version 1.
    pub fn alerts() -> Self {
        Self::of(Some(MessageType::Alert))
    }

    /// Everything from every partner, in schema version 1.
    pub fn all() -> Self {
        Self::of(None)
    }

    /// Only what `nation` produced.
    pub fn from_nation(mut self, nation: &str) -> Self {
        self.origin = Some(nation.to_string());
        self
    }

    /// In schema version `version`: every message produced in it, and,
    /// during a dual-run window, every message produced in the other
    /// version, transcoded (docs/schemas.md).
    ///
    /// ```
    /// let v2_tracks = coalition_sdk::Topic::tracks().version(2);
    /// ```
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    fn filter_subject(&self) -> String {
        format!(
            "in.{}.{}.*.*.v{}",
            self.kind.map_or("*", |k| k.as_str()),
            self.origin.as_deref().unwrap_or("*"),
            self.version
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
        let mut gap = missing_before(last.map(|l| l.seq), opened.seq, prev);
        if let (Some(_), Some(l), Some(_)) = (gap, last, prev) {
            let subject = message.subject.to_string();
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
            let subject = message.subject.to_string();
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
