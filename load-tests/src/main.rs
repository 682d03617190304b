//! `coalition-bench`: measures, in one run on one 2-nation mesh, raw NATS
//! through the leaf link, one fsynced JetStream stream (per message,
//! pipelined and awaited; batched) and the full mesh path (producer SDK ->
//! bridges -> leaf -> bridges -> subscriber SDK, every batch signed and
//! verified, every record policy-checked), at each payload size; what the
//! mesh path fsyncs per record and whether the disk binds it; the bytes on
//! the leaf link per record at batch sizes 1, 8 and 64; alert latency
//! under track load; and the latency the webhook forwarder (`coalition
//! forward`, run as a subprocess) adds to alerts. Reports ratios against the
//! raw figures of the same run.
//!
//! It is a measurement, never a pass/fail test of speed: it exits 0 however
//! slow the machine, 1 if the mesh path lost, duplicated or reordered a
//! record (or the forwarder lost an alert), 2 on a bad command line and 3
//! if it could not run.
//!
//! Writes `latest.json` and `latest.md` under `--out`.
#![forbid(unsafe_code)]

/// mimalloc rather than glibc malloc: the mesh path allocates and frees
/// many small buffers per record on several threads (docs/architecture.md,
/// "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod alerts;
mod args;
mod counters;
mod cpu;
mod crypto;
mod deliveries;
mod forward_run;
mod forwarder;
mod logs;
mod markdown;
mod payload;
mod posted;
mod publish;
mod raw;
mod report;
mod run;
mod sealed;
mod setup;
mod stats;
mod store;
mod stored;
mod track_run;
mod webhook;

use std::process::ExitCode;

use clap::Parser;

/// Any error that stops the run.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let args = args::Args::parse();
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("coalition-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let log = match logs::install(&args.out) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("coalition-bench: could not run: {e}");
            return ExitCode::from(3);
        }
    };
    match run::run(&plan, &args.out, &log).await {
        Ok(results) if results.errors.is_empty() => ExitCode::SUCCESS,
        Ok(results) => {
            eprintln!(
                "coalition-bench: the mesh path lost, duplicated or reordered records, or the forwarder lost alerts ({} errors):",
                results.errors.len()
            );
            for e in results.errors.iter().take(20) {
                eprintln!("  {e}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("coalition-bench: could not run: {e}");
            ExitCode::from(3)
        }
    }
}
