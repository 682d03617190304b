//! The rustls client configuration of every Rust client of the mesh.
//!
//! Mutual TLS: the client trusts only its nation's TLS authority (no system
//! roots) and presents its own certificate. The key-exchange groups are
//! rustls's aws-lc-rs defaults, which offer X25519MLKEM768 first and fall
//! back to X25519 and the NIST curves, so a hybrid post-quantum exchange is
//! used wherever the server supports it (nats-server built with Go 1.24 or
//! later does).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::{ClientConfig, NamedGroup, RootCertStore};
use serde::{Deserialize, Serialize};

use crate::TlsError;

/// The hybrid post-quantum group offered first.
pub const POST_QUANTUM_GROUP: NamedGroup = NamedGroup::X25519MLKEM768;

/// Where a client finds its TLS material: the authority it trusts, its
/// certificate and its key. Paths in a config file are relative to that
/// file's folder until [`ClientTls::resolved_against`] is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// PEM file of the TLS authority (or authorities) to trust.
    pub ca: String,
    /// PEM file of this client's certificate (chain).
    pub certificate: String,
    /// PEM file of this client's private key.
    pub key: String,
    /// PEM file of the authority's certificate revocation list: a server
    /// certificate it lists is refused. None: no revocation check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<String>,
}

impl ClientTls {
    /// The same files with relative paths taken from `dir`.
    pub fn resolved_against(&self, dir: &Path) -> ClientTls {
        let at = |p: &str| {
            let path = Path::new(p);
            if path.is_absolute() {
                p.to_string()
            } else {
                dir.join(path).display().to_string()
            }
        };
        ClientTls {
            ca: at(&self.ca),
            certificate: at(&self.certificate),
            key: at(&self.key),
            crl: self.crl.as_deref().map(at),
        }
    }
}

/// The key-exchange groups a client offers, in order of preference.
pub fn key_exchange_groups() -> Vec<NamedGroup> {
    rustls::crypto::aws_lc_rs::default_provider()
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect()
}

fn file_error(path: &Path, detail: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The rustls configuration for a client with `files`.
pub fn client_config(files: &ClientTls) -> Result<ClientConfig, TlsError> {
    let ca = PathBuf::from(&files.ca);
    let mut roots = RootCertStore::empty();
    for cert in certificates(&ca)? {
        roots
            .add(cert)
            .map_err(|e| file_error(&ca, format!("not a usable authority certificate: {e}")))?;
    }
    let certificate = PathBuf::from(&files.certificate);
    let chain = certificates(&certificate)?;
    let key_path = PathBuf::from(&files.key);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| file_error(&key_path, format!("not a PEM private key: {e}")))?;
    let config_error = |detail: String| TlsError::Config {
        certificate: certificate.clone(),
        detail,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if let Some(crl) = &files.crl {
        let path = PathBuf::from(crl);
        let crls = CertificateRevocationListDer::pem_file_iter(&path)
            .map_err(|e| file_error(&path, format!("cannot read the CRL: {e}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(&path, format!("not a PEM CRL file: {e}")))?;
        if crls.is_empty() {
            return Err(file_error(&path, "holds no PEM CRL"));
        }
        verifier = verifier.with_crls(crls).only_check_end_entity_revocation();
    }
    let verifier = verifier
        .build()
        .map_err(|e| config_error(format!("the authority or CRL is unusable: {e}")))?;
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| config_error(format!("the key does not fit the certificate: {e}")))
}

/// Options for connecting to nats-server over mutual TLS with `files`: TLS
/// is required, whatever the server's INFO says. The server takes the user
/// from the certificate (`verify_and_map`), so no user or password is sent.
pub fn connect_options(files: &ClientTls) -> Result<async_nats::ConnectOptions, TlsError> {
    Ok(connect_options_with(client_config(files)?))
}

/// Like [`connect_options`], with a [`client_config`] already built: for a
/// caller that connects again and again (retrying) with the same files.
pub fn connect_options_with(config: ClientConfig) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .tls_client_config(config)
        .require_tls(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Authority, Usage};

    fn write_identity(dir: &Path) -> ClientTls {
        let ca = Authority::new("USA", 30).unwrap();
        let client = ca.issue("USA-bridge", &[], Usage::Client).unwrap();
        std::fs::write(dir.join("ca.pem"), &ca.own().certificate_pem).unwrap();
        std::fs::write(dir.join("c.pem"), &client.certificate_pem).unwrap();
        std::fs::write(dir.join("c.key"), &client.key_pem).unwrap();
        ClientTls {
            ca: "ca.pem".into(),
            certificate: "c.pem".into(),
            key: "c.key".into(),
            crl: None,
        }
        .resolved_against(dir)
    }

    #[test]
    fn the_post_quantum_group_is_offered_first() {
        assert_eq!(key_exchange_groups().first(), Some(&POST_QUANTUM_GROUP));
    }

    #[test]
    fn a_generated_identity_makes_a_client_config() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_identity(dir.path());
        let config = client_config(&files).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn bad_files_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_identity(dir.path());
        std::fs::write(dir.path().join("junk.pem"), "not pem").unwrap();
        let junk = dir.path().join("junk.pem").display().to_string();
        let other = Authority::new("GBR", 30).unwrap();
        let other_key = other.issue("x", &[], Usage::Client).unwrap();
        std::fs::write(dir.path().join("other.key"), &other_key.key_pem).unwrap();
        let cases = [
            (
                ClientTls {
                    ca: junk.clone(),
                    ..good.clone()
                },
                "junk.pem",
                "no PEM certificate",
            ),
            (
                ClientTls {
                    certificate: "/nonexistent/c.pem".into(),
                    ..good.clone()
                },
                "/nonexistent/c.pem",
                "cannot read",
            ),
            (
                ClientTls {
                    key: junk.clone(),
                    ..good.clone()
                },
                "junk.pem",
                "private key",
            ),
            (
                ClientTls {
                    key: dir.path().join("other.key").display().to_string(),
                    ..good.clone()
                },
                "c.pem",
                "does not fit",
            ),
        ];
        for (files, path, why) in cases {
            let err = client_config(&files).unwrap_err().to_string();
            assert!(err.contains(path) && err.contains(why), "{err}");
        }
    }
}
