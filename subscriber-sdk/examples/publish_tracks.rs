//! Publishes tracks as a producer of a generated mesh, batched and sealed
//! by the SDK, and prints each record's receipt.
//!
//! ```text
//! cargo run -p coalition-sdk --example publish_tracks -- \
//!     <mesh dir> <nation> <producer> <feed> [count]
//! ```
//!
//! `<mesh dir>` is a folder written by `coalition topology generate` (or a
//! test mesh kept with `Mesh::start_in`): its clients file gives the
//! servers, user and TLS identity; `keys/<nation>/` the producer's key,
//! certificate and the nation's root.
use std::path::PathBuf;

use coalition_sdk::{load_producer_identity, load_trust_anchor, Label, ProducerOptions, TrackV1};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, nation, producer_id, feed, rest @ ..] = args.as_slice() else {
        eprintln!("usage: publish_tracks <mesh dir> <nation> <producer> <feed> [count]");
        std::process::exit(2);
    };
    let count: u64 = rest.first().map_or(Ok(10), |c| c.parse())?;
    let dir = PathBuf::from(dir);
    let keys = dir.join("keys").join(nation);
    let root = load_trust_anchor(&keys.join("root.pub"))?;
    let identity = load_producer_identity(
        &keys.join("producers").join(format!("{producer_id}.key")),
        &keys.join("producers").join(format!("{producer_id}.cert")),
        nation,
        &root,
    )?;
    let clients = coalition_topology::ClientsConfig::load(
        &dir.join("clients").join(format!("{nation}.toml")),
    )?;
    let producer = ProducerOptions::from_clients(&clients, producer_id)?
        .nation_root(root)
        .connect(identity)
        .await?;

    // Enqueue everything, then wait: records sent together share batches.
    let label = Label::new(nation, "SECRET", &[]);
    let mut pending = Vec::new();
    for i in 0..count {
        let track = TrackV1 {
            track_id: format!("example-{i}"),
            latitude_deg: 51.5,
            longitude_deg: -0.12,
            ..Default::default()
        };
        pending.push(
            producer
                .send(feed, coalition_sdk::Record::track(&label, &track))
                .await?,
        );
    }
    for p in pending {
        let receipt = p.await?;
        println!(
            "seq {} in batch {}-{}{}",
            receipt.seq,
            receipt.batch.0,
            receipt.batch.1,
            if receipt.duplicate {
                " (duplicate)"
            } else {
                ""
            }
        );
    }
    producer.close().await?;
    Ok(())
}
