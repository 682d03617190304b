//! The exercise's containers, networks and mounts as plain data, derived
//! from a topology. One plan feeds both the docker-compose file
//! ([`crate::compose_file`]) and the testcontainers tests, so what ops run
//! is what CI tests. Pure: nothing here touches Docker or the disk.
//!
//! Isolation: every nation has its own Docker network. A nation's servers,
//! bridge, producer and alerting subscriber sit on it alone. The only
//! containers on two networks are the link sidecars, one per leaf
//! connection: the sidecar of `A -> B` (server `i`) sits on A's and B's
//! networks, B's servers dial it, and it forwards to A's server `i`. So
//! nothing crosses between nations except through a sidecar the exercise
//! can cut or degrade.
use std::collections::BTreeSet;

use coalition_topology::{Addressing, ServerAddress, ServerId, Topology};

/// The image every service runs (built by `compose/build-image.sh`).
pub const IMAGE: &str = "coalition-mesh:local";
/// Where binaries are inside the image.
pub const BIN: &str = "/usr/local/bin";
/// NATS client port inside every server container.
pub const CLIENT_PORT: u16 = 4222;
/// Cluster route port.
pub const CLUSTER_PORT: u16 = 6222;
/// Leaf-node port: on servers, and where sidecars listen.
pub const LEAF_PORT: u16 = 7422;
/// nats-server monitoring port.
pub const MONITOR_PORT: u16 = 8222;
/// The bridge's Prometheus endpoint.
pub const METRICS_PORT: u16 = 9464;
/// A sidecar's control port, on its own loopback only.
pub const LINK_CONTROL_PORT: u16 = 9000;
/// Mount points inside containers.
pub const MESH_MOUNT: &str = "/mesh";
/// The ledgers: what agents published and received, sidecar samples.
pub const LEDGER_MOUNT: &str = "/ledger";
/// A server's JetStream store.
pub const DATA_MOUNT: &str = "/data";

/// What a service is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// nats-server `index` of the nation's cluster.
    Server {
        /// Index in the cluster.
        index: usize,
    },
    /// The nation's bridge.
    Bridge,
    /// A producer agent publishing one feed.
    Producer {
        /// Producer id.
        producer: String,
        /// Feed name.
        feed: String,
    },
    /// The nation's alerting subscriber agent.
    Alerts,
    /// The sidecar on the leaf connection of `from -> to`, sending server
    /// `index`.
    Link {
        /// Releasing nation.
        from: String,
        /// Receiving nation (it dials the sidecar).
        to: String,
        /// The sending server's index.
        index: usize,
    },
}

/// A bind mount: a folder of the exercise directory inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Relative to the exercise directory.
    pub host: String,
    /// Absolute path inside the container.
    pub container: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Container name, also its host name on its networks.
    pub name: String,
    /// The nation it belongs to (for a sidecar: the releasing nation).
    pub nation: String,
    /// What it is.
    pub role: Role,
    /// Command and arguments.
    pub command: Vec<String>,
    /// Networks, primary first.
    pub networks: Vec<String>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Container ports published on the host's 127.0.0.1 (random host port).
    pub published: Vec<u16>,
    /// Needs the kernel capability to change its network settings.
    pub net_admin: bool,
}

/// Every container and network of one exercise.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Prefix of every container and network name (`[a-z0-9-]`).
    pub project: String,
    /// The topology the plan was made from (server counts already applied).
    pub topology: Topology,
    /// Every service, servers first, then bridges, sidecars and agents.
    pub services: Vec<Service>,
}

/// A plan error: the project name or a server count is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

impl Plan {
    /// The plan for `topology` under `project`; `servers` overrides every
    /// nation's server count (1 or 3 in the documented exercises).
    pub fn new(
        project: &str,
        mut topology: Topology,
        servers: Option<usize>,
    ) -> Result<Plan, PlanError> {
        let valid = !project.is_empty()
            && project.len() <= 40
            && project
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !project.starts_with('-');
        if !valid {
            return Err(PlanError(format!(
                "project name {project:?}: use 1-40 lower-case letters, digits and '-', not starting with '-'"
            )));
        }
        if let Some(n) = servers {
            if !(1..=9).contains(&n) {
                return Err(PlanError(format!(
                    "--servers {n}: a nation runs 1 to 9 servers (1 or 3 in the exercises)"
                )));
            }
            for nation in &mut topology.nations {
                nation.servers = n;
            }
        }
        let mut plan = Plan {
            project: project.to_string(),
            topology,
            services: Vec::new(),
        };
        plan.services = plan.build_services();
        Ok(plan)
    }

    /// The container name of `nation`'s service `what` (e.g. `bridge`).
    pub fn container(&self, nation: &str, what: &str) -> String {
        format!("{}-{}-{what}", self.project, nation.to_ascii_lowercase())
    }

    /// The container name of server `index` of `nation`.
    pub fn server(&self, nation: &str, index: usize) -> String {
        self.container(nation, &index.to_string())
    }

