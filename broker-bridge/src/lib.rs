//! The per-nation bridge: the policy enforcement point for every message
//! that crosses this nation's boundary.
//!
//! - Egress ([`egress`]): OUTBOUND -> verify -> release decision per partner
//!   -> `REL_<partner>`/RELEASED.
//! - Ingress ([`ingress`]): partner's RELEASED (over the leaf link, durable
//!   consumer) -> verify -> admit decision -> HOME/INBOUND with lineage.
//! - Refusals go to DEADLETTER with the reason; decisions are counted in
//!   Prometheus metrics ([`telemetry`]).
//!
//! The decisions themselves live in `coalition-core`; this crate connects,
//! consumes, publishes and acknowledges ([`pipeline`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bus;
mod deadletter;
pub mod egress;
mod error;
mod gate;
pub mod ingress;
pub mod pipeline;
mod settings;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use coalition_core::certificate::CertificateCache;
use coalition_topology::{accounts, streams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::BridgeError;
pub use settings::BridgeSettings;

use crate::pipeline::{run_stage, Decide, Hooks, Source};

/// A running bridge.
#[derive(Debug)]
pub struct BridgeHandle {
    /// The nation.
    pub nation: String,
    tasks: Vec<JoinHandle<()>>,
}

impl BridgeHandle {
    /// Waits until every stage has stopped (after shutdown).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Unix ms now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Connects, creates the streams and consumers, and starts the egress stage
/// and one ingress stage per partner. Returns once egress is consuming;
/// ingress stages attach to partners' streams as their links come up.
pub async fn start(
    settings: BridgeSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<BridgeHandle, BridgeError> {
    let cfg = &settings.config;
    telemetry::install(cfg.metrics_listen.as_deref())?;
    let nation = cfg.nation.clone();
    let cache = Arc::new(CertificateCache::new(settings.anchors.clone()));
    let home = bus::connect(&nation, accounts::HOME, &cfg.servers, &cfg.home).await?;
    let home_js = jetstream::new(home);
    let max_age = Duration::from_secs(cfg.release_max_age_secs);
    let outbound = bus::ensure_home_streams(&home_js, cfg.replicas, max_age).await?;
    let mut tasks = vec![start_egress(&settings, &cache, &home_js, outbound, &shutdown).await?];
    for link in &cfg.ingress {
        let account = accounts::from_partner(&link.partner);
        let client = bus::connect(&nation, &account, &cfg.servers, &link.credential).await?;
        let partner_policy = settings
            .policies
            .get(&link.partner)
            .cloned()
            .ok_or_else(|| {
                BridgeError::Config(format!("no policy for partner {}", link.partner))
            })?;
        let ctx = Arc::new(ingress::IngressContext {
            nation: nation.clone(),
            partner: link.partner.clone(),
            partner_policy,
            max_classification: link.max_classification.clone(),
            cache: cache.clone(),
        });
        tasks.push(tokio::spawn(run_ingress(
            ctx,
            jetstream::with_domain(client, &link.partner),
            home_js.clone(),
            shutdown.clone(),
        )));
    }
    tracing::info!(%nation, release = cfg.release.len(), ingress = cfg.ingress.len(), "bridge started");
    Ok(BridgeHandle { nation, tasks })
}

/// Connects to every release account, creates their RELEASED streams and
/// the egress consumer on OUTBOUND, and spawns the egress stage.
async fn start_egress(
    settings: &BridgeSettings,
    cache: &Arc<CertificateCache>,
    home_js: &jetstream::Context,
    outbound: jetstream::stream::Stream,
    shutdown: &watch::Receiver<bool>,
) -> Result<JoinHandle<()>, BridgeError> {
    let cfg = &settings.config;
    let nation = cfg.nation.clone();
    let policy = settings
        .home_policy()
        .cloned()
        .ok_or_else(|| BridgeError::Config(format!("no policy for home nation {nation}")))?;
    let max_age = Duration::from_secs(cfg.release_max_age_secs);
    let mut targets = vec![home_js.clone()];
    let mut links = Vec::new();
    for link in &cfg.release {
        let account = accounts::release_to(&link.partner);
        let client = bus::connect(&nation, &account, &cfg.servers, &link.credential).await?;
        let js = jetstream::new(client);
        bus::ensure_stream(&js, streams::RELEASED, "rel.>", cfg.replicas, max_age).await?;
        targets.push(js);
        links.push((link.partner.clone(), link.max_classification.clone()));
    }
    let ctx = Arc::new(egress::EgressContext {
        nation: nation.clone(),
        policy,
        cache: cache.clone(),
        links,
    });
    let decide: Decide = Arc::new(move |inputs| egress::decide(&ctx, inputs, now_ms()));
    let consumer = bus::durable_consumer(&outbound, streams::EGRESS_CONSUMER).await?;
    let source = Source {
        consumer,
        stream: outbound,
    };
    Ok(tokio::spawn(run_stage(
        format!("{nation} egress"),
        source,
        targets,
        decide,
        shutdown.clone(),
        stage_hooks(&nation, "egress"),
    )))
}

/// Attaches to the partner's RELEASED stream (retrying while the link is
/// down), then runs the ingress stage.
async fn run_ingress(
    ctx: Arc<ingress::IngressContext>,
    partner_js: jetstream::Context,
    home_js: jetstream::Context,
    mut shutdown: watch::Receiver<bool>,
) {
    let durable = streams::ingress_consumer(&ctx.nation);
    let source = loop {
        let attempt = async {
            let stream = partner_js
                .get_stream(streams::RELEASED)
                .await
                .map_err(|e| BridgeError::js("partner RELEASED stream", e))?;
            let consumer = bus::durable_consumer(&stream, &durable).await?;
            Ok::<_, BridgeError>(Source { consumer, stream })
        };
        match attempt.await {
            Ok(s) => break s,
            Err(e) => {
                tracing::info!(nation = %ctx.nation, partner = %ctx.partner, error = %e, "waiting for partner link");
                if pipeline::pause(&mut shutdown, Duration::from_millis(500)).await {
                    return;
                }
            }
        }
    };
    tracing::info!(nation = %ctx.nation, partner = %ctx.partner, "ingress attached");
    let name = format!("{} ingress from {}", ctx.nation, ctx.partner);
    let decide_ctx = ctx.clone();
    let decide: Decide = Arc::new(move |inputs| ingress::decide(&decide_ctx, inputs, now_ms()));
    let hooks = stage_hooks(&ctx.nation, "ingress");
    run_stage(name, source, vec![home_js], decide, shutdown, hooks).await;
}

fn stage_hooks(nation: &str, stage: &'static str) -> Hooks {
    let (a, b) = (nation.to_string(), nation.to_string());
    Hooks {
        batch: Box::new(move |s, counted| {
            telemetry::batch_seconds(&a, stage, s);
            telemetry::record(&a, counted);
        }),
        aged_out: Box::new(move |n| telemetry::aged_out(&b, stage, n)),
    }
}

/// Runs the bridge until `shutdown` turns true.
pub async fn run(
    settings: BridgeSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BridgeError> {
    start(settings, shutdown).await?.join().await;
    Ok(())
}
