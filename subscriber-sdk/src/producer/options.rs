//! [`ProducerOptions`]: where to connect, as whom, and how to batch.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use coalition_core::batch::MAX_RECORDS;
use coalition_core::envelope::ProducerIdentity;
use coalition_topology::streams;
use tokio::sync::Semaphore;

use super::batcher::Limits;
use super::outbound::publish_certificate;
use super::{Producer, Shared};
use crate::connect::ConnectSpec;
use crate::schema_watch::SchemaWatch;
use crate::SdkError;

/// Default most records per batch: 256, not 64. Batches fill only when
/// the feed is faster than its pipeline (the linger bounds them
/// otherwise), and there each signature and three verifications are paid
/// per batch: at 200 B, 256 carried about 1.5x the records/s of 64
/// (docs/performance.md).
const DEFAULT_RECORDS: usize = 256;
/// Default most bytes of encoded records per batch.
const DEFAULT_BYTES: usize = 256 * 1024;
/// Default linger of a track batch.
const DEFAULT_LINGER: Duration = Duration::from_millis(5);
/// Default batches in flight per producer.
const DEFAULT_IN_FLIGHT: usize = 8;

/// Options for [`Producer`]; a builder.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    spec: ConnectSpec,
    nation_root: Option<coalition_core::keys::PublicKey>,
    limits: Limits,
    in_flight: usize,
}

impl ProducerOptions {
    /// The default of [`ProducerOptions::max_batch_records`].
    pub const DEFAULT_MAX_BATCH_RECORDS: usize = DEFAULT_RECORDS;

    /// Connect to these servers (`nats://host:port`).
    ///
    /// ```
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"]);
    /// ```
    pub fn new<S: AsRef<str>>(servers: impl IntoIterator<Item = S>) -> Self {
        ProducerOptions {
            spec: ConnectSpec::new(servers, "coalition-producer"),
            nation_root: None,
            limits: Limits {
                max_records: DEFAULT_RECORDS,
                max_bytes: DEFAULT_BYTES,
                linger: DEFAULT_LINGER,
            },
            in_flight: DEFAULT_IN_FLIGHT,
        }
    }

    /// Producer `producer_id` of a nation's clients file: its servers, its
    /// NATS user and its TLS identity.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let clients = coalition_topology::ClientsConfig::load("clients/USA.toml".as_ref())?;
    /// let opts = coalition_sdk::ProducerOptions::from_clients(&clients, "radar-1")?;
    /// # Ok(()) }
    /// ```
    pub fn from_clients(
        clients: &coalition_topology::ClientsConfig,
        producer_id: &str,
    ) -> Result<Self, SdkError> {
        let cred = clients
            .producer(producer_id)
            .ok_or_else(|| SdkError::Connect {
                source: None,
                servers: clients.servers.join(","),
                detail: format!(
                    "the clients file of {} has no producer {producer_id}",
                    clients.nation
                ),
            })?;
        Ok(Self::new(&clients.servers).tls(cred.tls.clone()))
    }

    /// Authenticate as this NATS user with a password: for a server that
    /// does not take the user from the client certificate (a generated mesh
    /// does, and needs only [`ProducerOptions::tls`]).
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
    /// this client's certificate and key, and the authority's CRL). A
    /// generated mesh requires it, and takes the user from the certificate.
    ///
    /// ```
    /// let tls = coalition_tls::ClientTls {
    ///     ca: "tls/ca.pem".into(),
    ///     certificate: "tls/radar-1.pem".into(),
    ///     key: "tls/radar-1.key".into(),
    ///     crl: Some("tls/crl.pem".into()),
    /// };
    /// let opts = coalition_sdk::ProducerOptions::new(["tls://127.0.0.1:4222"]).tls(tls);
    /// ```
    pub fn tls(mut self, files: coalition_tls::ClientTls) -> Self {
        self.spec.tls = Some(files);
        self
    }

