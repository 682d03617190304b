//! The bridge's settings: the generated config file plus the key files and
//! signed control objects it names, loaded and verified once, before
//! anything connects. A bad signature or a missing file stops the bridge
//! with the file's path and the reason.
use std::path::Path;
use std::sync::Arc;

use coalition_core::certificate::{verify_certificate, TrustAnchors};
use coalition_core::keys::{PublicKey, SigningKeyPair};
use coalition_core::revocation::BRIDGE_IDENTITY;
use coalition_core::signed::CertifiedKey;
use coalition_schemas::v1::ControlMessage;
use coalition_topology::{resolve, BridgeConfig};
use prost::Message;

use crate::policy_state::PolicyState;
use crate::BridgeError;

/// Everything the bridge runs on.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    /// The generated config.
    pub config: BridgeConfig,
    /// Trust anchors by nation (home and every partner).
    pub anchors: TrustAnchors,
    /// The bridge's certified key (heartbeats, audit checkpoints).
    pub bridge_key: Arc<CertifiedKey>,
    /// The control objects named by the config, as loaded (already
    /// verified once); announced on the mesh at start.
    pub control_objects: Vec<ControlMessage>,
}

fn read(config: &Path, what: &str, file: &Path) -> Result<Vec<u8>, BridgeError> {
    std::fs::read(file).map_err(|e| {
        BridgeError::Config(format!(
            "{}: {what}: cannot read {}: {e}",
            config.display(),
            file.display()
        ))
    })
}

impl BridgeSettings {
    /// Loads the config at `path` and the files it names, and checks that
    /// every signed object verifies and the links fit the policies.
    pub fn load(path: &Path) -> Result<Self, BridgeError> {
        let config = BridgeConfig::load(path).map_err(|e| BridgeError::Config(e.to_string()))?;
        let mut anchors = TrustAnchors::new();
        for nation in config.trust_anchors.keys() {
            let file = config
                .anchor_path(path, nation)
                .ok_or_else(|| BridgeError::Config(format!("no trust anchor for {nation}")))?;
            let what = format!("trust anchor for {nation}");
            let key = PublicKey::from_file_bytes(&read(path, &what, &file)?).map_err(|e| {
                BridgeError::Config(format!(
                    "{}: trust anchor for {nation}: {e}",
                    file.display()
                ))
            })?;
            anchors.insert(nation.clone(), key);
        }
        let bridge_key = load_bridge_key(path, &config, &anchors)?;
        let mut control_objects = Vec::new();
        for file in config.control_object_paths(path) {
            let bytes = read(path, "control object", &file)?;
            let object = ControlMessage::decode(bytes.as_slice()).map_err(|e| {
                BridgeError::Config(format!("{}: not a control object: {e}", file.display()))
            })?;
            control_objects.push(object);
        }
        let settings = BridgeSettings {
            config,
            anchors,
            bridge_key: Arc::new(bridge_key),
            control_objects,
        };
        settings.check_policies(path)?;
        check_tls_files(path, &settings.config)?;
        Ok(settings)
    }

    /// Builds the policy state from the loaded objects, checking each and
    /// that every link's ceiling is in the right nation's scale.
    fn check_policies(&self, path: &Path) -> Result<(), BridgeError> {
        let (state, _) = self.initial_state(crate::time::now_ms())?;
        let cfg = &self.config;
        let in_scale = |nation: &str, class: &str, what: String| {
            let policy = state.policies.current(nation).ok_or_else(|| {
                BridgeError::Config(format!(
                    "{}: no policy document for {nation} among control_objects",
                    path.display()
                ))
            })?;
            if policy.rank(class).is_none() {
                return Err(BridgeError::Config(format!(
                    "{}: {what}: max_classification {class:?} is not in {nation}'s policy v{} ({})",
                    path.display(),
                    policy.version,
                    policy.classifications.join(", ")
                )));
            }
            Ok(())
        };
        if state.policies.current(&cfg.nation).is_none() {
            return Err(BridgeError::Config(format!(
                "{}: no policy document for the home nation {} among control_objects",
                path.display(),
                cfg.nation
            )));
        }
        for l in &cfg.release {
            in_scale(
                &cfg.nation,
                &l.max_classification,
                format!("release to {}", l.partner),
            )?;
        }
        for l in &cfg.ingress {
            in_scale(
                &l.partner,
                &l.max_classification,
                format!("ingress from {}", l.partner),
            )?;
        }
        Ok(())
    }

    /// A fresh policy state holding the configured control objects, and
    /// the `ctl.>` subject of each object, in order (for announcing them).
    pub(crate) fn initial_state(
        &self,
        now_ms: i64,
    ) -> Result<(PolicyState, Vec<String>), BridgeError> {
        let state = PolicyState::new(self.config.nation.clone(), self.anchors.clone());
        let mut subjects = Vec::with_capacity(self.control_objects.len());
        for (i, object) in self.control_objects.iter().enumerate() {
            let applied = state.apply(object, now_ms).map_err(|e| {
                BridgeError::Config(format!(
                    "control object {:?}: {e}",
                    self.config
                        .control_objects
                        .get(i)
                        .map_or("?", String::as_str)
                ))
            })?;
            subjects.push(applied.subject());
        }
        Ok((state, subjects))
    }
}

/// Every credential's TLS files load (before anything connects), each
/// error naming the config file and the field.
fn check_tls_files(path: &Path, config: &BridgeConfig) -> Result<(), BridgeError> {
    let fields = std::iter::once(("[home.tls]".to_string(), &config.home)).chain(
        config
            .release
            .iter()
            .map(|l| {
                (
                    format!("[[release]] {}: credential.tls", l.partner),
                    &l.credential,
                )
            })
            .chain(config.ingress.iter().map(|l| {
                (
                    format!("[[ingress]] {}: credential.tls", l.partner),
                    &l.credential,
                )
            })),
    );
    for (field, cred) in fields {
        coalition_tls::client_config(&cred.tls).map_err(|e| {
            BridgeError::Config(format!(
                "{}: {field} (user {}): {e}",
                path.display(),
                cred.user
            ))
        })?;
    }
    Ok(())
}

fn load_bridge_key(
    path: &Path,
    config: &BridgeConfig,
    anchors: &TrustAnchors,
) -> Result<CertifiedKey, BridgeError> {
    let key_file = resolve(path, &config.bridge_key);
    let cert_file = resolve(path, &config.bridge_certificate);
    let key = SigningKeyPair::from_private_file(&read(path, "bridge key", &key_file)?)
        .map_err(|e| BridgeError::Config(format!("{}: {e}", key_file.display())))?;
    let certificate = read(path, "bridge certificate", &cert_file)?;
    let cert = verify_certificate(&certificate, anchors).map_err(|r| {
        BridgeError::Config(format!("{}: does not verify: {r}", cert_file.display()))
    })?;
    if cert.nation != config.nation
        || cert.producer_id != BRIDGE_IDENTITY
        || cert.key != *key.public_key()
    {
        return Err(BridgeError::Config(format!(
            "{}: is not a certificate of {}'s bridge key in {}",
            cert_file.display(),
            config.nation,
            key_file.display()
        )));
    }
    Ok(CertifiedKey {
        nation: config.nation.clone(),
        key,
        certificate: certificate.into(),
    })
}
