//! The bridge's configuration file and the clients' credentials file, as
//! generated per nation. Both are TOML; both are parsed here, once, into
//! typed structs, with file and line in every error.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coalition_tls::ClientTls;
use serde::{Deserialize, Serialize};

use crate::error::TopologyError;
use crate::rate_limits::RateLimits;

/// A NATS client identity: the user name, and the TLS files of the client
/// certificate that identifies it. Every client connection of a mesh is
/// mutual TLS with `verify_and_map`: nats-server takes the user from the
/// certificate's subject (`CN=<user>,O=Coalition Mesh <nation>`), so a
/// certificate opens only its own user and no password is involved
/// (docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// User name (the certificate's common name).
    pub user: String,
    /// The certificate's files. Paths in a file are relative to that file's
    /// folder until loaded.
    pub tls: ClientTls,
}

impl Credential {
    fn resolve(&mut self, dir: &Path) {
        self.tls = self.tls.resolved_against(dir);
    }
}

/// A partner this nation releases to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseLink {
    /// The partner's nation code.
    pub partner: String,
    /// Highest classification released on this link.
    pub max_classification: String,
    /// The bridge's user in the `REL_<partner>` account.
    pub credential: Credential,
}

/// A partner this nation receives from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressLink {
    /// The partner's nation code.
    pub partner: String,
    /// Highest classification (in the partner's scale) admitted.
    pub max_classification: String,
    /// The bridge's user in the `FROM_<partner>` account.
    pub credential: Credential,
}

/// Everything one nation's bridge needs, generated from the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// This nation's code.
    pub nation: String,
    /// Client URLs of this nation's servers.
    pub servers: Vec<String>,
    /// JetStream replicas for this nation's streams.
    pub replicas: usize,
    /// Seconds a released message is kept for the partner.
    pub release_max_age_secs: u64,
    /// Where to serve Prometheus metrics; none disables the endpoint.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// The bridge's user in `HOME`.
    pub home: Credential,
    /// Trust anchors: nation code to the path of its root public key,
    /// relative to this file's directory.
    pub trust_anchors: BTreeMap<String, String>,
    /// This bridge's own key (signs heartbeats and audit checkpoints),
    /// relative to this file's directory.
    pub bridge_key: String,
    /// The bridge key's certificate, issued by this nation's root with
    /// producer id `bridge`.
    pub bridge_certificate: String,
    /// Signed control objects loaded at start and announced on the mesh:
    /// nation policy documents (this nation's and each partner's) and
    /// translators. Paths relative to this file's directory.
    pub control_objects: Vec<String>,
    /// Past this age of the last heartbeat from a partner, the bridge stops
    /// admitting that partner's messages (they wait, durably).
    #[serde(default = "default_staleness_ms")]
    pub revocation_staleness_ms: u64,
    /// How often this bridge sends each partner a signed heartbeat.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_interval_ms: u64,
    /// Several instances of this bridge may run; one holds the lease and
    /// decides. A standby takes over at most this long after the active
    /// instance stops renewing.
    #[serde(default = "default_lease_ttl_ms")]
    pub lease_ttl_ms: u64,
    /// Partners this nation releases to.
    #[serde(default)]
    pub release: Vec<ReleaseLink>,
    /// Partners this nation receives from.
    #[serde(default)]
    pub ingress: Vec<IngressLink>,
    /// Per-partner (ingress) and per-producer (egress) rate limits.
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// How batches are placed in their feeds and wait for certificates.
    #[serde(default)]
    pub feeds: FeedLimits,
}

/// `[feeds]`: the forward window of every feed's position (a batch that
/// starts further ahead of the last accepted seq is refused as
/// `feed_jump`), and how long a batch waits for a producer certificate it
/// names before it is refused as `unknown_certificate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedLimits {
    /// Seqs a batch may skip at once, whatever the time.
    pub forward_window_seqs: u64,
    /// Further seqs allowed per second between two batches' seal times.
    pub forward_window_seqs_per_second: u64,
    /// How long a batch whose certificate is unknown is held, in ms.
    pub certificate_hold_ms: u64,
}

impl Default for FeedLimits {
    fn default() -> Self {
        FeedLimits {
            forward_window_seqs: 100_000,
            forward_window_seqs_per_second: 50_000,
            certificate_hold_ms: 10_000,
        }
    }
}

