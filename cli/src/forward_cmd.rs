//! `coalition forward`: posts each verified alert to a webhook, as the CLI
//! JSON object or as CAP 1.2 XML, at least once (docs/alerting.md,
//! "Webhook forwarder").
//!
//! One alert is in flight at a time, so the endpoint sees a feed's alerts
//! in order; the next one is read and verified while it is posted. A
//! delivery is acknowledged on the bus only after a 2xx, or after it was
//! written to the dead-letter file (a non-retryable status,
//! the tries used up, or an alert the format cannot express). The
//! subscription is durable and named, so what was not acknowledged when
//! the forwarder stopped or crashed is delivered again when it restarts.
//! The decisions are [`crate::retry`]'s and [`crate::cap`]'s; this module
//! only does the I/O.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use coalition_sdk::{Delivery, Payload, SdkError, SubscriberOptions, Subscription};
use rand::Rng as _;
use serde_json::json;

use crate::attach::AttachArgs;
use crate::error::CliError;
use crate::record_json::{to_json, Record};
use crate::retry::{decide, Next, Outcome, RetryPolicy};
use crate::topic_args::{KindArg, TopicArgs};
use crate::webhook::{parse_url, Webhook};

/// How often a delivery being worked on is reported in progress, so the
/// bus does not redeliver it (its ack wait is 30 s).
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// What the webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The `coalition subscribe --json` object (application/json).
    Json,
    /// A CAP 1.2 `<alert>` (application/cap+xml).
    Cap,
}

/// Forward verified alerts to a webhook.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    #[command(flatten)]
    pub attach: AttachArgs,
    /// The endpoint: an http:// or https:// URL.
    #[arg(long)]
    pub webhook: String,
    /// What to post.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// A JSON-lines file (created if missing, appended to) for alerts that
    /// could not be delivered: each line the alert, the last HTTP status or
    /// error, the tries and the time.
    #[arg(long)]
    pub dead_letter: PathBuf,
    /// Tries per alert, the first included, before it is dead-lettered.
    #[arg(long, default_value_t = 10)]
    pub max_tries: u32,
    /// Per-request time-out, in milliseconds (connect, send, response).
    #[arg(long, default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// The first retry's delay bound, in milliseconds; it doubles per try.
    #[arg(long, default_value_t = 500)]
    pub retry_base_ms: u64,
    /// The longest delay between tries (also bounds Retry-After), in
    /// milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub retry_max_delay_ms: u64,
    /// PEM certificates to trust for an https webhook instead of the
    /// system's roots (a private CA).
    #[arg(long)]
    pub webhook_ca: Option<PathBuf>,
    /// The durable subscription's name: a restarted forwarder of the same
    /// name resumes where it stopped. Give each forwarder its own.
    #[arg(long, default_value = "coalition-forward")]
    pub durable: String,
    /// Which alerts: origin, schema version, category, minimum severity,
    /// area, expired ones.
    #[command(flatten)]
    pub topic: TopicArgs,
}

/// Checks the numeric flags and the durable name.
pub fn retry_policy(args: &ForwardArgs) -> Result<RetryPolicy, CliError> {
    let usage = |m: String| Err(CliError::Usage(m));
    if args.max_tries == 0 {
        return usage("--max-tries must be at least 1".into());
    }
    if args.request_timeout_ms == 0 {
        return usage("--request-timeout-ms must be at least 1".into());
    }
    if args.retry_base_ms == 0 || args.retry_max_delay_ms < args.retry_base_ms {
        return usage(format!(
            "--retry-base-ms ({}) must be at least 1 and at most --retry-max-delay-ms ({})",
            args.retry_base_ms, args.retry_max_delay_ms
        ));
    }
    if !coalition_topology::subjects::is_token(&args.durable) {
        return usage(format!(
            "--durable {:?} must be letters, digits, '-' or '_'",
            args.durable
        ));
    }
    Ok(RetryPolicy {
        max_tries: args.max_tries,
        base: Duration::from_millis(args.retry_base_ms),
        max_delay: Duration::from_millis(args.retry_max_delay_ms),
    })
}

