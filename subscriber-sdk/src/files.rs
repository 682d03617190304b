//! Loading a producer's identity and trust anchors from the files the
//! `coalition` CLI writes (`*.key`, `*.cert`, `*.pub`).
use std::path::Path;

use coalition_core::certificate::verify_certificate;
use coalition_core::envelope::ProducerIdentity;
use coalition_core::keys::{PublicKey, SigningKeyPair};

use crate::SdkError;

fn read(path: &Path, what: &str) -> Result<Vec<u8>, SdkError> {
    std::fs::read(path)
        .map_err(|e| SdkError::Identity(format!("cannot read {what} {}: {e}", path.display())))
}

/// Loads a producer's private key and certificate, and checks that the
/// certificate was issued for that key by `nation`'s root key `root`.
pub fn load_producer_identity(
    key_path: &Path,
    cert_path: &Path,
    nation: &str,
    root: &PublicKey,
) -> Result<ProducerIdentity, SdkError> {
    let key = SigningKeyPair::from_private_file(&read(key_path, "private key")?)
        .map_err(|e| SdkError::Identity(format!("{}: {e}", key_path.display())))?;
    let certificate = bytes::Bytes::from(read(cert_path, "certificate")?);
    let anchors = [(nation.to_string(), root.clone())].into_iter().collect();
    let cert = verify_certificate(&certificate, &anchors).map_err(|reason| {
        SdkError::Identity(format!(
            "{}: the certificate does not verify against {}: {reason}",
            cert_path.display(),
            root.owner()
        ))
    })?;
    if &cert.key != key.public_key() {
        return Err(SdkError::Identity(format!(
            "{} certifies a different key than {}",
            cert_path.display(),
            key_path.display()
        )));
    }
    Ok(ProducerIdentity {
        nation: cert.nation.clone(),
        producer_id: cert.producer_id.clone(),
        key,
        certificate,
    })
}

/// Loads a national root's public key (a trust anchor).
pub fn load_trust_anchor(path: &Path) -> Result<PublicKey, SdkError> {
    PublicKey::from_file_bytes(&read(path, "trust anchor")?)
        .map_err(|e| SdkError::Identity(format!("{}: {e}", path.display())))
}
