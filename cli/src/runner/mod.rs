//! `coalition run`: the local multi-nation mesh. Starts every nation's
//! nats-server cluster (through the harness), its bridge, a producer and a
//! subscriber, and prints publishes, deliveries and denials live. With
//! `--duration` it stops publishing after that long, waits for the backlog
//! and checks that exactly the expected deliveries and denials happened.

mod cuas_vignette;
mod metrics_text;
mod revocation_demo;
mod tally;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coalition_bridge::BridgeSettings;
use coalition_exercise::expect;
use coalition_sdk::{
    load_producer_identity, load_trust_anchor, Payload, ProducerOptions, SubscriberOptions, Topic,
    TrackV1,
};
use coalition_topology::{parse_topology_file, Topology};
use nats_harness::Mesh;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::error::CliError;
use tally::{Event, MsgKey, Tally};

/// How long a bounded run waits for the last deliveries after publishing stops.
const DRAIN: Duration = Duration::from_secs(60);

/// Options of a run.
#[derive(Debug)]
pub struct RunOptions {
    pub topology: PathBuf,
    pub dir: PathBuf,
    pub duration: Option<Duration>,
    pub interval: Duration,
    /// Whether the runner's producers publish (false: the feeds are left
    /// free for publishing by hand).
    pub publish: bool,
}

/// Runs the mesh; in bounded mode returns an error if a check fails.
pub async fn run(opts: RunOptions) -> Result<(), CliError> {
    // Registered first, so Ctrl-C during start-up stops cleanly too.
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Runtime(format!("cannot handle Ctrl-C: {e}")))?;
    let mut topology = parse_topology_file(&opts.topology)?;
    let vignette = opts.publish && cuas_vignette::add_feeds(&mut topology);
    prepare_dir(&opts.dir)?;
    println!(
        "starting mesh {:?} in {} ...",
        topology.name,
        opts.dir.display()
    );
    let mesh = tokio::select! {
        mesh = Mesh::start_in(topology.clone(), &opts.dir) => mesh?,
        _ = interrupt.recv() => {
            println!("interrupted while starting; stopped");
            return Ok(());
        }
    };
    println!(
        "{} servers up, {} leaf links up",
        topology.servers().count(),
        topology.links.len()
    );
    let (stop, shutdown) = watch::channel(false);
    let metrics_addr = start_bridges(&mesh, &shutdown).await?;
    println!("bridges running; Prometheus metrics at http://{metrics_addr}/metrics");
    if !opts.publish {
        println!(
            "--no-publish: the runner publishes nothing; every feed is free for `coalition publish --dir {}`",
            opts.dir.display()
        );
    }
    let (events_tx, events) = mpsc::channel(4096);
    let started = Instant::now();
    let tasks = spawn_clients(&mesh, &topology, &opts, &shutdown, &events_tx).await?;
    let vignette = if vignette {
        println!("counter-UAS vignette: starting (its block prints when it is done)");
        let stage = cuas_vignette::Stage::of(&mesh)?;
        Some(tokio::spawn(cuas_vignette::run(stage, events_tx.clone())))
    } else {
        println!(
            "counter-UAS vignette: not played ({})",
            why_no_vignette(&opts)
        );
        None
    };
    drop(events_tx);
    let mut live = Live {
        tally: Tally::default(),
        last_denied: BTreeMap::new(),
        started,
    };
    let bounded = live.watch(events, &mut interrupt, opts.duration).await;
    let vignette_passed = vignette_outcome(vignette, bounded).await;
    live.print_new_denials();
    let verdict = summarise(&live.tally, started);
    let revocation_held = if bounded {
        revocation_demo::revoke_and_check(&mesh).await?
    } else {
        true
    };
    let _ = stop.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    println!(
        "configs, keys and server logs are in {}",
        opts.dir.display()
    );
    drop(mesh);
    let passed =
        verdict.passed() && live.tally.failures.is_empty() && vignette_passed && revocation_held;
    if bounded && !passed {
        return Err(CliError::CheckFailed(
            "the run's checks failed (see above)".into(),
        ));
    }
    Ok(())
}

/// The live view: what was seen so far, printed as it happens.
struct Live {
    tally: Tally,
    last_denied: BTreeMap<(String, String, String), u64>,
    started: Instant,
}

