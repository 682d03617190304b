//! Tests of the harness's generic pieces against the real pinned
//! nats-server: process lifecycle, failure reporting, monitoring reads and
//! cutting a leaf-node link through a `LinkProxy`.
//!
//! Every await is bounded; no test sleeps to synchronise, they poll state.

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nats_harness::{
    connection_count, free_loopback_ports, leaf_accounts, resolve_nats_server, route_count,
    wait_until, HarnessError, LinkProxy, ServerProcess,
};
use tempfile::TempDir;

/// Generous bound for every await: the CI machine has two cores.
const LIMIT: Duration = Duration::from_secs(30);

/// Attempts at starting a server when its freshly picked ports were taken.
const PORT_ATTEMPTS: usize = 3;

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {LIMIT:?}: {what}"))
}

/// A started, healthy server with the ports it was given.
struct Node {
    server: ServerProcess,
    client_port: u16,
    monitor_port: u16,
}

/// Writes `<dir>/<name>.conf` with the standard header and `extra`.
fn write_config(dir: &Path, name: &str, client: u16, monitor: u16, extra: &str) -> PathBuf {
    let store = dir.join(format!("{name}-js"));
    let text = format!(
        "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
         jetstream {{ store_dir: {store:?} }}\n{extra}\n"
    );
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// Starts a healthy server on fresh ports, retrying if a port was taken
/// between selection and start. `extra` gets the fresh ports too.
async fn start_node(dir: &Path, name: &str, extra: impl Fn(&[u16]) -> String) -> Node {
    for _ in 0..PORT_ATTEMPTS {
        let ports = free_loopback_ports(3).expect("free ports");
        let config = write_config(dir, name, ports[0], ports[1], &extra(&ports[2..]));
        let log = dir.join(format!("{name}.log"));
        let mut server = ServerProcess::spawn(name, &config, &log, ports[1]).expect("spawn");
        match within("wait_healthy", server.wait_healthy(LIMIT)).await {
            Ok(()) => {
                return Node {
                    server,
                    client_port: ports[0],
                    monitor_port: ports[1],
                }
            }
            Err(HarnessError::PortInUse { .. }) => continue,
            Err(e) => panic!("server {name} did not become healthy: {e}"),
        }
    }
    panic!("server {name}: ports kept being taken after {PORT_ATTEMPTS} attempts");
}

fn no_extra(_: &[u16]) -> String {
    String::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_server_is_healthy_then_killed_then_restarted() {
    let dir = TempDir::new().expect("tempdir");
    let mut node = start_node(dir.path(), "T1", no_extra).await;
    let port = node.monitor_port;

    let conns = within("connection_count", connection_count(port)).await;
    assert_eq!(conns.expect("varz"), 0);
    let routes = within("route_count", route_count(port)).await;
    assert_eq!(routes.expect("routez"), 0);
    let first_pid = node.server.pid().expect("pid while running");
    assert!(node.server.is_running());
    assert!(node.server.log_tail(50).contains("Server is ready"));

    node.server.kill();
    assert!(!node.server.is_running());
    assert_eq!(node.server.pid(), None);
    node.server.kill(); // idempotent
    let after_kill = within("healthz after kill", nats_harness::healthz_ok(port)).await;
    assert!(
        !after_kill,
        "nothing may answer on the monitor port after kill"
    );

    node.server.restart().expect("restart");
    within(
        "wait_healthy after restart",
        node.server.wait_healthy(LIMIT),
    )
    .await
    .expect("healthy after restart");
    assert!(node.server.is_running());
    assert_ne!(node.server.pid(), Some(first_pid));
    let conns = within("connection_count", connection_count(port)).await;
    assert_eq!(conns.expect("varz after restart"), 0);
}

async fn leaf_count(port: u16) -> usize {
    leaf_accounts(port)
        .await
        .map(|a| a.len())
        .unwrap_or(usize::MAX)
}

/// Waits until the server on `port` has exactly `n` leaf connections.
async fn wait_leafs(port: u16, n: usize, what: &str) {
    let has_n = move || async move { leaf_count(port).await == n };
    within(what, wait_until(what, LIMIT, has_n))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Starts hub A, a proxy in front of A's leaf port, and spoke B whose leaf
/// remote points at the proxy.
async fn start_hub_and_spoke(dir: &Path) -> (Node, LinkProxy, Node) {
    let hub = start_node(dir, "A", |p| {
        format!("leafnodes {{ listen: 127.0.0.1:{} }}", p[0])
    })
    .await;
    let leaf_port = read_leaf_port(&hub).await;
    let upstream = SocketAddr::from(([127, 0, 0, 1], leaf_port));
    let proxy = within("proxy start", LinkProxy::start("A<-B", 0, upstream))
        .await
        .expect("proxy");
    let proxy_port = proxy.listen_addr().port();
    // In nats-server 2.15.1 the reconnect delay is `leafnodes { reconnect }`
    // (a duration), not an option of each remote.
    let spoke = start_node(dir, "B", move |_| {
        format!(
            "leafnodes {{ reconnect: \"250ms\", remotes: [ \
             {{ url: \"nats-leaf://127.0.0.1:{proxy_port}\" }} ] }}"
        )
    })
    .await;
    (hub, proxy, spoke)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_link_is_cut_and_restored_through_the_proxy() {
    let dir = TempDir::new().expect("tempdir");
    let (hub, proxy, mut spoke) = start_hub_and_spoke(dir.path()).await;
    let a = hub.monitor_port;

    wait_leafs(a, 1, "A to see B's leaf through the proxy").await;
    let accounts = within("leafz", leaf_accounts(a)).await.expect("leafz");
    assert_eq!(accounts, vec!["$G".to_string()]);
    assert_eq!(proxy.live_connections(), 1);
    let (up, down) = proxy.bytes_forwarded();
    assert!(up > 0 && down > 0, "bytes forwarded: {up}/{down}");

    proxy.cut();
    assert!(!proxy.is_open());
    wait_leafs(a, 0, "A to drop B's leaf after the cut").await;
    wait_leafs(spoke.monitor_port, 0, "B to drop its remote after the cut").await;
    let proxy_ref = &proxy;
    let drained = move || async move { proxy_ref.live_connections() == 0 };
    within("drained", wait_until("no live proxy conns", LIMIT, drained))
        .await
        .expect("cut closes proxied connections");

    let restored_at = Instant::now();
    proxy.restore();
    wait_leafs(a, 1, "A to see B again after restore").await;
    eprintln!("leaf reconnected {:?} after restore", restored_at.elapsed());
    assert!(spoke.server.is_running() && hub.server.pid().is_some());
}

/// The leaf listen port A was configured with, read back from `/varz`.
async fn read_leaf_port(node: &Node) -> u16 {
    let varz = within("varz", nats_harness::get_json(node.monitor_port, "/varz"))
        .await
        .expect("varz");
    let port = varz["leaf"]["port"].as_u64().expect("varz.leaf.port");
    u16::try_from(port).expect("port fits u16")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_value_reports_server_exited_with_the_reason() {
    let dir = TempDir::new().expect("tempdir");
    let ports = free_loopback_ports(2).expect("ports");
    let config = write_config(
        dir.path(),
        "BAD",
        ports[0],
        ports[1],
        "ping_interval: \"banana\"",
    );
    let log = dir.path().join("BAD.log");
    let mut server = ServerProcess::spawn("BAD", &config, &log, ports[1]).expect("spawn");
    let err = within("wait_healthy", server.wait_healthy(LIMIT))
        .await
        .expect_err("a bad config must not become healthy");
    match &err {
        HarnessError::ServerExited { name, log_tail, .. } => {
            assert_eq!(name, "BAD");
            assert!(
                log_tail.contains("invalid duration"),
                "log tail: {log_tail}"
            );
        }
        other => panic!("expected ServerExited, got {other:?}"),
    }
    assert!(err.to_string().contains("banana"));
    assert!(!server.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_client_port_reports_port_in_use() {
    let dir = TempDir::new().expect("tempdir");
    let first = start_node(dir.path(), "FIRST", no_extra).await;
    let monitor = free_loopback_ports(1).expect("port")[0];
    let config = write_config(dir.path(), "SECOND", first.client_port, monitor, "");
    let log = dir.path().join("SECOND.log");
    let mut second = ServerProcess::spawn("SECOND", &config, &log, monitor).expect("spawn");
    let err = within("wait_healthy", second.wait_healthy(LIMIT))
        .await
        .expect_err("the client port is taken");
    match err {
        HarnessError::PortInUse { name, log_tail } => {
            assert_eq!(name, "SECOND");
            assert!(log_tail.contains("address already in use"), "{log_tail}");
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }
    assert!(first.server.pid().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_on_a_taken_port_reports_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let upstream = SocketAddr::from(([127, 0, 0, 1], 9));
    let result = within("proxy start", LinkProxy::start("P", port, upstream)).await;
    assert!(matches!(result, Err(HarnessError::PortInUse { .. })));
}

#[test]
fn nats_server_env_pointing_nowhere_is_binary_not_found() {
    let dir = TempDir::new().expect("tempdir");
    let missing = dir.path().join("no-such-nats-server");
    let err = resolve_nats_server(Some(missing.clone().into_os_string()), dir.path())
        .expect_err("missing binary");
    match &err {
        HarnessError::BinaryNotFound { tried } => assert_eq!(tried, &vec![missing.clone()]),
        other => panic!("expected BinaryNotFound, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("scripts/install-nats-server.sh"),
        "{message}"
    );
}

#[test]
fn nats_server_env_pointing_at_a_directory_is_binary_not_found() {
    let dir = TempDir::new().expect("tempdir");
    let result = resolve_nats_server(Some(dir.path().as_os_str().to_owned()), dir.path());
    assert!(matches!(result, Err(HarnessError::BinaryNotFound { .. })));
}

#[test]
fn default_path_is_under_tools_bin_of_the_root() {
    let dir = TempDir::new().expect("tempdir");
    let expected = dir.path().join("tools/bin/nats-server");
    for env in [None, Some(OsString::new())] {
        match resolve_nats_server(env, dir.path()) {
            Err(HarnessError::BinaryNotFound { tried }) => {
                assert_eq!(tried, vec![expected.clone()])
            }
            other => panic!("expected BinaryNotFound, got {other:?}"),
        }
    }
    std::fs::create_dir_all(expected.parent().expect("parent")).expect("mkdir");
    std::fs::write(&expected, b"").expect("touch");
    assert_eq!(
        resolve_nats_server(None, dir.path()).expect("found"),
        expected
    );
}

#[test]
fn nats_server_env_pointing_at_a_file_is_used() {
    let dir = TempDir::new().expect("tempdir");
    let custom = dir.path().join("my-nats-server");
    std::fs::write(&custom, b"").expect("touch");
    let found = resolve_nats_server(
        Some(custom.clone().into_os_string()),
        Path::new("/nonexistent"),
    );
    assert_eq!(found.expect("found"), custom);
}
