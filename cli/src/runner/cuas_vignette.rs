//! The counter-UAS vignette of `coalition run`: the mesh doing what it is
//! for, once, shortly after start, in live and bounded runs alike.
//!
//! A USA radar and a GBR electro-optical sensor each report a drone. The
//! FRA counter-UAS cell receives both tracks (translated into FRA's
//! vocabulary by its bridge), fuses them into an `air` alert (AlertV2,
//! `derived_from` both tracks, under a composite label at least as
//! restrictive as both), then raises an update of it and a cancel. It
//! also raises two alerts a GBR air-defence console must not show: one
//! over Toulon (outside the console's area) and one of category `cbrn`.
//! The console subscribes to `Topic::alerts().category("air").area(..)`
//! and must show exactly the incident, its update and its cancel, while
//! an unfiltered GBR subscriber shows that all five arrived.
//!
//! The vignette adds its own three feeds to the topology before the mesh
//! starts ([`add_feeds`]), so the runner's producers leave them alone
//! ([`is_vignette_feed`]), and signs FRA's schema policy to accept alerts
//! v2. Its source tracks are reported to the runner's tally like any
//! runner track, so their deliveries are judged too. It prints one block
//! (`== counter-UAS vignette ... ==`) when it is done; its verdict fails a
//! bounded run.
mod console;
mod fusion;
mod scene;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use coalition_core::envelope::MessageType;
use coalition_core::schema::{sign_schema_policy, SchemaPolicy, SchemaRule};
use coalition_exercise::expect;
use coalition_sdk::{
    load_producer_identity, ControlPublisher, Delivery, Producer, ProducerOptions, Record,
    Subscriber, SubscriberOptions, Subscription, Topic, TrustAnchors,
};
use coalition_topology::{ClientsConfig, Feed, Topology};
use nats_harness::Mesh;
use tokio::sync::mpsc;

use super::metrics_text::counter_total;
use super::tally::{Event, MsgKey};
use crate::error::CliError;
use console::{message_type, severity, Console};
use scene::{Cast, Raised, CELL, CONSOLE, EO, RADAR};

/// How long each step may take.
const WAIT: Duration = Duration::from_secs(30);
/// How long the whole vignette may take: each of its waits at most.
pub const LONGEST: Duration = Duration::from_secs(12 * 30);

/// Adds the vignette's feeds to `topology` if it has what the vignette
/// needs (USA, GBR and FRA; links USA->FRA, GBR->FRA and FRA->GBR);
/// returns whether it does.
pub fn add_feeds(topology: &mut Topology) -> bool {
    let linked = |from: &str, to: &str| topology.links.iter().any(|l| l.from == from && l.to == to);
    let fits = [RADAR.nation, EO.nation, CELL.nation]
        .iter()
        .all(|n| topology.nation(n).is_some())
        && linked(RADAR.nation, CELL.nation)
        && linked(EO.nation, CELL.nation)
        && linked(CELL.nation, CONSOLE);
    if !fits {
        return false;
    }
    for cast in [RADAR, EO, CELL] {
        let feed = Feed {
            nation: cast.nation.into(),
            producer: cast.producer.into(),
            name: cast.feed.into(),
            kind: cast.kind,
        };
        if !topology.feeds.contains(&feed) {
            topology.feeds.push(feed);
        }
    }
    true
}

/// Whether `feed` is one of the vignette's (the runner does not publish on it).
pub fn is_vignette_feed(feed: &Feed) -> bool {
    [RADAR, EO, CELL]
        .iter()
        .any(|c| feed.nation == c.nation && feed.producer == c.producer && feed.name == c.feed)
}

/// What the vignette needs of the mesh, owned, so it runs as its own task.
pub struct Stage {
    dir: PathBuf,
    topology: Topology,
    clients: BTreeMap<String, ClientsConfig>,
    anchors: TrustAnchors,
}

