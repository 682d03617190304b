//! Every connection of a generated mesh is mutual TLS, on real nats-server:
//! clients and leaf links with a certificate from the right authority get
//! in; plaintext, no certificate, another nation's certificate or a forged
//! authority are refused; and the key exchange negotiated with nats-server
//! is the hybrid post-quantum X25519MLKEM768, both by a rustls client and
//! between two nats-servers on a leaf link (read off the wire).
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use coalition_tls::{Authority, ClientTls, Usage, POST_QUANTUM_GROUP};
use coalition_topology::{parse_topology, tls_paths};
use nats_harness::{tls_wire, Mesh};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::ServerName;
use rustls::NamedGroup;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const PAIR: &str = include_str!("../../topologies/pair.toml");
const PATIENCE: Duration = Duration::from_secs(30);

async fn pair() -> Mesh {
    let t = parse_topology(PAIR, Path::new("pair.toml")).unwrap();
    Mesh::start(t).await.expect("mesh starts")
}

fn client_port(mesh: &Mesh, nation: &str) -> u16 {
    let url = &mesh.client_urls(nation)[0];
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// The TLS files of `nation`'s `user`, as generated.
fn identity(mesh: &Mesh, nation: &str, cert: &str, key: &str) -> ClientTls {
    let tls = mesh.dir().join("tls");
    let at = |p: String| tls.join(p).display().to_string();
    ClientTls {
        ca: at(tls_paths::ca(nation)),
        certificate: at(cert.to_string()),
        key: at(key.to_string()),
    }
}

fn bridge_identity(mesh: &Mesh, nation: &str) -> ClientTls {
    mesh.bridge_config(nation).unwrap().tls.clone()
}

/// A client identity from an authority nobody trusts, written to `dir`.
fn forged_identity(dir: &Path, trusting: &ClientTls) -> ClientTls {
    let rogue = Authority::new("USA", 30).unwrap();
    let issued = rogue.issue("USA-bridge", &[], Usage::Client).unwrap();
    std::fs::write(dir.join("rogue.pem"), issued.certificate_pem).unwrap();
    std::fs::write(dir.join("rogue.key"), issued.key_pem).unwrap();
    ClientTls {
        ca: trusting.ca.clone(),
        certificate: dir.join("rogue.pem").display().to_string(),
        key: dir.join("rogue.key").display().to_string(),
    }
}

/// Reads one protocol line (INFO, PONG, -ERR).
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Sends CONNECT and PING; the first reply that is not INFO.
async fn connect_and_ping<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    user: &str,
    password: &str,
) -> String {
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"tls_required\":true,\"user\":{user:?},\"pass\":{password:?}}}\r\nPING\r\n"
    );
    let reply = async {
        stream.write_all(connect.as_bytes()).await?;
        loop {
            let line = read_line(stream).await?;
            if !line.starts_with("INFO") {
                return Ok::<_, std::io::Error>(line);
            }
        }
    };
    match tokio::time::timeout(PATIENCE, reply).await {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => format!("connection failed: {e}"),
        Err(_) => "no reply".into(),
    }
}

