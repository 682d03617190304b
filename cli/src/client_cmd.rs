//! `coalition publish` and `coalition subscribe`: a producer and an
//! alerting subscriber from the command line, attached to a generated mesh
//! folder (from `coalition run` or `coalition topology generate`), which
//! holds the clients' URLs and credentials and the keys.
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use coalition_sdk::{
    load_producer_identity, load_trust_anchor, Label, Payload, ProducerOptions, SubscriberOptions,
    Topic, TrackV1,
};
use coalition_topology::ClientsConfig;

use crate::error::CliError;

/// Where the mesh's generated files are.
#[derive(Debug, Args)]
pub struct MeshDir {
    /// The mesh folder (e.g. run/coalition-3).
    #[arg(long)]
    pub dir: PathBuf,
    /// The nation to act in.
    #[arg(long)]
    pub nation: String,
}

/// Publish one signed track.
#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub mesh: MeshDir,
    /// Producer id (must have a key and certificate under keys/).
    #[arg(long)]
    pub producer: String,
    /// Feed name.
    #[arg(long, default_value = "tracks")]
    pub feed: String,
    /// Classification, in the nation's scale.
    #[arg(long)]
    pub classification: String,
    /// Nations it may be released to (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub rel: Vec<String>,
    /// Caveats (comma-separated), e.g. NOFORN.
    #[arg(long, value_delimiter = ',')]
    pub caveat: Vec<String>,
    /// Track id.
    #[arg(long)]
    pub track_id: String,
}

/// Print verified deliveries.
#[derive(Debug, Args)]
pub struct SubscribeArgs {
    #[command(flatten)]
    pub mesh: MeshDir,
    /// Only from this nation.
    #[arg(long)]
    pub from: Option<String>,
    /// Stop after this many deliveries.
    #[arg(long)]
    pub count: Option<u64>,
    /// Give up after this many seconds without a delivery.
    #[arg(long)]
    pub idle_timeout: Option<u64>,
}

fn clients_path(dir: &Path, nation: &str) -> PathBuf {
    dir.join("clients").join(format!("{nation}.toml"))
}

pub(crate) fn clients(dir: &Path, nation: &str) -> Result<ClientsConfig, CliError> {
    let path = clients_path(dir, nation);
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "{} not found: is {} a mesh folder, and {nation} one of its nations?",
            path.display(),
            dir.display()
        )));
    }
    Ok(ClientsConfig::load(&path)?)
}

/// Publishes one track.
pub async fn publish(args: PublishArgs) -> Result<(), CliError> {
    let MeshDir { dir, nation } = &args.mesh;
    let clients = clients(dir, nation)?;
    clients.producers.get(&args.producer).ok_or_else(|| {
        CliError::Usage(format!(
            "no producer {:?} in {}: the producers there are {}",
            args.producer,
            clients_path(dir, nation).display(),
            clients
                .producers
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let root = load_trust_anchor(&nats_harness::nation_key_dir(dir, nation).join("root.pub"))?;
    let (key, cert) = nats_harness::producer_files(dir, nation, &args.producer);
    let identity = load_producer_identity(&key, &cert, nation, &root)?;
    let producer = ProducerOptions::from_clients(&clients, &args.producer)?
        .connect(identity)
        .await?;
    let to: Vec<&str> = args.rel.iter().map(String::as_str).collect();
    let mut label = Label::new(nation, &args.classification, &to);
    for c in &args.caveat {
        label = label.with_caveat(c);
    }
    let track = TrackV1 {
        track_id: args.track_id.clone(),
        observed_at_ms: crate::now_ms(),
        ..Default::default()
    };
    let receipt = producer.publish_track(&args.feed, &label, &track).await?;
    println!(
        "published {nation}/{}/{} seq {} [{}]",
        args.producer,
        args.feed,
        receipt.seq,
        label.display()
    );
    Ok(())
}

/// Prints deliveries until Ctrl-C, `--count` or `--idle-timeout`.
pub async fn subscribe(args: SubscribeArgs) -> Result<(), CliError> {
    let MeshDir { dir, nation } = &args.mesh;
    let clients = clients(dir, nation)?;
    // Trust what the nation's own bridge trusts: its config lists the roots.
    let bridge_path = dir.join("bridges").join(format!("{nation}.toml"));
    let bridge = coalition_topology::BridgeConfig::load(&bridge_path)?;
    let mut anchors = coalition_sdk::TrustAnchors::new();
    for code in bridge.trust_anchors.keys() {
        if let Some(path) = bridge.anchor_path(&bridge_path, code) {
            anchors.insert(code.clone(), load_trust_anchor(&path)?);
        }
    }
    let subscriber = SubscriberOptions::from_clients(&clients)
        .trust_anchors(anchors)
        .connect()
        .await?;
    let topic = match &args.from {
        Some(origin) => Topic::all().from_nation(origin),
        None => Topic::all(),
    };
    let mut deliveries = subscriber.subscribe(topic).await?;
    let idle = Duration::from_secs(args.idle_timeout.unwrap_or(u64::MAX / 4));
    let mut seen = 0u64;
    while args.count.is_none_or(|c| seen < c) {
        let next = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            n = tokio::time::timeout(idle, deliveries.next()) => n,
        };
        let d = match next {
            Err(_) => {
                return Err(CliError::CheckFailed(format!(
                    "no delivery for {}s",
                    idle.as_secs()
                )))
            }
            Ok(None) => return Ok(()),
            Ok(Some(d)) => d?,
        };
        d.ack().await?;
        seen += 1;
        let what = match &d.payload {
            Payload::Track(t) => format!("track {}", t.track_id),
            Payload::TrackV2(t) => format!("track {} (v2)", t.track_id),
            Payload::Alert(a) => format!("alert {}", a.alert_id),
            Payload::AlertV2(a) => format!("alert {} (v2)", a.alert_id),
        };
        println!(
            "{}/{}/{} seq {} [{}] {what} released by {} admitted by {}",
            d.origin,
            d.producer_id,
            d.feed,
            d.seq,
            d.label.display(),
            d.lineage.released_by.as_deref().unwrap_or("?"),
            d.lineage.admitted_by.as_deref().unwrap_or("?"),
        );
    }
    Ok(())
}
