//! The producer side: seal each message with the producer's ML-DSA key and
//! publish it to the nation's OUTBOUND stream, where the bridge picks it up.
//!
//! Sequence numbers are per feed, start at 1 and continue across restarts
//! (the next number is read from the stream on first use). A number is only
//! consumed once the stream acknowledged the message; a failed publish is
//! retried with the same number, and JetStream's `Nats-Msg-Id` de-duplication
//! makes the retry safe.
use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream;
use bytes::Bytes;
use coalition_core::envelope::{
    decode_envelope, seal, MessageType, ProducerIdentity, SealRequest, SourceRef,
};
use coalition_core::label::Label;
use coalition_schemas::headers;
use coalition_schemas::v1::{AlertV1, TrackV1, TrackV2};
use prost::Message;
use tokio::sync::Mutex;

use crate::connect::ConnectSpec;
use crate::schema_watch::SchemaWatch;
use crate::{now_ms, SdkError};

const OUTBOUND: &str = "OUTBOUND";

/// Options for [`Producer`]; a builder.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    spec: ConnectSpec,
    nation_root: Option<coalition_core::keys::PublicKey>,
}

impl ProducerOptions {
    /// Connect to these servers (`nats://host:port`).
    ///
    /// ```
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"]);
    /// ```
    pub fn new<S: AsRef<str>>(servers: impl IntoIterator<Item = S>) -> Self {
        ProducerOptions {
            spec: ConnectSpec::new(servers, "coalition-producer"),
            nation_root: None,
        }
    }

    /// Producer `producer_id` of a nation's clients file: its servers, its
    /// NATS user and its TLS identity.
    pub fn from_clients(
        clients: &coalition_topology::ClientsConfig,
        producer_id: &str,
    ) -> Result<Self, SdkError> {
        let (cred, tls) = clients
            .producer(producer_id)
            .ok_or_else(|| SdkError::Connect {
                servers: clients.servers.join(","),
                detail: format!(
                    "the clients file of {} has no producer {producer_id}",
                    clients.nation
                ),
            })?;
        Ok(Self::new(&clients.servers)
            .credentials(&cred.user, &cred.password)
            .tls(tls.clone()))
    }

    /// Authenticate as this NATS user.
    ///
    /// ```
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"])
    ///     .credentials("USA-producer-radar-1", "password");
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

    /// Follow the nation's schema policies (verified against its `root`),
    /// so that publishing a version the policy in force does not accept
    /// fails at once with [`SdkError::SchemaVersionRefused`] instead of
    /// being dead-lettered by the bridge.
    pub fn nation_root(mut self, root: coalition_core::keys::PublicKey) -> Self {
        self.nation_root = Some(root);
        self
    }

    /// Connects, as `identity`.
    pub async fn connect(self, identity: ProducerIdentity) -> Result<Producer, SdkError> {
        let client = self.spec.connect().await?;
        let js = jetstream::new(client);
        let stream = js
            .get_stream(OUTBOUND)
            .await
            .map_err(|e| SdkError::StreamUnavailable {
                stream: OUTBOUND.into(),
                detail: e.to_string(),
            })?;
        let schemas = match self.nation_root {
            Some(root) => {
                let anchors = [(identity.nation.clone(), root)].into_iter().collect();
                Some(SchemaWatch::start(&js, &identity.nation, anchors).await?)
            }
            None => None,
        };
        Ok(Producer {
            js,
            stream,
            identity: Arc::new(identity),
            next_seq: Mutex::new(HashMap::new()),
            schemas,
        })
    }
}

/// What the stream acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The message's sequence number in its feed.
    pub seq: u64,
    /// Whether JetStream saw it before (a retry of a stored message).
    pub duplicate: bool,
}

/// A connected producer. Publishing is serialised per producer, so each
/// feed's sequence numbers are stored in order.
#[derive(Debug)]
pub struct Producer {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    identity: Arc<ProducerIdentity>,
    next_seq: Mutex<HashMap<String, u64>>,
    /// The nation's schema policies, if followed ([`ProducerOptions::nation_root`]).
    schemas: Option<SchemaWatch>,
}

impl Producer {
    /// Seals and publishes a track delta on `feed`.
    pub async fn publish_track(
        &self,
        feed: &str,
        label: &Label,
        track: &TrackV1,
    ) -> Result<PublishReceipt, SdkError> {
        self.publish(MessageType::Track, feed, Item::track(label, track))
            .await
    }