impl Stage {
    /// The vignette's view of `mesh`.
    pub fn of(mesh: &Mesh) -> Result<Self, CliError> {
        let mut clients = BTreeMap::new();
        let mut anchors = TrustAnchors::new();
        for n in &mesh.topology().nations {
            let c = mesh
                .clients(&n.code)
                .ok_or_else(|| CliError::Runtime(format!("no clients file for {}", n.code)))?;
            clients.insert(n.code.clone(), c.clone());
            let anchor = coalition_sdk::load_trust_anchor(&mesh.root_public_key_path(&n.code))?;
            anchors.insert(n.code.clone(), anchor);
        }
        Ok(Stage {
            dir: mesh.dir().to_path_buf(),
            topology: mesh.topology().clone(),
            clients,
            anchors,
        })
    }

    fn clients(&self, nation: &str) -> Result<&ClientsConfig, String> {
        self.clients
            .get(nation)
            .ok_or_else(|| format!("no clients file for {nation}"))
    }

    async fn producer(&self, cast: &Cast) -> Result<Producer, String> {
        let (key, cert) = nats_harness::producer_files(&self.dir, cast.nation, cast.producer);
        let anchor = self
            .anchors
            .get(cast.nation)
            .ok_or_else(|| format!("no root of {}", cast.nation))?;
        let identity = load_producer_identity(&key, &cert, cast.nation, anchor)
            .map_err(|e| format!("{}'s identity: {e}", cast.producer))?;
        ProducerOptions::from_clients(self.clients(cast.nation)?, cast.producer)
            .map_err(|e| format!("{}: {e}", cast.producer))?
            .connect(identity)
            .await
            .map_err(|e| format!("{} cannot connect: {e}", cast.producer))
    }

    async fn subscribe(&self, nation: &str, topic: Topic) -> Result<Subscription, String> {
        let subscriber: Subscriber = SubscriberOptions::from_clients(self.clients(nation)?)
            .trust_anchors(self.anchors.clone())
            .connect()
            .await
            .map_err(|e| format!("a {nation} subscriber cannot connect: {e}"))?;
        subscriber
            .subscribe(topic)
            .await
            .map_err(|e| format!("a {nation} subscriber cannot subscribe: {e}"))
    }
}

/// What the vignette prints, gathered so it prints as one block.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
}

impl Report {
    fn line(&mut self, line: impl Into<String>) {
        self.lines.push(format!("  {}", line.into()));
    }

    fn fail(&mut self, line: impl std::fmt::Display) {
        self.lines.push(format!("  ! {line}"));
    }
}

/// Plays the vignette and prints it; returns whether every check held.
pub async fn run(stage: Stage, events: mpsc::Sender<Event>) -> bool {
    let started = Instant::now();
    let mut report = Report::default();
    let passed = match play(&stage, &events, &mut report).await {
        Ok(passed) => passed,
        Err(e) => {
            report.fail(e);
            false
        }
    };
    report.line(format!(
        "{} ({:.1}s)",
        if passed { "PASS" } else { "FAIL" },
        started.elapsed().as_secs_f64()
    ));
    println!(
        "\n== counter-UAS vignette: {} radar + {} EO -> {} cell fuses an alert -> {} air-defence console ==\n{}\n",
        RADAR.nation,
        EO.nation,
        CELL.nation,
        CONSOLE,
        report.lines.join("\n")
    );
    passed
}

async fn play(
    stage: &Stage,
    events: &mpsc::Sender<Event>,
    out: &mut Report,
) -> Result<bool, String> {
    accept_alerts_v2(stage, out).await?;
    let mut console = Console::subscribe(stage).await?;
    let mut cell_input = stage.subscribe(CELL.nation, Topic::tracks()).await?;
    let mut sent = Vec::new();
    for cast in [RADAR, EO] {
        sent.push(publish_source(stage, &cast, events, out).await?);
    }
    let fused = fuse_at_cell(stage, &mut cell_input, &sent, out).await?;
    raise_alerts(stage, &fused, out).await?;
    console.check(out).await
}

