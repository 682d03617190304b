//! A nation's TLS authority and the certificates it issues.
//!
//! One self-signed authority per nation. It issues:
//! - a server certificate per nats-server, valid for client, route and
//!   leaf-node connections (server and client authentication: a server
//!   presents it when it accepts, and when it dials a route or a partner's
//!   leaf port), with every name the server is reached by;
//! - a client certificate per NATS identity (the bridge, each producer, the
//!   subscribers), with the identity as common name.
//!
//! Keys are ECDSA P-256: Go's TLS stack in nats-server and rustls both
//! support it. Certificates are valid from a day before they are made (clock
//! skew) for `validity_days`.
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};

use crate::TlsError;

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A nats-server: server and client authentication.
    Server,
    /// A client of a nats-server: client authentication only.
    Client,
}

/// A certificate and its private key, as PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub certificate_pem: String,
    /// Its private key (PKCS#8). Write it with 0600 permissions.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// A nation's TLS authority.
pub struct Authority {
    nation: String,
    issuer: Issuer<'static, KeyPair>,
    issued: Issued,
    validity_days: i64,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("nation", &self.nation)
            .finish_non_exhaustive()
    }
}

fn failed(what: &str) -> impl FnOnce(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError::Generate {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

fn organization(nation: &str) -> String {
    format!("Coalition Mesh {nation}")
}

fn name(common_name: &str, nation: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, organization(nation));
    dn.push(DnType::CommonName, common_name);
    dn
}

/// The subject of the client certificate `nation`'s authority issues to
/// `common_name`, as nats-server's `verify_and_map` matches it against a
/// user name (RFC 4514 order: `CN=<name>,O=Coalition Mesh <nation>`).
pub fn subject_dn(common_name: &str, nation: &str) -> String {
    format!("CN={common_name},O={}", organization(nation))
}

impl Authority {
    /// A fresh authority for `nation`, valid for `validity_days`.
    pub fn new(nation: &str, validity_days: i64) -> Result<Self, TlsError> {
        let what = format!("the {nation} TLS authority");
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed(&what))?;
        let mut params = CertificateParams::new(Vec::new()).map_err(failed(&what))?;
        params.distinguished_name = name(&format!("{nation} mesh TLS authority"), nation);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, validity_days);
        let cert = params.self_signed(&key).map_err(failed(&what))?;
        let issued = Issued {
            certificate_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(Authority {
            nation: nation.to_string(),
            issuer: Issuer::new(params, key),
            issued,
            validity_days,
        })
    }

    /// The authority's own certificate and key.
    pub fn own(&self) -> &Issued {
        &self.issued
    }

    /// The nation whose authority this is.
    pub fn nation(&self) -> &str {
        &self.nation
    }

    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    pub(crate) fn from_parts(
        nation: &str,
        issuer: Issuer<'static, KeyPair>,
        certificate_pem: &str,
        key_pem: &str,
        validity_days: i64,
    ) -> Self {
        Authority {
            nation: nation.to_string(),
            issuer,
            issued: Issued {
                certificate_pem: certificate_pem.to_string(),
                key_pem: key_pem.to_string(),
            },
            validity_days,
        }
    }

    /// Issues a certificate to `common_name`, valid for `names` (DNS names
    /// or IP addresses; empty for a client).
    pub fn issue(
        &self,
        common_name: &str,
        names: &[String],
        usage: Usage,
    ) -> Result<Issued, TlsError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed(common_name))?;
        let mut params = CertificateParams::new(names.to_vec()).map_err(failed(common_name))?;
        params.distinguished_name = name(common_name, &self.nation);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match usage {
            Usage::Server => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        set_validity(&mut params, self.validity_days);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(failed(common_name))?;
        Ok(Issued {
            certificate_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn set_validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(days.max(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authority_issues_pem_certificates_and_keys() {
        let ca = Authority::new("USA", 30).unwrap();
        assert!(ca
            .own()
            .certificate_pem
            .starts_with("-----BEGIN CERTIFICATE-----"));
        let server = ca
            .issue(
                "USA-0",
                &["127.0.0.1".into(), "usa-0".into()],
                Usage::Server,
            )
            .unwrap();
        assert!(server.key_pem.contains("PRIVATE KEY"));
        assert_ne!(server.certificate_pem, ca.own().certificate_pem);
    }

    #[test]
    fn a_name_that_is_neither_host_nor_address_is_refused() {
        let ca = Authority::new("USA", 30).unwrap();
        let err = ca
            .issue("USA-0", &["h\u{e9}te".into()], Usage::Server)
            .unwrap_err();
        assert!(err.to_string().contains("USA-0"), "{err}");
    }
}
