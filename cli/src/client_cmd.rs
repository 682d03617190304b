//! `coalition publish` and `coalition subscribe`: a producer and an
//! alerting subscriber from the command line, attached to a generated mesh
//! folder (from `coalition run` or `coalition topology generate`) or to a
//! deployed nation's clients file ([`crate::attach`]).
//!
//! `subscribe --json` prints each verified delivery as one JSON object per
//! line ([`crate::record_json`]; docs/alerting.md, "CLI JSON").
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use coalition_sdk::{
    load_producer_identity, load_trust_anchor, Delivery, Label, Payload, ProducerOptions,
    SubscriberOptions, TrackV1,
};

use crate::attach::AttachArgs;
use crate::error::CliError;
use crate::record_json::{to_json, Record};
use crate::topic_args::{KindArg, TopicArgs};

/// Publish one signed track.
#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub attach: AttachArgs,
    /// Producer id (must have a key and certificate under the keys folder's
    /// <NATION>/producers/).
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
    pub attach: AttachArgs,
    /// One JSON object per line per delivery (docs/alerting.md, "CLI JSON").
    #[arg(long)]
    pub json: bool,
    /// What to receive: tracks, alerts, or both.
    #[arg(long, value_enum, default_value = "all")]
    pub kind: KindArg,
    #[command(flatten)]
    pub topic: TopicArgs,
    /// Stop after this many deliveries.
    #[arg(long)]
    pub count: Option<u64>,
    /// Give up after this many seconds without a delivery.
    #[arg(long)]
    pub idle_timeout: Option<u64>,
}

/// Publishes one track.
pub async fn publish(args: PublishArgs) -> Result<(), CliError> {
    let attach = args.attach.resolve()?;
    let clients = attach.clients()?;
    let nation = &clients.nation;
    clients.producers.get(&args.producer).ok_or_else(|| {
        CliError::Usage(format!(
            "no producer {:?} in {}: the producers there are {}",
            args.producer,
            attach.clients_path().display(),
            clients
                .producers
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let keys = attach.nation_keys(nation)?;
    let root = load_trust_anchor(&keys.join("root.pub"))?;
    let producers: PathBuf = keys.join("producers");
    let key = producers.join(format!("{}.key", args.producer));
    let cert = producers.join(format!("{}.cert", args.producer));
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
    let receipt = producer
        .publish(&args.feed, coalition_sdk::Record::track(&label, &track))
        .await?;
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
    let topic = args.topic.topic(args.kind)?;
    let attach = args.attach.resolve()?;
    let clients = attach.clients()?;
    let anchors = attach.trust_anchors()?;
    let subscriber = SubscriberOptions::from_clients(&clients)
        .trust_anchors(anchors)
        .connect()
        .await?;
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
        if args.json {
            println!("{}", to_json(&Record::from(&d)));
        } else {
            println!("{}", text_line(&d));
        }
    }
    Ok(())
}

/// The human-readable line of a delivery.
/// `<category>/<severity>` of an alert, as its subject's topic names it.
fn alert_topic(a: &coalition_sdk::AlertV2) -> String {
    let severity = coalition_sdk::AlertSeverity::try_from(a.severity)
        .ok()
        .and_then(coalition_topology::severity_token)
        .unwrap_or("?");
    format!("{}/{severity}", a.category)
}

fn text_line(d: &Delivery) -> String {
    let what = match &d.payload {
        Payload::Track(t) => format!("track {}", t.track_id),
        Payload::TrackV2(t) => format!("track {} (v2)", t.track_id),
        Payload::Alert(a) => format!("alert {}", a.alert_id),
        Payload::AlertV2(a) => format!("alert {} (v2, {})", a.alert_id, alert_topic(a)),
    };
    format!(
        "{}/{}/{} seq {} [{}] {what} released by {} admitted by {}",
        d.origin,
        d.producer_id,
        d.feed,
        d.seq,
        d.label.display(),
        d.lineage.released_by.as_deref().unwrap_or("?"),
        d.lineage.admitted_by.as_deref().unwrap_or("?"),
    )
}
