//! `coalition-bench`: measures, in one run on one machine, raw NATS through a
//! leaf link and the full mesh path (producer -> bridge -> leaf link ->
//! bridge -> subscriber, every message signed, verified and policy-checked),
//! at each payload size, and reports the ratio. It is a measurement, never a
//! pass/fail test.
//!
//! Writes `load-tests/results/latest.json` and `latest.md`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use coalition_bridge::BridgeSettings;
use coalition_sdk::{
    load_producer_identity, load_trust_anchor, Label, ProducerOptions, SubscriberOptions, Topic,
    TrackV1,
};
use futures::StreamExt;
use nats_harness::Mesh;

const TOPOLOGY: &str = include_str!("../../topologies/pair.toml");

/// Raw NATS vs the mesh path, side by side.
#[derive(Parser)]
struct Args {
    /// Messages per raw run.
    #[arg(long, default_value_t = 200_000)]
    raw_messages: usize,
    /// Messages per mesh run.
    #[arg(long, default_value_t = 2_000)]
    mesh_messages: usize,
    /// Payload sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "128,1024")]
    sizes: Vec<usize>,
    /// Where to write latest.json and latest.md.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args = Args::parse();
    if args.sizes.is_empty() || args.raw_messages == 0 || args.mesh_messages == 0 {
        return Err(
            "--sizes, --raw-messages and --mesh-messages must be non-empty and positive".into(),
        );
    }
    let topology = coalition_topology::parse_topology(TOPOLOGY, Path::new("<bench>"))?;
    eprintln!("starting a 2-nation mesh ...");
    let mesh = Mesh::start(topology).await?;
    let mut rows = Vec::new();
    for &size in &args.sizes {
        let raw = raw_leaf(&mesh, size, args.raw_messages).await?;
        eprintln!("raw leaf   {size:>5} B: {raw:>10.0} msg/s");
        let stored = jetstream_store(&mesh, size, args.raw_messages / 10).await?;
        eprintln!("JetStream  {size:>5} B: {stored:>10.0} msg/s (one stream, sync_interval: always, pipelined)");
        rows.push((size, raw, stored));
    }
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    for nation in ["USA", "GBR"] {
        coalition_bridge::start(
            BridgeSettings::load(&mesh.bridge_config_path(nation))?,
            shutdown.clone(),
        )
        .await?;
    }
    let mut table = Vec::new();
    for (size, raw, stored) in rows {
        let m = mesh_path(&mesh, size, args.mesh_messages).await?;
        eprintln!("mesh path  {size:>5} B: {m:>10.0} msg/s");
        table.push(serde_json::json!({
            "size": size,
            "raw_msgs_per_s": raw.round(),
            "jetstream_store_msgs_per_s": stored.round(),
            "mesh_msgs_per_s": m.round(),
            "ratio": m / raw,
        }));
    }
    let _ = stop.send(true);
    report(&args.out, &table)?;
    Ok(())
}

/// Core NATS through the leaf link: published in USA's REL_GBR account on an
/// `_INBOX.` subject (carried by the leaf, stored by no stream), received in
/// GBR's FROM_USA account.
async fn raw_leaf(mesh: &Mesh, size: usize, n: usize) -> Result<f64, Failure> {
    let usa = mesh.bridge_config("USA").ok_or("no USA config")?;
    let gbr = mesh.bridge_config("GBR").ok_or("no GBR config")?;
    let rel = &usa.release[0].credential;
    let from = &gbr.ingress[0].credential;
    let tx = mesh
        .connect_options("USA", rel)?
        .connect(mesh.client_urls("USA"))
        .await?;
    let rx = mesh
        .connect_options("GBR", from)?
        .connect(mesh.client_urls("GBR"))
        .await?;
    let subject = format!("_INBOX.bench.{size}");
    let mut sub = rx.subscribe(subject.clone()).await?;
    rx.flush().await?;
    // Wait until the subscription is known across the leaf link.
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tx.publish(subject.clone(), bytes::Bytes::from_static(b"probe"))
                .await?;
            tx.flush().await?;
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await
            {
                return Ok::<_, Failure>(());
            }
        }
    })
    .await??;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {}
    let payload = bytes::Bytes::from(vec![0x5a; size]);
    let receiver = tokio::spawn(async move {
        let mut got = 0usize;
        let mut first = None;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
                Ok(Some(_)) => {
                    first.get_or_insert_with(Instant::now);
                    got += 1;
                }
                _ => break,
            }
        }
        (got, first.map(|f| f.elapsed()))
    });
    let started = Instant::now();
    for _ in 0..n {
        tx.publish(subject.clone(), payload.clone()).await?;
    }
    tx.flush().await?;
    let (got, _) = receiver.await?;
    let elapsed = started.elapsed();
    if got < n {
        eprintln!(
            "  note: core NATS dropped {} of {n} (slow consumer); rate counts what arrived",
            n - got
        );
    }
    Ok(got as f64 / elapsed.as_secs_f64())
}

