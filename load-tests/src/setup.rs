//! The mesh every measurement runs on: topologies/pair.toml (USA releases
//! to GBR, one server per nation, `sync_interval: always`) started with
//! nats_harness, plus the feeds the benchmark publishes on, and both bridges
//! started in this process.
//!
//! What it changes from pair.toml, and why:
//! - **Feeds.** pair.toml lists one track feed (`radar-1/tracks`). A
//!   producer certificate names the feeds it may write, so every run gets
//!   fresh feeds of its own (`radar-1/<run>-<i>`, seqs start at 1) and the
//!   alert runs a separate producer (`warn-1`, alert feeds).
//! - **Rate limits.** The bridges' per-producer (egress) and per-partner
//!   (ingress) limits are an operator's setting, and one producer pushed
//!   as hard as the path takes can reach the defaults; the benchmark lifts
//!   them far out of reach, so it measures the path, not the limiter (the
//!   report says so).
//!
//! It measures nothing itself.
use std::path::Path;

use async_nats::jetstream;
use coalition_bridge::BridgeSettings;
use coalition_sdk::{
    load_producer_identity, load_trust_anchor, Producer, ProducerOptions, SubscriberOptions,
    TrustAnchors,
};
use coalition_topology::{accounts, Credential, Rate};
use nats_harness::Mesh;
use tokio::sync::watch;

use crate::Failure;

/// The topology every run uses.
const PAIR: &str = include_str!("../../topologies/pair.toml");

/// The producer of every track run.
pub const TRACK_PRODUCER: &str = "radar-1";
/// The producer of the alert runs.
pub const ALERT_PRODUCER: &str = "warn-1";
/// Feeds per run: runs take the feeds `<run>-0` .. `<run>-<MAX_FEEDS - 1>`.
pub const MAX_FEEDS: usize = 16;

/// Most payload sizes one run measures (each has its mesh run's feeds).
pub const MAX_SIZES: usize = 8;
/// Every other track run's name, for its feeds: one set of fresh feeds
/// per run (the mesh-path runs are `s0`, `s1`, ... by size).
pub const TRACK_RUNS: &[&str] = &["warm", "b1", "b8", "b64", "half", "lhalf", "lmax"];
/// Alert runs (one feed each): measurement 6's, then the forwarder runs'
/// (measurement 7).
pub const ALERT_RUNS: &[&str] = &["anone", "ahalf", "amax", "afjson", "afcap"];

/// The feed name of run `run`'s feed `i`.
pub fn feed(run: &str, i: usize) -> String {
    format!("{run}-{i}")
}

/// The benchmark's topology: pair.toml plus its feeds.
pub fn topology_text() -> String {
    let mut text = PAIR.to_string();
    let sized = (0..MAX_SIZES).map(|i| format!("s{i}"));
    for run in sized.chain(TRACK_RUNS.iter().map(|r| r.to_string())) {
        for i in 0..MAX_FEEDS {
            text.push_str(&format!(
                "\n[[feed]]\nnation = \"USA\"\nproducer = \"{TRACK_PRODUCER}\"\nname = \"{}\"\nkind = \"track\"\n",
                feed(&run, i)
            ));
        }
    }
    for run in ALERT_RUNS {
        text.push_str(&format!(
            "\n[[feed]]\nnation = \"USA\"\nproducer = \"{ALERT_PRODUCER}\"\nname = \"{}\"\nkind = \"alert\"\n",
            feed(run, 0)
        ));
    }
    text
}

/// A running mesh with its bridges.
pub struct Bench {
    pub mesh: Mesh,
    stop: Option<watch::Sender<bool>>,
    bridges: Vec<coalition_bridge::BridgeHandle>,
}

impl Bench {
    /// Starts the servers (not the bridges).
    pub async fn start() -> Result<Bench, Failure> {
        let topology =
            coalition_topology::parse_topology(&topology_text(), Path::new("<bench pair.toml>"))?;
        let mesh = Mesh::start(topology).await?;
        Ok(Bench {
            mesh,
            stop: None,
            bridges: Vec::new(),
        })
    }

