//! A whole coalition mesh on loopback: every nation's nats-server cluster,
//! generated from a topology, with a cuttable [`LinkProxy`] on every leaf
//! connection and a development PKI.
//!
//! [`Mesh::start`] returns only when every server is healthy, every cluster
//! has all its routes and every leaf link is up, as the monitoring endpoints
//! report. Dropping the mesh kills exactly the servers it started.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coalition_topology::{
    accounts, generate, Addressing, BridgeConfig, ClientsConfig, Credential, Credentials,
    GeneratedMesh, ServerAddress, ServerId, Topology,
};

use crate::monitor::{leaf_accounts, route_count, wait_until};
use crate::pki::{generate_dev_pki, nation_key_dir, producer_files};
use crate::{free_loopback_ports, HarnessError, LinkProxy, ServerProcess};

/// How long a mesh may take to come up, and a link to go up or down.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running mesh.
pub struct Mesh {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    topology: Topology,
    generated: GeneratedMesh,
    addressing: Addressing,
    servers: BTreeMap<ServerId, ServerProcess>,
    /// (link name, sending server index) -> proxy.
    proxies: BTreeMap<(String, usize), LinkProxy>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("dir", &self.dir)
            .field("servers", &self.servers.len())
            .field("links", &self.topology.links.len())
            .finish()
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> HarnessError {
    move |source| HarnessError::Io { what, source }
}

impl Mesh {
    /// Starts `topology` in a fresh temporary folder.
    pub async fn start(topology: Topology) -> Result<Mesh, HarnessError> {
        let temp = tempfile::Builder::new()
            .prefix("coalition-mesh-")
            .tempdir()
            .map_err(io("create a temporary folder".into()))?;
        let dir = temp.path().to_path_buf();
        let mut mesh = Self::start_in(topology, &dir).await?;
        mesh._temp = Some(temp);
        Ok(mesh)
    }

