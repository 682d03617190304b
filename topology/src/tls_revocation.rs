//! Revoking a client's TLS certificate in a generated mesh: the nation's
//! CRL gains an entry (and a new number), and the allow list of client keys
//! its servers include (`pinned-clients.conf`) is compiled again from every
//! issued client certificate the CRL does not list. Both files are replaced
//! atomically. The servers apply it on a config reload: no restart, and
//! every other connection stays up (docs/runbooks/tls-revocation.md).
use std::path::{Path, PathBuf};

use coalition_tls::{
    certificate_facts, pinned_clients_conf, read_crl, Authority, CertificateFacts, RevokedEntry,
};

use crate::error::TopologyError;
use crate::tls_files::{paths, VALIDITY_DAYS};

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRevocation {
    /// The CRL's number now.
    pub crl_number: u64,
    /// The certificate was already on the CRL (nothing added).
    pub already_revoked: bool,
    /// Client keys the servers still accept.
    pub still_accepted: usize,
    /// The files written: the CRL and the allow list.
    pub written: Vec<PathBuf>,
}

fn tls_file_error(path: &Path, message: impl Into<String>) -> TopologyError {
    TopologyError::TlsFile {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<String, TopologyError> {
    std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `contents` to `path` through a temporary file and a rename, so a
/// server reloading at the same moment reads the old file or the new one.
fn replace(path: &Path, contents: &str) -> Result<(), TopologyError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| tls_file_error(path, format!("cannot write: {e}")))
}

/// Every client certificate under `tls/<nation>/clients/`.
fn issued_client_certificates(
    tls: &Path,
    nation: &str,
) -> Result<Vec<CertificateFacts>, TopologyError> {
    let dir = tls.join(paths::clients_dir(nation));
    let entries = std::fs::read_dir(&dir).map_err(|source| TopologyError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| TopologyError::Read {
                path: dir.clone(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "pem") {
            let facts = certificate_facts(&read(&path)?, &path.display().to_string())
                .map_err(|e| tls_file_error(&path, e.to_string()))?;
            out.push(facts);
        }
    }
    Ok(out)
}

/// Revokes the client certificate of `user` (e.g. `USA-producer-radar-1`)
/// in the mesh generated under `mesh_dir`: signs a new CRL with `nation`'s
/// TLS authority and rewrites the servers' allow list. Revoking twice is
/// harmless (the CRL is left as it is).
pub fn revoke_client_certificate(
    mesh_dir: &Path,
    nation: &str,
    user: &str,
) -> Result<TlsRevocation, TopologyError> {
    let tls = mesh_dir.join("tls");
    let cert_path = tls.join(paths::client_certificate(nation, user));
    if !cert_path.exists() {
        let mut known: Vec<String> = std::fs::read_dir(tls.join(paths::clients_dir(nation)))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "pem"))
                    .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        known.sort();
        return Err(tls_file_error(
            &cert_path,
            format!(
                "no client certificate of {nation} for user {user}; the users with one are: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    let target = certificate_facts(&read(&cert_path)?, &cert_path.display().to_string())
        .map_err(|e| tls_file_error(&cert_path, e.to_string()))?;
    let ca_path = tls.join(paths::ca(nation));
    let key_path = tls.join(paths::ca_key(nation));
    let authority = Authority::from_pem(nation, &read(&ca_path)?, &read(&key_path)?, VALIDITY_DAYS)
        .map_err(|e| tls_file_error(&key_path, e.to_string()))?;
    let crl_path = tls.join(paths::crl(nation));
    let mut crl = read_crl(&read(&crl_path)?, &crl_path.display().to_string())
        .map_err(|e| tls_file_error(&crl_path, e.to_string()))?;
    let already_revoked = crl.is_revoked(&target.serial);
    let mut written = Vec::new();
    if !already_revoked {
        crl.number += 1;
        crl.revoked.push(RevokedEntry {
            serial: target.serial.clone(),
            revoked_at: time::OffsetDateTime::now_utc(),
        });
        let pem = authority
            .crl(&crl)
            .map_err(|e| tls_file_error(&crl_path, e.to_string()))?;
        replace(&crl_path, &pem)?;
        written.push(crl_path);
    }
    let issued = issued_client_certificates(&tls, nation)?;
    let pinned_path = tls.join(paths::pinned_clients(nation));
    replace(&pinned_path, &pinned_clients_conf(&issued, &crl))?;
    written.push(pinned_path);
    Ok(TlsRevocation {
        crl_number: crl.number,
        already_revoked,
        still_accepted: issued.iter().filter(|c| !crl.is_revoked(&c.serial)).count(),
        written,
    })
}
