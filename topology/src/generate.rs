//! Turns a [`Topology`] plus an [`Addressing`] into the files a mesh runs on:
//! one nats-server config per server, one bridge config and one clients
//! file per nation. Pure: returns text, writes nothing.
use std::collections::BTreeMap;

use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::addressing::Addressing;
use crate::bridge_config::{BridgeConfig, ClientsConfig, Credential, IngressLink, ReleaseLink};
use crate::error::TopologyError;
use crate::model::{Nation, ServerId, Topology};
use crate::naming::control_files;
use crate::nats_config::render_server;

/// Passwords of the users that authenticate by password, by user name:
/// the partners' leaf connections and the cluster routes. Client
/// connections authenticate by certificate alone (see [`Credential`]).
#[derive(Clone, Default)]
pub struct Credentials {
    passwords: BTreeMap<String, String>,
    random: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("users", &self.passwords.len())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Fresh random 32-character passwords, made on first use of each user.
    pub fn random() -> Self {
        Credentials {
            passwords: BTreeMap::new(),
            random: true,
        }
    }

    /// The password of `user`, made on first use.
    pub fn password(&mut self, user: &str) -> String {
        let random = self.random;
        self.passwords
            .entry(user.to_string())
            .or_insert_with(|| {
                if random {
                    rand::thread_rng()
                        .sample_iter(&Alphanumeric)
                        .take(32)
                        .map(char::from)
                        .collect()
                } else {
                    format!("{user}-password")
                }
            })
            .clone()
    }
}

/// One generated file: where it goes under the output folder, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the output folder, e.g. `nats/USA-0.conf`.
    pub path: String,
    /// The file's contents.
    pub contents: String,
}

impl GeneratedFile {
    /// Whether the file holds a secret (passwords, private keys) and must
    /// be written readable by its owner only (0600).
    pub fn is_private(&self) -> bool {
        ["bridges/", "clients/", "nats/"]
            .iter()
            .any(|p| self.path.starts_with(p))
            || self.path.ends_with(".key")
    }
}

/// A server's config and what readiness means for it.
#[derive(Debug, Clone)]
pub struct GeneratedServer {
    /// Which server.
    pub id: ServerId,
    /// Its config file.
    pub config: GeneratedFile,
    /// Routes it must have when its cluster is up.
    pub expected_routes: usize,
    /// Accounts in which it must have an outgoing leaf connection.
    pub expected_leaf_accounts: Vec<String>,
}

/// Everything generated for one mesh.
#[derive(Debug, Clone)]
pub struct GeneratedMesh {
    /// nats-server configs.
    pub servers: Vec<GeneratedServer>,
    /// Bridge configs by nation, at `bridges/<NATION>.toml`.
    pub bridges: BTreeMap<String, (BridgeConfig, GeneratedFile)>,
    /// Clients files by nation, at `clients/<NATION>.toml`.
    pub clients: BTreeMap<String, (ClientsConfig, GeneratedFile)>,
    /// TLS authorities, certificates and keys, under `tls/`.
    pub tls: Vec<GeneratedFile>,
}

impl GeneratedMesh {
    /// Every file, for writing out.
    pub fn files(&self) -> impl Iterator<Item = &GeneratedFile> {
        self.servers
            .iter()
            .map(|s| &s.config)
            .chain(self.bridges.values().map(|(_, f)| f))
            .chain(self.clients.values().map(|(_, f)| f))
            .chain(self.tls.iter())
    }
}

/// Generates every config of `topology` at `addressing`.
pub fn generate(
    topology: &Topology,
    addressing: &Addressing,
    credentials: &mut Credentials,
) -> Result<GeneratedMesh, TopologyError> {
    for id in topology.servers() {
        if !addressing.servers.contains_key(&id) {
            return Err(TopologyError::Addressing(format!(
                "no address for server {id}"
            )));
        }
    }
    let mut servers = Vec::new();
    for id in topology.servers() {
        let config = render_server(topology, addressing, credentials, &id)?;
        let nation = topology.nation(&id.nation).map_or(1, |n| n.servers);
        servers.push(GeneratedServer {
            expected_routes: nation - 1,
            expected_leaf_accounts: topology
                .links_to(&id.nation)
                .map(|l| crate::naming::accounts::from_partner(&l.from))
                .collect(),
            config: GeneratedFile {
                path: format!("nats/{id}.conf"),
                contents: config,
            },
            id,
        });
    }
    let mut bridges = BTreeMap::new();
    let mut clients = BTreeMap::new();
    for nation in &topology.nations {
        let (bridge, client) = nation_files(topology, addressing, nation)?;
        bridges.insert(nation.code.clone(), bridge);
        clients.insert(nation.code.clone(), client);
    }
    Ok(GeneratedMesh {
        servers,
        bridges,
        clients,
        tls: crate::tls_files::generate_tls(topology, addressing)?,
    })
}

type NationFiles = (
    (BridgeConfig, GeneratedFile),
    (ClientsConfig, GeneratedFile),
);

