//! Connections and streams: one NATS connection per account the bridge
//! works in, and the streams it owns (created if missing, idempotently).
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use coalition_topology::{streams, subjects, Credential, Kind};

use crate::BridgeError;

/// Connects to `servers` as `cred`, for `account`, over mutual TLS with
/// `cred`'s certificate (which names the user).
pub(crate) async fn connect(
    nation: &str,
    account: &str,
    servers: &[String],
    cred: &Credential,
) -> Result<async_nats::Client, BridgeError> {
    use async_nats::ConnectErrorKind;
    // Servers that are still starting (a whole nation brought up at once,
    // as in the compose exercises) are waited for; refused credentials are
    // not: they will not get better.
    let deadline = tokio::time::Instant::now() + STARTUP_PATIENCE;
    // Read and built once, not on every retry.
    let config = coalition_tls::client_config(&cred.tls)
        .map_err(|e| BridgeError::Config(format!("TLS files of user {}: {e}", cred.user)))?;
    loop {
        let attempt = coalition_tls::connect_options_with(config.clone())
            .name(format!("{nation}-bridge-{account}"))
            .connect(servers)
            .await;
        let e = match attempt {
            Ok(client) => return Ok(client),
            Err(e) => e,
        };
        let unreachable = matches!(
            e.kind(),
            ConnectErrorKind::Io | ConnectErrorKind::TimedOut | ConnectErrorKind::Dns
        );
        if !unreachable || tokio::time::Instant::now() >= deadline {
            return Err(BridgeError::Connect {
                account: account.into(),
                servers: servers.join(","),
                user: cred.user.clone(),
                detail: e.to_string(),
            });
        }
        tracing::warn!(%nation, %account, servers = %servers.join(","), error = %e, "servers not reachable yet; retrying");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates `name` capturing `subjects` if it does not exist.
pub(crate) async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: &str,
    replicas: usize,
    max_age: Duration,
) -> Result<stream::Stream, BridgeError> {
    js.get_or_create_stream(stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        max_age,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| BridgeError::js(format!("create stream {name}"), e))
}

/// How many batches a stage without a rate limit may have delivered and
/// not yet acknowledged: two cycles' worth, so the next cycle is pulled
/// while one is stored, and nothing waits in the stage past the 5 s ack
/// wait (a batch holds up to thousands of records; 2,048 of them did).
pub(crate) const UNPACED_MAX_ACK_PENDING: usize = 2 * crate::gate::MAX_BATCH;

/// The durable pull consumer `durable` on `stream`, created if missing and
/// updated if its settings differ (a rate limit changed since it was made).
///
/// `max_ack_pending` bounds what the server delivers ahead of the stage's
/// acknowledgements. A rate-limited stage passes its window
/// ([`crate::rate::window`]): it is never sent more than it may take at
/// once, so the rest of a backlog waits in the source stream rather than in
/// the stage, where it would outlive the ack wait and be redelivered, over
/// and over, across the link (load the partner's flood would put on the
/// whole receiving nation).
pub(crate) async fn durable_consumer(
    stream: &stream::Stream,
    durable: &str,
    max_ack_pending: usize,
) -> Result<jetstream::consumer::PullConsumer, BridgeError> {
    stream
        .create_consumer(pull::Config {
            durable_name: Some(durable.into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            // Short, so a message stranded on a pull request that died with
            // its link is redelivered soon; see `gate`.
            ack_wait: Duration::from_secs(5),
            max_ack_pending: i64::try_from(max_ack_pending).unwrap_or(i64::MAX),
            ..Default::default()
        })
        .await
        .map_err(|e| BridgeError::js(format!("consumer {durable}"), e))
}

/// The home streams: each lane's OUTBOUND and INBOUND, DEADLETTER,
/// POSITIONS, and the producers' FEED_WRITERS bucket. Returns each lane's
/// OUTBOUND.
pub(crate) async fn ensure_home_streams(
    js: &jetstream::Context,
    replicas: usize,
    max_age: Duration,
) -> Result<Vec<(Kind, stream::Stream)>, BridgeError> {
    let mut outbound = Vec::new();
    for kind in Kind::ALL {
        let out = subjects::lane_filter("out", kind);
        let stream = ensure_stream(js, streams::outbound(kind), &out, replicas, max_age).await?;
        outbound.push((kind, stream));
        let inbound = subjects::lane_filter("in", kind);
        ensure_stream(js, streams::inbound(kind), &inbound, replicas, max_age).await?;
    }
    ensure_stream(
        js,
        streams::DEADLETTER,
        "dlq.>",
        replicas,
        Duration::from_secs(30 * 86400),
    )
    .await?;
    js.get_or_create_stream(stream::Config {
        name: streams::POSITIONS.into(),
        subjects: vec!["pos.>".into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        max_messages_per_subject: 1,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| BridgeError::js("create stream POSITIONS", e))?;
    ensure_feed_writers(js, replicas).await?;
    Ok(outbound)
}

/// How long a producer's hold on a feed lasts after its last renewal.
pub(crate) const FEED_WRITER_TTL: Duration = Duration::from_secs(10);

/// The key-value bucket in which producers hold the feeds they write (the
/// SDK refuses a second live writer of a feed).
async fn ensure_feed_writers(js: &jetstream::Context, replicas: usize) -> Result<(), BridgeError> {
    let bucket = streams::FEED_WRITERS_BUCKET;
    if js.get_key_value(bucket).await.is_ok() {
        return Ok(());
    }
    js.create_key_value(jetstream::kv::Config {
        bucket: bucket.into(),
        history: 1,
        max_age: FEED_WRITER_TTL,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| BridgeError::js(format!("create bucket {bucket}"), e))
}

/// A release account's streams: each lane's RELEASED.
pub(crate) async fn ensure_released_streams(
    js: &jetstream::Context,
    replicas: usize,
    max_age: Duration,
) -> Result<(), BridgeError> {
    for kind in Kind::ALL {
        let rel = subjects::lane_filter("rel", kind);
        ensure_stream(js, streams::released(kind), &rel, replicas, max_age).await?;
    }
    Ok(())
}

/// The pull consumer `partner`'s bridge reads on each RELEASED lane of its
/// release account (`ingress_<partner>`), created if missing. The sending
/// bridge makes and owns it: the partner's leaf user may only read and ack
/// through it, and creates nothing here, so it cannot start a push consumer
/// whose deliveries would land in this account's streams.
///
/// What the server hands out ahead of acks is bounded here; the partner's
/// own rate limit is kept by how much its stage asks for at once.
pub(crate) async fn ensure_partner_consumers(
    js: &jetstream::Context,
    partner: &str,
) -> Result<(), BridgeError> {
    let name = streams::ingress_consumer(partner);
    for kind in Kind::ALL {
        let released = streams::released(kind);
        let stream = js
            .get_stream(released)
            .await
            .map_err(|e| BridgeError::js(format!("{released} stream"), e))?;
        durable_consumer(&stream, &name, UNPACED_MAX_ACK_PENDING).await?;
    }
    Ok(())
}

/// How long start-up keeps retrying JetStream operations that fail while a
/// cluster is still electing leaders or placing streams.
const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

/// Runs `op` until it succeeds, retrying JetStream errors (not others) with
/// backoff for up to [`STARTUP_PATIENCE`]: a bridge started together with
/// its cluster waits for it instead of exiting.
pub(crate) async fn patiently<T, F, Fut>(what: &str, mut op: F) -> Result<T, BridgeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BridgeError>>,
{
    let deadline = tokio::time::Instant::now() + STARTUP_PATIENCE;
    let mut delay = Duration::from_millis(200);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e @ BridgeError::JetStream { .. }) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%what, error = %e, "JetStream not ready; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}