/// Credentials for a nation's producers and subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsConfig {
    /// This nation's code.
    pub nation: String,
    /// Client URLs.
    pub servers: Vec<String>,
    /// Producer id to its user.
    pub producers: BTreeMap<String, Credential>,
    /// The subscriber user (alerting systems).
    pub subscriber: Credential,
    /// The auditor: reads the AUDIT stream only (`coalition audit`).
    pub auditor: Credential,
    /// The operator: publishes policies, translators and notices on `ctl.>`
    /// only (`coalition revoke`, `coalition control publish`).
    pub operator: Credential,
}

fn default_staleness_ms() -> u64 {
    15_000
}

fn default_heartbeat_ms() -> u64 {
    1_000
}

fn default_lease_ttl_ms() -> u64 {
    6_000
}

fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TopologyError> {
    let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| TopologyError::Syntax {
        path: PathBuf::from(path),
        line: e
            .span()
            .map_or(0, |s| text[..s.start].matches('\n').count() + 1),
        message: e.message().to_string(),
    })
}

impl BridgeConfig {
    /// Reads and checks a bridge config file.
    pub fn load(path: &Path) -> Result<Self, TopologyError> {
        let mut cfg: BridgeConfig = load(path)?;
        cfg.check(path)?;
        cfg.resolve_tls(path);
        Ok(cfg)
    }

    fn check(&self, path: &Path) -> Result<(), TopologyError> {
        let invalid = |message: String| TopologyError::Invalid {
            path: path.to_path_buf(),
            line: 0,
            message,
        };
        if self.servers.is_empty() {
            return Err(invalid(
                "servers is empty: list at least one nats:// URL".into(),
            ));
        }
        if self.lease_ttl_ms < 1_000 {
            return Err(invalid(format!(
                "lease_ttl_ms ({}) must be at least 1000",
                self.lease_ttl_ms
            )));
        }
        if self.heartbeat_interval_ms == 0
            || self.revocation_staleness_ms <= self.heartbeat_interval_ms
        {
            return Err(invalid(format!(
                "revocation_staleness_ms ({}) must be larger than heartbeat_interval_ms ({}), which must be at least 1",
                self.revocation_staleness_ms, self.heartbeat_interval_ms
            )));
        }
        for l in &self.ingress {
            if !self.trust_anchors.contains_key(&l.partner) {
                return Err(invalid(format!(
                    "ingress from {}: no trust anchor for {} in [trust_anchors]",
                    l.partner, l.partner
                )));
            }
        }
        self.rate_limits
            .check(self.ingress.iter().map(|l| l.partner.as_str()))
            .map_err(invalid)?;
        if !self.trust_anchors.contains_key(&self.nation) {
            return Err(invalid(format!(
                "no trust anchor for the home nation {} in [trust_anchors]",
                self.nation
            )));
        }
        Ok(())
    }

    /// Makes the TLS paths absolute, taking them from `config_path`'s folder.
    pub fn resolve_tls(&mut self, config_path: &Path) {
        let dir = folder(config_path);
        self.home.resolve(dir);
        for l in &mut self.release {
            l.credential.resolve(dir);
        }
        for l in &mut self.ingress {
            l.credential.resolve(dir);
        }
    }

    /// Resolves a trust-anchor path against the config file's directory.
    pub fn anchor_path(&self, config_path: &Path, nation: &str) -> Option<PathBuf> {
        let rel = self.trust_anchors.get(nation)?;
        Some(resolve(config_path, rel))
    }
}

/// Resolves `rel` against the directory of `config_path`.
pub fn resolve(config_path: &Path, rel: &str) -> PathBuf {
    folder(config_path).join(rel)
}

fn folder(config_path: &Path) -> &Path {
    config_path.parent().unwrap_or(Path::new("."))
}

impl BridgeConfig {
    /// Control-object paths, resolved against the config file's directory.
    pub fn control_object_paths(&self, config_path: &Path) -> Vec<PathBuf> {
        self.control_objects
            .iter()
            .map(|rel| resolve(config_path, rel))
            .collect()
    }
}

impl ClientsConfig {
    /// Reads a clients file; its TLS paths are resolved.
    pub fn load(path: &Path) -> Result<Self, TopologyError> {
        let mut cfg: ClientsConfig = load(path)?;
        cfg.resolve_tls(path);
        Ok(cfg)
    }

    /// Makes the TLS paths absolute, taking them from `config_path`'s folder.
    pub fn resolve_tls(&mut self, config_path: &Path) {
        let dir = folder(config_path);
        for cred in self.producers.values_mut() {
            cred.resolve(dir);
        }
        self.subscriber.resolve(dir);
        self.auditor.resolve(dir);
        self.operator.resolve(dir);
    }

    /// Producer `id`'s user.
    pub fn producer(&self, id: &str) -> Option<&Credential> {
        self.producers.get(id)
    }
}