/// A nation's bridge config and clients file.
fn nation_files(
    topology: &Topology,
    addressing: &Addressing,
    nation: &Nation,
) -> Result<NationFiles, TopologyError> {
    let bridge = bridge_config(topology, addressing, nation);
    let text = render_toml(
        &bridge,
        &format!(
            "Bridge configuration for {} in mesh {:?}.\n\
             Generated by `coalition topology generate`; regenerate rather than edit.\n\
             See docs/topology.md for every field.",
            nation.code, topology.name
        ),
    )?;
    let bridge_file = GeneratedFile {
        path: format!("bridges/{}.toml", nation.code),
        contents: text,
    };
    let client = clients_config(topology, addressing, nation);
    let text = render_toml(
        &client,
        &format!(
            "NATS users of {}'s producers and subscribers in mesh {:?}.\n\
             Producers may publish only on their own out.<kind>.<producer>.> subjects.",
            nation.code, topology.name
        ),
    )?;
    let client_file = GeneratedFile {
        path: format!("clients/{}.toml", nation.code),
        contents: text,
    };
    Ok(((bridge, bridge_file), (client, client_file)))
}

fn render_toml<T: serde::Serialize>(value: &T, header: &str) -> Result<String, TopologyError> {
    let body = toml::to_string_pretty(value)
        .map_err(|e| TopologyError::Addressing(format!("cannot render TOML: {e}")))?;
    let comment: String = header.lines().map(|l| format!("# {l}\n")).collect();
    Ok(format!("{comment}\n{body}"))
}

/// Client URLs of a nation's servers.
pub(crate) fn client_urls(topology: &Topology, addressing: &Addressing, code: &str) -> Vec<String> {
    let n = topology.nation(code).map_or(0, |n| n.servers);
    (0..n)
        .filter_map(|i| addressing.servers.get(&ServerId::new(code, i)))
        .map(|a| format!("nats://{}:{}", a.host, a.client_port))
        .collect()
}

fn bridge_config(topology: &Topology, addressing: &Addressing, nation: &Nation) -> BridgeConfig {
    let code = &nation.code;
    let users = crate::nats_config::UserNames::new(code);
    let mut control_objects = vec![format!("../{}", control_files::policy(code))];
    let mut trust_anchors = BTreeMap::from([(code.clone(), format!("../keys/{code}/root.pub"))]);
    let ingress = topology
        .links_to(code)
        .map(|l| {
            control_objects.push(format!("../{}", control_files::policy(&l.from)));
            control_objects.push(format!("../{}", control_files::translator(&l.from, code)));
            trust_anchors.insert(l.from.clone(), format!("../keys/{}/root.pub", l.from));
            IngressLink {
                partner: l.from.clone(),
                max_classification: l.max_classification.clone(),
                credential: credential(code, &users.bridge_from(&l.from)),
            }
        })
        .collect();
    for l in topology.links_from(code) {
        trust_anchors.insert(l.to.clone(), format!("../keys/{}/root.pub", l.to));
        control_objects.push(format!("../{}", control_files::policy(&l.to)));
        control_objects.push(format!("../{}", control_files::translator(code, &l.to)));
    }
    control_objects.sort();
    control_objects.dedup();
    let release = topology
        .links_from(code)
        .map(|l| ReleaseLink {
            partner: l.to.clone(),
            max_classification: l.max_classification.clone(),
            credential: credential(code, &users.bridge_rel(&l.to)),
        })
        .collect();
    BridgeConfig {
        nation: code.clone(),
        servers: client_urls(topology, addressing, code),
        replicas: topology.replicas(code),
        release_max_age_secs: topology.release_max_age_secs,
        metrics_listen: None,
        home: credential(code, &users.bridge_home()),
        trust_anchors,
        bridge_key: format!("../keys/{code}/bridge.key"),
        bridge_certificate: format!("../keys/{code}/bridge.cert"),
        control_objects,
        revocation_staleness_ms: 15_000,
        heartbeat_interval_ms: 1_000,
        lease_ttl_ms: 6_000,
        release,
        ingress,
        rate_limits: rate_limits_of(topology, code),
        feeds: Default::default(),
    }
}

/// `code`'s rate limits from the topology: its nation's, with each
/// incoming link's `rate` as the override for that partner.
fn rate_limits_of(topology: &Topology, code: &str) -> crate::RateLimits {
    let mut limits = topology
        .nation(code)
        .map(|n| n.rate_limits.clone())
        .unwrap_or_default();
    for link in topology.links_to(code) {
        if let Some(rate) = link.rate {
            limits.partners.insert(link.from.clone(), rate);
        }
    }
    limits
}

fn clients_config(topology: &Topology, addressing: &Addressing, nation: &Nation) -> ClientsConfig {
    let code = &nation.code;
    let users = crate::nats_config::UserNames::new(code);
    let producers = topology
        .feeds_of(code)
        .map(|f| {
            (
                f.producer.clone(),
                credential(code, &users.producer(&f.producer)),
            )
        })
        .collect();
    ClientsConfig {
        nation: code.clone(),
        servers: client_urls(topology, addressing, code),
        producers,
        subscriber: credential(code, &users.subscriber()),
        auditor: credential(code, &users.auditor()),
        operator: credential(code, &users.operator()),
    }
}

/// The identity of `user` of `nation`: its name and its certificate.
fn credential(nation: &str, user: &str) -> Credential {
    Credential {
        user: user.to_string(),
        tls: client_tls(nation, user),
    }
}

/// The TLS identity of `user`, as paths relative to `bridges/` and
/// `clients/`.
fn client_tls(nation: &str, user: &str) -> coalition_tls::ClientTls {
    use crate::tls_files::paths;
    coalition_tls::ClientTls {
        ca: format!("../tls/{}", paths::ca(nation)),
        certificate: format!("../tls/{}", paths::client_certificate(nation, user)),
        key: format!("../tls/{}", paths::client_key(nation, user)),
        crl: Some(format!("../tls/{}", paths::crl(nation))),
    }
}