    /// The sidecar container on `from -> to`, sending server `index`.
    pub fn sidecar(&self, from: &str, to: &str, index: usize) -> String {
        format!(
            "{}-link-{}-{}-{index}",
            self.project,
            from.to_ascii_lowercase(),
            to.to_ascii_lowercase()
        )
    }

    /// The network of `nation`.
    pub fn network(&self, nation: &str) -> String {
        format!("{}-{}", self.project, nation.to_ascii_lowercase())
    }

    /// Every network, one per nation.
    pub fn networks(&self) -> Vec<String> {
        self.topology
            .nations
            .iter()
            .map(|n| self.network(&n.code))
            .collect()
    }

    /// The service with this container name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The sidecars carrying traffic between `a` and `b`, both directions;
    /// with `directed`, only `a -> b`.
    pub fn sidecars_between(&self, a: &str, b: &str, directed: bool) -> Vec<&Service> {
        self.services
            .iter()
            .filter(|s| match &s.role {
                Role::Link { from, to, .. } => {
                    (from == a && to == b) || (!directed && from == b && to == a)
                }
                _ => false,
            })
            .collect()
    }

    /// Where every server listens and how partners reach it: container
    /// names on fixed ports, partners through the sidecars.
    pub fn addressing(&self) -> Addressing {
        let mut addressing = Addressing::default();
        for id in self.topology.servers() {
            addressing.servers.insert(
                id.clone(),
                ServerAddress {
                    bind_host: "0.0.0.0".into(),
                    host: self.server(&id.nation, id.index),
                    client_port: CLIENT_PORT,
                    cluster_port: CLUSTER_PORT,
                    leaf_port: LEAF_PORT,
                    monitor_port: MONITOR_PORT,
                    store_dir: DATA_MOUNT.into(),
                    tls_dir: format!("{MESH_MOUNT}/tls"),
                },
            );
        }
        for link in &self.topology.links {
            for i in 0..self.servers_of(&link.from) {
                addressing.leaf_endpoints.insert(
                    (link.name(), i),
                    format!("{}:{LEAF_PORT}", self.sidecar(&link.from, &link.to, i)),
                );
            }
        }
        addressing
    }

    /// The folder (relative to the exercise directory) holding server
    /// `id`'s JetStream store.
    pub fn data_dir(id: &ServerId) -> String {
        format!("data/{id}")
    }

    fn servers_of(&self, nation: &str) -> usize {
        self.topology.nation(nation).map_or(0, |n| n.servers)
    }

    fn build_services(&self) -> Vec<Service> {
        let mut out = Vec::new();
        for id in self.topology.servers() {
            out.push(self.server_service(&id));
        }
        for n in &self.topology.nations {
            out.push(self.bridge_service(&n.code));
        }
        for link in &self.topology.links {
            for i in 0..self.servers_of(&link.from) {
                out.push(self.sidecar_service(&link.from, &link.to, i));
            }
        }
        let mut seen = BTreeSet::new();
        for feed in &self.topology.feeds {
            if seen.insert((feed.nation.clone(), feed.producer.clone())) {
                out.push(self.producer_service(&feed.nation, &feed.producer, &feed.name));
            }
        }
        for n in &self.topology.nations {
            out.push(self.alerts_service(&n.code));
        }
        out
    }

    fn base(&self, name: String, nation: &str, role: Role, command: Vec<String>) -> Service {
        Service {
            name,
            nation: nation.to_string(),
            role,
            command,
            networks: vec![self.network(nation)],
            mounts: vec![Mount {
                host: "mesh".into(),
                container: MESH_MOUNT.into(),
                read_only: true,
            }],
            published: Vec::new(),
            net_admin: false,
        }
    }

    fn ledger_mount() -> Mount {
        Mount {
            host: "ledger".into(),
            container: LEDGER_MOUNT.into(),
            read_only: false,
        }
    }

    fn server_service(&self, id: &ServerId) -> Service {
        let command = args(&[
            &format!("{BIN}/nats-server"),
            "-c",
            &format!("{MESH_MOUNT}/nats/{id}.conf"),
        ]);
        let mut s = self.base(
            self.server(&id.nation, id.index),
            &id.nation,
            Role::Server { index: id.index },
            command,
        );
        s.mounts.push(Mount {
            host: Self::data_dir(id),
            container: DATA_MOUNT.into(),
            read_only: false,
        });
        // No published port: monitoring answers on the container's own
        // loopback only (docs/security.md), so nothing outside can read it.
        s
    }

    fn bridge_service(&self, nation: &str) -> Service {
        let command = args(&[
            &format!("{BIN}/coalition-bridge"),
            "--config",
            &format!("{MESH_MOUNT}/bridges/{nation}.toml"),
            "--metrics",
            &format!("0.0.0.0:{METRICS_PORT}"),
        ]);
        let mut s = self.base(
            self.container(nation, "bridge"),
            nation,
            Role::Bridge,
            command,
        );
        s.published = vec![METRICS_PORT];
        s
    }

