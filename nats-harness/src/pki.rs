//! A development PKI for a topology: one ML-DSA-65 root key per nation and a
//! key and certificate for each producer named in the feeds, written in the
//! layout the generated bridge configs refer to:
//!
//! ```text
//! keys/<NATION>/root.key              root private key (0600)
//! keys/<NATION>/root.pub              root public key: the trust anchor
//! keys/<NATION>/producers/<id>.key    producer private key (0600)
//! keys/<NATION>/producers/<id>.cert   producer certificate, signed by the root
//! keys/<NATION>/bridge.{key,cert}     the bridge's key, certified as `bridge`
//! keys/<NATION>/revocation-authority.{key,cert}
//!                                     signs the nation's revocation notices,
//!                                     certified as `revocation-authority`
//! keys/<NATION>/policy-v1.ctl         the nation's policy document, v1
//! keys/translators/<A>-<B>-v1.ctl     translator A -> B, co-signed by both roots
//! ```
//!
//! `.ctl` files hold one encoded `ControlMessage`. Dev translators map
//! classifications with the same name, and the NATO equivalences (e.g.
//! RESTRICTED and DIFFUSION RESTREINTE); caveats with the same name that
//! the source nation allows to leave.
//!
//! This is for local meshes and tests: every key is generated here, the
//! root's beside the rest. Real nations generate their roots offline with
//! `coalition keys root`, certify the revocation authority there with
//! `coalition keys authority`, and never share anything but `root.pub`
//! (docs/runbooks/key-ceremony.md).
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use coalition_core::certificate::{issue_certificate, CertificateRequest};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::NationPolicy;
use coalition_core::policy::sign_policy;
use coalition_core::revocation::{BRIDGE_IDENTITY, REVOCATION_AUTHORITY_IDENTITY};
use coalition_core::translator::{cosign_translator, sign_translator, Translator};
use coalition_schemas::v1::{control_message, ControlMessage};
use coalition_topology::{control_files, Nation, Topology};
use prost::Message;

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

