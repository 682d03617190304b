//! TLS for every NATS connection of a mesh.
//!
//! - [`generate`]: a nation's TLS authority and the certificates it issues
//!   (servers, for client, route and leaf ports; clients, one per NATS
//!   identity), as PEM text. Pure apart from key generation.
//! - [`revocation`]: a CRL per authority, and the allow list of client
//!   keys nats-server enforces in its place.
//! - [`client`]: the rustls client configuration every Rust client of the
//!   mesh (bridge, SDK, CLI, tests) connects with: mutual TLS with the
//!   nation's authority as the only trust root, and the hybrid
//!   post-quantum key exchange X25519MLKEM768 offered first.
//!
//! These are transport certificates (X.509, ECDSA P-256), separate from the
//! ML-DSA keys that sign data: TLS protects a hop, ML-DSA binds labels to
//! data end to end (docs/security.md).
mod client;
mod error;
mod generate;
mod revocation;

pub use client::{
    client_config, connect_options, connect_options_with, key_exchange_groups, ClientTls,
    POST_QUANTUM_GROUP,
};
pub use error::TlsError;
pub use generate::{subject_dn, Authority, Issued, Usage};
pub use revocation::{
    certificate_facts, pinned_clients_conf, read_crl, CertificateFacts, CrlContents, RevokedEntry,
    CRL_VALIDITY_DAYS,
};
