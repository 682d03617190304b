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
        crl: None,
    }
}

fn bridge_identity(mesh: &Mesh, nation: &str) -> ClientTls {
    mesh.bridge_config(nation).unwrap().home.tls.clone()
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
        crl: None,
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
    assert!(connect_and_ping(&mut session, "", "")
        .await
        .starts_with("PONG"));

    // async-nats with the generated options connects and round-trips.
    let client = mesh
        .connect_options(&home)
        .unwrap()
        .connect(mesh.client_urls("USA"))
        .await
        .expect("mTLS client connects");
    client.flush().await.expect("flush over mTLS");

    // Plaintext: refused by the server.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let info = read_line(&mut tcp).await.unwrap();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let reply = connect_and_ping(&mut tcp, &home.user, "").await;
    assert_refused("plaintext client", &reply, "end of file");

    // Certificates the server must refuse.
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
        assert_refused(what, &attempt(port, config, "", "").await, "UnknownCA");
        let nats = coalition_tls::connect_options(&files)
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
    let reply = attempt(port, no_cert, "", "").await;
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

/// Sends `PUB <subject>` and PING; the first reply line.
async fn publish_and_ping<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    subject: &str,
) -> String {
    let reply = async {
        stream
            .write_all(format!("PUB {subject} 0\r\n\r\nPING\r\n").as_bytes())
            .await?;
        read_line(stream).await
    };
    match tokio::time::timeout(PATIENCE, reply).await {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => format!("connection failed: {e}"),
        Err(_) => "no reply".into(),
    }
}

/// USA's TLS authority, read back from the generated mesh.
fn usa_authority(mesh: &Mesh) -> Authority {
    let tls = mesh.dir().join("tls");
    let read = |p: String| std::fs::read_to_string(tls.join(p)).unwrap();
    Authority::from_pem(
        "USA",
        &read(tls_paths::ca("USA")),
        &read(tls_paths::ca_key("USA")),
        30,
    )
    .unwrap()
}

/// Issue 17, item 5: a certificate opens only the user its subject names,
/// whatever user the client claims, and no password opens anything; a
/// certificate of the right authority that names no user opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_opens_only_the_user_it_names() {
    let mesh = pair().await;
    let port = client_port(&mesh, "USA");
    let clients = mesh.clients("USA").unwrap().clone();
    let producer = clients.producer("radar-1").unwrap().tls.clone();

    // The producer's certificate with a password (of any user): refused, a
    // mapped user has none.
    let config = coalition_tls::client_config(&producer).unwrap();
    let reply = attempt(port, config, "USA-bridge", "any password").await;
    assert!(reply.contains("Authorization Violation"), "{reply}");
    // Claiming the bridge's user without one: connected as the producer, so
    // the bridge's subjects are refused.
    let config = coalition_tls::client_config(&producer).unwrap();
    let mut session = tls_session(port, config).await.expect("handshake");
    let reply = connect_and_ping(&mut session, "USA-bridge", "").await;
    assert!(reply.starts_with("PONG"), "{reply}");
    let reply = publish_and_ping(&mut session, "in.track.USA.radar-1.tracks").await;
    assert!(
        reply.contains("Permissions Violation") && reply.contains("in.track.USA.radar-1.tracks"),
        "the producer's certificate may not publish as the bridge: {reply}"
    );
    // Its own subjects are its own.
    let mut session = tls_session(port, coalition_tls::client_config(&producer).unwrap())
        .await
        .expect("handshake");
    assert!(connect_and_ping(&mut session, "", "")
        .await
        .starts_with("PONG"));
    let reply = publish_and_ping(&mut session, "out.track.radar-1.x").await;
    assert!(reply.starts_with("PONG"), "its own feed subject: {reply}");

    // A certificate from USA's own authority for a name that is no user.
    let dir = tempfile::tempdir().unwrap();
    let stranger = usa_authority(&mesh)
        .issue("USA-stranger", &[], Usage::Client)
        .unwrap();
    std::fs::write(dir.path().join("s.pem"), stranger.certificate_pem).unwrap();
    std::fs::write(dir.path().join("s.key"), stranger.key_pem).unwrap();
    let files = ClientTls {
        certificate: dir.path().join("s.pem").display().to_string(),
        key: dir.path().join("s.key").display().to_string(),
        ..producer.clone()
    };
    let reply = attempt(port, coalition_tls::client_config(&files).unwrap(), "", "").await;
    assert!(
        reply.contains("Authorization Violation") || reply.starts_with("connection failed"),
        "a certificate naming no user is refused: {reply}"
    );
    assert!(!reply.starts_with("PONG"), "{reply}");
}

