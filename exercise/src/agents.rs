//! The exercise's agents, each in its own container: a producer per feed
//! and an alerting subscriber per nation. They use the SDK exactly as a
//! real sensor and a real alerting system would, and write every publish
//! and every verified delivery to their ledger.
//!
//! - The producer waits for `start.json`, then publishes what its load
//!   ([`crate::load::Load`]) says is due, every 10 ms, for `duration_ms`,
//!   cycling through the runner's four labels
//!   ([`crate::expect::label_for`]). It does not wait for one track to be
//!   stored before the next: the SDK batches them, and a recorder task
//!   awaits the receipts in order and writes each stored track, with its
//!   seq, to the ledger. An enqueue the SDK refuses is written to the
//!   ledger and tried again with the same track; a receipt that reports a
//!   batch not stored is written as a failure and not published again
//!   (the SDK keeps that batch and publishes it, with the same bytes, on
//!   the next publish or the final flush).
//! - Beside its tracks, each producer raises one alert a second on its
//!   alert feed (added by the exercise, [`crate::layout::with_alert_feeds`]),
//!   labelled by the same cycle; alerts have their own lane end to end.
//! - The subscriber uses a durable subscription, so a restarted container
//!   resumes where it stopped.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coalition_sdk::{
    load_producer_identity, load_trust_anchor, AlertV1, Delivery, PendingReceipt, Producer,
    ProducerOptions, Severity, Subscriber, SubscriberOptions, Subscription, Topic, TrackV1,
    TrustAnchors,
};
use coalition_topology::{parse_topology_file, ClientsConfig, FeedKind, Topology};
use tokio::sync::{mpsc, watch};

use crate::ledger::{
    AlertsRecord, JsonlWriter, LabelRecord, LedgerDir, ProducerRecord, StartSignal,
};
use crate::{expect, now_ms, ExerciseError};

/// How long an agent keeps trying to connect while the mesh comes up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(180);
/// How long a producer waits for the start signal.
const START_PATIENCE: Duration = Duration::from_secs(900);
/// How often a producer publishes what its load says is due.
const TICK: Duration = Duration::from_millis(10);
/// Enqueued tracks whose receipts are not recorded yet; beyond this the
/// producer waits (the SDK's own in-flight window usually bites first).
const RECEIPTS_IN_FLIGHT: usize = 20_000;

/// Where an agent finds the mesh and writes its ledger.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The generated mesh folder (`/mesh` in the containers).
    pub dir: PathBuf,
    /// The agent's nation.
    pub nation: String,
    /// The ledger folder.
    pub ledger: PathBuf,
}

/// The topology file the exercise copied into the mesh folder.
pub fn mesh_topology(dir: &Path) -> Result<Topology, ExerciseError> {
    Ok(parse_topology_file(&dir.join("topology.toml"))?)
}

fn clients(dir: &Path, nation: &str) -> Result<ClientsConfig, ExerciseError> {
    let path = dir.join("clients").join(format!("{nation}.toml"));
    Ok(ClientsConfig::load(&path)?)
}

/// Retries `attempt` every 500 ms until it succeeds or `CONNECT_PATIENCE`
/// passes; the last error is returned.
async fn patiently<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, ExerciseError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ExerciseError>>,
{
    let deadline = Instant::now() + CONNECT_PATIENCE;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() < deadline => {
                tracing::info!(error = %e, "{what}: not yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(ExerciseError::Runtime(format!(
                    "{what}: gave up after {}s: {e}",
                    CONNECT_PATIENCE.as_secs()
                )))
            }
        }
    }
}

