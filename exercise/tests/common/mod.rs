//! Shared set-up of the exercise tests: the locally built image, and the
//! exercise's containers started with testcontainers from the same plan
//! the compose file is made of.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use coalition_exercise::plan::{Plan, Service, IMAGE};
use coalition_exercise::Exercise;
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// Every container a test starts carries this label, so one left behind by
/// a killed test run is found and removed by the next.
pub const TEST_LABEL: &str = "coalition-mesh.exercise-test";

/// Removes containers and networks a killed earlier run left behind.
pub fn remove_leftovers() {
    let filter = format!("label={TEST_LABEL}");
    if let Ok(out) = docker(&["ps", "-aq", "--filter", &filter]) {
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
    if let Ok(out) = docker(&["network", "ls", "-q", "--filter", &filter]) {
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = docker(&["network", "rm", id]);
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    nats_harness::workspace_root()
}

/// Builds the image once per test process with `compose/build-image.sh`
/// (which builds the binaries first), so the test runs what is checked out.
pub fn build_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new("bash")
            .arg(root().join("compose/build-image.sh"))
            .current_dir(root())
            .status()
            .expect("run compose/build-image.sh");
        assert!(status.success(), "compose/build-image.sh failed");
    });
}

/// Full size with `COALITION_SOAK=1`.
pub fn soak() -> bool {
    std::env::var("COALITION_SOAK").is_ok_and(|v| v == "1")
}

/// A unique project name, so concurrent or leftover runs cannot collide.
pub fn project(name: &str) -> String {
    format!("cm-{name}-{}", std::process::id())
}

/// A prepared exercise of `topologies/coalition-3.toml` in a temp folder.
pub fn prepare(name: &str, servers: Option<usize>) -> (tempfile::TempDir, Exercise) {
    prepare_with_quota(name, servers, None)
}

/// [`prepare`], with a scenario's ingress quota.
pub fn prepare_with_quota(
    name: &str,
    servers: Option<usize>,
    quota: Option<&coalition_exercise::scenario::PartnerQuota>,
) -> (tempfile::TempDir, Exercise) {
    let temp = tempfile::Builder::new()
        .prefix("coalition-exercise-")
        .tempdir()
        .expect("temp dir");
    let ex = Exercise::prepare_with_quota(
        &temp.path().join("ex"),
        &root().join("topologies/coalition-3.toml"),
        &project(name),
        servers,
        quota,
    )
    .expect("prepare the exercise");
    (temp, ex)
}

fn docker(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("docker").args(args).output()
}

/// The exercise's containers, started by testcontainers. Containers are
/// removed before the networks; [`Running::stop`] does it in order.
pub struct Running {
    containers: Vec<ContainerAsync<GenericImage>>,
    networks: Vec<String>,
}

impl Running {
    /// Starts every service of the plan: servers, then sidecars and
    /// bridges, then agents (the order of `Plan::services`).
    pub async fn start(ex: &Exercise) -> Running {
        let mut running = Running {
            containers: Vec::new(),
            networks: Vec::new(),
        };
        for network in ex.plan.networks() {
            let _ = docker(&["network", "rm", &network]);
            let label = format!("{TEST_LABEL}=1");
            let out = docker(&["network", "create", "--label", &label, &network])
                .expect("docker network create");
            assert!(
                out.status.success(),
                "docker network create {network}: {out:?}"
            );
            running.networks.push(network);
        }
        for service in &ex.plan.services {
            let container = start_service(ex, service).await;
            for extra in &service.networks[1..] {
                let out = docker(&["network", "connect", extra, &service.name])
                    .expect("docker network connect");
                assert!(
                    out.status.success(),
                    "connect {} to {extra}: {out:?}",
                    service.name
                );
            }
            running.containers.push(container);
        }
        running
    }

    /// Removes the containers, then the networks.
    pub async fn stop(mut self) {
        for c in self.containers.drain(..) {
            let _ = c.rm().await;
        }
        for n in self.networks.drain(..) {
            let _ = docker(&["network", "rm", &n]);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Reached only if a test panicked before `stop`: remove by name.
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c.id()]);
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
    }
}

async fn start_service(ex: &Exercise, s: &Service) -> ContainerAsync<GenericImage> {
    let (name, tag) = IMAGE.split_once(':').expect("image name:tag");
    let mut request = GenericImage::new(name, tag)
        .with_cmd(s.command.clone())
        .with_container_name(&s.name)
        .with_hostname(&s.name)
        .with_network(&s.networks[0])
        .with_env_var("RUST_LOG", "info")
        .with_label(TEST_LABEL, "1");
    for m in &s.mounts {
        let host = ex.dir.join(&m.host).display().to_string();
        let mode = if m.read_only {
            AccessMode::ReadOnly
        } else {
            AccessMode::ReadWrite
        };
        request = request.with_mount(Mount::bind_mount(host, &m.container).with_access_mode(mode));
    }
    if s.net_admin {
        request = request.with_cap_add("NET_ADMIN");
    }
    request
        .start()
        .await
        .unwrap_or_else(|e| panic!("start {}: {e}", s.name))
}

/// Every container name of the plan (for assertions about logs).
pub fn names(plan: &Plan) -> Vec<String> {
    plan.services.iter().map(|s| s.name.clone()).collect()
}
