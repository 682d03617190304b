//! The bridges' and SDKs' own logs during the run, kept as evidence: they
//! run in this process, so their `tracing` events go to
//! `<out>/bridges.log` (level from `RUST_LOG`, warnings and errors if it
//! is unset). At the end the log is summarised: how many warnings and
//! errors, and the most frequent messages.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Failure;

/// Most frequent messages kept in the summary.
const TOP: usize = 12;

/// What the log held.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub path: PathBuf,
    pub warnings: usize,
    pub errors: usize,
    /// (level and message, count), most frequent first.
    pub top: Vec<(String, usize)>,
}

/// Sends every `tracing` event of this process to `<out>/bridges.log`.
pub fn install(out: &Path) -> Result<PathBuf, Failure> {
    std::fs::create_dir_all(out)?;
    let path = out.join("bridges.log");
    let file = std::fs::File::create(&path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init()
        .map_err(|e| format!("cannot install the log: {e}"))?;
    Ok(path)
}

/// Warnings and errors in the log at `path` so far.
pub fn count(path: &Path) -> usize {
    let s = summarise(path);
    s.warnings + s.errors
}

/// Counts the warnings and errors in the log at `path`.
pub fn summarise(path: &Path) -> Summary {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Summary {
        path: path.to_path_buf(),
        ..Summary::default()
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let level = if line.contains(" WARN ") {
            out.warnings += 1;
            "WARN"
        } else if line.contains(" ERROR ") {
            out.errors += 1;
            "ERROR"
        } else {
            continue;
        };
        *counts
            .entry(format!("{level} {}", message_of(line)))
            .or_default() += 1;
    }
    let mut top: Vec<(String, usize)> = counts.into_iter().collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    top.truncate(TOP);
    out.top = top;
    out
}

/// Most characters of an event kept in the summary.
const EVENT_CHARS: usize = 220;

/// The event after its level, every run of digits written `N` (so repeats
/// of one event with other counts, sequences or sizes count together),
/// cut at [`EVENT_CHARS`].
fn message_of(line: &str) -> String {
    let after_level = line
        .split_once(" WARN ")
        .or_else(|| line.split_once(" ERROR "))
        .map_or(line, |(_, rest)| rest)
        .trim();
    let mut out = String::new();
    let mut in_digits = false;
    for c in after_level.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
        if out.len() >= EVENT_CHARS {
            out.push('…');
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_of_one_event_count_together() {
        let dir = std::env::temp_dir().join(format!("bench-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bridges.log");
        std::fs::write(
            &path,
            "2026-01-01T00:00:00Z  WARN coalition_bridge::pipeline: cycle not stored stage=egress size=3\n\
             2026-01-01T00:00:01Z  WARN coalition_bridge::pipeline: cycle not stored stage=egress size=9\n\
             2026-01-01T00:00:02Z ERROR coalition_bridge::x: boom\n\
             2026-01-01T00:00:03Z  INFO coalition_bridge::x: fine\n",
        )
        .unwrap();
        let s = summarise(&path);
        assert_eq!((s.warnings, s.errors), (2, 1));
        assert_eq!(s.top[0].1, 2, "{:?}", s.top);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
