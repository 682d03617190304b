//! The subscriber side: durable pull consumers on the nation's INBOUND
//! streams (what the bridge admitted from partners: INBOUND for tracks,
//! INBOUND_ALERTS for alerts) that yield verified, typed deliveries with
//! their label and lineage, one record at a time ([`Subscription`]).
//!
//! This module holds the options, the connection and what to subscribe
//! to ([`Topic`]); [`crate::subscription`] reads the messages.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use coalition_core::certificate::{CertificateCache, TrustAnchors};
use coalition_core::envelope::MessageType;
use coalition_schemas::v1::AlertSeverity;
use coalition_topology::{streams, subjects, Kind, TopicFilter};

use crate::certificates::Certificates;
use crate::connect::ConnectSpec;
use crate::continuity::DeliveredMap;
use crate::in_force::{history, in_force, InForceStart};
use crate::scope::Scope;
use crate::subscription::{Lane, Subscription, SubscriptionCore};
use crate::BoundingBox;
use crate::{lane, Delivery, SdkError};

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

    /// The subscriber of a nation's clients file: its servers and its
    /// certificate, which names its NATS user.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let clients = coalition_topology::ClientsConfig::load("clients/GBR.toml".as_ref())?;
    /// let opts = coalition_sdk::SubscriberOptions::from_clients(&clients);
    /// # Ok(()) }
    /// ```
    pub fn from_clients(clients: &coalition_topology::ClientsConfig) -> Self {
        Self::new(&clients.servers).tls(clients.subscriber.tls.clone())
    }

    /// Authenticate as this NATS user with a password: for a server that
    /// does not take the user from the client certificate (a generated mesh
    /// does, and needs only [`SubscriberOptions::tls`]).
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
    /// this client's certificate and key, and the authority's CRL). A
    /// generated mesh requires it, and takes the user from the certificate.
    ///
    /// ```
    /// let tls = coalition_tls::ClientTls {
    ///     ca: "tls/ca.pem".into(),
    ///     certificate: "tls/subscriber.pem".into(),
    ///     key: "tls/subscriber.key".into(),
    ///     crl: Some("tls/crl.pem".into()),
    /// };
    /// let opts = coalition_sdk::SubscriberOptions::new(["tls://127.0.0.1:4222"]).tls(tls);
    /// ```
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
    /// message. One name serves one [`Topic`]: subscribing to another topic
    /// under the same name is refused.
    ///
    /// ```
    /// let opts = coalition_sdk::SubscriberOptions::new(["nats://127.0.0.1:4222"])
    ///     .durable("gbr-alerting-1");
    /// ```
    pub fn durable(mut self, name: &str) -> Self {
        self.durable = Some(name.to_string());
        self
    }

    /// Connects. Subscribing fails later if the bridge has not created the
    /// INBOUND streams.
    pub async fn connect(self) -> Result<Subscriber, SdkError> {
        let client = self.spec.connect().await?;
        let js = jetstream::new(client);
        // Subscribers may read CONTROL's certificates by subject, not its
        // stream info.
        let control = js.get_stream_no_info(streams::CONTROL).await.map_err(|e| {
            SdkError::StreamUnavailable {
                source: None,
                stream: streams::CONTROL.into(),
                detail: e.to_string(),
            }
            .with_source(e)
        })?;
        Ok(Subscriber {
            js,
            certs: Arc::new(Certificates::new(
                CertificateCache::new(self.anchors),
                control,
            )),
            durable: self.durable,
            delivered: Arc::default(),
        })
    }
}

/// Which deliveries to receive, and in which schema version.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    kind: Option<MessageType>,
    origin: Option<String>,
    version: u32,
    alerts: TopicFilter,
    scope: Scope,
}

impl Topic {
    fn of(kind: Option<MessageType>) -> Self {
        Topic {
            kind,
            origin: None,
            version: 1,
            alerts: TopicFilter::default(),
            scope: Scope::default(),
        }
    }

    /// Tracks from every partner, in schema version 1 (stream INBOUND).
    ///
    /// ```
    /// let tracks = coalition_sdk::Topic::tracks();
    /// ```
    pub fn tracks() -> Self {
        Self::of(Some(MessageType::Track))
    }

    /// Alerts from every partner, in schema version 1 (stream
    /// INBOUND_ALERTS).
    ///
    /// ```
    /// let alerts = coalition_sdk::Topic::alerts();
    /// ```
    pub fn alerts() -> Self {
        Self::of(Some(MessageType::Alert))
    }

