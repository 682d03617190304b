//! A development PKI for a topology: one ML-DSA-65 root key per nation and a
//! key and certificate for each producer named in the feeds, written in the
//! layout the generated bridge configs refer to:
//!
//! ```text
//! keys/<NATION>/root.key              root private key (0600)
//! keys/<NATION>/root.pub              root public key: the trust anchor
//! keys/<NATION>/producers/<id>.key    producer private key (0600)
//! keys/<NATION>/producers/<id>.cert   producer certificate, signed by the root
//! ```
//!
//! This is for local meshes and tests. Real nations generate their roots
//! offline with `coalition keys` and never share anything but `root.pub`.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use coalition_core::certificate::{issue_certificate, CertificateRequest};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_topology::Topology;

use crate::HarnessError;

/// Certificates issued here are valid this long from now.
const VALIDITY_MS: i64 = 30 * 24 * 3600 * 1000;

/// Where a nation's key material lives under the output folder.
pub fn nation_key_dir(root: &Path, nation: &str) -> PathBuf {
    root.join("keys").join(nation)
}

/// Paths of a producer's key and certificate.
pub fn producer_files(root: &Path, nation: &str, producer: &str) -> (PathBuf, PathBuf) {
    let dir = nation_key_dir(root, nation).join("producers");
    (
        dir.join(format!("{producer}.key")),
        dir.join(format!("{producer}.cert")),
    )
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> HarnessError {
    move |source| HarnessError::Io { what, source }
}

/// Writes `bytes` to `path`, readable only by the owner when `private`.
pub fn write_key_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), HarnessError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    }
    let mode = if private { 0o600 } else { 0o644 };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io(format!("create {}", path.display())))?;
    f.write_all(bytes)
        .map_err(io(format!("write {}", path.display())))
}

/// Generates roots and producer certificates for every nation and feed of
/// `topology` under `root`. Each producer's certificate allows the feeds the
/// topology lists for it, up to the nation's highest classification.
pub fn generate_dev_pki(root: &Path, topology: &Topology, now_ms: i64) -> Result<(), HarnessError> {
    for nation in &topology.nations {
        let root_key =
            SigningKeyPair::generate(Algorithm::MlDsa65, &format!("{} root", nation.code));
        let dir = nation_key_dir(root, &nation.code);
        write_key_file(&dir.join("root.key"), &root_key.to_private_file(), true)?;
        write_key_file(
            &dir.join("root.pub"),
            &root_key.public_key().to_file_bytes(),
            false,
        )?;
        let mut feeds: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for f in topology.feeds_of(&nation.code) {
            feeds.entry(&f.producer).or_default().push(f.name.clone());
        }
        for (producer, feeds) in feeds {
            let key = SigningKeyPair::generate(
                Algorithm::MlDsa65,
                &format!("{}/{producer}", nation.code),
            );
            let cert = issue_certificate(
                &root_key,
                &CertificateRequest {
                    nation: nation.code.clone(),
                    producer_id: producer.to_string(),
                    public_key: key.public_key().clone(),
                    not_before_ms: now_ms - 60_000,
                    not_after_ms: now_ms + VALIDITY_MS,
                    feeds,
                    max_classification: nation.classifications.last().cloned().unwrap_or_default(),
                },
            )
            .map_err(|e| HarnessError::Config {
                what: format!("certificate for {producer}: {e}"),
            })?;
            let (key_path, cert_path) = producer_files(root, &nation.code, producer);
            write_key_file(&key_path, &key.to_private_file(), true)?;
            write_key_file(&cert_path, &cert, false)?;
        }
    }
    Ok(())
}
