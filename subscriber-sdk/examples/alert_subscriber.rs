//! An alerting system's subscriber: severe or extreme `air` alerts whose
//! area touches a box, filtered by the server (category, severity) and by
//! the SDK (area, expiry), printed with what they update or cancel.
//!
//! ```text
//! cargo run -p coalition-sdk --example alert_subscriber -- \
//!     <mesh dir> <nation> <south,west,north,east>
//! ```
//!
//! `<mesh dir>` is a folder written by `coalition topology generate`: its
//! clients file gives the servers, user and TLS identity; every
//! `keys/<nation>/root.pub` under it is trusted.
use std::path::Path;

use coalition_sdk::{
    load_trust_anchor, AlertSeverity, BoundingBox, Payload, SubscriberOptions, Topic, TrustAnchors,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, nation, area] = args.as_slice() else {
        eprintln!("usage: alert_subscriber <mesh dir> <nation> <south,west,north,east>");
        std::process::exit(2);
    };
    let edges: Vec<f64> = area.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let [south, west, north, east] = edges[..] else {
        return Err("the area is four numbers: south,west,north,east".into());
    };
    let area = BoundingBox::new(south, west, north, east)?;
    let subscriber = connect(Path::new(dir), nation).await?;
    let topic = Topic::alerts()
        .version(2)
        .category("air")
        .min_severity(AlertSeverity::Severe)
        .area(area);
    let mut alerts = subscriber.subscribe(topic).await?;
    while let Some(delivery) = alerts.next().await {
        let d = delivery?;
        if let Payload::AlertV2(a) = &d.payload {
            let refers: Vec<&str> = a.references.iter().map(|r| r.alert_id.as_str()).collect();
            println!(
                "{} {:?} {} [{}] {}{}",
                d.origin,
                a.message_type(),
                a.alert_id,
                d.label.display(),
                a.headline,
                if refers.is_empty() {
                    String::new()
                } else {
                    format!(" (refers to {})", refers.join(", "))
                }
            );
        }
        d.ack().await?;
    }
    Ok(())
}

/// A subscriber of `nation` in the mesh folder `dir`, trusting every root
/// under `dir/keys`.
async fn connect(
    dir: &Path,
    nation: &str,
) -> Result<coalition_sdk::Subscriber, Box<dyn std::error::Error>> {
    let mut anchors = TrustAnchors::new();
    for entry in std::fs::read_dir(dir.join("keys"))? {
        let entry = entry?;
        let root = entry.path().join("root.pub");
        if root.is_file() {
            anchors.insert(
                entry.file_name().to_string_lossy().into_owned(),
                load_trust_anchor(&root)?,
            );
        }
    }
    let clients = coalition_topology::ClientsConfig::load(
        &dir.join("clients").join(format!("{nation}.toml")),
    )?;
    let options = SubscriberOptions::from_clients(&clients).trust_anchors(anchors);
    Ok(options.connect().await?)
}