    /// Starts both bridges in this process, rate limits lifted.
    pub async fn start_bridges(&mut self) -> Result<(), Failure> {
        let (stop, shutdown) = watch::channel(false);
        for nation in ["USA", "GBR"] {
            let mut settings = BridgeSettings::load(&self.mesh.bridge_config_path(nation))?;
            let limits = &mut settings.config.rate_limits;
            let unbounded = Rate {
                msgs_per_sec: 100_000_000,
                burst: 100_000_000,
            };
            limits.partner = unbounded;
            limits.partners.clear();
            limits.producer = unbounded;
            limits.producer_max_deferred = u32::MAX;
            self.bridges
                .push(coalition_bridge::start(settings, shutdown.clone()).await?);
        }
        self.stop = Some(stop);
        Ok(())
    }

    /// Stops the bridges and waits for them.
    pub async fn stop_bridges(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        for bridge in self.bridges.drain(..) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), bridge.join()).await;
        }
    }

    /// A NATS connection to `nation` as `cred` (mutual TLS).
    pub async fn connect(
        &self,
        nation: &str,
        cred: &Credential,
    ) -> Result<async_nats::Client, Failure> {
        Ok(self
            .mesh
            .connect_options(cred)?
            .connect(self.mesh.client_urls(nation))
            .await?)
    }

    /// Every account of `nation` that holds streams, with the bridge's
    /// credential in it: HOME, and REL_<partner> for each partner released to.
    pub fn stream_accounts(&self, nation: &str) -> Result<Vec<(String, Credential)>, Failure> {
        let cfg = self
            .mesh
            .bridge_config(nation)
            .ok_or_else(|| format!("no bridge config for {nation}"))?;
        let mut out = vec![(accounts::HOME.to_string(), cfg.home.clone())];
        for link in &cfg.release {
            out.push((accounts::release_to(&link.partner), link.credential.clone()));
        }
        Ok(out)
    }

    /// A JetStream context in USA's HOME account (the bridge's user).
    pub async fn usa_home(&self) -> Result<jetstream::Context, Failure> {
        self.home("USA").await
    }

    /// A JetStream context in `nation`'s HOME account (the bridge's user).
    pub async fn home(&self, nation: &str) -> Result<jetstream::Context, Failure> {
        let home = &self
            .mesh
            .bridge_config(nation)
            .ok_or_else(|| format!("no {nation} bridge config"))?
            .home;
        Ok(jetstream::new(self.connect(nation, home).await?))
    }

    /// USA's root key, as GBR's subscribers trust it.
    pub fn anchors(&self) -> Result<TrustAnchors, Failure> {
        let root = load_trust_anchor(&self.mesh.root_public_key_path("USA"))?;
        Ok([("USA".to_string(), root)].into_iter().collect())
    }

    /// A producer of USA with `options` applied to its clients-file options.
    pub async fn producer(
        &self,
        producer: &str,
        options: impl FnOnce(ProducerOptions) -> ProducerOptions,
    ) -> Result<Producer, Failure> {
        let root = load_trust_anchor(&self.mesh.root_public_key_path("USA"))?;
        let (key, cert) = self.mesh.producer_key_paths("USA", producer);
        let identity = load_producer_identity(&key, &cert, "USA", &root)?;
        let clients = self.mesh.clients("USA").ok_or("no USA clients")?;
        let opts = options(ProducerOptions::from_clients(clients, producer)?);
        Ok(opts.connect(identity).await?)
    }

    /// Options for a subscriber of GBR trusting USA's root.
    pub fn subscriber_options(&self) -> Result<SubscriberOptions, Failure> {
        let clients = self.mesh.clients("GBR").ok_or("no GBR clients")?;
        Ok(SubscriberOptions::from_clients(clients).trust_anchors(self.anchors()?))
    }

    /// The monitoring port of `nation`'s first server.
    pub fn monitor_port(&self, nation: &str) -> Result<u16, Failure> {
        Ok(self
            .mesh
            .monitor_port(nation, 0)
            .ok_or_else(|| format!("no monitoring port for {nation}"))?)
    }
}