/// Runs a producer agent for `producer`'s `feed` until it has published
/// for the signalled duration (or `shutdown`).
pub async fn produce(
    opts: &AgentOptions,
    producer_id: &str,
    feed: &str,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ExerciseError> {
    let topology = mesh_topology(&opts.dir)?;
    let nation = topology.nation(&opts.nation).cloned().ok_or_else(|| {
        ExerciseError::Usage(format!("{} is not a nation of the mesh", opts.nation))
    })?;
    let ledger_dir = LedgerDir(opts.ledger.clone());
    let mut ledger = JsonlWriter::append(&ledger_dir.producer(&opts.nation, producer_id))?;
    let producer = patiently("connecting the producer", || {
        connect_producer(opts, producer_id)
    })
    .await?;
    ledger.write(&ProducerRecord::Ready { t_ms: now_ms() })?;
    let Some(start) = wait_for_start(&ledger_dir, &mut shutdown).await? else {
        return Ok(());
    };
    let (tx, rx) = mpsc::channel::<Outcome>(RECEIPTS_IN_FLIGHT);
    let origin = opts.nation.clone();
    let id = producer_id.to_string();
    let recorder = tokio::spawn(async move { record_receipts(ledger, rx, origin, id).await });
    let producer = std::sync::Arc::new(producer);
    let alerts = alert_feed(&topology, &opts.nation, producer_id).map(|alert_feed| {
        tokio::spawn(raise_alerts(
            std::sync::Arc::clone(&producer),
            Schedule {
                topology: topology.clone(),
                nation: nation.clone(),
                feed: alert_feed,
                start: start.clone(),
            },
            tx.clone(),
            shutdown.clone(),
        ))
    });
    let tracks = Schedule {
        topology,
        nation,
        feed: feed.to_string(),
        start,
    };
    publish_tracks(&producer, &tracks, &tx, &mut shutdown).await;
    if let Some(alerts) = alerts {
        let _ = alerts.await;
    }
    // Batches kept after a failure are published again by a flush.
    if let Err(e) = producer.flush().await {
        let _ = tx.send(Outcome::Refused(format!("final flush: {e}"))).await;
    }
    drop(tx);
    recorder
        .await
        .map_err(|e| ExerciseError::Runtime(format!("the receipt recorder stopped: {e}")))?
}

/// Publishes what the load says is due, every [`TICK`], until the run's
/// time is up (or `shutdown`); hands each pending receipt to the recorder.
async fn publish_tracks(
    producer: &Producer,
    plan: &Schedule,
    tx: &mpsc::Sender<Outcome>,
    shutdown: &mut watch::Receiver<bool>,
) {
    let (start, nation, feed) = (&plan.start, &plan.nation, plan.feed.as_str());
    let t0 = start.t0_ms;
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'run: loop {
        tokio::select! { _ = shutdown.changed() => break, _ = tick.tick() => {} }
        let now = now_ms();
        if now < t0 {
            continue;
        }
        let elapsed = (now - t0) as u64;
        let due = start.load.due(&nation.code, elapsed, start.duration_ms);
        while sent < due {
            let n = sent + 1;
            let label = expect::label_for(&plan.topology, nation, n);
            let track = TrackV1 {
                track_id: format!("{}-T{n}", nation.code),
                latitude_deg: 50.0 + (n % 1000) as f64 * 0.001,
                longitude_deg: 1.0,
                confidence: 0.8,
                observed_at_ms: now_ms(),
                ..Default::default()
            };
            // Enqueued or not at all: a refused enqueue is tried again
            // with the same track, an enqueued one never (the SDK keeps
            // and republishes a batch it could not store).
            let outcome = match producer
                .send(feed, coalition_sdk::Record::track(&label, &track))
                .await
            {
                Ok(pending) => {
                    sent = n;
                    Outcome::Pending(feed.to_string(), LabelRecord::of(&label), pending)
                }
                Err(e) => Outcome::Refused(e.to_string()),
            };
            let refused = matches!(outcome, Outcome::Refused(_));
            if tx.send(outcome).await.is_err() {
                break 'run;
            }
            if refused {
                tokio::select! {
                    _ = shutdown.changed() => break 'run,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        }
        if elapsed >= start.duration_ms {
            break;
        }
    }
}

/// Alerts each producer raises per second, beside its tracks.
pub const ALERTS_PER_SEC: u64 = 1;

/// The producer's alert feed in the mesh's topology, if it has one (every
/// exercise producer does: [`crate::layout::with_alert_feeds`]).
fn alert_feed(topology: &Topology, nation: &str, producer: &str) -> Option<String> {
    topology
        .feeds
        .iter()
        .find(|f| f.nation == nation && f.producer == producer && f.kind == FeedKind::Alert)
        .map(|f| f.name.clone())
}

/// What a producer publishes on one feed, and when.
struct Schedule {
    topology: Topology,
    nation: coalition_topology::Nation,
    feed: String,
    start: StartSignal,
}

/// Raises [`ALERTS_PER_SEC`] alerts, labelled like the tracks (the same
/// four-label cycle), for the run's duration; hands each pending receipt
/// to the recorder.
async fn raise_alerts(
    producer: std::sync::Arc<Producer>,
    plan: Schedule,
    tx: mpsc::Sender<Outcome>,
    mut shutdown: watch::Receiver<bool>,
) {
    let code = plan.nation.code.clone();
    let interval_ms = 1_000 / ALERTS_PER_SEC;
    for n in 1u64.. {
        let due = plan.start.t0_ms + ((n - 1) * interval_ms) as i64;
        if (due - plan.start.t0_ms) as u64 >= plan.start.duration_ms {
            return;
        }
        let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
        tokio::select! { _ = shutdown.changed() => return, _ = tokio::time::sleep(wait) => {} }
        let label = expect::label_for(&plan.topology, &plan.nation, n);
        let alert = AlertV1 {
            alert_id: format!("{code}-A{n}"),
            severity: Severity::Critical as i32,
            summary: format!("exercise alert {n}"),
            track_id: String::new(),
            raised_at_ms: now_ms(),
        };
        let outcome = match producer
            .send(&plan.feed, coalition_sdk::Record::alert(&label, &alert))
            .await
        {
            Ok(pending) => Outcome::Pending(plan.feed.clone(), LabelRecord::of(&label), pending),
            // Not enqueued: recorded, and the next alert is raised on time
            // (an alert is about now, not worth raising late).
            Err(e) => Outcome::Refused(format!("alert {n}: {e}")),
        };
        if tx.send(outcome).await.is_err() {
            return;
        }
    }
}

/// What the producer loops hand the receipt recorder, each in its own
/// publish order.
enum Outcome {
    /// Enqueued: its feed, its label, and the receipt to await.
    Pending(String, LabelRecord, PendingReceipt),
    /// The SDK refused to enqueue it (it is tried again).
    Refused(String),
}

/// Awaits the receipts in order, writing each stored track to the ledger
/// (with its seq) and each failure; then `Done`.
async fn record_receipts(
    mut ledger: JsonlWriter,
    mut rx: mpsc::Receiver<Outcome>,
    origin: String,
    producer: String,
) -> Result<(), ExerciseError> {
    let mut published = 0u64;
    while let Some(outcome) = rx.recv().await {
        let record = match outcome {
            Outcome::Pending(feed, label, pending) => match pending.await {
                Ok(receipt) => {
                    published += 1;
                    ProducerRecord::Published {
                        t_ms: now_ms(),
                        origin: origin.clone(),
                        producer: producer.clone(),
                        feed,
                        seq: receipt.seq,
                        label,
                    }
                }
                Err(e) => ProducerRecord::Failed {
                    t_ms: now_ms(),
                    error: e.to_string(),
                },
            },
            Outcome::Refused(error) => ProducerRecord::Failed {
                t_ms: now_ms(),
                error,
            },
        };
        ledger.write(&record)?;
    }
    ledger.write(&ProducerRecord::Done {
        t_ms: now_ms(),
        published,
    })
}

async fn connect_producer(
    opts: &AgentOptions,
    producer_id: &str,
) -> Result<Producer, ExerciseError> {
    let clients = clients(&opts.dir, &opts.nation)?;
    clients.producers.get(producer_id).ok_or_else(|| {
        ExerciseError::Usage(format!(
            "no producer {producer_id:?} in {}'s clients file",
            opts.nation
        ))
    })?;
    let root =
        load_trust_anchor(&nats_harness::nation_key_dir(&opts.dir, &opts.nation).join("root.pub"))?;
    let (key, cert) = nats_harness::producer_files(&opts.dir, &opts.nation, producer_id);
    let identity = load_producer_identity(&key, &cert, &opts.nation, &root)?;
    Ok(ProducerOptions::from_clients(&clients, producer_id)?
        .connect(identity)
        .await?)
}

/// Waits for `start.json`; `None` if shut down first.
async fn wait_for_start(
    ledger: &LedgerDir,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<StartSignal>, ExerciseError> {
    let deadline = Instant::now() + START_PATIENCE;
    let path = ledger.start();
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(signal) = serde_json::from_str::<StartSignal>(&text) {
                return Ok(Some(signal));
            }
        }
        if Instant::now() > deadline {
            return Err(ExerciseError::Runtime(format!(
                "no start signal at {} within {}s",
                path.display(),
                START_PATIENCE.as_secs()
            )));
        }
        tokio::select! {
            _ = shutdown.changed() => return Ok(None),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// Runs a nation's alerting subscriber until `shutdown`.
pub async fn alerts(
    opts: &AgentOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ExerciseError> {
    let topology = mesh_topology(&opts.dir)?;
    let mut anchors = TrustAnchors::new();
    for n in &topology.nations {
        let path = nats_harness::nation_key_dir(&opts.dir, &n.code).join("root.pub");
        anchors.insert(n.code.clone(), load_trust_anchor(&path)?);
    }
    let mut ledger = JsonlWriter::append(&LedgerDir(opts.ledger.clone()).alerts(&opts.nation))?;
    let (_subscriber, mut subscription) =
        patiently("subscribing", || subscribe(opts, anchors.clone())).await?;
    ledger.write(&AlertsRecord::Ready { t_ms: now_ms() })?;
    loop {
        let next = tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            next = subscription.next() => next,
        };
        match next {
            None => {
                return Err(ExerciseError::Runtime(format!(
                    "{}'s subscription ended",
                    opts.nation
                )))
            }
            Some(Ok(delivery)) => {
                ledger.write(&delivered(&delivery))?;
                if let Err(e) = delivery.ack().await {
                    ledger.write(&AlertsRecord::Failed {
                        t_ms: now_ms(),
                        error: e.to_string(),
                    })?;
                }
            }
            Some(Err(e)) => ledger.write(&AlertsRecord::Failed {
                t_ms: now_ms(),
                error: e.to_string(),
            })?,
        }
    }
}

async fn subscribe(
    opts: &AgentOptions,
    anchors: TrustAnchors,
) -> Result<(Subscriber, Subscription), ExerciseError> {
    let clients = clients(&opts.dir, &opts.nation)?;
    let subscriber = SubscriberOptions::from_clients(&clients)
        .trust_anchors(anchors)
        .durable("exercise-alerts")
        .connect()
        .await?;
    let subscription = subscriber.subscribe(Topic::all()).await?;
    Ok((subscriber, subscription))
}

fn delivered(d: &Delivery) -> AlertsRecord {
    AlertsRecord::Delivered {
        t_ms: now_ms(),
        origin: d.origin.clone(),
        producer: d.producer_id.clone(),
        feed: d.feed.clone(),
        seq: d.seq,
        label: LabelRecord::of(&d.label),
        released_at_ms: d.lineage.released_at_ms,
        admitted_at_ms: d.lineage.admitted_at_ms,
        translator: d.lineage.translator.clone(),
        gap: d.gap,
        replayed: d.replayed,
    }
}