    /// Seals and publishes a track delta in schema version 2 on `feed`.
    /// The nation's schema policy decides whether v2 is accepted yet: a
    /// bridge refuses (and dead-letters) a version outside it
    /// (docs/schemas.md).
    pub async fn publish_track_v2(
        &self,
        feed: &str,
        label: &Label,
        track: &TrackV2,
    ) -> Result<PublishReceipt, SdkError> {
        self.publish(MessageType::Track, feed, Item::track_v2(label, track))
            .await
    }

    /// Seals and publishes a composite track (e.g. fused from several
    /// sources): `label` must be at least as restrictive as the composite
    /// of the sources' labels (see `coalition_core::composite`), and every
    /// source's lineage is carried in the signed header.
    pub async fn publish_derived_track(
        &self,
        feed: &str,
        label: &Label,
        track: &TrackV1,
        sources: Vec<SourceRef>,
    ) -> Result<PublishReceipt, SdkError> {
        let mut item = Item::track(label, track);
        item.derived_from = sources;
        self.publish(MessageType::Track, feed, item).await
    }

    /// Seals and publishes a correction of the delta `corrects_seq` on `feed`.
    pub async fn publish_track_correction(
        &self,
        feed: &str,
        label: &Label,
        track: &TrackV1,
        corrects_seq: u64,
    ) -> Result<PublishReceipt, SdkError> {
        let mut item = Item::track(label, track);
        item.corrects_seq = Some(corrects_seq);
        self.publish(MessageType::Track, feed, item).await
    }

    /// Seals and publishes an alert on `feed`.
    pub async fn publish_alert(
        &self,
        feed: &str,
        label: &Label,
        alert: &AlertV1,
    ) -> Result<PublishReceipt, SdkError> {
        let item = Item {
            label: label.clone(),
            schema_version: 1,
            payload: Bytes::from(alert.encode_to_vec()),
            corrects_seq: None,
            product_id: alert.alert_id.clone(),
            derived_from: Vec::new(),
        };
        self.publish(MessageType::Alert, feed, item).await
    }

    /// The producer's id.
    pub fn producer_id(&self) -> &str {
        &self.identity.producer_id
    }

    async fn publish(
        &self,
        kind: MessageType,
        feed: &str,
        item: Item,
    ) -> Result<PublishReceipt, SdkError> {
        let mut receipts = self.publish_batch(kind, feed, vec![item]).await?;
        receipts.pop().ok_or_else(|| SdkError::Publish {
            subject: feed.to_string(),
            detail: "no receipt".into(),
        })
    }

    /// Seals and publishes many track deltas on `feed` at once: signatures
    /// are made on all cores, publishes are pipelined and their acks awaited
    /// together, so the cost of a stored (fsync'd) acknowledgement is paid
    /// once per batch rather than once per message. Receipts come back in
    /// order. On an error, the messages before the failed one are stored;
    /// the next publish retries from the failed sequence number (stored
    /// duplicates are absorbed by `Nats-Msg-Id` de-duplication).
    pub async fn publish_tracks(
        &self,
        feed: &str,
        tracks: &[(Label, TrackV1)],
    ) -> Result<Vec<PublishReceipt>, SdkError> {
        let items = tracks
            .iter()
            .map(|(label, track)| Item::track(label, track))
            .collect();
        self.publish_batch(MessageType::Track, feed, items).await
    }

