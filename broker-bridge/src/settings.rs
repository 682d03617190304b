//! The bridge's settings: the generated config file plus the key files it
//! names, loaded and checked once, before anything connects.
use std::collections::BTreeMap;
use std::path::Path;

use coalition_core::certificate::TrustAnchors;
use coalition_core::keys::PublicKey;
use coalition_core::label::NationPolicy;
use coalition_topology::{BridgeConfig, NationPolicyConfig};

use crate::BridgeError;

/// Everything the bridge runs on.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    /// The generated config.
    pub config: BridgeConfig,
    /// Trust anchors by nation (home and every ingress partner).
    pub anchors: TrustAnchors,
    /// Label policies by nation.
    pub policies: BTreeMap<String, NationPolicy>,
}

fn policy(nation: &str, cfg: &NationPolicyConfig) -> NationPolicy {
    NationPolicy {
        nation: nation.to_string(),
        classifications: cfg.classifications.clone(),
        caveats: cfg
            .caveats
            .iter()
            .map(|c| (c.name.clone(), c.forbids_release))
            .collect(),
    }
}

impl BridgeSettings {
    /// Loads the config at `path` and the trust anchors it names.
    pub fn load(path: &Path) -> Result<Self, BridgeError> {
        let config = BridgeConfig::load(path).map_err(|e| BridgeError::Config(e.to_string()))?;
        let mut anchors = TrustAnchors::new();
        for nation in config.trust_anchors.keys() {
            let file = config
                .anchor_path(path, nation)
                .ok_or_else(|| BridgeError::Config(format!("no trust anchor for {nation}")))?;
            let bytes = std::fs::read(&file).map_err(|e| {
                BridgeError::Config(format!(
                    "{}: trust anchor for {nation}: cannot read {}: {e}",
                    path.display(),
                    file.display()
                ))
            })?;
            let key = PublicKey::from_file_bytes(&bytes).map_err(|e| {
                BridgeError::Config(format!(
                    "{}: trust anchor for {nation}: {e}",
                    file.display()
                ))
            })?;
            anchors.insert(nation.clone(), key);
        }
        Ok(Self::from_parts(config, anchors))
    }

    /// Settings from an already-checked config and anchors (tests and the
    /// in-process runner).
    pub fn from_parts(config: BridgeConfig, anchors: TrustAnchors) -> Self {
        let policies = config
            .policies
            .iter()
            .map(|(nation, cfg)| (nation.clone(), policy(nation, cfg)))
            .collect();
        BridgeSettings {
            config,
            anchors,
            policies,
        }
    }

    /// This nation's policy.
    pub fn home_policy(&self) -> Option<&NationPolicy> {
        self.policies.get(&self.config.nation)
    }
}