impl Live {
    /// Prints events until Ctrl-C (returns false) or, in a bounded run,
    /// until publishing has stopped and every expected delivery and denial
    /// has been seen, or [`DRAIN`] has passed (returns true).
    async fn watch(
        &mut self,
        mut events: mpsc::Receiver<Event>,
        interrupt: &mut tokio::signal::unix::Signal,
        duration: Option<Duration>,
    ) -> bool {
        let publish_until = duration.map(|d| self.started + d);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = interrupt.recv() => return false,
                ev = events.recv() => match ev {
                    Some(ev) => if let Some(line) = self.tally.record(ev, Instant::now()) {
                        println!("{:>7.2}s  {line}", self.started.elapsed().as_secs_f64());
                    },
                    None => return publish_until.is_some(),
                },
                _ = tick.tick() => {
                    self.print_new_denials();
                    let Some(until) = publish_until else { continue };
                    let now = Instant::now();
                    let settled = now > until && self.tally.complete() && self.tally.verdict(&denied_now()).passed();
                    if settled || now > until + DRAIN {
                        return true;
                    }
                }
            }
        }
    }

    fn print_new_denials(&mut self) {
        let now = denied_now();
        for (k, v) in &now {
            let before = self.last_denied.get(k).copied().unwrap_or(0);
            if *v > before {
                println!(
                    "{:>7.2}s  {:<4} DENIED    to {} x{}: {}",
                    self.started.elapsed().as_secs_f64(),
                    k.0,
                    k.1,
                    v - before,
                    k.2
                );
            }
        }
        self.last_denied = now;
    }
}

/// In a bounded run, waits for the vignette's verdict (false if it
/// failed or did not finish); in a live run stopped by Ctrl-C, stops it.
async fn vignette_outcome(task: Option<tokio::task::JoinHandle<bool>>, bounded: bool) -> bool {
    let Some(task) = task else {
        return true;
    };
    if !bounded {
        task.abort();
        return true;
    }
    match tokio::time::timeout(cuas_vignette::LONGEST, task).await {
        Ok(Ok(passed)) => passed,
        Ok(Err(e)) => {
            println!("  ! the counter-UAS vignette stopped: {e}");
            false
        }
        Err(_) => {
            println!(
                "  ! the counter-UAS vignette did not finish within {:?}",
                cuas_vignette::LONGEST
            );
            false
        }
    }
}

fn why_no_vignette(opts: &RunOptions) -> String {
    if opts.publish {
        format!(
            "{} lacks USA, GBR and FRA linked USA->FRA, GBR->FRA and FRA->GBR",
            opts.topology.display()
        )
    } else {
        "--no-publish".into()
    }
}