/// Counts the disconnections a client sees.
fn counting_disconnects(
    options: async_nats::ConnectOptions,
) -> (
    async_nats::ConnectOptions,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let options = options.event_callback(move |event| {
        let seen = seen.clone();
        async move {
            if matches!(event, async_nats::Event::Disconnected) {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    (options, count)
}

/// Issue 17, item 5: revoking a client certificate (a new CRL, and the
/// allow list the servers include) takes effect on a config reload: the
/// revoked client is disconnected and refused from then on, while the
/// servers keep running (same PIDs) and every other client stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_certificate_is_refused_after_a_reload_without_a_restart() {
    let mesh = pair().await;
    let port = client_port(&mesh, "USA");
    let clients = mesh.clients("USA").unwrap().clone();
    let producer = clients.producer("radar-1").unwrap().clone();
    let urls = mesh.client_urls("USA");
    let (options, producer_drops) =
        counting_disconnects(coalition_tls::connect_options(&producer.tls).unwrap());
    let revoked_client = options
        .connect(urls.as_slice())
        .await
        .expect("producer connects");
    revoked_client.flush().await.unwrap();
    let (options, subscriber_drops) =
        counting_disconnects(coalition_tls::connect_options(&clients.subscriber.tls).unwrap());
    let other_client = options
        .connect(urls.as_slice())
        .await
        .expect("subscriber connects");
    other_client.flush().await.unwrap();
    let pids = mesh.server_pids("USA");

    let done = coalition_topology::revoke_client_certificate(mesh.dir(), "USA", &producer.user)
        .expect("revoked");
    assert_eq!((done.crl_number, done.already_revoked), (1, false));
    let crl_path = mesh.dir().join("tls").join(tls_paths::crl("USA"));
    let crl = coalition_tls::read_crl(&std::fs::read_to_string(&crl_path).unwrap(), "crl").unwrap();
    let facts = coalition_tls::certificate_facts(
        &std::fs::read_to_string(&producer.tls.certificate).unwrap(),
        "producer",
    )
    .unwrap();
    assert!(crl.is_revoked(&facts.serial), "the CRL lists the producer");

    // Before the reload nothing has changed; after it the producer is out.
    assert_eq!(producer_drops.load(std::sync::atomic::Ordering::SeqCst), 0);
    mesh.reload_nation("USA").await.expect("reloaded");
    nats_harness::wait_until("the revoked client is disconnected", PATIENCE, || async {
        producer_drops.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await
    .unwrap();
    let reply = attempt(
        port,
        coalition_tls::client_config(&producer.tls).unwrap(),
        "",
        "",
    )
    .await;
    assert!(
        reply.starts_with("connection failed"),
        "a new connection with the revoked certificate is refused: {reply}"
    );
    let again = coalition_tls::connect_options(&producer.tls)
        .unwrap()
        .connect(urls.as_slice())
        .await;
    assert!(
        again.is_err(),
        "async-nats with the revoked certificate connects"
    );

    // Nothing else was restarted or disconnected.
    assert_eq!(mesh.server_pids("USA"), pids, "no server restarted");
    tokio::time::timeout(PATIENCE, other_client.flush())
        .await
        .expect("flush in time")
        .expect("the other client still works");
    assert_eq!(
        subscriber_drops.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(
        other_client.connection_state(),
        async_nats::connection::State::Connected
    );

    // Revoking twice changes nothing.
    let twice = coalition_topology::revoke_client_certificate(mesh.dir(), "USA", &producer.user)
        .expect("revoked again");
    assert_eq!((twice.crl_number, twice.already_revoked), (1, true));
    drop(revoked_client);
}
