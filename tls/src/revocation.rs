//! TLS certificate revocation: one X.509 CRL per nation's TLS authority,
//! and what each side checks it with.
//!
//! - The CRL (`crl.pem`) is signed by the authority; every revocation adds
//!   an entry and increases its CRL number. The Rust clients check the
//!   certificate a server presents against it ([`crate::client_config`]).
//! - nats-server reads no CRL file (it supports OCSP only; nats-server
//!   issue #929). Its side is an allow list compiled from the CRL: the
//!   SHA-256 of the public key (SubjectPublicKeyInfo) of every client
//!   certificate the authority issued that the CRL does not list, written
//!   as `pinned_certs` into a file the client port's `tls` block includes.
//!   On a config reload (SIGHUP) nats-server refuses new connections with
//!   any other key and closes the open ones (`Disconnect N clients due to
//!   pinned certs reload`), with no restart.
//!
//! Parsing is x509-parser's; the CRL itself is made by rcgen.
use std::collections::BTreeSet;

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, KeyPair, RevocationReason, RevokedCertParams,
    SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::generate::Authority;
use crate::TlsError;

/// How long a CRL is valid before it must be re-issued (its `nextUpdate`).
pub const CRL_VALIDITY_DAYS: i64 = 365;

/// What the authority needs to know of a certificate it issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The serial number, as its DER integer bytes.
    pub serial: Vec<u8>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex: what
    /// nats-server's `pinned_certs` lists.
    pub key_pin: String,
    /// The subject, e.g. `CN=USA-bridge, O=Coalition Mesh USA`.
    pub subject: String,
}

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The revoked certificate's serial number (DER integer bytes).
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
}

/// A CRL as read back: its number and its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrlContents {
    /// The CRL number (0 for the first, empty one).
    pub number: u64,
    /// Every revoked certificate.
    pub revoked: Vec<RevokedEntry>,
}

impl CrlContents {
    /// Whether the certificate with `serial` is revoked.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked.iter().any(|r| r.serial == serial)
    }
}

fn parse_error(what: &str, detail: impl std::fmt::Display) -> TlsError {
    TlsError::Generate {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

fn pem_error(what: &str, expected: &str, e: rustls::pki_types::pem::Error) -> TlsError {
    parse_error(what, format!("not a PEM {expected}: {e}"))
}

/// Reads the serial, key pin and subject of a PEM certificate.
pub fn certificate_facts(pem_text: &str, what: &str) -> Result<CertificateFacts, TlsError> {
    let der = CertificateDer::from_pem_slice(pem_text.as_bytes())
        .map_err(|e| pem_error(what, "certificate", e))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| parse_error(what, format!("not an X.509 certificate: {e}")))?;
    Ok(CertificateFacts {
        serial: cert.raw_serial().to_vec(),
        key_pin: hex::encode(Sha256::digest(cert.public_key().raw)),
        subject: cert.subject().to_string(),
    })
}

/// Reads a PEM CRL's number and entries.
pub fn read_crl(pem_text: &str, what: &str) -> Result<CrlContents, TlsError> {
    let der = CertificateRevocationListDer::from_pem_slice(pem_text.as_bytes())
        .map_err(|e| pem_error(what, "X509 CRL", e))?;
    let (_, crl) = x509_parser::parse_x509_crl(&der)
        .map_err(|e| parse_error(what, format!("not an X.509 CRL: {e}")))?;
    let number = match crl.crl_number() {
        None => 0,
        Some(n) => {
            let digits = n.to_u64_digits();
            if digits.len() > 1 {
                return Err(parse_error(what, "CRL number does not fit 64 bits"));
            }
            digits.first().copied().unwrap_or(0)
        }
    };
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| {
            Ok(RevokedEntry {
                serial: r.raw_serial().to_vec(),
                revoked_at: OffsetDateTime::from_unix_timestamp(r.revocation_date.timestamp())
                    .map_err(|e| parse_error(what, format!("revocation date: {e}")))?,
            })
        })
        .collect::<Result<_, TlsError>>()?;
    Ok(CrlContents { number, revoked })
}