/// Makes `dir` empty, refusing to wipe a folder the runner did not create.
fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    let marker = dir.join(".coalition-run");
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !marker.exists() && !empty {
            return Err(CliError::Usage(format!(
                "{} exists and was not made by `coalition run`; pass another --dir",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| CliError::Runtime(format!("cannot clear {}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", dir.display())))?;
    std::fs::write(&marker, b"made by coalition run; wiped at the next run\n")
        .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", marker.display())))
}

async fn start_bridges(mesh: &Mesh, shutdown: &watch::Receiver<bool>) -> Result<String, CliError> {
    let port = nats_harness::free_loopback_ports(1)?[0];
    let addr = format!("127.0.0.1:{port}");
    for (i, n) in mesh.topology().nations.iter().enumerate() {
        let mut settings = BridgeSettings::load(&mesh.bridge_config_path(&n.code))?;
        if i == 0 {
            settings.config.metrics_listen = Some(addr.clone());
        }
        coalition_bridge::start(settings, shutdown.clone()).await?;
    }
    Ok(addr)
}

async fn spawn_clients(
    mesh: &Mesh,
    topology: &Topology,
    opts: &RunOptions,
    shutdown: &watch::Receiver<bool>,
    events: &mpsc::Sender<Event>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, CliError> {
    let mut anchors = coalition_sdk::TrustAnchors::new();
    for n in &topology.nations {
        anchors.insert(
            n.code.clone(),
            load_trust_anchor(&mesh.root_public_key_path(&n.code))?,
        );
    }
    let mut tasks = Vec::new();
    for n in &topology.nations {
        let clients = mesh
            .clients(&n.code)
            .ok_or_else(|| CliError::Runtime(format!("no clients for {}", n.code)))?;
        let sub = SubscriberOptions::from_clients(clients)
            .trust_anchors(anchors.clone())
            .connect()
            .await?;
        let subscription = sub.subscribe(Topic::all()).await?;
        tasks.push(tokio::spawn(subscribe_loop(
            n.code.clone(),
            sub,
            subscription,
            events.clone(),
            shutdown.clone(),
        )));
        let feeds = topology
            .feeds_of(&n.code)
            .filter(|f| opts.publish && !cuas_vignette::is_vignette_feed(f));
        for feed in feeds {
            let (key, cert) = mesh.producer_key_paths(&n.code, &feed.producer);
            let identity = load_producer_identity(&key, &cert, &n.code, &anchors[&n.code])?;
            let producer = ProducerOptions::from_clients(clients, &feed.producer)?
                .connect(identity)
                .await?;
            let plan = PublishPlan {
                topology: topology.clone(),
                nation: n.code.clone(),
                feed: feed.name.clone(),
                interval: opts.interval,
                duration: opts.duration,
            };
            tasks.push(tokio::spawn(publish_loop(
                plan,
                producer,
                events.clone(),
                shutdown.clone(),
            )));
        }
    }
    Ok(tasks)
}

struct PublishPlan {
    topology: Topology,
    nation: String,
    feed: String,
    interval: Duration,
    duration: Option<Duration>,
}

async fn publish_loop(
    plan: PublishPlan,
    producer: coalition_sdk::Producer,
    events: mpsc::Sender<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(nation) = plan.topology.nation(&plan.nation).cloned() else {
        return;
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(plan.interval);
    for n in 1u64.. {
        tokio::select! { _ = shutdown.changed() => return, _ = tick.tick() => {} }
        if plan.duration.is_some_and(|d| started.elapsed() >= d) {
            return;
        }
        let label = expect::label_for(&plan.topology, &nation, n);
        let track = TrackV1 {
            track_id: format!("{}-T{n}", plan.nation),
            latitude_deg: 50.0 + n as f64 * 0.01,
            longitude_deg: 1.0,
            confidence: 0.8,
            observed_at_ms: crate::now_ms(),
            ..Default::default()
        };
        let event = match producer
            .publish(&plan.feed, coalition_sdk::Record::track(&label, &track))
            .await
        {
            Ok(receipt) => {
                let denials = expect::partners(&plan.topology, &plan.nation)
                    .into_iter()
                    .filter_map(|p| {
                        expect::denial_reason(&plan.topology, &plan.nation, &p, &label)
                            .map(|r| (p, r))
                    })
                    .collect();
                Event::Published {
                    key: MsgKey {
                        origin: plan.nation.clone(),
                        producer: producer.producer_id().to_string(),
                        feed: plan.feed.clone(),
                        seq: receipt.seq,
                    },
                    label: label.display(),
                    expected: expect::receivers(&plan.topology, &plan.nation, &label),
                    denials,
                }
            }
            Err(e) => Event::Failed {
                who: format!("{} producer", plan.nation),
                error: e.to_string(),
            },
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

async fn subscribe_loop(
    nation: String,
    _sub: coalition_sdk::Subscriber,
    mut subscription: coalition_sdk::Subscription,
    events: mpsc::Sender<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let next =
            tokio::select! { _ = shutdown.changed() => return, n = subscription.next() => n };
        let event = match next {
            None => return,
            Some(Ok(d)) => {
                let _ = d.ack().await;
                debug_assert!(matches!(
                    d.payload,
                    Payload::Track(_)
                        | Payload::TrackV2(_)
                        | Payload::Alert(_)
                        | Payload::AlertV2(_)
                ));
                Event::Delivered {
                    receiver: nation.clone(),
                    key: MsgKey {
                        origin: d.origin.clone(),
                        producer: d.producer_id.clone(),
                        feed: d.feed.clone(),
                        seq: d.seq,
                    },
                    label: d.label.display(),
                }
            }
            Some(Err(e)) => Event::Failed {
                who: format!("{nation} subscriber"),
                error: e.to_string(),
            },
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

fn denied_now() -> BTreeMap<(String, String, String), u64> {
    metrics_text::counters(
        &coalition_bridge::telemetry::render(),
        "coalition_bridge_denied_total",
    )
    .into_iter()
    .filter_map(|(labels, v)| {
        Some((
            (
                labels.get("nation")?.clone(),
                labels.get("partner")?.clone(),
                labels.get("reason")?.clone(),
            ),
            v as u64,
        ))
    })
    .collect()
}

fn summarise(tally: &Tally, started: Instant) -> tally::Verdict {
    let verdict = tally.verdict(&denied_now());
    println!(
        "\n== summary after {:.1}s ==",
        started.elapsed().as_secs_f64()
    );
    println!("published   {}", tally.published.len());
    println!(
        "delivered   {} of {} expected",
        verdict.delivered, verdict.expected
    );
    let p = |q| {
        tally
            .latency_percentile(q)
            .map_or("-".into(), |v| format!("{v:.0} ms"))
    };
    println!(
        "latency     p50 {}  p99 {}  (publish to verified delivery)",
        p(50.0),
        p(99.0)
    );
    println!("missing     {}", verdict.missing.len());
    println!("unexpected  {}", verdict.unexpected.len());
    println!("duplicates  {}", verdict.duplicates);
    if verdict.by_hand > 0 {
        println!(
            "by hand     {} deliveries of messages published outside the runner (not judged)",
            verdict.by_hand
        );
    }
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for ((_, _, reason), n) in denied_now() {
        *by_reason.entry(reason).or_default() += n;
    }
    println!("denied      {by_reason:?}");
    for line in verdict
        .missing
        .iter()
        .chain(&verdict.unexpected)
        .chain(&verdict.denial_mismatches)
        .chain(&tally.failures)
        .take(20)
    {
        println!("  ! {line}");
    }
    for line in verdict.extra_denials.iter().take(20) {
        println!("  note: {line} (messages published by hand?)");
    }
    println!(
        "{}",
        if verdict.passed() && tally.failures.is_empty() {
            "PASS"
        } else {
            "FAIL"
        }
    );
    verdict
}
