//! docker-compose exercises for Coalition Mesh: ops rehearse outages in
//! peacetime and see that nothing was lost, nothing leaked and revocation
//! held.
//!
//! - [`plan`] turns a topology into containers and networks (pure), and
//!   [`compose_file`] renders them as a compose file;
//! - [`layout`] writes an exercise folder: configs, keys, compose file;
//! - [`link`] is the sidecar on every leaf connection, which cuts,
//!   restores and degrades it;
//! - [`agents`] are the producer and alerting subscriber in containers;
//! - [`scenario`] scripts what happens and when, and [`load`] how many
//!   tracks each producer publishes when (pure);
//! - [`driver`] carries a scenario out through `docker`, and
//!   [`teardown`] takes an exercise down, all of it or saying what is left;
//! - [`verify`], [`report`] and [`plot`] say what happened (pure).
//!
//! Images come from `compose/build-image.sh` (a local `FROM scratch`
//! image; no registry is needed). See docs/exercises.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agents;
pub mod compose_file;
pub mod docker;
pub mod driver;
mod error;
pub mod expect;
pub mod layout;
pub mod ledger;
pub mod link;
pub mod load;
pub mod plan;
pub mod plot;
mod progress;
pub mod report;
pub mod scenario;
pub mod teardown;
pub mod verify;

pub use error::ExerciseError;
pub use layout::Exercise;

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