impl Authority {
    /// Issues a CRL numbered `contents.number` listing `contents.revoked`,
    /// valid from now for [`CRL_VALIDITY_DAYS`]; returns it as PEM.
    pub fn crl(&self, contents: &CrlContents) -> Result<String, TlsError> {
        let what = format!("the {} CRL", self.nation());
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(CRL_VALIDITY_DAYS),
            crl_number: SerialNumber::from(contents.number),
            issuing_distribution_point: None,
            revoked_certs: contents
                .revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial),
                    revocation_time: r.revoked_at,
                    reason_code: Some(RevocationReason::Unspecified),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(self.issuer())
            .and_then(|crl| crl.pem())
            .map_err(|e| parse_error(&what, e))
    }

    /// The authority of `nation` from its certificate and key (PEM), as
    /// written when the mesh was generated: to revoke and to issue more.
    pub fn from_pem(
        nation: &str,
        certificate_pem: &str,
        key_pem: &str,
        validity_days: i64,
    ) -> Result<Self, TlsError> {
        let what = format!("the {nation} TLS authority");
        let key = KeyPair::from_pem(key_pem).map_err(|e| parse_error(&what, e))?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(certificate_pem, key)
            .map_err(|e| parse_error(&what, e))?;
        Ok(Authority::from_parts(
            nation,
            issuer,
            certificate_pem,
            key_pem,
            validity_days,
        ))
    }
}

/// The `pinned_certs` line nats-server's client port includes: every key
/// pin of `issued` whose certificate `crl` does not revoke, sorted.
pub fn pinned_clients_conf(issued: &[CertificateFacts], crl: &CrlContents) -> String {
    let pins: BTreeSet<&str> = issued
        .iter()
        .filter(|c| !crl.is_revoked(&c.serial))
        .map(|c| c.key_pin.as_str())
        .collect();
    let list: Vec<String> = pins.iter().map(|p| format!("  \"{p}\"")).collect();
    format!(
        "# Generated from this nation's CRL: the public-key pins of every client\n\
         # certificate its TLS authority issued and has not revoked. Regenerated by\n\
         # `coalition tls revoke`; a server applies it on reload (SIGHUP).\n\
         pinned_certs: [\n{}\n]\n",
        list.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Usage;

    #[test]
    fn a_crl_lists_what_was_revoked_and_reads_back() {
        let ca = Authority::new("USA", 30).unwrap();
        let a = ca.issue("USA-a", &[], Usage::Client).unwrap();
        let b = ca.issue("USA-b", &[], Usage::Client).unwrap();
        let fa = certificate_facts(&a.certificate_pem, "a").unwrap();
        let fb = certificate_facts(&b.certificate_pem, "b").unwrap();
        assert_ne!(fa.serial, fb.serial);
        assert!(fa.subject.contains("CN=USA-a"), "{}", fa.subject);

        let empty = read_crl(&ca.crl(&CrlContents::default()).unwrap(), "crl").unwrap();
        assert_eq!(empty, CrlContents::default());
        let revoked_at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let one = CrlContents {
            number: 1,
            revoked: vec![RevokedEntry {
                serial: fa.serial.clone(),
                revoked_at,
            }],
        };
        let back = read_crl(&ca.crl(&one).unwrap(), "crl").unwrap();
        assert_eq!(back, one);
        assert!(back.is_revoked(&fa.serial) && !back.is_revoked(&fb.serial));

        let conf = pinned_clients_conf(&[fa.clone(), fb.clone()], &back);
        assert!(
            conf.contains(&fb.key_pin) && !conf.contains(&fa.key_pin),
            "{conf}"
        );
    }

    #[test]
    fn an_authority_read_back_from_pem_signs_crls_for_the_same_key() {
        let ca = Authority::new("USA", 30).unwrap();
        let again =
            Authority::from_pem("USA", &ca.own().certificate_pem, &ca.own().key_pem, 30).unwrap();
        let crl = again.crl(&CrlContents::default()).unwrap();
        assert!(crl.starts_with("-----BEGIN X509 CRL-----"), "{crl}");
    }

    #[test]
    fn bad_input_says_what_and_why() {
        let err = certificate_facts("junk", "clients/x.pem")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("clients/x.pem") && err.contains("not a PEM"),
            "{err}"
        );
        let ca = Authority::new("USA", 30).unwrap();
        let err = read_crl(&ca.own().certificate_pem, "crl.pem")
            .unwrap_err()
            .to_string();
        assert!(err.contains("crl.pem") && err.contains("X509 CRL"), "{err}");
    }
}
