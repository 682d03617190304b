//! Subscribes to what a nation admitted from its partners and prints every
//! delivery and every skipped record, acknowledging each delivery.
//!
//! ```text
//! cargo run -p coalition-sdk --example subscribe -- <mesh dir> <nation> [durable name]
//! ```
//!
//! `<mesh dir>` is a folder written by `coalition topology generate`: its
//! clients file gives the servers, user and TLS identity; every
//! `keys/<nation>/root.pub` under it is trusted.
use std::path::PathBuf;

use coalition_sdk::{load_trust_anchor, SubscriberOptions, SubscriptionEvent, Topic, TrustAnchors};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, nation, rest @ ..] = args.as_slice() else {
        eprintln!("usage: subscribe <mesh dir> <nation> [durable name]");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let mut anchors = TrustAnchors::new();
    for entry in std::fs::read_dir(dir.join("keys"))? {
        let entry = entry?;
        let root = entry.path().join("root.pub");
        if root.is_file() {
            let code = entry.file_name().to_string_lossy().into_owned();
            anchors.insert(code, load_trust_anchor(&root)?);
        }
    }
    let clients = coalition_topology::ClientsConfig::load(
        &dir.join("clients").join(format!("{nation}.toml")),
    )?;
    let mut options = SubscriberOptions::from_clients(&clients).trust_anchors(anchors);
    if let Some(name) = rest.first() {
        options = options.durable(name);
    }
    let subscriber = options.connect().await?;
    let mut subscription = subscriber.subscribe(Topic::all()).await?;
    while let Some(event) = subscription.next_event().await {
        match event {
            Ok(SubscriptionEvent::Delivery(d)) => {
                println!(
                    "{} {} {} seq {} [{}]{}",
                    d.origin,
                    d.producer_id,
                    d.feed,
                    d.seq,
                    d.label.display(),
                    d.gap
                        .map(|(a, b)| format!(" (missing before it: {a}-{b})"))
                        .unwrap_or_default()
                );
                d.ack().await?;
            }
            Ok(SubscriptionEvent::Skipped(s)) => println!(
                "skipped {} {} {} seq {}: {} (last delivered {})",
                s.origin, s.producer_id, s.feed, s.seq, s.reason, s.last_delivered_seq
            ),
            Err(e) => eprintln!("refused: {e}"),
        }
    }
    Ok(())
}
