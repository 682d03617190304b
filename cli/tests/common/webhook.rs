//! A real HTTP server (axum) for the forwarder's tests, on loopback, that
//! records every request it receives and answers as told: accept, a fixed
//! status, or slowly the first time per alert. It can be stopped (the port
//! refuses connections) and started again on the same port. With
//! [`Hook::start_tls`] it serves https (rustls) with a certificate the test
//! issued, and counts the handshakes that failed.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 at once.
    Accept,
    /// This status, every time.
    Status(u16),
    /// The first request per Idempotency-Key waits this long, then 200;
    /// later ones 200 at once.
    SlowFirst(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its Idempotency-Key header.
    pub key: String,
    /// Its Content-Type.
    pub content_type: String,
    /// Its body.
    pub body: String,
    /// The status the server chose for it.
    pub answered: u16,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
    failed_handshakes: AtomicUsize,
}

/// The server.
pub struct Hook {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// A TCP listener that completes a TLS handshake before handing a
/// connection to axum; a failed handshake is counted and dropped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(_) => {
                    self.shared.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A rustls server configuration for one certificate and key (PEM).
fn server_tls(certificate_pem: &str, key_pem: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = vec![CertificateDer::from_pem_slice(certificate_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn handle(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let key = header("idempotency-key");
    let mode = *s.mode.lock().unwrap();
    let (answer, delay) = {
        let mut received = s.received.lock().unwrap();
        let seen = received.iter().any(|r| r.key == key);
        let (answer, delay) = match mode {
            Mode::Accept => (200, None),
            Mode::Status(code) => (code, None),
            Mode::SlowFirst(d) => (200, (!seen).then_some(d)),
        };
        received.push(Received {
            key,
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&body).into(),
            answered: answer,
        });
        (answer, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    StatusCode::from_u16(answer).unwrap()
}

fn listener(addr: SocketAddr) -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(128).unwrap()
}

impl Hook {
    /// Starts on a free loopback port, accepting.
    pub async fn start() -> Hook {
        Self::start_with(None)
    }

    /// Starts on a free loopback port, serving https with this
    /// certificate (which must name 127.0.0.1) and key, accepting.
    pub async fn start_tls(certificate_pem: &str, key_pem: &str) -> Hook {
        Self::start_with(Some(server_tls(certificate_pem, key_pem)))
    }

    fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Hook {
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Accept),
            received: Mutex::default(),
            failed_handshakes: AtomicUsize::new(0),
        });
        let mut hook = Hook {
            addr: "127.0.0.1:0".parse().unwrap(),
            shared,
            stop: None,
            task: None,
            tls,
        };
        hook.serve();
        hook
    }

    fn serve(&mut self) {
        let tcp = listener(self.addr);
        self.addr = tcp.local_addr().unwrap();
        let app = Router::new()
            .route("/hook", post(handle))
            .with_state(self.shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        let stopped = async {
            let _ = rx.await;
        };
        self.task = Some(match self.tls.clone() {
            None => tokio::spawn(async move {
                axum::serve(tcp, app)
                    .with_graceful_shutdown(stopped)
                    .await
                    .unwrap();
            }),
            Some(acceptor) => {
                let tls = TlsListener {
                    tcp,
                    acceptor,
                    shared: self.shared.clone(),
                };
                tokio::spawn(async move {
                    axum::serve(tls, app)
                        .with_graceful_shutdown(stopped)
                        .await
                        .unwrap();
                })
            }
        });
    }

    /// The URL to post to.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/hook", self.addr)
    }

    /// TLS handshakes that failed so far (an https hook only).
    pub fn failed_handshakes(&self) -> usize {
        self.shared.failed_handshakes.load(Ordering::SeqCst)
    }

    /// Answers from now on as `mode` says.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Stops listening: connections are refused until [`Hook::restart`].
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the webhook server stops in time")
                .unwrap();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.serve();
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Requests so far with this Idempotency-Key.
    pub fn count(&self, key_suffix: &str) -> usize {
        self.received()
            .iter()
            .filter(|r| r.key.ends_with(key_suffix))
            .count()
    }
}
