//! Where each server listens and how others reach it. The topology says what
//! exists; the addressing says where, so one topology serves loopback tests
//! (dynamic ports, link proxies) and docker-compose (fixed hostnames) alike.
use std::collections::BTreeMap;

use std::path::Path;

use crate::model::{ServerId, Topology};

/// The network identity of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// The interface it binds, e.g. `127.0.0.1` or `0.0.0.0`.
    pub bind_host: String,
    /// The host other servers and clients use to reach it.
    pub host: String,
    /// Client port.
    pub client_port: u16,
    /// Cluster (route) port; unused for a 1-server nation.
    pub cluster_port: u16,
    /// Leaf-node listen port, where partners pull releases.
    pub leaf_port: u16,
    /// HTTP monitoring port.
    pub monitor_port: u16,
    /// JetStream store directory.
    pub store_dir: String,
    /// Where this server finds the mesh's generated `tls/` folder.
    pub tls_dir: String,
}

/// Addresses of every server, and the endpoint a receiving nation dials for
/// each (link, sending server): the server's own leaf port, or a proxy that
/// the harness can cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressing {
    /// Per server.
    pub servers: BTreeMap<ServerId, ServerAddress>,
    /// `(link name, index of the sending server)` to `host:port`. Missing
    /// entries default to the sending server's own leaf port.
    pub leaf_endpoints: BTreeMap<(String, usize), String>,
}

impl Addressing {
    /// The endpoint receivers dial to reach `link`'s sending server `index`.
    pub fn leaf_endpoint(&self, link: &str, sender: &ServerId) -> Option<String> {
        if let Some(e) = self.leaf_endpoints.get(&(link.to_string(), sender.index)) {
            return Some(e.clone());
        }
        self.servers
            .get(sender)
            .map(|a| format!("{}:{}", a.host, a.leaf_port))
    }
}

impl Addressing {
    /// Every server of `topology` on `host`, four consecutive ports each
    /// from `base_port` (client, cluster, leaf, monitoring), with JetStream
    /// under `store_root/<server>` and TLS files under `tls_dir`. Leaf
    /// endpoints are the servers' own.
    pub fn sequential(
        topology: &Topology,
        host: &str,
        base_port: u16,
        store_root: &Path,
        tls_dir: &Path,
    ) -> Self {
        let mut addressing = Addressing::default();
        for (i, id) in topology.servers().enumerate() {
            let p = base_port.saturating_add((i as u16).saturating_mul(4));
            let store = store_root.join(id.to_string());
            addressing.servers.insert(
                id,
                ServerAddress {
                    bind_host: host.into(),
                    host: host.into(),
                    client_port: p,
                    cluster_port: p.saturating_add(1),
                    leaf_port: p.saturating_add(2),
                    monitor_port: p.saturating_add(3),
                    store_dir: store.display().to_string(),
                    tls_dir: tls_dir.display().to_string(),
                },
            );
        }
        addressing
    }
}