/// Signs (with FRA's root, as its operator would) and publishes FRA's
/// schema policy v1: tracks v1, alerts v2. Waits until every bridge
/// applies it, so no bridge serves FRA's alerts under the old rule.
async fn accept_alerts_v2(stage: &Stage, out: &mut Report) -> Result<(), String> {
    let nation = CELL.nation;
    let policy = SchemaPolicy {
        nation: nation.into(),
        version: 1,
        rules: vec![
            SchemaRule::v1_only(MessageType::Track),
            SchemaRule {
                message_type: MessageType::Alert,
                current_version: 2,
                migration: None,
            },
        ],
        issued_at_ms: crate::now_ms(),
    };
    let root = crate::policy_cmd::load_key(
        &nats_harness::nation_key_dir(&stage.dir, nation).join("root.key"),
    )
    .map_err(|e| format!("{nation}'s root key: {e}"))?;
    let signed = sign_schema_policy(&policy, &root)
        .map_err(|e| format!("cannot sign {nation}'s schema policy: {e}"))?;
    let clients = stage.clients(nation)?;
    let control = ControlPublisher::connect(&clients.servers, nation, &clients.operator)
        .await
        .map_err(|e| format!("{nation}'s operator cannot connect: {e}"))?;
    let applied = |n: &str| {
        counter_total(
            "coalition_bridge_control_applied_total",
            &[("nation", n), ("kind", "schema_policy")],
        )
    };
    let nations: Vec<String> = stage
        .topology
        .nations
        .iter()
        .map(|n| n.code.clone())
        .collect();
    let before: Vec<f64> = nations.iter().map(|n| applied(n)).collect();
    let started = Instant::now();
    control
        .publish_schema_policy(nation, policy.version, signed)
        .await
        .map_err(|e| format!("cannot publish {nation}'s schema policy: {e}"))?;
    let all_applied = || nations.iter().zip(&before).all(|(n, b)| applied(n) > *b);
    if !poll(all_applied).await {
        return Err(format!(
            "{nation}'s schema policy was not applied by every bridge within {WAIT:?}"
        ));
    }
    out.line(format!(
        "{nation} signs schema policy v1 (alerts in version 2): applied by {} bridges in {} ms",
        nations.join(", "),
        started.elapsed().as_millis()
    ));
    Ok(())
}

/// A source track published: who, its id and its feed seq.
struct Sent {
    cast: Cast,
    track_id: String,
    seq: u64,
}

/// Publishes `cast`'s track of the drone and hands it to the runner's tally.
async fn publish_source(
    stage: &Stage,
    cast: &Cast,
    events: &mpsc::Sender<Event>,
    out: &mut Report,
) -> Result<Sent, String> {
    let producer = stage.producer(cast).await?;
    let label = scene::source_label(cast);
    let track = scene::source_track(cast, crate::now_ms());
    let receipt = producer
        .publish(cast.feed, Record::track(&label, &track))
        .await
        .map_err(|e| format!("{} cannot publish its track: {e}", cast.producer))?;
    let denials = expect::partners(&stage.topology, cast.nation)
        .into_iter()
        .filter_map(|p| {
            expect::denial_reason(&stage.topology, cast.nation, &p, &label).map(|r| (p, r))
        })
        .collect();
    let published = Event::Published {
        key: MsgKey {
            origin: cast.nation.into(),
            producer: cast.producer.into(),
            feed: cast.feed.into(),
            seq: receipt.seq,
        },
        label: label.display(),
        expected: expect::receivers(&stage.topology, cast.nation, &label),
        denials,
    };
    // The live view may have stopped (Ctrl-C): nothing to judge then.
    let _ = events.send(published).await;
    out.line(format!(
        "{:<4}{:<15} track {:<12} {}  [{}]",
        cast.nation,
        cast.producer,
        track.track_id,
        position(track.latitude_deg, track.longitude_deg),
        label.display()
    ));
    Ok(Sent {
        cast: *cast,
        track_id: track.track_id,
        seq: receipt.seq,
    })
}

