//! The mesh topology: one TOML file that says which nations exist, how many
//! servers each runs, who releases to whom and which feeds exist; and the
//! generator that turns it into nats-server and bridge configs.
//!
//! Parsing and generation are pure: no file, socket or process is touched
//! by them. The harness, the CLI and the compose tooling decide where the
//! generated text goes and which addresses it uses (see [`Addressing`]).
//! Two parts do read files: loading a generated bridge or clients file, and
//! revoking a client's TLS certificate in a generated mesh
//! ([`revoke_client_certificate`]), which rewrites its CRL and allow list.
#![forbid(unsafe_code)]

mod addressing;
mod bridge_config;
mod error;
mod generate;
mod model;
mod naming;
mod nats_config;
mod parse;
mod rate_limits;
mod tls_files;
mod tls_revocation;

pub use addressing::{Addressing, ServerAddress};
pub use bridge_config::{
    resolve, BridgeConfig, ClientsConfig, Credential, FeedLimits, IngressLink, ReleaseLink,
};
pub use coalition_tls::ClientTls;
pub use error::TopologyError;
pub use generate::{generate, Credentials, GeneratedFile, GeneratedMesh, GeneratedServer};
pub use model::{Feed, FeedKind, Link, Nation, ServerId, Topology};
pub use naming::{
    accounts, control_files, is_category, parse_severity, severity_token, streams, subjects,
    AlertTopic, Kind, TopicError, TopicFilter, SEVERITIES,
};
pub use nats_config::{release_limits, MONITOR_HOST};
pub use parse::{parse_topology, parse_topology_file};
pub use rate_limits::{Rate, RateLimits};
pub use tls_files::{paths as tls_paths, VALIDITY_DAYS as TLS_VALIDITY_DAYS};
pub use tls_revocation::{revoke_client_certificate, TlsRevocation};
