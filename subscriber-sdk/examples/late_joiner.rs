//! A late joiner: prints the alerts still in force on its topic (unexpired,
//! not superseded by an update nor cancelled), then follows the live stream.
//!
//! ```text
//! cargo run -p coalition-sdk --example late_joiner -- <mesh dir> <nation> [category]
//! ```
//!
//! `<mesh dir>` is a folder written by `coalition topology generate`; every
//! `keys/<nation>/root.pub` under it is trusted.
use std::path::Path;

use coalition_sdk::{load_trust_anchor, Delivery, Payload, SubscriberOptions, Topic, TrustAnchors};

fn line(d: &Delivery) -> String {
    match &d.payload {
        Payload::AlertV2(a) => {
            format!("{} {} {}: {}", d.origin, a.alert_id, a.category, a.headline)
        }
        Payload::Alert(a) => format!("{} {} (v1): {}", d.origin, a.alert_id, a.summary),
        other => format!("{} not an alert: {other:?}", d.origin),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, nation, rest @ ..] = args.as_slice() else {
        eprintln!("usage: late_joiner <mesh dir> <nation> [category]");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    let mut anchors = TrustAnchors::new();
    for entry in std::fs::read_dir(dir.join("keys"))? {
        let entry = entry?;
        let root = entry.path().join("root.pub");
        if root.is_file() {
            let nation = entry.file_name().to_string_lossy().into_owned();
            anchors.insert(nation, load_trust_anchor(&root)?);
        }
    }
    let clients = coalition_topology::ClientsConfig::load(
        &dir.join("clients").join(format!("{nation}.toml")),
    )?;
    let subscriber = SubscriberOptions::from_clients(&clients)
        .trust_anchors(anchors)
        .connect()
        .await?;
    let mut topic = Topic::alerts().version(2);
    if let Some(category) = rest.first() {
        topic = topic.category(category);
    }
    let start = subscriber.subscribe_in_force(topic).await?;
    println!("{} alerts in force:", start.alerts.len());
    for d in &start.alerts {
        println!("  {}", line(d));
    }
    let mut live = start.live;
    while let Some(d) = live.next().await {
        let d = d?;
        println!("live: {}", line(&d));
        d.ack().await?;
    }
    Ok(())
}
