//! Loading a producer's identity, a nation's revocation authority and
//! trust anchors from the files the `coalition` CLI writes (`*.key`,
//! `*.cert`, `*.pub`).
use std::path::Path;

use coalition_core::certificate::{verify_certificate, VerifiedCertificate};
use coalition_core::envelope::ProducerIdentity;
use coalition_core::keys::{PublicKey, SigningKeyPair};
use coalition_core::revocation::REVOCATION_AUTHORITY_IDENTITY;
use coalition_core::signed::CertifiedKey;

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
    let (key, certificate, cert) = load_certified(key_path, cert_path, nation, root)?;
    check_key(&cert, &key, key_path, cert_path)?;
    Ok(ProducerIdentity {
        nation: cert.nation,
        producer_id: cert.producer_id,
        key,
        certificate,
    })
}

/// Loads a nation's revocation-authority key and certificate (what
/// `coalition keys authority` writes) and checks them as bridges will check
/// the notices they sign: the certificate was issued by `nation`'s root
/// key `root` for that key, as `<nation>/revocation-authority`, and is
/// valid at `now_ms`. Each refusal names the file and what to do.
pub fn load_revocation_authority(
    key_path: &Path,
    cert_path: &Path,
    nation: &str,
    root: &PublicKey,
    now_ms: i64,
) -> Result<CertifiedKey, SdkError> {
    let (key, certificate, cert) = load_certified(key_path, cert_path, nation, root)?;
    let (path, identity) = (cert_path.display(), REVOCATION_AUTHORITY_IDENTITY);
    if cert.nation != nation || cert.producer_id != identity {
        return Err(SdkError::Identity(format!(
            "{path}: is the certificate of {}/{}, not {nation}/{identity}: only a key certified as {identity} may sign notices",
            cert.nation, cert.producer_id
        )));
    }
    let renew = "certify a new one with the root (docs/runbooks/key-ceremony.md)";
    if now_ms >= cert.not_after_ms {
        return Err(SdkError::Identity(format!(
            "{path}: expired {} days ago (not after {} ms); {renew}",
            (now_ms - cert.not_after_ms) / 86_400_000,
            cert.not_after_ms
        )));
    }
    if now_ms < cert.not_before_ms {
        return Err(SdkError::Identity(format!(
            "{path}: not valid before {} ms (check this host's clock)",
            cert.not_before_ms
        )));
    }
    check_key(&cert, &key, key_path, cert_path)?;
    Ok(CertifiedKey {
        nation: cert.nation,
        key,
        certificate,
    })
}

/// A private key and its certificate, checked to be issued by `nation`'s
/// root key `root` (whether for that key: [`check_key`]).
fn load_certified(
    key_path: &Path,
    cert_path: &Path,
    nation: &str,
    root: &PublicKey,
) -> Result<(SigningKeyPair, bytes::Bytes, VerifiedCertificate), SdkError> {
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
    Ok((key, certificate, cert))
}

/// Checks that `cert` certifies `key`.
fn check_key(
    cert: &VerifiedCertificate,
    key: &SigningKeyPair,
    key_path: &Path,
    cert_path: &Path,
) -> Result<(), SdkError> {
    if &cert.key != key.public_key() {
        return Err(SdkError::Identity(format!(
            "{} certifies a different key than {}",
            cert_path.display(),
            key_path.display()
        )));
    }
    Ok(())
}

/// Loads a national root's public key (a trust anchor).
pub fn load_trust_anchor(path: &Path) -> Result<PublicKey, SdkError> {
    PublicKey::from_file_bytes(&read(path, "trust anchor")?)
        .map_err(|e| SdkError::Identity(format!("{}: {e}", path.display())))
}
