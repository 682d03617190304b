//! The SDK's errors. Each says what went wrong and what the caller can do.
//!
//! One enum for the crate, a variant per operation that can fail
//! (connecting, publishing, consuming, closing, decoding, ...). Where a
//! library error caused the failure (async-nats, the JetStream API, the
//! protobuf decoder, a task join), the variant keeps it as its
//! [`std::error::Error::source`], typed, so a caller can downcast it (for
//! example to `async_nats::jetstream::context::PublishError` and read its
//! `kind()`). The message (`Display`) is complete on its own: it already
//! says what the cause said, so printing the chain repeats it.
use coalition_core::DenyReason;

/// The library error behind a failure, typed (downcast it to match on it).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors from producing and subscribing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// Cannot reach or authenticate to NATS.
    #[error("cannot connect to NATS at {servers}: {detail}. Check the URLs, that the servers run, and that the client certificate is this nation's and not revoked (tls/<NATION>/crl.pem)")]
    Connect {
        /// The URLs tried.
        servers: String,
        /// The client's error.
        detail: String,
        /// The library error behind it, if any.
        #[source]
        source: Option<Cause>,
    },
    /// The TLS files given to the client are unusable.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] coalition_tls::TlsError),
    /// The bridge has not created the streams this client needs.
    #[error("stream {stream} is not available: {detail}. Start the nation's bridge first; it creates the streams")]
    StreamUnavailable {
        /// The stream.
        stream: String,
        /// The server's answer.
        detail: String,
        /// The library error behind it, if any.
        #[source]
        source: Option<Cause>,
    },
    /// Publishing failed: the batch is not known to be stored. The SDK keeps
    /// the sealed batch and publishes it again, with the same bytes, before
    /// anything newer on its feed (on the next publish or
    /// [`crate::Producer::flush`]): do not publish its records again.
    #[error("publish to {subject} failed: {detail}")]
    Publish {
        /// The subject.
        subject: String,
        /// The server's answer.
        detail: String,
        /// The library error behind it, if any.
        #[source]
        source: Option<Cause>,
    },
    /// Consuming failed.
    #[error("consuming {stream} failed: {detail}")]
    Consume {
        /// The stream.
        stream: String,
        /// The server's answer.
        detail: String,
        /// The library error behind it, if any.
        #[source]
        source: Option<Cause>,
    },
    /// Closing an unnamed subscription could not delete its consumer.
    #[error("closing the subscription could not delete its consumer {consumer} on {stream}: {detail}. The server removes it after 5 idle minutes")]
    Close {
        /// The stream.
        stream: String,
        /// The consumer.
        consumer: String,
        /// What the server said.
        detail: String,
        /// The library error behind it, if any.
        #[source]
        source: Option<Cause>,
    },
    /// A key, certificate or label given to the SDK is not usable.
    #[error("{0}")]
    Identity(String),
    /// A delivery did not verify; it is not handed to the application. The
    /// bridge should never let this happen: report it to the nation's ops.
    #[error("delivery on {subject} failed verification: {reason}")]
    Verification {
        /// The subject it arrived on.
        subject: String,
        /// Why.
        reason: DenyReason,
    },
    /// The nation's schema policy in force does not accept this version
    /// (not yet, or no longer): nothing was published. Publish in the
    /// version the policy accepts (docs/schemas.md).
    #[error("{message_type} schema version {version} is refused by your nation's schema policy in force ({reason}); nothing was published. Publish in a version the policy accepts (see docs/schemas.md)")]
    SchemaVersionRefused {
        /// `track` or `alert`.
        message_type: &'static str,
        /// The version refused.
        version: u32,
        /// `schema_version_retired`, `schema_version_not_yet_accepted` or
        /// `unknown_schema_version`.
        reason: DenyReason,
    },
    /// Another writer holds the feed: a feed has one writer at a time, so
    /// that its sequence numbers never collide. Nothing was published.
    #[error("feed {feed} is held by another writer ({holder}). A feed has one writer at a time: stop the other writer, or, if it died, wait 10 s for its hold to expire, then publish again")]
    FeedHeld {
        /// The feed.
        feed: String,
        /// Who holds it, as that writer described itself (instance, host, pid).
        holder: String,
    },
    /// The feed name cannot be used as given. Nothing was published.
    #[error("feed {feed:?} cannot be used: {detail}")]
    InvalidFeed {
        /// The feed name given.
        feed: String,
        /// Why, and what to do instead.
        detail: String,
    },
    /// The payload did not decode as its schema.
    #[error("payload on {subject} does not decode as {schema}: {detail}")]
    Payload {
        /// The subject.
        subject: String,
        /// The schema.
        schema: String,
        /// The decoder's error.
        detail: String,
        /// The library error behind it, if any.
        #[source]
        source: Option<Cause>,
    },
    /// A topic that no alert could match (a category that is not a token).
    #[error("cannot subscribe: {detail}")]
    InvalidTopicFilter {
        /// What is wrong with it.
        detail: String,
    },
    /// An alert whose category and severity cannot be its topic's subject
    /// tokens; nothing was published.
    #[error("alert {alert_id:?} not published: {detail}")]
    InvalidTopic {
        /// The alert's id.
        alert_id: String,
        /// What is wrong with its category or severity.
        detail: String,
    },
}