/// The cell waits for both tracks, admits them in FRA's vocabulary and
/// computes the composite label.
async fn fuse_at_cell(
    stage: &Stage,
    input: &mut Subscription,
    sent: &[Sent],
    out: &mut Report,
) -> Result<fusion::Fused, String> {
    let home = fusion::home_policy(&stage.dir, CELL.nation, &stage.anchors)?;
    let mut admitted = Vec::new();
    for s in sent {
        let d = next_matching(input, |d| {
            d.origin == s.cast.nation
                && d.producer_id == s.cast.producer
                && d.feed == s.cast.feed
                && d.seq == s.seq
        })
        .await
        .map_err(|e| format!("{} cell never received {}: {e}", CELL.nation, s.track_id))?;
        let a = fusion::admit(&stage.dir, &home, &stage.anchors, &d, &s.track_id)?;
        out.line(format!(
            "{:<4}cell received {:<12} as [{}] ({})",
            CELL.nation,
            s.track_id,
            a.source.label.display(),
            a.source.translator.as_deref().unwrap_or("-")
        ));
        admitted.push(a);
    }
    let fused = fusion::fuse(&home, admitted)?;
    out.line(format!(
        "{:<4}cell fuses them under [{}]: at least as restrictive as both sources",
        CELL.nation,
        fused.label.display()
    ));
    Ok(fused)
}

/// Publishes the cell's five alerts, in order.
async fn raise_alerts(
    stage: &Stage,
    fused: &fusion::Fused,
    out: &mut Report,
) -> Result<(), String> {
    let cell = stage.producer(&CELL).await?;
    for raised in Raised::ALL {
        let alert = raised.alert(crate::now_ms(), &fused.track_ids);
        let mut record = Record::alert_v2(&fused.label, &alert);
        if raised.fused() {
            record = record.derived_from(fused.sources.clone());
        }
        cell.publish(CELL.feed, record)
            .await
            .map_err(|e| format!("{} cannot publish {}: {e}", CELL.producer, raised.id()))?;
        let from = if raised.fused() {
            let names: Vec<String> = fused.sources.iter().map(|s| s.msg_id()).collect();
            format!("derived from {}", names.join(" + "))
        } else {
            alert
                .area
                .as_ref()
                .map(|a| a.description.clone())
                .unwrap_or_default()
        };
        let topic = format!("{}/{}", alert.category, severity(&alert));
        out.line(format!(
            "{:<4}raises {:<6} {:<16} {topic:<12} {from}",
            CELL.nation,
            message_type(&alert),
            raised.id(),
        ));
    }
    Ok(())
}

/// `51.5050 N 0.1200 W`.
fn position(lat: f64, lon: f64) -> String {
    let ns = if lat < 0.0 { 'S' } else { 'N' };
    let ew = if lon < 0.0 { 'W' } else { 'E' };
    format!("{:.4} {ns} {:.4} {ew}", lat.abs(), lon.abs())
}

/// The next delivery of `sub` that `wanted` picks (every delivery is
/// acknowledged), within [`WAIT`].
async fn next_matching(
    sub: &mut Subscription,
    wanted: impl Fn(&Delivery) -> bool,
) -> Result<Delivery, String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, sub.next())
            .await
            .map_err(|_| format!("nothing within {WAIT:?}"))?;
        let d = match next {
            None => return Err("the subscription ended".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(d)) => d,
        };
        d.ack()
            .await
            .map_err(|e| format!("cannot acknowledge: {e}"))?;
        if wanted(&d) {
            return Ok(d);
        }
    }
}

/// Polls `check` until it holds or [`WAIT`] passes.
async fn poll(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}
