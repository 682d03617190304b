//! The per-nation bridge: the policy enforcement point for every message
//! that crosses this nation's boundary.
//!
//! Everything moves as sealed batches (`coalition_core::batch`), in two
//! lanes with their own streams and stages: tracks and alerts.
//!
//! - Egress ([`egress`]): OUTBOUND -> verify the batch once -> feed position
//!   -> release decision per record and partner -> the released subset, with
//!   its Merkle proof, into `REL_<partner>`/RELEASED.
//! - Ingress ([`ingress`]): partner's RELEASED (over the leaf link, durable
//!   consumer) -> verify -> feed position -> admit decision per record ->
//!   HOME/INBOUND with lineage.
//! - Refusals go to DEADLETTER with the reason; decisions are counted in
//!   Prometheus metrics ([`telemetry`]).
//!
//! The decisions themselves live in `coalition-core`; each stage
//! ([`stage::Stage`]) is a pure decision the shell ([`pipeline`], [`cycle`])
//! feeds, stores and acknowledges.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod audit_record;
mod bus;
mod certificates;
mod continuity;
mod control;
mod cycle;
mod deadletter;
mod egress;
mod egress_stages;
mod error;
mod gate;
mod ingress;
mod lease;
mod pacing;
mod pipeline;
mod policy_state;
mod positions;
mod rate;
mod serve;
mod settings;
mod stage;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use coalition_core::feed_position::ForwardWindow;
use coalition_core::revocation::Freshness;
use coalition_topology::{accounts, streams, Kind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::BridgeError;
pub use settings::BridgeSettings;

use crate::audit::Auditor;
use crate::certificates::HoldBound;
use crate::control::{ensure_control_stream, ControlParts, ControlPlane};
use crate::pipeline::{run_stage, Shell, Source};
use crate::stage::Target;

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
    control: Arc<ControlPlane>,
    auditor: Arc<Auditor>,
    home_js: jetstream::Context,
    /// (partner, link ceiling, its release account) for every partner
    /// released to.
    release: Vec<(String, String, jetstream::Context)>,
    replicas: usize,
    /// Per-producer rate limits (egress and paced stages).
    pacing: Arc<rate::ProducerPacing>,
    /// Every feed's forward window.
    window: ForwardWindow,
    /// How long a batch waits for its certificate, at egress (with a
    /// per-producer cool-down) and at ingress.
    hold_at_egress: HoldBound,
    hold_at_ingress: HoldBound,
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
            bus::ensure_released_streams(&js, cfg.replicas, max_age)
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
    let hold = std::time::Duration::from_millis(cfg.feeds.certificate_hold_ms);
    let shared = Arc::new(Shared {
        nation: nation.clone(),
        lease: lease.clone(),
        control: control.clone(),
        auditor,
        home_js: home_js.clone(),
        release,
        replicas: cfg.replicas,
        pacing: Arc::new(rate::ProducerPacing::new(
            cfg.rate_limits.producer,
            cfg.rate_limits.producer_max_deferred,
        )),
        window: egress_stages::forward_window(&cfg.feeds),
        hold_at_egress: HoldBound {
            hold,
            cool_down: Some(std::time::Duration::from_secs(60)),
        },
        hold_at_ingress: HoldBound {
            hold,
            cool_down: None,
        },
    });
    for (kind, stream) in outbound {
        tasks.extend(egress_stages::start(&shared, kind, stream, &shutdown).await?);
    }
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
        let pace = Arc::new(rate::PartnerPace::new(
            &link.partner,
            cfg.rate_limits.for_partner(&link.partner),
        ));
        for kind in Kind::ALL {
            let (control, partner) = (shared.control.clone(), link.partner.clone());
            let stage = ingress::IngressStage {
                name: format!("{nation} ingress from {} ({kind})", link.partner),
                nation: nation.clone(),
                partner: link.partner.clone(),
                kind,
                state: shared.control.state.clone(),
                max_classification: link.max_classification.clone(),
                window: shared.window,
                pace: pace.clone(),
                freshness: Box::new(move || match control.freshness(&partner) {
                    Freshness::Fresh => Ok(()),
                    Freshness::Stale(why) => Err(why),
                }),
                clock: Arc::new(now_ms),
            };
            tasks.push(tokio::spawn(run_ingress(
                stage,
                partner_js.clone(),
                shared.clone(),
                shutdown.clone(),
            )));
        }
    }
    tracing::info!(%nation, release = cfg.release.len(), ingress = cfg.ingress.len(), "bridge started");
    Ok(BridgeHandle {
        nation,
        tasks,
        heartbeats_paused,
        heartbeat_sending: control.sending.clone(),
    })
}

/// Attaches to one lane of the partner's RELEASED streams (retrying while
/// the link is down), then runs the ingress stage, which holds while the
/// view of the partner's revocation state is stale.
async fn run_ingress(
    stage: ingress::IngressStage,
    partner_js: jetstream::Context,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let durable = streams::ingress_consumer(&stage.nation);
    let released = streams::released(stage.kind);
    let source = loop {
        let attempt = async {
            let stream = partner_js
                .get_stream(released)
                .await
                .map_err(|e| BridgeError::js(format!("partner {released} stream"), e))?;
            let consumer = bus::durable_consumer(&stream, &durable, stage.pace.window).await?;
            Ok::<_, BridgeError>(Source { consumer, stream })
        };
        match attempt.await {
            Ok(s) => break s,
            Err(e) => {
                tracing::info!(nation = %stage.nation, partner = %stage.partner, error = %e, "waiting for partner link");
                if pipeline::pause(&mut shutdown, Duration::from_millis(500)).await {
                    return;
                }
            }
        }
    };
    tracing::info!(stage = %stage.name, "ingress attached");
    let shell = Shell {
        nation: shared.nation.clone(),
        source,
        targets: [(Target::Home, shared.home_js.clone())].into(),
        certificates_from: partner_js,
        cache: shared.control.state.certificates.clone(),
        auditor: shared.auditor.clone(),
        lease: shared.lease.clone(),
        pacing: shared.pacing.clone(),
        hold: shared.hold_at_ingress,
    };
    run_stage(Arc::new(stage), shell, shutdown).await;
}

/// Runs the bridge until `shutdown` turns true.
pub async fn run(
    settings: BridgeSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BridgeError> {
    start(settings, shutdown).await?.join().await;
    Ok(())
}