/// Opens TCP to `port`, reads INFO, upgrades to TLS with `config`.
async fn tls_session(
    port: u16,
    config: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let info = read_line(&mut tcp).await?;
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    tokio::time::timeout(PATIENCE, connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

/// The outcome of a TLS session on `port` with `config`, then CONNECT and
/// PING as `user`.
async fn attempt(port: u16, config: rustls::ClientConfig, user: &str, password: &str) -> String {
    match tls_session(port, config).await {
        Ok(mut session) => connect_and_ping(&mut session, user, password).await,
        Err(e) => format!("connection failed: {e}"),
    }
}

/// `reply` shows the server ended the TLS session with `alert`.
fn assert_refused(what: &str, reply: &str, alert: &str) {
    eprintln!("{what}: {reply:?}");
    assert!(
        reply.starts_with("connection failed") && reply.contains(alert),
        "{what}: expected a refusal with {alert}, got {reply:?}"
    );
}

fn group_of(session: &tokio_rustls::client::TlsStream<TcpStream>) -> Option<NamedGroup> {
    session
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .map(|g| g.name())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_need_tls_and_a_certificate_from_their_own_nation() {
    let mesh = pair().await;
    let home = mesh.bridge_config("USA").unwrap().home.clone();
    let port = client_port(&mesh, "USA");

    // The bridge's own identity gets in, and negotiates the hybrid group.
    let mut session = tls_session(
        port,
        coalition_tls::client_config(&bridge_identity(&mesh, "USA")).unwrap(),
    )
    .await
    .expect("handshake with the right identity");
    let group = group_of(&session);
    eprintln!("USA client port negotiated {group:?}");
    assert_eq!(group, Some(POST_QUANTUM_GROUP));
    assert!(connect_and_ping(&mut session, &home.user, &home.password)
        .await
        .starts_with("PONG"));

    // async-nats with the generated options connects and round-trips.
    let client = mesh
        .connect_options("USA", &home)
        .unwrap()
        .connect(mesh.client_urls("USA"))
        .await
        .expect("mTLS client connects");
    client.flush().await.expect("flush over mTLS");

    // Plaintext: refused by the server.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let info = read_line(&mut tcp).await.unwrap();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let reply = connect_and_ping(&mut tcp, &home.user, &home.password).await;
    assert_refused("plaintext client", &reply, "end of file");

    // Certificates the server must refuse, each with the right password.
    let dir = tempfile::tempdir().unwrap();
    let usa = bridge_identity(&mesh, "USA");
    let gbr_cert = tls_paths::client_certificate("GBR", "GBR-bridge");
    let gbr_key = tls_paths::client_key("GBR", "GBR-bridge");
    let refused = [
        ("a forged authority", forged_identity(dir.path(), &usa)),
        (
            "another nation's authority",
            ClientTls {
                ca: usa.ca.clone(),
                ..identity(&mesh, "GBR", &gbr_cert, &gbr_key)
            },
        ),
    ];
    for (what, files) in refused {
        let config = coalition_tls::client_config(&files).unwrap();
        assert_refused(
            what,
            &attempt(port, config, &home.user, &home.password).await,
            "UnknownCA",
        );
        let nats = coalition_tls::connect_options(&home.user, &home.password, &files)
            .unwrap()
            .connect(mesh.client_urls("USA"))
            .await;
        assert!(nats.is_err(), "{what}: async-nats connected");
    }

    // TLS without a client certificate.
    let roots = {
        let mut store = rustls::RootCertStore::empty();
        let ca = std::fs::read(&usa.ca).unwrap();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
            store.add(c.unwrap()).unwrap();
        }
        store
    };
    let no_cert = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let reply = attempt(port, no_cert, &home.user, &home.password).await;
    assert_refused("no client certificate", &reply, "CertificateRequired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_links_are_mutual_tls_with_the_partners_authority_only() {
    let mesh = pair().await;
    // GBR's leaf connection to USA is up (Mesh::start waits for it), so it
    // passed USA's verify of GBR's server certificate.
    mesh.wait_link("USA", "GBR", true).await.unwrap();
    let port = mesh.leaf_port("USA", 0).unwrap();

    // What USA's nats-server chose for GBR's, both Go, read off the wire
    // (the ServerHello that crossed the link's proxy): TLS 1.3 with the
    // hybrid group.
    let wire = mesh
        .link_proxy("USA", "GBR", 0)
        .expect("the link has a proxy")
        .opening_bytes_from_upstream();
    let hello = tls_wire::server_hello(&wire).expect("a ServerHello crossed the leaf link");
    eprintln!("USA and GBR's servers negotiated {hello:x?} on their leaf link");
    assert_eq!(hello.version, Some(tls_wire::TLS13));
    assert_eq!(hello.group, Some(tls_wire::X25519MLKEM768));
    assert_eq!(tls_wire::X25519MLKEM768, u16::from(POST_QUANTUM_GROUP));

    // GBR's server identity, trusting USA's authority: the hybrid group.
    let gbr_server = ClientTls {
        ca: identity(&mesh, "USA", "", "").ca,
        ..identity(
            &mesh,
            "GBR",
            &tls_paths::server_certificate("GBR-0"),
            &tls_paths::server_key("GBR-0"),
        )
    };
    let session = tls_session(port, coalition_tls::client_config(&gbr_server).unwrap())
        .await
        .expect("GBR's server certificate is accepted on USA's leaf port");
    let group = group_of(&session);
    eprintln!("USA leaf port negotiated {group:?}");
    assert_eq!(group, Some(POST_QUANTUM_GROUP));
    drop(session);

    // Plaintext on the leaf port.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let info = read_line(&mut tcp).await.unwrap();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let reply = connect_and_ping(&mut tcp, "x", "y").await;
    assert_refused("plaintext on the leaf port", &reply, "end of file");

    // USA's own client certificate is not a partner's: refused there.
    let usa_client = coalition_tls::client_config(&bridge_identity(&mesh, "USA")).unwrap();
    let reply = attempt(port, usa_client, "x", "y").await;
    assert_refused(
        "USA's client certificate on USA's leaf port",
        &reply,
        "UnknownCA",
    );
}
