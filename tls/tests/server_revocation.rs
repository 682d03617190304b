//! The Rust clients check a server's certificate against the authority's
//! CRL: a TLS handshake (in memory, real rustls on both sides) with a
//! server whose certificate the CRL lists fails, and succeeds with one it
//! does not list.
use std::path::Path;
use std::sync::Arc;

use coalition_tls::{
    certificate_facts, client_config, Authority, ClientTls, CrlContents, Issued, RevokedEntry,
    Usage,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn server_config(server: &Issued) -> rustls::ServerConfig {
    let chain = vec![CertificateDer::from_pem_slice(server.certificate_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap()
}

/// Runs a handshake between the two in memory; the first error either
/// side reports.
fn handshake(
    client: rustls::ClientConfig,
    server: rustls::ServerConfig,
) -> Result<(), rustls::Error> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = rustls::ClientConnection::new(Arc::new(client), name)?;
    let mut s = rustls::ServerConnection::new(Arc::new(server))?;
    for _ in 0..20 {
        let mut bytes = Vec::new();
        c.write_tls(&mut bytes).unwrap();
        if !bytes.is_empty() {
            s.read_tls(&mut bytes.as_slice()).unwrap();
            s.process_new_packets()?;
        }
        let mut bytes = Vec::new();
        s.write_tls(&mut bytes).unwrap();
        if !bytes.is_empty() {
            c.read_tls(&mut bytes.as_slice()).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    panic!("the handshake did not finish");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_server_certificate_on_the_crl_is_refused_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("USA", 30).unwrap();
    let server = ca
        .issue("USA-0", &["localhost".into()], Usage::Server)
        .unwrap();
    let client = ca.issue("USA-bridge", &[], Usage::Client).unwrap();
    let revoked = CrlContents {
        number: 1,
        revoked: vec![RevokedEntry {
            serial: certificate_facts(&server.certificate_pem, "server")
                .unwrap()
                .serial,
            revoked_at: time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
        }],
    };
    let files = |crl: Option<&CrlContents>| ClientTls {
        ca: write(dir.path(), "ca.pem", &ca.own().certificate_pem),
        certificate: write(dir.path(), "c.pem", &client.certificate_pem),
        key: write(dir.path(), "c.key", &client.key_pem),
        crl: crl.map(|c| write(dir.path(), "crl.pem", &ca.crl(c).unwrap())),
    };

    handshake(client_config(&files(None)).unwrap(), server_config(&server))
        .expect("no CRL: the server's certificate is accepted");
    handshake(
        client_config(&files(Some(&CrlContents::default()))).unwrap(),
        server_config(&server),
    )
    .expect("an empty CRL: accepted");
    let err = handshake(
        client_config(&files(Some(&revoked))).unwrap(),
        server_config(&server),
    )
    .expect_err("on the CRL: refused");
    assert!(
        err.to_string().to_lowercase().contains("revoked"),
        "the refusal says why: {err}"
    );
}

#[test]
fn a_crl_file_that_is_not_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new("USA", 30).unwrap();
    let client = ca.issue("USA-bridge", &[], Usage::Client).unwrap();
    let files = ClientTls {
        ca: write(dir.path(), "ca.pem", &ca.own().certificate_pem),
        certificate: write(dir.path(), "c.pem", &client.certificate_pem),
        key: write(dir.path(), "c.key", &client.key_pem),
        crl: Some(write(dir.path(), "crl.pem", &ca.own().certificate_pem)),
    };
    let err = client_config(&files).unwrap_err().to_string();
    assert!(err.contains("crl.pem") && err.contains("CRL"), "{err}");
}