/// Paths of a nation's revocation-authority key and certificate: what
/// `coalition revoke` signs notices with by default.
pub fn revocation_authority_files(root: &Path, nation: &str) -> (PathBuf, PathBuf) {
    let dir = nation_key_dir(root, nation);
    (
        dir.join(format!("{REVOCATION_AUTHORITY_IDENTITY}.key")),
        dir.join(format!("{REVOCATION_AUTHORITY_IDENTITY}.cert")),
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

fn config_error(what: String) -> HarnessError {
    HarnessError::Config { what }
}

/// Issues a certificate for `producer_id` under `root`.
fn certify(
    root_key: &SigningKeyPair,
    nation: &Nation,
    producer_id: &str,
    feeds: Vec<String>,
    now_ms: i64,
) -> Result<(SigningKeyPair, bytes::Bytes), HarnessError> {
    let key = SigningKeyPair::generate(
        Algorithm::MlDsa65,
        &format!("{}/{producer_id}", nation.code),
    );
    let cert = issue_certificate(
        root_key,
        &CertificateRequest {
            nation: nation.code.clone(),
            producer_id: producer_id.to_string(),
            public_key: key.public_key().clone(),
            not_before_ms: now_ms - 60_000,
            not_after_ms: now_ms + VALIDITY_MS,
            feeds,
            max_classification: nation.classifications.last().cloned().unwrap_or_default(),
        },
    )
    .map_err(|e| {
        config_error(format!(
            "certificate for {}/{producer_id}: {e}",
            nation.code
        ))
    })?;
    Ok((key, cert))
}

/// A nation's policy document, version 1, from the topology.
pub fn dev_policy(nation: &Nation) -> NationPolicy {
    NationPolicy {
        nation: nation.code.clone(),
        version: 1,
        classifications: nation.classifications.clone(),
        caveats: nation.caveats.clone(),
        informative: Vec::new(),
    }
}

/// Classification names the dev translators treat as equivalent.
const EQUIVALENT: [&[&str]; 5] = [
    &["UNCLASSIFIED", "NON PROTEGE"],
    &["RESTRICTED", "DIFFUSION RESTREINTE"],
    &["CONFIDENTIAL", "CONFIDENTIEL"],
    &["SECRET"],
    &["TOP SECRET", "TRES SECRET"],
];

/// The dev translator `from` -> `to`, version 1, valid from `now_ms` for
/// the certificates' validity.
pub fn dev_translator(from: &NationPolicy, to: &NationPolicy, now_ms: i64) -> Translator {
    let classifications = from
        .classifications
        .iter()
        .filter_map(|c| {
            let group = EQUIVALENT.iter().find(|g| g.contains(&c.as_str()));
            let target = to
                .classifications
                .iter()
                .find(|t| *t == c || group.is_some_and(|g| g.contains(&t.as_str())))?;
            Some((c.clone(), target.clone()))
        })
        .collect();
    let categories = from
        .caveats
        .iter()
        .filter(|(name, forbids)| !forbids && to.caveat_forbids_release(name).is_some())
        .map(|(name, _)| (name.clone(), name.clone()))
        .collect();
    Translator {
        id: format!("{}-{}", from.nation, to.nation),
        version: 1,
        from: from.nation.clone(),
        to: to.nation.clone(),
        source_versions: 1..=1,
        target_versions: 1..=1,
        classifications,
        categories,
        required: Default::default(),
        forbidden: Default::default(),
        not_before_ms: now_ms - 60_000,
        not_after_ms: now_ms + VALIDITY_MS,
    }
}

/// Encodes a control object for a `.ctl` file or a `ctl.>` message.
pub fn control_bytes(body: control_message::Body) -> Vec<u8> {
    ControlMessage { body: Some(body) }.encode_to_vec()
}

/// Writes the policy documents and the translators of every link.
fn write_control_objects(
    root: &Path,
    topology: &Topology,
    roots: &BTreeMap<String, SigningKeyPair>,
    now_ms: i64,
) -> Result<(), HarnessError> {
    let sign_err =
        |what: String| move |e: coalition_core::CoreError| config_error(format!("{what}: {e}"));
    for nation in &topology.nations {
        let key = &roots[&nation.code];
        let signed = sign_policy(&dev_policy(nation), key, now_ms)
            .map_err(sign_err(format!("policy of {}", nation.code)))?;
        let path = root.join(control_files::policy(&nation.code));
        write_key_file(
            &path,
            &control_bytes(control_message::Body::Policy(signed)),
            false,
        )?;
    }
    for link in &topology.links {
        let (Some(from), Some(to)) = (topology.nation(&link.from), topology.nation(&link.to))
        else {
            continue;
        };
        let t = dev_translator(&dev_policy(from), &dev_policy(to), now_ms);
        let what = format!("translator {}", t.name());
        let mut signed =
            sign_translator(&t, &from.code, &roots[&from.code]).map_err(sign_err(what.clone()))?;
        cosign_translator(&mut signed, &to.code, &roots[&to.code]).map_err(sign_err(what))?;
        let path = root.join(control_files::translator(&from.code, &to.code));
        write_key_file(
            &path,
            &control_bytes(control_message::Body::Translator(signed)),
            false,
        )?;
    }
    Ok(())
}

/// Generates roots, producer, bridge and revocation-authority
/// certificates, policy documents and translators for every nation, feed and link of `topology` under `root`.
/// Each producer's certificate allows the feeds the topology lists for it,
/// up to the nation's highest classification.
pub fn generate_dev_pki(root: &Path, topology: &Topology, now_ms: i64) -> Result<(), HarnessError> {
    let mut roots = BTreeMap::new();
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
            let (key, cert) = certify(&root_key, nation, producer, feeds, now_ms)?;
            let (key_path, cert_path) = producer_files(root, &nation.code, producer);
            write_key_file(&key_path, &key.to_private_file(), true)?;
            write_key_file(&cert_path, &cert, false)?;
        }
        let (key, cert) = certify(
            &root_key,
            nation,
            BRIDGE_IDENTITY,
            vec!["control".into()],
            now_ms,
        )?;
        write_key_file(&dir.join("bridge.key"), &key.to_private_file(), true)?;
        write_key_file(&dir.join("bridge.cert"), &cert, false)?;
        let (key, cert) = certify(
            &root_key,
            nation,
            REVOCATION_AUTHORITY_IDENTITY,
            vec!["control".into()],
            now_ms,
        )?;
        let (key_path, cert_path) = revocation_authority_files(root, &nation.code);
        write_key_file(&key_path, &key.to_private_file(), true)?;
        write_key_file(&cert_path, &cert, false)?;
        roots.insert(nation.code.clone(), root_key);
    }
    write_control_objects(root, topology, &roots, now_ms)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use coalition_core::certificate::verify_certificate;
    use coalition_core::keys::PublicKey;

    use super::*;

    #[test]
    fn every_nation_gets_a_revocation_authority_certified_by_its_own_root() {
        let dir = tempfile::tempdir().unwrap();
        let topology = coalition_topology::parse_topology_file(
            &crate::workspace_root().join("topologies/pair.toml"),
        )
        .unwrap();
        let now = 1_800_000_000_000;
        generate_dev_pki(dir.path(), &topology, now).unwrap();
        let root_of = |nation: &str| {
            let path = nation_key_dir(dir.path(), nation).join("root.pub");
            PublicKey::from_file_bytes(&std::fs::read(path).unwrap()).unwrap()
        };
        for nation in ["USA", "GBR"] {
            let (key_path, cert_path) = revocation_authority_files(dir.path(), nation);
            let key =
                SigningKeyPair::from_private_file(&std::fs::read(&key_path).unwrap()).unwrap();
            let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key_path.display());
            let cert_bytes = std::fs::read(&cert_path).unwrap();
            let anchors = [(nation.to_string(), root_of(nation))]
                .into_iter()
                .collect();
            let cert = verify_certificate(&cert_bytes, &anchors).unwrap();
            assert_eq!(
                (cert.nation.as_str(), cert.producer_id.as_str()),
                (nation, REVOCATION_AUTHORITY_IDENTITY)
            );
            assert_eq!(&cert.key, key.public_key(), "the certificate is the key's");
            assert!(cert.is_valid_at(now) && !cert.is_valid_at(now + VALIDITY_MS));
        }
        // Not certified by the other nation's root.
        let (_, usa_cert) = revocation_authority_files(dir.path(), "USA");
        let gbr_as_usa = [("USA".to_string(), root_of("GBR"))].into_iter().collect();
        assert!(verify_certificate(&std::fs::read(usa_cert).unwrap(), &gbr_as_usa).is_err());
    }
}