impl SdkError {
    /// A copy of this error, for when one failure fails several receipts.
    /// TLS errors (which only occur when connecting) are copied as their
    /// text; a copy keeps its cause's text but not the cause itself (the
    /// first receipt gets the original).
    pub(crate) fn duplicate(&self) -> SdkError {
        match self {
            SdkError::Connect {
                servers, detail, ..
            } => SdkError::Connect {
                servers: servers.clone(),
                detail: detail.clone(),
                source: None,
            },
            SdkError::StreamUnavailable { stream, detail, .. } => SdkError::StreamUnavailable {
                stream: stream.clone(),
                detail: detail.clone(),
                source: None,
            },
            SdkError::Publish {
                subject, detail, ..
            } => SdkError::Publish {
                subject: subject.clone(),
                detail: detail.clone(),
                source: None,
            },
            SdkError::Consume { stream, detail, .. } => SdkError::Consume {
                stream: stream.clone(),
                detail: detail.clone(),
                source: None,
            },
            SdkError::Close {
                stream,
                consumer,
                detail,
                ..
            } => SdkError::Close {
                stream: stream.clone(),
                consumer: consumer.clone(),
                detail: detail.clone(),
                source: None,
            },
            SdkError::Identity(m) => SdkError::Identity(m.clone()),
            SdkError::Verification { subject, reason } => SdkError::Verification {
                subject: subject.clone(),
                reason: *reason,
            },
            SdkError::SchemaVersionRefused {
                message_type,
                version,
                reason,
            } => SdkError::SchemaVersionRefused {
                message_type,
                version: *version,
                reason: *reason,
            },
            SdkError::FeedHeld { feed, holder } => SdkError::FeedHeld {
                feed: feed.clone(),
                holder: holder.clone(),
            },
            SdkError::InvalidFeed { feed, detail } => SdkError::InvalidFeed {
                feed: feed.clone(),
                detail: detail.clone(),
            },
            SdkError::Payload {
                subject,
                schema,
                detail,
                ..
            } => SdkError::Payload {
                subject: subject.clone(),
                schema: schema.clone(),
                detail: detail.clone(),
                source: None,
            },
            SdkError::InvalidTopicFilter { detail } => SdkError::InvalidTopicFilter {
                detail: detail.clone(),
            },
            SdkError::InvalidTopic { alert_id, detail } => SdkError::InvalidTopic {
                alert_id: alert_id.clone(),
                detail: detail.clone(),
            },
            SdkError::Tls(e) => SdkError::Connect {
                servers: String::new(),
                detail: e.to_string(),
                source: None,
            },
        }
    }

    /// This error with `cause` as its source, for the variants that carry
    /// one (the others are returned as they are).
    pub(crate) fn with_source(mut self, cause: impl Into<Cause>) -> SdkError {
        match &mut self {
            SdkError::Connect { source, .. }
            | SdkError::StreamUnavailable { source, .. }
            | SdkError::Publish { source, .. }
            | SdkError::Consume { source, .. }
            | SdkError::Close { source, .. }
            | SdkError::Payload { source, .. } => *source = Some(cause.into()),
            _ => {}
        }
        self
    }
}
