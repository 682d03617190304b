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
mod ingress_stages;
mod lease;
mod pacing;
mod partner_control;
mod pipeline;
mod policy_state;
mod positions;
mod rate;
mod serve;
mod settings;
mod shared;
mod shell;
mod stage;
pub mod telemetry;
mod time;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use coalition_topology::accounts;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::BridgeError;
pub use settings::BridgeSettings;

use crate::audit::Auditor;
use crate::certificates::HoldBound;
use crate::control::{ensure_control_stream, ControlParts, ControlPlane, ControlStream};
use crate::shared::Shared;
use crate::time::now_ms;

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
    let home = bus::connect(&nation, accounts::HOME, &cfg.servers, &cfg.home).await?;
    let home_js = jetstream::new(home);
    let max_age = Duration::from_secs(cfg.release_max_age_secs);
    let outbound = bus::patiently("home streams", || {
        bus::ensure_home_streams(&home_js, cfg.replicas, max_age)
    })
    .await?;
    bus::patiently("home CONTROL", || {
        ensure_control_stream(&home_js, ControlStream::Home, cfg.replicas)
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
        let client = bus::connect(&nation, &account, &cfg.servers, &link.credential).await?;
        let js = jetstream::new(client);
        bus::patiently("RELEASED", || {
            bus::ensure_released_streams(&js, cfg.replicas, max_age)
        })
        .await?;
        bus::patiently("CONTROL", || {
            ensure_control_stream(&js, ControlStream::Release, cfg.replicas)
        })
        .await?;
        bus::patiently("partner consumers", || {
            bus::ensure_partner_consumers(&js, &link.partner)
        })
        .await?;
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
        tasks.extend(ingress_stages::start(&shared, link, cfg, &shutdown).await?);
    }
    tracing::info!(%nation, release = cfg.release.len(), ingress = cfg.ingress.len(), "bridge started");
    Ok(BridgeHandle {
        nation,
        tasks,
        heartbeats_paused,
        heartbeat_sending: control.sending.clone(),
    })
}

/// Runs the bridge until `shutdown` turns true.
pub async fn run(
    settings: BridgeSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BridgeError> {
    start(settings, shutdown).await?.join().await;
    Ok(())
}