    /// Starts `topology` with its files under `dir` (kept after the mesh
    /// stops, for inspection).
    pub async fn start_in(topology: Topology, dir: &Path) -> Result<Mesh, HarnessError> {
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        generate_dev_pki(dir, &topology, now_ms())?;
        let mut last = None;
        for _attempt in 0..3 {
            match Self::try_start(&topology, dir).await {
                Ok(mesh) => return Ok(mesh),
                Err(e @ HarnessError::PortInUse { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(HarnessError::Config {
            what: "mesh did not start".into(),
        }))
    }

    async fn try_start(topology: &Topology, dir: &Path) -> Result<Mesh, HarnessError> {
        let addressing = loopback_addressing(topology, dir)?;
        let mut generated =
            generate(topology, &addressing, &mut Credentials::random()).map_err(|e| {
                HarnessError::Config {
                    what: e.to_string(),
                }
            })?;
        for file in generated.files() {
            crate::write_key_file(
                &dir.join(&file.path),
                file.contents.as_bytes(),
                file.is_private(),
            )?;
        }
        for (cfg, file) in generated.bridges.values_mut() {
            cfg.resolve_tls(&dir.join(&file.path));
        }
        for (cfg, file) in generated.clients.values_mut() {
            cfg.resolve_tls(&dir.join(&file.path));
        }
        let mut proxies = BTreeMap::new();
        for link in &topology.links {
            let sender = topology.nation(&link.from).map_or(0, |n| n.servers);
            for i in 0..sender {
                let (_, port) = split_endpoint(&addressing.leaf_endpoints[&(link.name(), i)]);
                let upstream_port = addressing.servers[&ServerId::new(&link.from, i)].leaf_port;
                let upstream = ([127, 0, 0, 1], upstream_port).into();
                let proxy =
                    LinkProxy::start(&format!("{}#{i}", link.name()), port, upstream).await?;
                proxies.insert((link.name(), i), proxy);
            }
        }
        let mut servers = BTreeMap::new();
        for s in &generated.servers {
            let config = dir.join(&s.config.path);
            let log = dir.join("logs").join(format!("{}.log", s.id));
            std::fs::create_dir_all(dir.join("logs")).map_err(io("create logs folder".into()))?;
            let monitor = addressing.servers[&s.id].monitor_port;
            servers.insert(
                s.id.clone(),
                ServerProcess::spawn(&s.id.to_string(), &config, &log, monitor)?,
            );
        }
        for p in servers.values_mut() {
            p.wait_healthy(READY_TIMEOUT).await?;
        }
        let mesh = Mesh {
            dir: dir.to_path_buf(),
            _temp: None,
            topology: topology.clone(),
            generated,
            addressing,
            servers,
            proxies,
        };
        mesh.wait_ready().await?;
        Ok(mesh)
    }

    /// Waits until every running server has its routes and leaf links.
    pub async fn wait_ready(&self) -> Result<(), HarnessError> {
        for s in &self.generated.servers {
            let port = self.addressing.servers[&s.id].monitor_port;
            let running = self.servers.get(&s.id).is_some_and(|p| p.pid().is_some());
            if !running {
                continue;
            }
            let live_peers = (0..self.nation_size(&s.id.nation))
                .filter(|i| *i != s.id.index)
                .filter(|i| {
                    self.servers
                        .get(&ServerId::new(&s.id.nation, *i))
                        .is_some_and(|p| p.pid().is_some())
                })
                .count();
            wait_until(
                &format!("{} has {live_peers} routes", s.id),
                READY_TIMEOUT,
                || async move { route_count(port).await.is_ok_and(|n| n >= live_peers) },
            )
            .await?;
            for account in &s.expected_leaf_accounts {
                wait_until(
                    &format!("{} leaf link in {account}", s.id),
                    READY_TIMEOUT,
                    || async move { leaf_accounts(port).await.is_ok_and(|a| a.contains(account)) },
                )
                .await?;
            }
        }
        Ok(())
    }

    fn nation_size(&self, nation: &str) -> usize {
        self.topology.nation(nation).map_or(0, |n| n.servers)
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The folder holding configs, keys and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `nation`'s generated bridge config.
    pub fn bridge_config_path(&self, nation: &str) -> PathBuf {
        self.dir.join("bridges").join(format!("{nation}.toml"))
    }

    /// `nation`'s generated bridge config.
    pub fn bridge_config(&self, nation: &str) -> Option<&BridgeConfig> {
        self.generated.bridges.get(nation).map(|(c, _)| c)
    }

    /// `nation`'s producers' and subscribers' credentials.
    pub fn clients(&self, nation: &str) -> Option<&ClientsConfig> {
        self.generated.clients.get(nation).map(|(c, _)| c)
    }

    /// Options to connect as `cred` (mutual TLS with its certificate, which
    /// names its user).
    pub fn connect_options(
        &self,
        cred: &Credential,
    ) -> Result<async_nats::ConnectOptions, HarnessError> {
        coalition_tls::connect_options(&cred.tls).map_err(|e| HarnessError::Config {
            what: format!("{}: {e}", cred.user),
        })
    }

    /// The trust anchor file of `nation`.
    pub fn root_public_key_path(&self, nation: &str) -> PathBuf {
        nation_key_dir(&self.dir, nation).join("root.pub")
    }

    /// The key and certificate files of `producer` in `nation`.
    pub fn producer_key_paths(&self, nation: &str, producer: &str) -> (PathBuf, PathBuf) {
        producer_files(&self.dir, nation, producer)
    }

    /// Every account of `nation` with the bridge's user in it: for tests
    /// that must look at everything a nation's cluster holds.
    pub fn bridge_accounts(&self, nation: &str) -> Vec<(String, Credential)> {
        let Some(cfg) = self.bridge_config(nation) else {
            return Vec::new();
        };
        let mut out = vec![(accounts::HOME.to_string(), cfg.home.clone())];
        out.extend(
            cfg.release
                .iter()
                .map(|l| (accounts::release_to(&l.partner), l.credential.clone())),
        );
        out.extend(
            cfg.ingress
                .iter()
                .map(|l| (accounts::from_partner(&l.partner), l.credential.clone())),
        );
        out
    }

    /// Path of `nation`'s generated clients config (producers' and
    /// subscribers' credentials), for a client run in another process.
    pub fn clients_config_path(&self, nation: &str) -> Option<PathBuf> {
        self.generated
            .clients
            .get(nation)
            .map(|(_, file)| self.dir.join(&file.path))
    }

    /// Process ids of `nation`'s running servers (for example to lower
    /// their CPU priority, as a test that models a nation on hardware of
    /// its own does).
    pub fn server_pids(&self, nation: &str) -> Vec<u32> {
        self.servers
            .iter()
            .filter(|(id, _)| id.nation == nation)
            .filter_map(|(_, server)| server.pid())
            .collect()
    }

    /// Client URLs of `nation`'s servers.
    pub fn client_urls(&self, nation: &str) -> Vec<String> {
        self.bridge_config(nation)
            .map(|c| c.servers.clone())
            .unwrap_or_default()
    }

    /// Cuts the leaf link `from`->`to` (every connection of it).
    pub fn cut_link(&self, from: &str, to: &str) -> Result<(), HarnessError> {
        self.link_proxies(from, to)?.iter().for_each(|p| p.cut());
        Ok(())
    }

    /// Restores the leaf link `from`->`to`.
    pub fn restore_link(&self, from: &str, to: &str) -> Result<(), HarnessError> {
        self.link_proxies(from, to)?
            .iter()
            .for_each(|p| p.restore());
        Ok(())
    }

    /// The proxy on the leaf connection of link `from`->`to` from
    /// `from`'s server `index` (to read what crossed it).
    pub fn link_proxy(&self, from: &str, to: &str, index: usize) -> Option<&LinkProxy> {
        self.proxies.get(&(format!("{from}->{to}"), index))
    }

    fn link_proxies(&self, from: &str, to: &str) -> Result<Vec<&LinkProxy>, HarnessError> {
        let name = format!("{from}->{to}");
        let found: Vec<_> = self
            .proxies
            .iter()
            .filter(|((l, _), _)| *l == name)
            .map(|(_, p)| p)
            .collect();
        if found.is_empty() {
            return Err(HarnessError::Config {
                what: format!("no link {name} in this mesh"),
            });
        }
        Ok(found)
    }

    /// Waits until `to`'s servers report the leaf link from `from` as `up`.
    pub async fn wait_link(&self, from: &str, to: &str, up: bool) -> Result<(), HarnessError> {
        let account = accounts::from_partner(from);
        for i in 0..self.nation_size(to) {
            let id = ServerId::new(to, i);
            if self.servers.get(&id).is_none_or(|p| p.pid().is_none()) {
                continue;
            }
            let port = self.addressing.servers[&id].monitor_port;
            let account = account.clone();
            let what = format!(
                "link {from}->{to} {} at {id}",
                if up { "up" } else { "down" }
            );
            wait_until(&what, READY_TIMEOUT, || {
                let account = account.clone();
                async move {
                    leaf_accounts(port)
                        .await
                        .is_ok_and(|a| a.contains(&account) == up)
                }
            })
            .await?;
        }
        Ok(())
    }

    /// Reloads the config of every server of `nation` (SIGHUP), without a
    /// restart, and waits until each reports the reload (its monitoring
    /// endpoint's `config_load_time` changes).
    pub async fn reload_nation(&self, nation: &str) -> Result<(), HarnessError> {
        for (id, server) in self.servers.iter().filter(|(id, _)| id.nation == nation) {
            let port = server.monitor_port();
            let loaded = || async move {
                crate::monitor::get_json(port, "/varz")
                    .await
                    .ok()
                    .and_then(|v| v.get("config_load_time").cloned())
            };
            let before = loaded().await;
            server.signal_reload()?;
            wait_until(
                &format!("{id} reloads its config"),
                READY_TIMEOUT,
                || async {
                    let now = loaded().await;
                    now.is_some() && now != before
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Kills one server (SIGKILL).
    pub fn kill_server(&mut self, nation: &str, index: usize) -> Result<(), HarnessError> {
        self.server_mut(nation, index)?.kill();
        Ok(())
    }

    /// Restarts a killed server and waits until it is healthy.
    pub async fn restart_server(&mut self, nation: &str, index: usize) -> Result<(), HarnessError> {
        let server = self.server_mut(nation, index)?;
        server.restart()?;
        server.wait_healthy(READY_TIMEOUT).await
    }

    /// Restarts every stopped server of `nation` at once, then waits until
    /// all are healthy (a clustered JetStream server is only healthy once
    /// it has a quorum, so one at a time would never finish).
    pub async fn restart_nation(&mut self, nation: &str) -> Result<(), HarnessError> {
        let ids: Vec<ServerId> = (0..self.nation_size(nation))
            .map(|i| ServerId::new(nation, i))
            .collect();
        for id in &ids {
            if let Some(server) = self.servers.get_mut(id) {
                if !server.is_running() {
                    server.restart()?;
                }
            }
        }
        for id in &ids {
            if let Some(server) = self.servers.get_mut(id) {
                server.wait_healthy(READY_TIMEOUT).await?;
            }
        }
        Ok(())
    }

    fn server_mut(
        &mut self,
        nation: &str,
        index: usize,
    ) -> Result<&mut ServerProcess, HarnessError> {
        self.servers
            .get_mut(&ServerId::new(nation, index))
            .ok_or_else(|| HarnessError::Config {
                what: format!("no server {nation}-{index}"),
            })
    }

    /// The leaf-node listen port of a server (partners reach it through a
    /// proxy; tests may dial it directly).
    pub fn leaf_port(&self, nation: &str, index: usize) -> Option<u16> {
        self.addressing
            .servers
            .get(&ServerId::new(nation, index))
            .map(|a| a.leaf_port)
    }

    /// The monitoring port of a server.
    pub fn monitor_port(&self, nation: &str, index: usize) -> Option<u16> {
        self.addressing
            .servers
            .get(&ServerId::new(nation, index))
            .map(|a| a.monitor_port)
    }
}

fn split_endpoint(endpoint: &str) -> (&str, u16) {
    let (host, port) = endpoint.rsplit_once(':').unwrap_or((endpoint, "0"));
    (host, port.parse().unwrap_or(0))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Fresh loopback ports for every server and one proxy port per (link,
/// sending server).
fn loopback_addressing(topology: &Topology, dir: &Path) -> Result<Addressing, HarnessError> {
    let ids: Vec<ServerId> = topology.servers().collect();
    let proxy_count: usize = topology
        .links
        .iter()
        .map(|l| topology.nation(&l.from).map_or(0, |n| n.servers))
        .sum();
    let mut ports = free_loopback_ports(ids.len() * 4 + proxy_count)?.into_iter();
    let mut next = || ports.next().unwrap_or(0);
    let mut addressing = Addressing::default();
    for id in ids {
        let store = dir.join("jetstream").join(id.to_string());
        addressing.servers.insert(
            id,
            ServerAddress {
                bind_host: "127.0.0.1".into(),
                host: "127.0.0.1".into(),
                client_port: next(),
                cluster_port: next(),
                leaf_port: next(),
                monitor_port: next(),
                store_dir: store.display().to_string(),
                tls_dir: dir.join("tls").display().to_string(),
            },
        );
    }
    for link in &topology.links {
        for i in 0..topology.nation(&link.from).map_or(0, |n| n.servers) {
            addressing
                .leaf_endpoints
                .insert((link.name(), i), format!("127.0.0.1:{}", next()));
        }
    }
    Ok(addressing)
}