/// The body and content type for a record, or why it cannot be posted.
pub fn render(format: Format, record: &Record) -> Result<(&'static str, Bytes), CliError> {
    match format {
        Format::Json => {
            let line = serde_json::to_vec(&to_json(record))
                .map_err(|e| CliError::Unmappable(format!("JSON: {e}")))?;
            Ok(("application/json", Bytes::from(line)))
        }
        Format::Cap => {
            let alert = cap_alert(&record.payload)?;
            let xml = crate::cap::to_cap(&alert, record)?;
            Ok(("application/cap+xml", Bytes::from(xml)))
        }
    }
}

/// The AlertV2 a CAP document is made from.
fn cap_alert(payload: &Payload) -> Result<coalition_schemas::v1::AlertV2, CliError> {
    match payload {
        // A v1 alert as the mesh serves it in v2 (schemas/MANIFEST.md):
        // nothing of v1 is lost, and what v1 lacks gets the values that
        // claim nothing (category `other`, urgency and certainty unknown).
        Payload::Alert(a) => coalition_core::schema::alert_v1_to_v2(a)
            .map(|(v2, _lossless)| v2)
            .map_err(|e| CliError::Unmappable(format!("a version 1 alert: {e}"))),
        Payload::AlertV2(a) => Ok((**a).clone()),
        Payload::Track(_) | Payload::TrackV2(_) => {
            Err(CliError::Unmappable("a track is not an alert".into()))
        }
    }
}

/// Appends dead letters, one JSON line each, synced before the delivery is
/// acknowledged.
struct DeadLetters {
    path: PathBuf,
    file: std::fs::File,
}

impl DeadLetters {
    fn open(path: &Path) -> Result<Self, CliError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                CliError::Usage(format!(
                    "--dead-letter {}: cannot open for appending: {e}",
                    path.display()
                ))
            })?;
        Ok(DeadLetters {
            path: path.to_path_buf(),
            file,
        })
    }

    fn write(&mut self, line: &serde_json::Value) -> Result<(), CliError> {
        let mut bytes =
            serde_json::to_vec(line).map_err(|e| CliError::Runtime(format!("dead letter: {e}")))?;
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| {
                CliError::Runtime(format!(
                    "cannot write the dead letter to {}: {e}; the alert is not acknowledged",
                    self.path.display()
                ))
            })
    }
}

/// A dead-letter line.
fn dead_letter_line(
    record: &Record,
    url: &str,
    format: Format,
    tries: u32,
    last: Option<&Outcome>,
    error: &str,
) -> serde_json::Value {
    json!({
        "dead_lettered_at_ms": crate::now_ms(),
        "webhook": url,
        "format": match format { Format::Json => "json", Format::Cap => "cap" },
        "status": last.and_then(Outcome::status),
        "tries": tries,
        "last_error": error,
        "alert": to_json(record),
    })
}

/// Runs the forwarder until Ctrl-C (or a dead letter that cannot be
/// written).
pub async fn forward(args: ForwardArgs) -> Result<(), CliError> {
    let policy = retry_policy(&args)?;
    let url = parse_url(&args.webhook)?;
    let topic = args.topic.topic(KindArg::Alert)?;
    let timeout = Duration::from_millis(args.request_timeout_ms);
    let webhook = Webhook::new(url, args.webhook_ca.as_deref(), timeout)?;
    let mut dead = DeadLetters::open(&args.dead_letter)?;
    let attach = args.attach.resolve()?;
    let clients = attach.clients()?;
    let subscriber = SubscriberOptions::from_clients(&clients)
        .trust_anchors(attach.trust_anchors()?)
        .durable(&args.durable)
        .connect()
        .await?;
    let mut alerts = subscriber.subscribe(topic).await?;
    eprintln!(
        "coalition forward: {} alerts of {} to {} as {:?} (durable {})",
        if args.topic.from.is_some() || args.topic.category.is_some() {
            "some"
        } else {
            "all"
        },
        clients.nation,
        args.webhook,
        args.format,
        args.durable
    );
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let mut ahead: Option<Box<Delivery>> = None;
    loop {
        let delivery = match ahead.take() {
            Some(d) => d,
            None => {
                let next = tokio::select! {
                    _ = &mut interrupt => break,
                    n = alerts.next() => n,
                };
                match read(next) {
                    Read::Delivery(d) => d,
                    Read::Failed => continue,
                    Read::Ended => break,
                }
            }
        };
        let work = handle(&delivery, &webhook, &args, &policy, &mut dead);
        let (posted, next) = post_reading_ahead(&delivery, work, &mut alerts).await;
        posted?;
        match next {
            Some(Read::Ended) => break,
            Some(Read::Delivery(d)) => ahead = Some(d),
            Some(Read::Failed) | None => {}
        }
    }
    alerts.close().await?;
    Ok(())
}