    /// Follow the nation's schema policies (verified against its `root`),
    /// so that publishing a version the policy in force does not accept
    /// fails at once with [`SdkError::SchemaVersionRefused`] instead of
    /// being dead-lettered by the bridge.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), coalition_sdk::SdkError> {
    /// let root = coalition_sdk::load_trust_anchor("keys/USA/root.pub".as_ref())?;
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"]).nation_root(root);
    /// # Ok(()) }
    /// ```
    pub fn nation_root(mut self, root: coalition_core::keys::PublicKey) -> Self {
        self.nation_root = Some(root);
        self
    }

    /// At most `records` records per batch (default 256; 1 to 4096, values
    /// outside are brought into that range).
    ///
    /// ```
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"])
    ///     .max_batch_records(64);
    /// ```
    pub fn max_batch_records(mut self, records: usize) -> Self {
        let max = usize::try_from(MAX_RECORDS).unwrap_or(usize::MAX);
        self.limits.max_records = records.clamp(1, max);
        self
    }

    /// At most `bytes` bytes of encoded records (headers and payloads) per
    /// batch (default 256 KiB). A record larger than that on its own is
    /// sealed alone. The batch adds its header and signature (about 3.5 KB)
    /// once; keep the total under the servers' `max_payload` (1 MiB by
    /// default).
    ///
    /// ```
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"])
    ///     .max_batch_bytes(64 * 1024);
    /// ```
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_bytes = bytes;
        self
    }

    /// How long a track may wait for others to join its batch (default
    /// 5 ms): longer makes fewer, larger batches (one signature each) at the
    /// cost of latency. Zero seals as soon as the feed has nothing in
    /// flight. Alerts never wait, whatever this says.
    ///
    /// ```
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"])
    ///     .linger(std::time::Duration::from_millis(20));
    /// ```
    pub fn linger(mut self, linger: Duration) -> Self {
        self.limits.linger = linger;
        self
    }

    /// At most `batches` batches per producer being sealed or published at
    /// once (default 8, at least 1); beyond that, enqueueing waits.
    ///
    /// ```
    /// let opts = coalition_sdk::ProducerOptions::new(["nats://127.0.0.1:4222"])
    ///     .in_flight_batches(16);
    /// ```
    pub fn in_flight_batches(mut self, batches: usize) -> Self {
        self.in_flight = batches.max(1);
        self
    }

    /// Connects as `identity`, publishes its certificate on the nation's
    /// CONTROL stream (batches name it by digest) and opens the writers
    /// bucket. Fails if the bridge has not created them.
    pub async fn connect(self, identity: ProducerIdentity) -> Result<Producer, SdkError> {
        let client = self.spec.connect().await?;
        let js = jetstream::new(client);
        publish_certificate(&js, &identity).await?;
        let writers = js
            .get_key_value(streams::FEED_WRITERS_BUCKET)
            .await
            .map_err(|e| {
                SdkError::StreamUnavailable {
                    source: None,
                    stream: streams::FEED_WRITERS_STREAM.into(),
                    detail: e.to_string(),
                }
                .with_source(e)
            })?;
        let schemas = match self.nation_root {
            Some(root) => {
                let anchors = [(identity.nation.clone(), root)].into_iter().collect();
                Some(SchemaWatch::start(&js, &identity.nation, anchors).await?)
            }
            None => None,
        };
        let writer = describe_writer(&identity.producer_id);
        Ok(Producer {
            shared: Arc::new(Shared {
                js,
                identity: Arc::new(identity),
                limits: self.limits,
                window: Arc::new(Semaphore::new(self.in_flight)),
                writers,
                writer,
            }),
            feeds: Mutex::new(HashMap::new()),
            schemas,
        })
    }
}

/// How a producer describes itself to another writer of its feeds:
/// `<producer> instance <random id> on <host> pid <pid>`. The random id
/// tells two producers of one process apart.
fn describe_writer(producer_id: &str) -> String {
    let mut id = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "an unknown host".into());
    format!(
        "{producer_id} instance {} on {host} pid {}",
        hex::encode(id),
        std::process::id()
    )
}
