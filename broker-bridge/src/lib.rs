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

mod audit;
mod audit_record;
mod bus;
mod continuity;
mod control;
mod deadletter;
pub mod egress;
mod egress_stages;
mod error;
mod gate;
pub mod ingress;
mod lease;
mod pacing;
pub mod pipeline;
mod policy_state;
mod rate;
mod settings;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use coalition_core::certificate::CertificateCache;
use coalition_core::revocation::Freshness;
use coalition_schemas::v1::{AuditDecision, AuditRecord};
use coalition_topology::{accounts, streams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::BridgeError;
pub use settings::BridgeSettings;

use crate::audit::Auditor;
use crate::control::{ensure_control_stream, ControlParts, ControlPlane};
use crate::pipeline::{run_stage, Decide, Hooks, Sinks, Source};

/// A running bridge.
#[derive(Debug)]
pub struct BridgeHandle {
    /// The nation.
    pub nation: String,
    tasks: Vec<JoinHandle<()>>,
    heartbeats_paused: watch::Sender<bool>,
    heartbeat_sending: Arc<tokio::sync::Mutex<()>>,
}

impl BridgeHandle {
    /// Waits until every stage has stopped (after shutdown).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Fault injection for exercises and tests: stops (`true`) or resumes
    /// this bridge's heartbeats to its partners, so they see its revocation
    /// state go stale and stop admitting its messages. Returns once no
    /// heartbeat is being sent: after a pause, none issued later follows.
    pub async fn pause_heartbeats(&self, paused: bool) {
        let _ = self.heartbeats_paused.send(paused);
        drop(self.heartbeat_sending.lock().await);
    }
}

/// A unique id for this bridge instance: nation, process id, random suffix.
fn instance_id(nation: &str) -> String {
    format!(
        "{nation}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Unix ms now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What every stage shares.
struct Shared {
    nation: String,
    lease: Arc<lease::Lease>,
    cache: Arc<CertificateCache>,
    control: Arc<ControlPlane>,
    auditor: Arc<Auditor>,
    home_js: jetstream::Context,
    replicas: usize,
    /// Per-producer rate limits (egress and paced stages).
    pacing: Arc<rate::ProducerPacing>,
}

/// Connects, creates the streams and consumers, starts the control plane,
/// the egress stage and one ingress stage per partner. Returns once egress
/// is consuming; ingress stages attach to partners' streams as their links
/// come up.
pub async fn start(
    settings: BridgeSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<BridgeHandle, BridgeError> {
    let cfg = &settings.config;
    telemetry::install(cfg.metrics_listen.as_deref())?;
    let nation = cfg.nation.clone();
    let cache = Arc::new(CertificateCache::new(settings.anchors.clone()));
    let home = bus::connect(&nation, accounts::HOME, &cfg.servers, (&cfg.home, &cfg.tls)).await?;
    let home_js = jetstream::new(home);
    let max_age = Duration::from_secs(cfg.release_max_age_secs);
    let outbound = bus::patiently("home streams", || {
        bus::ensure_home_streams(&home_js, cfg.replicas, max_age)
    })
    .await?;
    bus::patiently("home CONTROL", || {
        ensure_control_stream(&home_js, cfg.replicas)
    })
    .await?;
    let auditor = Arc::new(
        bus::patiently("audit log", || {
            Auditor::open(
                home_js.clone(),
                &nation,
                cfg.replicas,
                Some(settings.bridge_key.clone()),
            )
        })
        .await?,
    );
    let mut release = Vec::new();
    for link in &cfg.release {
        let account = accounts::release_to(&link.partner);
        let client = bus::connect(
            &nation,
            &account,
            &cfg.servers,
            (&link.credential, &cfg.tls),
        )
        .await?;
        let js = jetstream::new(client);
        bus::patiently("RELEASED", || {
            bus::ensure_stream(&js, streams::RELEASED, "rel.>", cfg.replicas, max_age)
        })
        .await?;
        bus::patiently("CONTROL", || ensure_control_stream(&js, cfg.replicas)).await?;
        release.push((link.partner.clone(), link.max_classification.clone(), js));
    }
    let lease_ttl = Duration::from_millis(cfg.lease_ttl_ms);
    let lease = lease::Lease::new(instance_id(&nation), lease_ttl);
    let lease_store = bus::patiently("lease bucket", || {
        lease::Lease::bucket(&home_js, lease_ttl, cfg.replicas)
    })
    .await?;
    let (heartbeats_paused, paused_rx) = watch::channel(false);
    let (state, announced_subjects) = settings.initial_state(now_ms())?;
    let control = Arc::new(ControlPlane::new(ControlParts {
        state: Arc::new(state),
        home_js: home_js.clone(),
        release: release
            .iter()
            .map(|(p, _, js)| (p.clone(), js.clone()))
            .collect(),
        auditor: auditor.clone(),
        bridge_key: settings.bridge_key.clone(),
        staleness_ms: cfg.revocation_staleness_ms as i64,
        heartbeat_every: Duration::from_millis(cfg.heartbeat_interval_ms),
        heartbeats_paused: paused_rx,
    }));
    bus::patiently("announce control objects", || {
        control.announce(&settings.control_objects, &announced_subjects)
    })
    .await?;
    tracing::info!(%nation, instance = %lease.instance(), "competing for the bridge lease");
    let mut tasks = vec![
        tokio::spawn(lease.clone().run(lease_store, shutdown.clone())),
        tokio::spawn(control.clone().follow_home(shutdown.clone())),
        tokio::spawn(control.clone().heartbeats(shutdown.clone())),
    ];
    let shared = Arc::new(Shared {
        nation: nation.clone(),
        lease: lease.clone(),
        cache,
        control: control.clone(),
        auditor,
        home_js: home_js.clone(),
        replicas: cfg.replicas,
        pacing: Arc::new(rate::ProducerPacing::new(
            cfg.rate_limits.producer,
            cfg.rate_limits.producer_max_deferred,
        )),
    });
    tasks.extend(egress_stages::start(&shared, release, outbound, &shutdown).await?);
    for link in &cfg.ingress {
        let account = accounts::from_partner(&link.partner);
        let client = bus::connect(
            &nation,
            &account,
            &cfg.servers,
            (&link.credential, &cfg.tls),
        )
        .await?;
        let partner_js = jetstream::with_domain(client, &link.partner);
        tasks.push(tokio::spawn(control.clone().follow_partner(
            link.partner.clone(),
            partner_js.clone(),
            shutdown.clone(),
        )));
        let ctx = Arc::new(ingress::IngressContext {
            nation: nation.clone(),
            partner: link.partner.clone(),
            state: control.state.clone(),
            max_classification: link.max_classification.clone(),
            cache: shared.cache.clone(),
        });
        let pace =
            rate::PartnerPace::new(&link.partner, cfg.rate_limits.for_partner(&link.partner));
        tasks.push(tokio::spawn(run_ingress(
            ctx,
            partner_js,
            shared.clone(),
            pace,
            shutdown.clone(),
        )));
    }
    tracing::info!(%nation, release = cfg.release.len(), ingress = cfg.ingress.len(), "bridge started");
    Ok(BridgeHandle {
        nation,
        tasks,
        heartbeats_paused,
        heartbeat_sending: control.sending.clone(),
    })
}

/// Attaches to the partner's RELEASED stream (retrying while the link is
/// down), then runs the ingress stage, which holds while the view of the
/// partner's revocation state is stale.
async fn run_ingress(
    ctx: Arc<ingress::IngressContext>,
    partner_js: jetstream::Context,
    shared: Arc<Shared>,
    pace: rate::PartnerPace,
    mut shutdown: watch::Receiver<bool>,
) {
    let durable = streams::ingress_consumer(&ctx.nation);
    let source = loop {
        let attempt = async {
            let stream = partner_js
                .get_stream(streams::RELEASED)
                .await
                .map_err(|e| BridgeError::js("partner RELEASED stream", e))?;
            let consumer = bus::durable_consumer(&stream, &durable, pace.window).await?;
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
    let decide: Decide = Arc::new(move |inputs| ingress::decide(&decide_ctx, inputs, &now_ms));
    let (control, partner) = (shared.control.clone(), ctx.partner.clone());
    let ready = Box::new(move || match control.freshness(&partner) {
        Freshness::Fresh => Ok(()),
        Freshness::Stale(why) => Err(why),
    });
    let mut hooks = stage_hooks(&shared, "ingress", Some(ctx.partner.clone()), ready);
    let limiter = pacing::Limiter::Partner(Arc::new(pace));
    hooks.pacer = Some(pacing::Pacer::new(&ctx.nation, "ingress", limiter));
    let sinks = Sinks {
        targets: vec![shared.home_js.clone()],
        auditor: shared.auditor.clone(),
    };
    run_stage(name, source, sinks, decide, shutdown, hooks).await;
}

/// The hooks every stage has: metrics, audit of holds, the lease; no rate
/// limit, lock or continuity reload (callers add those).
fn stage_hooks(
    shared: &Arc<Shared>,
    stage: &'static str,
    partner: Option<String>,
    ready: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
) -> Hooks {
    let (a, b, c, d) = (
        shared.nation.clone(),
        shared.nation.clone(),
        shared.nation.clone(),
        shared.nation.clone(),
    );
    let auditor = shared.auditor.clone();
    let lease = shared.lease.clone();
    let pacing = shared.pacing.clone();
    Hooks {
        active: Box::new(move || lease.is_active()),
        batch: Box::new(move |s, counted| {
            telemetry::batch_seconds(&a, stage, s);
            telemetry::record(&a, counted);
            egress_stages::count(&pacing, counted);
        }),
        aged_out: Box::new(move |n| telemetry::aged_out(&b, stage, n)),
        broken: Box::new(move |brk| telemetry::continuity_break(&d, stage, brk)),
        ready,
        holding: Box::new(move |why| {
            let partner = partner.clone().unwrap_or_default();
            telemetry::partner_stale(&c, &partner, why.is_some());
            let record = AuditRecord {
                decision: AuditDecision::Hold as i32,
                stage: stage.to_string(),
                partner,
                decided_at_ms: now_ms(),
                detail: why.map_or("resumed".to_string(), |w| format!("holding: {w}")),
                ..Default::default()
            };
            let auditor = auditor.clone();
            tokio::spawn(async move {
                if let Err(e) = auditor.append(vec![record]).await {
                    tracing::warn!(error = %e, "hold record not audited");
                }
            });
        }),
        pacer: None,
        guard: None,
        chains_stale: Box::new(|| false),
        on_open: None,
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