    /// Tracks and alerts from every partner, in schema version 1: both
    /// INBOUND streams, read by a consumer each, merged in turn so neither
    /// waits behind the other.
    ///
    /// ```
    /// let everything = coalition_sdk::Topic::all();
    /// ```
    pub fn all() -> Self {
        Self::of(None)
    }

    /// Only what `nation` produced.
    ///
    /// ```
    /// let usa_tracks = coalition_sdk::Topic::tracks().from_nation("USA");
    /// ```
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

    /// Only alerts of `category` (a token such as `air`; see
    /// `AlertV2::category`). The server filters: other categories never
    /// reach this subscriber. Tracks have no category: on
    /// [`Topic::all`], tracks are still delivered.
    ///
    /// ```
    /// let air = coalition_sdk::Topic::alerts().category("air");
    /// ```
    pub fn category(mut self, category: &str) -> Self {
        self.alerts.category = Some(category.to_string());
        self
    }

    /// Only alerts of `severity` or more severe (unknown, minor, moderate,
    /// severe, extreme, in that order), filtered by the server.
    ///
    /// ```
    /// use coalition_sdk::{AlertSeverity, Topic};
    /// let severe = Topic::alerts().min_severity(AlertSeverity::Severe);
    /// ```
    pub fn min_severity(mut self, severity: AlertSeverity) -> Self {
        self.alerts.min_severity = Some(severity);
        self
    }

    /// Only alerts whose area touches `area` (alerts with no area apply
    /// everywhere and always pass). The SDK filters, after verifying each
    /// alert; an update or cancel of an alert this subscription was given
    /// is always given too. Version 1 alerts have no area and always pass.
    ///
    /// ```
    /// use coalition_sdk::{BoundingBox, Topic};
    /// let south_england = BoundingBox::new(50.0, -6.0, 52.0, 2.0).unwrap();
    /// let here = Topic::alerts().version(2).area(south_england);
    /// ```
    pub fn area(mut self, area: BoundingBox) -> Self {
        self.scope.area = Some(area);
        self
    }

    /// Also give alerts whose `expires_at_ms` has passed (left out by
    /// default).
    pub fn include_expired(mut self) -> Self {
        self.scope.include_expired = true;
        self
    }

    /// The lanes this topic reads: alerts and tracks, or one of them.
    fn kinds(&self) -> Vec<Kind> {
        match self.kind {
            Some(kind) => vec![lane(kind)],
            None => vec![Kind::Alert, Kind::Track],
        }
    }

    /// The consumer's filter subjects on `kind`'s INBOUND stream.
    fn filter_subjects(&self, kind: Kind) -> Result<Vec<String>, SdkError> {
        if let Some(category) = &self.alerts.category {
            if !coalition_topology::is_category(category) {
                return Err(SdkError::InvalidTopicFilter {
                    detail: format!(
                        "category {category:?} is not 1 to 32 lowercase ASCII letters, digits \
                         or '-'; no alert could have it"
                    ),
                });
            }
        }
        if self.alerts.min_severity == Some(AlertSeverity::Unspecified) {
            return Err(SdkError::InvalidTopicFilter {
                detail: "the minimum severity is Unspecified, which no alert has; \
                         use AlertSeverity::Unknown to receive every severity"
                    .into(),
            });
        }
        Ok(subjects::inbound_filters(
            kind,
            self.origin.as_deref(),
            &self.alerts,
            self.version,
        ))
    }
}

/// A connected subscriber.
#[derive(Debug)]
pub struct Subscriber {
    js: jetstream::Context,
    certs: Arc<Certificates>,
    durable: Option<String>,
    /// What this subscriber delivered, per feed, across its subscriptions.
    delivered: Arc<Mutex<DeliveredMap>>,
}

impl Subscriber {
    /// Starts receiving `topic`: one durable consumer per INBOUND stream it
    /// reads (named as [`SubscriberOptions::durable`] says, or at random).
    pub async fn subscribe(&self, topic: Topic) -> Result<Subscription, SdkError> {
        self.subscribe_after(topic, None).await
    }

