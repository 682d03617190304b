//! Starts real `nats-server` processes on loopback for tests, the local
//! runner and the load tests, and cuts and restores the links between them.
//!
//! What this crate does:
//! - finds the pinned `nats-server` binary ([`nats_server_path`]);
//! - hands out free loopback ports ([`free_loopback_ports`]);
//! - runs one server per [`ServerProcess`], logging to a file, and kills
//!   exactly that process on drop;
//! - reads the server's HTTP monitoring endpoint ([`get_json`],
//!   [`healthz_ok`], [`leaf_accounts`], …) and polls it with a bound
//!   ([`wait_until`]);
//! - puts a [`LinkProxy`] between two servers so a test can cut and restore
//!   a leaf-node link.
//!
//! What it does not do: it never speaks the NATS client protocol (tests use
//! `async-nats` for that), never kills a process it did not start, and its
//! generic pieces know nothing about the coalition topology: [`Mesh`]
//! glues them to a generated topology and a development PKI.
#![forbid(unsafe_code)]

mod binary;
mod error;
mod http;
mod interop;
mod mesh;
mod monitor;
mod pki;
mod ports;
mod process;
mod proxy;
pub mod tls_wire;

pub use binary::{nats_server_path, resolve_nats_server, workspace_root, NATS_SERVER_ENV};
pub use error::HarnessError;
pub use interop::interop_python;
pub use mesh::{Mesh, READY_TIMEOUT};
pub use monitor::{
    connection_count, get_json, healthz_ok, leaf_accounts, route_count, wait_until, POLL_INTERVAL,
    REQUEST_TIMEOUT,
};
pub use pki::{
    control_bytes, dev_policy, dev_translator, generate_dev_pki, nation_key_dir, producer_files,
    revocation_authority_files, write_key_file,
};
pub use ports::free_loopback_ports;
pub use process::{signal_reload, ServerProcess};
pub use proxy::LinkProxy;