/// One JetStream stream in USA with the mesh's settings (file storage,
/// `sync_interval: always`), publishes pipelined 1,000 at a time: the ceiling
/// any path that stores a message durably at each hop runs into.
async fn jetstream_store(mesh: &Mesh, size: usize, n: usize) -> Result<f64, Failure> {
    let home = &mesh.bridge_config("USA").ok_or("no USA config")?.home;
    let client = mesh
        .connect_options("USA", home)?
        .connect(mesh.client_urls("USA"))
        .await?;
    let js = async_nats::jetstream::new(client);
    let name = format!("BENCH{size}");
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![format!("bench.{size}")],
        ..Default::default()
    })
    .await?;
    let payload = bytes::Bytes::from(vec![0x5a; size]);
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        let mut acks = Vec::new();
        for _ in 0..1000.min(n - sent) {
            acks.push(js.publish(format!("bench.{size}"), payload.clone()).await?);
            sent += 1;
        }
        for ack in acks {
            ack.await?;
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    js.delete_stream(&name).await?;
    Ok(rate)
}

/// The mesh path, end to end, with the SDK on both sides.
async fn mesh_path(mesh: &Mesh, size: usize, n: usize) -> Result<f64, Failure> {
    let root = load_trust_anchor(&mesh.root_public_key_path("USA"))?;
    let (key, cert) = mesh.producer_key_paths("USA", "radar-1");
    let identity = load_producer_identity(&key, &cert, "USA", &root)?;
    let clients = mesh.clients("USA").ok_or("no USA clients")?;
    let producer = ProducerOptions::from_clients(clients, "radar-1")?
        .connect(identity)
        .await?;
    let gbr = mesh.clients("GBR").ok_or("no GBR clients")?;
    let subscriber = SubscriberOptions::new(&gbr.servers)
        .credentials(&gbr.subscriber.user, &gbr.subscriber.password)
        .trust_anchors([("USA".to_string(), root)].into_iter().collect())
        .connect()
        .await?;
    let mut deliveries = subscriber.subscribe(Topic::tracks()).await?;
    let label = Label::new("USA", "SECRET", &["GBR"]);
    let track = TrackV1 {
        track_id: "x".repeat(size.saturating_sub(60).max(1)),
        ..Default::default()
    };
    let receiver = tokio::spawn(async move {
        let mut got = 0usize;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(60), deliveries.next()).await {
                Ok(Some(Ok(d))) => {
                    let _ = d.ack().await;
                    got += 1;
                }
                _ => break,
            }
        }
        got
    });
    // Publish through the SDK's pipelined batch API, 500 per call.
    let started = Instant::now();
    let mut last_report = Instant::now();
    let batch: Vec<(Label, TrackV1)> = (0..500).map(|_| (label.clone(), track.clone())).collect();
    let mut sent = 0;
    while sent < n {
        let take = (n - sent).min(batch.len());
        producer.publish_tracks("tracks", &batch[..take]).await?;
        sent += take;
        if last_report.elapsed() > Duration::from_secs(1) {
            eprintln!("  mesh {size} B: published {sent}/{n}");
            last_report = Instant::now();
        }
    }
    let got = receiver.await?;
    if got < n {
        return Err(format!("mesh path delivered {got} of {n}").into());
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn report(out: &Path, table: &[serde_json::Value]) -> Result<(), Failure> {
    std::fs::create_dir_all(out)?;
    let mut md = String::from(
        "| payload | raw NATS via leaf (msg/s) | one JetStream store, sync always (msg/s) | mesh path (msg/s) | mesh / raw |\n|---:|---:|---:|---:|---:|\n",
    );
    for r in table {
        md.push_str(&format!(
            "| {} B | {} | {} | {} | {:.2} % |\n",
            r["size"],
            r["raw_msgs_per_s"],
            r["jetstream_store_msgs_per_s"],
            r["mesh_msgs_per_s"],
            r["ratio"].as_f64().unwrap_or(0.0) * 100.0
        ));
    }
    println!("\n{md}");
    std::fs::write(out.join("latest.md"), &md)?;
    std::fs::write(
        out.join("latest.json"),
        serde_json::to_string_pretty(table)?,
    )?;
    println!("wrote {}/latest.json and latest.md", out.display());
    Ok(())
}