    async fn publish_batch(
        &self,
        kind: MessageType,
        feed: &str,
        items: Vec<Item>,
    ) -> Result<Vec<PublishReceipt>, SdkError> {
        if let Some(schemas) = &self.schemas {
            for item in &items {
                schemas.check(kind, item.schema_version)?;
            }
        }
        let subject = format!("out.{}.{}.{feed}", kind.as_str(), self.identity.producer_id);
        let mut next = self.next_seq.lock().await;
        let first = match next.get(feed) {
            Some(seq) => *seq,
            None => self.last_stored_seq(&subject).await? + 1,
        };
        let envelopes = seal_all(&self.identity, kind, feed, first, items).await?;
        let publish_error = |e: &dyn std::fmt::Display| SdkError::Publish {
            subject: subject.clone(),
            detail: e.to_string(),
        };
        let mut pending = Vec::with_capacity(envelopes.len());
        let mut failure = None;
        for (i, envelope) in envelopes.into_iter().enumerate() {
            let seq = first + i as u64;
            let mut hdrs = async_nats::HeaderMap::new();
            let id = format!(
                "{}.{}.{feed}.{seq}",
                self.identity.nation, self.identity.producer_id
            );
            hdrs.insert(headers::MSG_ID, id.as_str());
            match self
                .js
                .publish_with_headers(subject.clone(), hdrs, envelope)
                .await
            {
                Ok(ack) => pending.push((seq, ack)),
                Err(e) => {
                    failure = Some(publish_error(&e));
                    break;
                }
            }
        }
        let mut receipts = Vec::with_capacity(pending.len());
        for (seq, ack) in pending {
            let ack = ack.await.map_err(|e| publish_error(&e))?;
            next.insert(feed.to_string(), seq + 1);
            receipts.push(PublishReceipt {
                seq,
                duplicate: ack.duplicate,
            });
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(receipts),
        }
    }

    /// The highest seq stored for `subject`, or 0 if none.
    async fn last_stored_seq(&self, subject: &str) -> Result<u64, SdkError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(msg) => decode_envelope(&msg.payload)
                .map(|e| e.header.seq)
                .map_err(|reason| SdkError::Publish {
                    subject: subject.into(),
                    detail: format!(
                        "the last message stored on this feed is not a valid envelope ({reason}), so the \
                         next sequence number is unknown; only this producer's credentials can write \
                         there, so check for another process using them, then have the nation's ops \
                         purge that message from OUTBOUND (it is already in DEADLETTER)"
                    ),
                }),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(e) => Err(SdkError::Publish {
                subject: subject.into(),
                detail: format!("cannot read the feed's last sequence number: {e}"),
            }),
        }
    }
}

/// One message to seal.
#[derive(Debug, Clone)]
struct Item {
    label: Label,
    /// The payload's schema version (1 unless a v2 track).
    schema_version: u32,
    payload: Bytes,
    corrects_seq: Option<u64>,
    /// Track id or alert id: what a product retraction names.
    product_id: String,
    derived_from: Vec<SourceRef>,
}

impl Item {
    fn track(label: &Label, track: &TrackV1) -> Self {
        Item {
            label: label.clone(),
            schema_version: 1,
            payload: Bytes::from(track.encode_to_vec()),
            corrects_seq: None,
            product_id: track.track_id.clone(),
            derived_from: Vec::new(),
        }
    }

    fn track_v2(label: &Label, track: &TrackV2) -> Self {
        Item {
            label: label.clone(),
            schema_version: 2,
            payload: Bytes::from(track.encode_to_vec()),
            corrects_seq: None,
            product_id: track.track_id.clone(),
            derived_from: Vec::new(),
        }
    }
}

/// Seals `items` as seqs `first..`, spread over the blocking pool.
async fn seal_all(
    identity: &Arc<ProducerIdentity>,
    kind: MessageType,
    feed: &str,
    first: u64,
    items: Vec<Item>,
) -> Result<Vec<Bytes>, SdkError> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = items.len().div_ceil(workers).max(1);
    let mut tasks = Vec::new();
    let mut items = items.into_iter();
    let mut seq = first;
    loop {
        let part: Vec<_> = items.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let (identity, feed, start) = (identity.clone(), feed.to_string(), seq);
        seq += part.len() as u64;
        tasks.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .enumerate()
                .map(|(i, item)| {
                    seal(
                        &identity,
                        &SealRequest {
                            message_type: kind,
                            schema_version: item.schema_version,
                            label: &item.label,
                            feed: &feed,
                            seq: start + i as u64,
                            corrects_seq: item.corrects_seq,
                            payload: item.payload,
                            product_id: &item.product_id,
                            derived_from: &item.derived_from,
                            now_ms: now_ms(),
                        },
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        }));
    }
    let mut sealed = Vec::new();
    for t in tasks {
        sealed.extend(
            t.await
                .map_err(|e| SdkError::Identity(format!("signing task failed: {e}")))?
                .map_err(|e| SdkError::Identity(e.to_string()))?,
        );
    }
    Ok(sealed)
}
