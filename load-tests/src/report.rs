//! The results of one run, the figures derived from them (ratios, what
//! binds), the machine they were measured on, and writing
//! `latest.json`/`latest.md`. The tables themselves are in
//! [`crate::markdown`].
use std::collections::BTreeMap;
use std::path::Path;

use crate::alerts::AlertRun;
use crate::args::Plan;
use crate::forward_run::ForwardRun;
use crate::raw::RawLeaf;
use crate::store::{Mode, StoreRun};
use crate::track_run::TrackRun;
use crate::Failure;

/// Everything one run measured.
#[derive(Debug, Default, serde::Serialize)]
pub struct Results {
    pub machine: Machine,
    pub plan: Option<Plan>,
    pub raw: Vec<RawLeaf>,
    pub store: Vec<StoreRun>,
    pub mesh: Vec<TrackRun>,
    pub ratios: Vec<Ratio>,
    pub binding: Vec<Binding>,
    pub idle_leaf_bytes_per_s: f64,
    /// Sealing and opening one batch, on one core.
    pub crypto: Vec<crate::crypto::Cost>,
    pub leaf: Vec<TrackRun>,
    pub alerts: Vec<AlertRun>,
    /// The webhook forwarder's runs (measurement 7), json then cap.
    pub forward: Vec<ForwardRun>,
    /// Records the SDK skipped (de-duplicated), by lane and reason.
    pub skipped: BTreeMap<String, u64>,
    /// Loss, duplicates, order errors: any makes the exit code 1.
    pub errors: Vec<String>,
    /// The bridges' and SDKs' warnings and errors during the run.
    pub log: crate::logs::Summary,
}

/// Where and how it ran.
#[derive(Debug, Default, serde::Serialize)]
pub struct Machine {
    pub date_utc: String,
    pub nproc: usize,
    pub kernel: String,
    pub cpu: String,
    pub profile: String,
    pub nats_server: String,
    pub command_line: String,
}

impl Machine {
    /// This machine, now.
    pub fn here() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        let nats_server = nats_harness::nats_server_path()
            .ok()
            .and_then(|p| std::process::Command::new(p).arg("--version").output().ok())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            date_utc: coalition_core::clock::utc_seconds(coalition_core::clock::now_ms()),
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpu,
            profile: if cfg!(debug_assertions) {
                "dev (workspace opt-level 1, dependencies 3)".into()
            } else {
                "release".into()
            },
            nats_server,
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }
}

/// The mesh path against the baselines, at one size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ratio {
    pub size: usize,
    pub mesh_records_per_s: f64,
    pub mesh_over_raw_leaf: Option<f64>,
    pub mesh_over_store_pipelined: Option<f64>,
    pub mesh_over_store_awaited: Option<f64>,
}

/// Whether the disk binds the mesh path at one size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Binding {
    pub size: usize,
    pub mesh_records_per_s: f64,
    pub fsynced_bytes_per_record: f64,
    /// records/s × bytes fsynced per record.
    pub mesh_fsynced_mb_per_s: f64,
    /// What one batched stream stored per second (measurement 3).
    pub one_stream_mb_per_s: Option<f64>,
    /// mesh_fsynced_mb_per_s / one_stream_mb_per_s.
    pub share_of_disk: Option<f64>,
    pub verdict: String,
    /// Whether the CPU was the bound instead (machine busy during the run).
    pub cpu_verdict: String,
    /// Whether the run stalled on redeliveries instead.
    pub redelivery_verdict: String,
}

impl Results {
    fn store(&self, size: usize, want: fn(&Mode) -> bool) -> Option<&StoreRun> {
        self.store.iter().find(|s| s.size == size && want(&s.mode))
    }

