//! Where the CPU went during a run: the whole machine (`/proc/stat`), this
//! process (both bridges, both SDKs, the link proxy) and each nation's
//! nats-server (`/proc/<pid>/stat`). On a machine shared with other work
//! the machine figure includes that work; the per-process ones do not.
//!
//! Linux only; elsewhere every figure reads zero. Jiffies are taken as
//! 1/100 s (USER_HZ on Linux).

use crate::setup::Bench;

/// Jiffies per second in `/proc` (USER_HZ).
const HZ: f64 = 100.0;

/// Counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    busy: u64,
    iowait: u64,
    total: u64,
    own: u64,
    usa: u64,
    gbr: u64,
    at: Option<std::time::Instant>,
}

/// CPU used between two samples.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Use {
    /// Cores the machine has.
    pub cores: usize,
    /// Share of all cores busy (any process).
    pub machine_busy: f64,
    /// Share of all cores idle waiting for I/O.
    pub machine_iowait: f64,
    /// Cores this process kept busy on average.
    pub bench_process_cores: f64,
    /// Cores USA's and GBR's nats-servers kept busy.
    pub usa_server_cores: f64,
    pub gbr_server_cores: f64,
}

impl Sample {
    /// Reads every counter now.
    pub fn now(bench: &Bench) -> Sample {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3).copied().unwrap_or(0);
        let iowait = fields.get(4).copied().unwrap_or(0);
        let servers = |nation: &str| -> u64 {
            bench
                .mesh
                .server_pids(nation)
                .into_iter()
                .map(|pid| process_jiffies(&pid.to_string()))
                .sum()
        };
        Sample {
            busy: total.saturating_sub(idle + iowait),
            iowait,
            total,
            own: process_jiffies("self"),
            usa: servers("USA"),
            gbr: servers("GBR"),
            at: Some(std::time::Instant::now()),
        }
    }

    /// What was used from `earlier` to `self`.
    pub fn since(&self, earlier: &Sample) -> Use {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let total = self.total.saturating_sub(earlier.total).max(1) as f64;
        let seconds = match (self.at, earlier.at) {
            (Some(a), Some(b)) => a.duration_since(b).as_secs_f64().max(1e-9),
            _ => 1.0,
        };
        let cores_of = |a: u64, b: u64| a.saturating_sub(b) as f64 / HZ / seconds;
        Use {
            cores,
            machine_busy: self.busy.saturating_sub(earlier.busy) as f64 / total,
            machine_iowait: self.iowait.saturating_sub(earlier.iowait) as f64 / total,
            bench_process_cores: cores_of(self.own, earlier.own),
            usa_server_cores: cores_of(self.usa, earlier.usa),
            gbr_server_cores: cores_of(self.gbr, earlier.gbr),
        }
    }
}

/// CPU seconds process `pid` has used so far (0 if it cannot be read).
pub fn process_seconds(pid: u32) -> f64 {
    process_jiffies(&pid.to_string()) as f64 / HZ
}

/// utime + stime of `/proc/<pid>/stat` (fields 14 and 15; the command name
/// in field 2 may hold spaces, so count from the closing parenthesis).
fn process_jiffies(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': field 3 is f[0], so utime (14) is f[11], stime (15) f[12].
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}