    fn sidecar_service(&self, from: &str, to: &str, index: usize) -> Service {
        let name = self.sidecar(from, to, index);
        let command = args(&[
            &format!("{BIN}/coalition"),
            "exercise",
            "link",
            "--name",
            &format!("{from}-{to}-{index}"),
            "--listen",
            &format!("0.0.0.0:{LEAF_PORT}"),
            "--upstream",
            &format!("{}:{LEAF_PORT}", self.server(from, index)),
            "--control",
            &format!("127.0.0.1:{LINK_CONTROL_PORT}"),
            "--ledger",
            LEDGER_MOUNT,
        ]);
        let role = Role::Link {
            from: from.to_string(),
            to: to.to_string(),
            index,
        };
        let mut s = self.base(name, from, role, command);
        s.mounts = vec![Self::ledger_mount()];
        s.networks.push(self.network(to));
        s.net_admin = true;
        s
    }

    fn producer_service(&self, nation: &str, producer: &str, feed: &str) -> Service {
        let command = args(&[
            &format!("{BIN}/coalition"),
            "exercise",
            "produce",
            "--dir",
            MESH_MOUNT,
            "--nation",
            nation,
            "--producer",
            producer,
            "--feed",
            feed,
            "--ledger",
            LEDGER_MOUNT,
        ]);
        let role = Role::Producer {
            producer: producer.to_string(),
            feed: feed.to_string(),
        };
        let mut s = self.base(self.container(nation, producer), nation, role, command);
        s.mounts.push(Self::ledger_mount());
        s
    }

    fn alerts_service(&self, nation: &str) -> Service {
        let command = args(&[
            &format!("{BIN}/coalition"),
            "exercise",
            "alerts",
            "--dir",
            MESH_MOUNT,
            "--nation",
            nation,
            "--ledger",
            LEDGER_MOUNT,
        ]);
        let mut s = self.base(
            self.container(nation, "alerts"),
            nation,
            Role::Alerts,
            command,
        );
        s.mounts.push(Self::ledger_mount());
        s
    }
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coalition_topology::parse_topology;

    fn plan(servers: Option<usize>) -> Plan {
        let t = parse_topology(
            include_str!("../../topologies/coalition-3.toml"),
            "coalition-3.toml".as_ref(),
        )
        .unwrap();
        Plan::new("cm-test", t, servers).unwrap()
    }

    #[test]
    fn every_nation_gets_servers_a_bridge_agents_and_one_sidecar_per_leaf_connection() {
        let p = plan(None);
        let count = |f: &dyn Fn(&Role) -> bool| p.services.iter().filter(|s| f(&s.role)).count();
        // USA 1 + GBR 3 + FRA 1 servers.
        assert_eq!(count(&|r| matches!(r, Role::Server { .. })), 5);
        assert_eq!(count(&|r| matches!(r, Role::Bridge)), 3);
        assert_eq!(count(&|r| matches!(r, Role::Alerts)), 3);
        assert_eq!(count(&|r| matches!(r, Role::Producer { .. })), 3);
        // Six links; GBR's two outgoing links have one sidecar per GBR server.
        assert_eq!(count(&|r| matches!(r, Role::Link { .. })), 2 + 2 + 3 + 3);
        let names: BTreeSet<_> = p.services.iter().map(|s| &s.name).collect();
        assert_eq!(names.len(), p.services.len(), "container names are unique");
    }

    #[test]
    fn only_sidecars_join_two_networks_and_partners_dial_only_sidecars() {
        let p = plan(Some(1));
        for s in &p.services {
            let expected = if matches!(s.role, Role::Link { .. }) {
                2
            } else {
                1
            };
            assert_eq!(s.networks.len(), expected, "{}", s.name);
        }
        let a = p.addressing();
        assert_eq!(
            a.leaf_endpoint("USA->GBR", &ServerId::new("USA", 0))
                .unwrap(),
            "cm-test-link-usa-gbr-0:7422"
        );
        assert_eq!(a.servers[&ServerId::new("FRA", 0)].host, "cm-test-fra-0");
        let usa_gbr = p.sidecars_between("GBR", "USA", false);
        assert_eq!(usa_gbr.len(), 2);
        assert_eq!(p.sidecars_between("GBR", "USA", true).len(), 1);
    }

    #[test]
    fn the_server_count_can_be_set_for_every_nation() {
        let p = plan(Some(3));
        assert!(p.topology.nations.iter().all(|n| n.servers == 3));
        assert!(p.service("cm-test-usa-2").is_some());
        assert_eq!(p.sidecars_between("USA", "GBR", true).len(), 3);
    }

    #[test]
    fn bad_project_names_and_server_counts_are_refused_with_the_rule() {
        let t = plan(None).topology;
        for bad in ["", "Caps", "-x", "a_b", &"x".repeat(41)] {
            let e = Plan::new(bad, t.clone(), None).unwrap_err();
            assert!(e.0.contains("lower-case letters"), "{bad}: {e}");
        }
        let e = Plan::new("ok", t, Some(0)).unwrap_err();
        assert!(e.0.contains("1 to 9"), "{e}");
    }
}
