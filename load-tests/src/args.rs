//! The command line, and the [`Plan`] it resolves to: how many messages and
//! records each measurement uses.
//!
//! `--tiny` changes the defaults only (every count becomes small enough for
//! CI, every code path still runs); a flag given explicitly wins over it.
//! Nothing here touches the network.
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Raw NATS, one fsynced JetStream stream and the mesh path, side by side,
/// measured in one run on one 2-nation mesh (topologies/pair.toml).
#[derive(Debug, Parser)]
#[command(name = "coalition-bench")]
pub struct Args {
    /// Payload sizes in bytes (the encoded TrackV1 for the mesh path).
    #[arg(long, value_delimiter = ',', default_value = "128,200,1024")]
    pub sizes: Vec<usize>,
    /// Messages per raw-leaf run [default: 200000; --tiny 2000].
    #[arg(long)]
    pub raw_messages: Option<usize>,
    /// Messages per pipelined one-stream run; the awaited and the batched
    /// runs use a fifth of it [default: 10000; --tiny 500].
    #[arg(long)]
    pub store_messages: Option<usize>,
    /// Records per mesh-path run (each size), and per leaf-bytes run at
    /// batch 64 (batch 8 uses a quarter, batch 1 a sixteenth)
    /// [default: 50000; --tiny 512].
    #[arg(long)]
    pub mesh_records: Option<usize>,
    /// Track feeds published at once (each has one batch in flight)
    /// [default: 4].
    #[arg(long)]
    pub feeds: Option<usize>,
    /// Records per batch in the mesh-path runs (the SDK's
    /// `max_batch_records`) [default: 256, the SDK's default; 1 to 4096].
    #[arg(long)]
    pub mesh_batch_records: Option<usize>,
    /// Seconds of alerts in each alert-latency run [default: 10; --tiny 1].
    #[arg(long)]
    pub alerts_seconds: Option<f64>,
    /// Alerts per second in the alert-latency runs [default: 1000].
    #[arg(long)]
    pub alerts_per_second: Option<u32>,
    /// Rounds of the raw and one-stream runs, interleaved; the median is
    /// reported [default: 3; --tiny 1].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// The `coalition` CLI binary the forwarder runs start [default: the
    /// one next to this executable, built first when run by `cargo run`].
    #[arg(long, value_name = "PATH")]
    pub coalition: Option<PathBuf>,
    /// Where to write latest.json and latest.md.
    #[arg(long, default_value = "load-tests/results")]
    pub out: PathBuf,
    /// Everything at a tiny size (a run well under a minute, for CI).
    #[arg(long)]
    pub tiny: bool,
}

/// What one run does, every count resolved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub sizes: Vec<usize>,
    pub rounds: usize,
    pub raw_messages: usize,
    pub store_pipelined: usize,
    pub store_awaited: usize,
    pub store_batched: usize,
    /// Records in one store-batched message.
    pub store_batch_records: usize,
    pub mesh_records: usize,
    /// Records per batch in the mesh-path runs.
    pub mesh_batch_records: usize,
    pub feeds: usize,
    pub leaf_records_b1: usize,
    pub leaf_records_b8: usize,
    pub leaf_records_b64: usize,
    pub alerts_seconds: f64,
    pub alerts_per_second: u32,
    /// `--coalition`, if given.
    pub coalition: Option<PathBuf>,
    pub tiny: bool,
}

impl Args {
    /// Resolves the defaults; an error names the flag.
    pub fn plan(&self) -> Result<Plan, String> {
        let pick = |given: Option<usize>, full: usize, tiny: usize| {
            given.unwrap_or(if self.tiny { tiny } else { full })
        };
        let raw_messages = pick(self.raw_messages, 200_000, 2_000);
        let store = pick(self.store_messages, 10_000, 500);
        let mesh_records = pick(self.mesh_records, 50_000, 512);
        let feeds = self.feeds.unwrap_or(4);
        let rounds = pick(self.rounds, 3, 1);
        let alerts_seconds = self
            .alerts_seconds
            .unwrap_or(if self.tiny { 1.0 } else { 10.0 });
        let alerts_per_second = self.alerts_per_second.unwrap_or(1000);
        if self.sizes.is_empty() || self.sizes.contains(&0) {
            return Err("--sizes must list sizes of at least 1 byte".into());
        }
        if self.sizes.len() > crate::setup::MAX_SIZES {
            return Err(format!(
                "--sizes: at most {} sizes in one run",
                crate::setup::MAX_SIZES
            ));
        }
        if feeds > crate::setup::MAX_FEEDS {
            return Err(format!(
                "--feeds: at most {} (the feeds the benchmark's certificate names)",
                crate::setup::MAX_FEEDS
            ));
        }
        if let Some(big) = self.sizes.iter().find(|s| **s > 64 * 1024) {
            return Err(format!(
                "--sizes: {big} B is over 64 KiB; a 64-record batch of it would pass the servers' 1 MiB max_payload"
            ));
        }
        for (flag, value) in [
            ("--raw-messages", raw_messages),
            ("--store-messages", store),
            ("--mesh-records", mesh_records),
            ("--feeds", feeds),
            ("--rounds", rounds),
        ] {
            if value == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if !(alerts_seconds > 0.0 && alerts_seconds <= 600.0) {
            return Err("--alerts-seconds must be above 0 and at most 600".into());
        }
        let mesh_batch_records = self
            .mesh_batch_records
            .unwrap_or(coalition_sdk::ProducerOptions::DEFAULT_MAX_BATCH_RECORDS);
        if !(1..=4096).contains(&mesh_batch_records) {
            return Err("--mesh-batch-records must be 1 to 4096".into());
        }
        if alerts_per_second == 0 {
            return Err("--alerts-per-second must be at least 1".into());
        }
        Ok(Plan {
            sizes: self.sizes.clone(),
            rounds,
            raw_messages,
            store_pipelined: store,
            store_awaited: (store / 5).max(1),
            store_batched: (store / 5).max(1),
            store_batch_records: 64,
            mesh_records,
            mesh_batch_records,
            feeds,
            leaf_records_b1: (mesh_records / 16).max(feeds),
            leaf_records_b8: (mesh_records / 4).max(8 * feeds),
            leaf_records_b64: mesh_records.max(64 * feeds),
            alerts_seconds,
            alerts_per_second,
            coalition: self.coalition.clone(),
            tiny: self.tiny,
        })
    }
}

impl Plan {
    /// How long the alert runs last.
    pub fn alerts_duration(&self) -> Duration {
        Duration::from_secs_f64(self.alerts_seconds)
    }

    /// The size the realistic-track runs use: 200 B if measured, else the
    /// size closest to it.
    pub fn track_size(&self) -> usize {
        self.sizes
            .iter()
            .copied()
            .min_by_key(|s| s.abs_diff(200))
            .unwrap_or(200)
    }
}