/// One read from the subscription.
enum Read {
    /// Boxed: a delivery is large, the other outcomes empty.
    Delivery(Box<Delivery>),
    /// Reported, not fatal: read again.
    Failed,
    /// The subscription ended.
    Ended,
}

/// Sorts what the subscription gave. A message that failed verification
/// was terminated by the SDK (and audited by the bridge); a consumer
/// failing for a minute is reported. Neither stops the forwarder.
fn read(next: Option<Result<Delivery, SdkError>>) -> Read {
    match next {
        None => Read::Ended,
        Some(Err(e)) => {
            eprintln!("coalition forward: {e}");
            Read::Failed
        }
        Some(Ok(d)) => Read::Delivery(Box::new(d)),
    }
}

/// Runs `work` (posting `delivery`) while the next alert is read and
/// verified, so the two overlap and the endpoint still sees alerts one at
/// a time, in order. Every [`KEEP_ALIVE`] both are reported in progress,
/// so the bus does not redeliver them. At most one alert is read ahead:
/// the second value, `None` if nothing came before `work` ended.
async fn post_reading_ahead(
    delivery: &Delivery,
    work: impl std::future::Future<Output = Result<(), CliError>>,
    alerts: &mut Subscription,
) -> (Result<(), CliError>, Option<Read>) {
    tokio::pin!(work);
    // The first tick after one period: an interval's immediate first tick
    // still waits for the timer wheel's next millisecond, which alone
    // held the forwarder to about 650 alerts/s.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let mut next: Option<Read> = None;
    loop {
        tokio::select! {
            r = &mut work => return (r, next),
            n = alerts.next(), if next.is_none() => {
                // A failed read was reported; read again.
                next = Some(read(n)).filter(|r| !matches!(r, Read::Failed));
            }
            _ = tick.tick() => {
                let ahead = match &next {
                    Some(Read::Delivery(d)) => Some(&**d),
                    _ => None,
                };
                for d in std::iter::once(delivery).chain(ahead) {
                    if let Err(e) = d.in_progress().await {
                        tracing::warn!(error = %e, "could not mark the alert in progress");
                    }
                }
            }
        }
    }
}

/// Posts one alert until it is delivered or dead-lettered, then
/// acknowledges it.
async fn handle(
    delivery: &Delivery,
    webhook: &Webhook,
    args: &ForwardArgs,
    policy: &RetryPolicy,
    dead: &mut DeadLetters,
) -> Result<(), CliError> {
    let record = Record::from(delivery);
    let id = record.delivery_id();
    let (content_type, body) = match render(args.format, &record) {
        Ok(r) => r,
        Err(e) => {
            dead.write(&dead_letter_line(
                &record,
                &args.webhook,
                args.format,
                0,
                None,
                &e.to_string(),
            ))?;
            println!("dead-lettered {id}: {e}");
            return Ok(delivery.ack().await?);
        }
    };
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = webhook.post(content_type, &id, body.clone()).await;
        let jitter = rand::thread_rng().gen::<f64>();
        match decide(policy, tries, &outcome, jitter) {
            Next::Delivered => {
                delivery.ack().await?;
                println!("forwarded {id} ({}, {tries} tries)", outcome.describe());
                return Ok(());
            }
            Next::RetryAfter(wait) => {
                tracing::info!(%id, tries, outcome = %outcome.describe(), ?wait, "webhook: retrying");
                tokio::time::sleep(wait).await;
            }
            Next::DeadLetter => {
                let error = outcome.describe();
                dead.write(&dead_letter_line(
                    &record,
                    &args.webhook,
                    args.format,
                    tries,
                    Some(&outcome),
                    &error,
                ))?;
                delivery.ack().await?;
                println!("dead-lettered {id} ({error}, {tries} tries)");
                return Ok(());
            }
        }
    }
}