    /// For a late joiner: the alerts of `topic` still in force (unexpired,
    /// not superseded nor cancelled, within its area), verified, then the
    /// live subscription from just after them (see `in_force` in the
    /// crate's docs, docs/alerting.md). `topic` must be of alerts only. A
    /// named subscription that already exists resumes where it stopped
    /// instead, after the alerts in force are returned.
    pub async fn subscribe_in_force(&self, topic: Topic) -> Result<InForceStart, SdkError> {
        if topic.kinds() != [Kind::Alert] {
            return Err(SdkError::InvalidTopicFilter {
                detail: "the alerts in force are asked of a topic of alerts only \
                         (Topic::alerts())"
                    .into(),
            });
        }
        let stream = self
            .js
            .get_stream(streams::INBOUND_ALERTS)
            .await
            .map_err(|e| {
                SdkError::StreamUnavailable {
                    source: None,
                    stream: streams::INBOUND_ALERTS.into(),
                    detail: e.to_string(),
                }
                .with_source(e)
            })?;
        let messages = history(&stream, topic.filter_subjects(Kind::Alert)?).await?;
        let (alerts, last, delivered) = in_force(
            &self.certs,
            &messages,
            crate::now_ms(),
            topic.scope.include_expired,
        )
        .await?;
        let mut scope = crate::scope::ScopeState::new(topic.scope.clone());
        let alerts: Vec<Delivery> = alerts
            .into_iter()
            .filter(|d| scope.admits(&d.payload, crate::now_ms()))
            .collect();
        {
            let mut map = self
                .delivered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (key, d) in delivered {
                let known = map.get(&key).is_some_and(|k| k.seq >= d.seq);
                if !known {
                    map.insert(key, d);
                }
            }
        }
        let live = self.subscribe_after(topic, Some(last)).await?;
        Ok(InForceStart { alerts, live })
    }

    async fn subscribe_after(
        &self,
        topic: Topic,
        start_after: Option<u64>,
    ) -> Result<Subscription, SdkError> {
        // An unnamed subscription gets a random name: still a durable
        // consumer, replicated like its stream, so it survives the loss of a
        // server.
        let name = self.durable.clone().unwrap_or_else(|| {
            let mut id = [0u8; 8];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
            format!("sub-{}", hex::encode(id))
        });
        let mut lanes = Vec::new();
        for kind in topic.kinds() {
            let filters = topic.filter_subjects(kind)?;
            lanes.push(self.lane(kind, &name, filters, start_after).await?);
        }
        let ephemeral_name = self.durable.is_none().then(|| name.clone());
        Ok(Subscription::new(
            SubscriptionCore::new(
                lanes,
                self.certs.clone(),
                self.delivered.clone(),
                topic.scope.clone(),
            ),
            ephemeral_name,
        ))
    }

    async fn lane(
        &self,
        kind: Kind,
        name: &str,
        filters: Vec<String>,
        start_after: Option<u64>,
    ) -> Result<Lane, SdkError> {
        let stream_name = streams::inbound(kind);
        let consume_error = |e: &dyn std::fmt::Display| SdkError::Consume {
            source: None,
            stream: stream_name.into(),
            detail: e.to_string(),
        };
        let stream = self.js.get_stream(stream_name).await.map_err(|e| {
            SdkError::StreamUnavailable {
                source: None,
                stream: stream_name.into(),
                detail: e.to_string(),
            }
            .with_source(e)
        })?;
        let config = pull::Config {
            durable_name: Some(name.to_string()),
            // One filter, or one per severity a minimum lets through.
            filter_subject: match filters.as_slice() {
                [one] => one.clone(),
                _ => String::new(),
            },
            filter_subjects: if filters.len() > 1 {
                filters.clone()
            } else {
                Vec::new()
            },
            deliver_policy: match start_after {
                Some(seq) if seq > 0 => jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: seq + 1,
                },
                _ => jetstream::consumer::DeliverPolicy::All,
            },
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
        let filter = filters.join(" ");
        let consumer = stream
            .get_or_create_consumer(name, config)
            .await
            .map_err(|e| consume_error(&e).with_source(e))?;
        let existing = &consumer.cached_info().config;
        let existing = if existing.filter_subjects.is_empty() {
            existing.filter_subject.clone()
        } else {
            existing.filter_subjects.join(" ")
        };
        if existing != filter {
            return Err(consume_error(&format!(
                "the durable subscription {name} already exists for another topic ({existing}, not \
                 {filter}); give each topic its own durable name"
            )));
        }
        Lane::open(stream_name, stream, consumer)
            .await
            .map_err(|e| consume_error(&e).with_source(e))
    }
}