    /// Fills `ratios` and `binding` from the runs.
    pub fn derive(&mut self) {
        let mut ratios = Vec::new();
        let mut binding = Vec::new();
        for m in &self.mesh {
            let raw = self.raw.iter().find(|r| r.size == m.size);
            let piped = self.store(m.size, |m| *m == Mode::Pipelined);
            let awaited = self.store(m.size, |m| *m == Mode::Awaited);
            let batched = self.store(m.size, |m| matches!(m, Mode::Batched { .. }));
            let over = |base: f64| (base > 0.0).then(|| m.records_per_s / base);
            ratios.push(Ratio {
                size: m.size,
                mesh_records_per_s: m.records_per_s,
                mesh_over_raw_leaf: raw.and_then(|r| over(r.msgs_per_s)),
                mesh_over_store_pipelined: piped.and_then(|s| over(s.msgs_per_s)),
                mesh_over_store_awaited: awaited.and_then(|s| over(s.msgs_per_s)),
            });
            let mesh_mb = m.records_per_s * m.fsynced_bytes_per_record / 1e6;
            let disk = batched.map(|b| b.stored_mb_per_s);
            let share = disk.filter(|d| *d > 0.0).map(|d| mesh_mb / d);
            binding.push(Binding {
                size: m.size,
                mesh_records_per_s: m.records_per_s,
                fsynced_bytes_per_record: m.fsynced_bytes_per_record,
                mesh_fsynced_mb_per_s: mesh_mb,
                one_stream_mb_per_s: disk,
                share_of_disk: share,
                verdict: verdict(share),
                cpu_verdict: cpu_verdict(&m.cpu),
                redelivery_verdict: if m.redelivered == 0 {
                    "none".into()
                } else {
                    format!(
                        "{} redeliveries: cycles were refused or acknowledged late and their batches \
                         delivered again (see the per-stream table and the log); the run waited on them",
                        m.redelivered
                    )
                },
            });
        }
        self.ratios = ratios;
        self.binding = binding;
    }

    /// Writes latest.json and latest.md under `out`; returns the markdown.
    pub fn write(&self, out: &Path) -> Result<String, Failure> {
        std::fs::create_dir_all(out)?;
        let md = crate::markdown::render(self);
        std::fs::write(out.join("latest.md"), &md)?;
        std::fs::write(out.join("latest.json"), serde_json::to_string_pretty(self)?)?;
        Ok(md)
    }
}

fn verdict(share: Option<f64>) -> String {
    match share {
        None => "no batched-stream run at this size to compare with".into(),
        Some(s) if s > 1.1 => format!(
            "not shown: the mesh's streams together fsync {:.0} % of what one stream did alone, so one \
             stream's figure is not this disk's ceiling (a stream fsyncs its messages one at a time; the \
             mesh's streams fsync side by side); look at CPU and the bridge stages",
            s * 100.0
        ),
        Some(s) if s >= 0.7 => format!(
            "the disk binds: the mesh path fsyncs {:.0} % of one stream's fsync bandwidth",
            s * 100.0
        ),
        Some(s) if s >= 0.4 => format!(
            "the disk is close to binding ({:.0} % of one stream's fsync bandwidth)",
            s * 100.0
        ),
        Some(s) => format!(
            "the disk does not bind ({:.0} % of one stream's fsync bandwidth): CPU, round trips or \
             the pipeline's structure do",
            s * 100.0
        ),
    }
}

fn cpu_verdict(c: &crate::cpu::Use) -> String {
    let servers = c.usa_server_cores + c.gbr_server_cores;
    let own = c.bench_process_cores + servers;
    let shared = c.machine_busy * c.cores as f64 - own;
    let others = if shared > 0.25 {
        format!(", {shared:.1} by other work on the machine")
    } else {
        String::new()
    };
    let load = format!(
        "{:.0} % of {} cores busy: {:.2} in the bridges and SDKs, {servers:.2} in the nats-servers{others}",
        c.machine_busy * 100.0,
        c.cores,
        c.bench_process_cores
    );
    if c.machine_busy >= 0.85 {
        format!("CPU binds ({load})")
    } else {
        format!("CPU does not bind ({load})")
    }
}
