//! Tests of the pieces that need no nats-server: the link proxy against a
//! local echo server, and the monitoring client against a fake HTTP server.
//!
//! Every await is bounded; no test sleeps to synchronise, they poll state.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use nats_harness::{get_json, healthz_ok, wait_until, HarnessError, LinkProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(30);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {LIMIT:?}: {what}"))
}

/// An echo server on a free loopback port; runs until the test ends.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn connect(proxy: &LinkProxy) -> TcpStream {
    within("connect", TcpStream::connect(proxy.listen_addr()))
        .await
        .expect("connect to proxy")
}

/// Round-trips `msg` through an echo connection.
async fn echo(conn: &mut TcpStream, msg: &[u8]) {
    within("write", conn.write_all(msg)).await.expect("write");
    let mut back = vec![0u8; msg.len()];
    within("read", conn.read_exact(&mut back))
        .await
        .expect("read");
    assert_eq!(back, msg);
}

/// True once the peer closed `conn` (EOF or reset).
async fn closed_by_peer(conn: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        within("read for close", conn.read(&mut byte)).await,
        Ok(0) | Err(_)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_forwards_counts_cuts_and_restores() {
    let upstream = echo_server().await;
    let proxy = within("start", LinkProxy::start("echo", 0, upstream))
        .await
        .expect("proxy");
    assert!(proxy.is_open());
    assert_eq!(proxy.name(), "echo");

    let mut conn = connect(&proxy).await;
    echo(&mut conn, b"hello").await;
    assert_eq!(proxy.bytes_forwarded(), (5, 5));
    assert_eq!(proxy.live_connections(), 1);

    proxy.cut();
    assert!(
        closed_by_peer(&mut conn).await,
        "cut closes a live connection"
    );
    let p = &proxy;
    within(
        "drain",
        wait_until("no live conns", LIMIT, move || async move {
            p.live_connections() == 0
        }),
    )
    .await
    .expect("drained");

    let mut refused = connect(&proxy).await;
    assert!(
        closed_by_peer(&mut refused).await,
        "while cut, new conns close"
    );
    assert_eq!(proxy.bytes_forwarded(), (5, 5));

    proxy.restore();
    assert!(proxy.is_open());
    let mut again = connect(&proxy).await;
    echo(&mut again, b"back").await;
    assert_eq!(proxy.bytes_forwarded(), (9, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flap_still_drops_existing_connections() {
    let upstream = echo_server().await;
    let proxy = within("start", LinkProxy::start("flap", 0, upstream))
        .await
        .expect("proxy");
    let mut conn = connect(&proxy).await;
    echo(&mut conn, b"x").await;
    proxy.cut();
    proxy.restore();
    assert!(
        closed_by_peer(&mut conn).await,
        "a cut+restore still drops the old conn"
    );
    let mut fresh = connect(&proxy).await;
    echo(&mut fresh, b"y").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_proxy_closes_its_connections() {
    let upstream = echo_server().await;
    let proxy = within("start", LinkProxy::start("drop", 0, upstream))
        .await
        .expect("proxy");
    let mut conn = connect(&proxy).await;
    echo(&mut conn, b"z").await;
    drop(proxy);
    assert!(
        closed_by_peer(&mut conn).await,
        "drop closes forwarded conns"
    );
}

#[test]
fn dropping_the_proxy_after_its_runtime_is_gone_does_not_panic() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let upstream = SocketAddr::from(([127, 0, 0, 1], 9));
    let proxy = runtime
        .block_on(async {
            tokio::time::timeout(LIMIT, LinkProxy::start("late", 0, upstream)).await
        })
        .expect("no timeout")
        .expect("proxy");
    drop(runtime);
    drop(proxy);
}

/// A one-shot HTTP server answering every request with `response`.
async fn fake_http(response: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).await;
            let _ = conn.write_all(response.as_bytes()).await;
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_503_is_an_error_carrying_the_body() {
    let port = fake_http(
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n\
         {\"status\":\"unavailable\",\"error\":\"JetStream has not started\"}",
    )
    .await;
    let err = within("get", get_json(port, "/healthz"))
        .await
        .expect_err("503 is an error");
    match &err {
        HarnessError::Monitor { detail, path, .. } => {
            assert_eq!(path, "/healthz");
            assert!(
                detail.contains("503") && detail.contains("JetStream has not started"),
                "{detail}"
            );
        }
        other => panic!("expected Monitor, got {other:?}"),
    }
    assert!(!within("healthz_ok", healthz_ok(port)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_json_body_and_refused_connection_are_monitor_errors() {
    let port = fake_http("HTTP/1.0 200 OK\r\n\r\nnot json").await;
    let not_json = within("get", get_json(port, "/varz")).await;
    assert!(matches!(not_json, Err(HarnessError::Monitor { .. })));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let refused = within("get", get_json(closed_port, "/varz")).await;
    assert!(matches!(refused, Err(HarnessError::Monitor { .. })));

    let bad_path = within("get", get_json(port, "varz")).await;
    assert!(matches!(bad_path, Err(HarnessError::Monitor { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_times_out_with_what_and_how_long() {
    let waited = Duration::from_millis(200);
    let result = within("wait", wait_until("never", waited, || async { false })).await;
    match result {
        Err(HarnessError::Timeout { what, waited: w }) => {
            assert_eq!(what, "never");
            assert_eq!(w, waited);
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    let ok = within("wait", wait_until("always", waited, || async { true })).await;
    assert!(ok.is_ok());
}
