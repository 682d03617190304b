//! The TLS files of a mesh: per nation, a TLS authority, a certificate per
//! server and one per NATS client identity, and the bundle of partner
//! authorities its leaf listener trusts. Everything lives under `tls/` in
//! the generated folder; [`paths`] names each file relative to that folder.
use std::collections::BTreeSet;

use coalition_tls::{Authority, Issued, Usage};

use crate::addressing::Addressing;
use crate::error::TopologyError;
use crate::generate::GeneratedFile;
use crate::model::{ServerId, Topology};
use crate::nats_config::UserNames;

/// How long generated TLS certificates are valid.
pub const VALIDITY_DAYS: i64 = 365;

/// File names under the generated `tls/` folder.
pub mod paths {
    /// The authority certificate of `nation`.
    pub fn ca(nation: &str) -> String {
        format!("{nation}/ca.pem")
    }
    /// The authority's private key (kept to issue more certificates).
    pub fn ca_key(nation: &str) -> String {
        format!("{nation}/ca.key")
    }
    /// A server's certificate.
    pub fn server_certificate(id: &str) -> String {
        format!("{}/servers/{id}.pem", nation_of(id))
    }
    /// A server's key.
    pub fn server_key(id: &str) -> String {
        format!("{}/servers/{id}.key", nation_of(id))
    }
    /// A client identity's certificate.
    pub fn client_certificate(nation: &str, user: &str) -> String {
        format!("{nation}/clients/{user}.pem")
    }
    /// A client identity's key.
    pub fn client_key(nation: &str, user: &str) -> String {
        format!("{nation}/clients/{user}.key")
    }
    /// The authority's certificate revocation list.
    pub fn crl(nation: &str) -> String {
        format!("{nation}/crl.pem")
    }
    /// The public-key pins of the client certificates the authority issued
    /// and has not revoked: included by the client port's `tls` block.
    pub fn pinned_clients(nation: &str) -> String {
        format!("{nation}/pinned-clients.conf")
    }
    /// The folder of the client certificates.
    pub fn clients_dir(nation: &str) -> String {
        format!("{nation}/clients")
    }
    /// The authorities of the partners that dial `nation`'s leaf listener.
    pub fn leaf_clients_ca(nation: &str) -> String {
        format!("{nation}/leaf-clients-ca.pem")
    }
    fn nation_of(id: &str) -> &str {
        id.rsplit_once('-').map_or(id, |(n, _)| n)
    }
}

fn file(path: String, contents: String) -> GeneratedFile {
    GeneratedFile {
        path: format!("tls/{path}"),
        contents,
    }
}

fn pair(out: &mut Vec<GeneratedFile>, cert: String, key: String, issued: Issued) {
    out.push(file(cert, issued.certificate_pem));
    out.push(file(key, issued.key_pem));
}

/// The NATS client identities of `nation`, one certificate each: its
/// bridge in HOME, in each release account and in each link from a
/// partner; each producer; the subscriber, the auditor and the operator.
pub(crate) fn client_identities(topology: &Topology, nation: &str) -> Vec<String> {
    let users = UserNames::new(nation);
    let producers: BTreeSet<&str> = topology
        .feeds_of(nation)
        .map(|f| f.producer.as_str())
        .collect();
    let mut out = vec![
        users.bridge_home(),
        users.subscriber(),
        users.auditor(),
        users.operator(),
    ];
    out.extend(topology.links_from(nation).map(|l| users.bridge_rel(&l.to)));
    out.extend(
        topology
            .links_to(nation)
            .map(|l| users.bridge_from(&l.from)),
    );
    out.extend(producers.into_iter().map(|p| users.producer(p)));
    out
}

/// Every name `id` is reached by: its host, the endpoints partners dial for
/// it (proxies, sidecars), and loopback.
fn server_names(topology: &Topology, addressing: &Addressing, id: &ServerId) -> Vec<String> {
    let mut names = BTreeSet::from(["localhost".to_string(), "127.0.0.1".to_string()]);
    if let Some(a) = addressing.servers.get(id) {
        names.insert(a.host.clone());
    }
    for link in topology.links_from(&id.nation) {
        if let Some(endpoint) = addressing.leaf_endpoint(&link.name(), id) {
            let host = endpoint
                .rsplit_once(':')
                .map_or(endpoint.as_str(), |(h, _)| h);
            names.insert(host.to_string());
        }
    }
    names.into_iter().collect()
}

fn tls_error(e: coalition_tls::TlsError) -> TopologyError {
    TopologyError::Addressing(e.to_string())
}

/// Generates every TLS file of `topology` at `addressing`.
pub(crate) fn generate_tls(
    topology: &Topology,
    addressing: &Addressing,
) -> Result<Vec<GeneratedFile>, TopologyError> {
    let mut out = Vec::new();
    let mut authorities = std::collections::BTreeMap::new();
    for nation in &topology.nations {
        let code = nation.code.as_str();
        let ca = Authority::new(code, VALIDITY_DAYS).map_err(tls_error)?;
        pair(
            &mut out,
            paths::ca(code),
            paths::ca_key(code),
            ca.own().clone(),
        );
        for id in topology.servers().filter(|s| s.nation == code) {
            let names = server_names(topology, addressing, &id);
            let issued = ca
                .issue(&id.to_string(), &names, Usage::Server)
                .map_err(tls_error)?;
            let name = id.to_string();
            pair(
                &mut out,
                paths::server_certificate(&name),
                paths::server_key(&name),
                issued,
            );
        }
        let mut issued_to_clients = Vec::new();
        for user in client_identities(topology, code) {
            let issued = ca.issue(&user, &[], Usage::Client).map_err(tls_error)?;
            issued_to_clients.push(
                coalition_tls::certificate_facts(&issued.certificate_pem, &user)
                    .map_err(tls_error)?,
            );
            pair(
                &mut out,
                paths::client_certificate(code, &user),
                paths::client_key(code, &user),
                issued,
            );
        }
        let crl = coalition_tls::CrlContents::default();
        out.push(file(paths::crl(code), ca.crl(&crl).map_err(tls_error)?));
        out.push(file(
            paths::pinned_clients(code),
            coalition_tls::pinned_clients_conf(&issued_to_clients, &crl),
        ));
        authorities.insert(code.to_string(), ca);
    }
    for nation in &topology.nations {
        let bundle: String = topology
            .links_from(&nation.code)
            .filter_map(|l| authorities.get(&l.to))
            .map(|ca| ca.own().certificate_pem.clone())
            .collect();
        if !bundle.is_empty() {
            out.push(file(paths::leaf_clients_ca(&nation.code), bundle));
        }
    }
    Ok(out)
}
