//! The exercise's ledgers: JSON-lines files under `ledger/` where the
//! agents write what they published and received, the sidecars sample
//! their links, the driver records what it did, and the audit logs are
//! dumped after the run. The verifier reads only these files, so a run can
//! be verified again later from its folder.
//!
//! | file | written by |
//! |---|---|
//! | `start.json` | driver: when producers start, how fast, how long |
//! | `producer-<NATION>-<producer>.jsonl` | producer agent ([`ProducerRecord`]) |
//! | `alerts-<NATION>.jsonl` | alerting subscriber agent ([`AlertsRecord`]) |
//! | `links/<FROM>-<TO>-<i>.jsonl` | sidecar ([`LinkSample`]) |
//! | `events.jsonl` | driver ([`EventRecord`]) |
//! | `audit-<NATION>.jsonl` | driver, from the nation's audit log ([`AuditLine`]) |
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use coalition_sdk::Label;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ExerciseError;

/// A label as the ledgers record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRecord {
    /// Classification in the origin's scale.
    pub classification: String,
    /// Releasable-to nations.
    pub releasable_to: BTreeSet<String>,
    /// Caveats.
    pub caveats: BTreeSet<String>,
}

impl LabelRecord {
    /// The record of `label`.
    pub fn of(label: &Label) -> Self {
        LabelRecord {
            classification: label.classification.clone(),
            releasable_to: label.releasable_to.clone(),
            caveats: label.caveats.clone(),
        }
    }

    /// Back to a label of `origin`'s policy.
    pub fn to_label(&self, origin: &str) -> Label {
        let to: Vec<&str> = self.releasable_to.iter().map(String::as_str).collect();
        let mut label = Label::new(origin, &self.classification, &to);
        for c in &self.caveats {
            label = label.with_caveat(c);
        }
        label
    }

    /// `CLASSIFICATION REL TO A,B +CAVEAT`.
    pub fn display(&self) -> String {
        let mut s = self.classification.clone();
        if !self.releasable_to.is_empty() {
            let to: Vec<&str> = self.releasable_to.iter().map(String::as_str).collect();
            s.push_str(&format!(" REL TO {}", to.join(",")));
        }
        for c in &self.caveats {
            s.push_str(&format!(" +{c}"));
        }
        s
    }
}

/// When producers start, written by the driver once the mesh is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartSignal {
    /// The exercise clock's zero, Unix ms.
    pub t0_ms: i64,
    /// How many tracks each producer publishes, and when.
    pub load: crate::load::Load,
    /// How long producers publish.
    pub duration_ms: u64,
}

/// One line of a producer's ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProducerRecord {
    /// Connected; waiting for the start signal.
    Ready {
        /// Unix ms.
        t_ms: i64,
    },
    /// A track was stored in the producer's nation (acknowledged by JetStream).
    Published {
        /// Unix ms of the acknowledgement.
        t_ms: i64,
        /// Producer's nation.
        origin: String,
        /// Producer id.
        producer: String,
        /// Feed.
        feed: String,
        /// Feed sequence number.
        seq: u64,
        /// The label it was signed with.
        label: LabelRecord,
    },
    /// A publish failed; the same track is tried again.
    Failed {
        /// Unix ms.
        t_ms: i64,
        /// The SDK's error.
        error: String,
    },
    /// Publishing ended.
    Done {
        /// Unix ms.
        t_ms: i64,
        /// Tracks stored.
        published: u64,
    },
}

/// One line of an alerting subscriber's ledger.
// Nearly every line is a delivery, so boxing it would only add a pointer.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertsRecord {
    /// Subscribed.
    Ready {
        /// Unix ms.
        t_ms: i64,
    },
    /// A verified delivery.
    Delivered {
        /// Unix ms when the SDK handed it over.
        t_ms: i64,
        /// The producer's nation.
        origin: String,
        /// Producer id.
        producer: String,
        /// Feed.
        feed: String,
        /// Feed sequence number.
        seq: u64,
        /// The label as produced.
        label: LabelRecord,
        /// When the origin's bridge released it (lineage).
        released_at_ms: Option<i64>,
        /// When this nation's bridge admitted it (lineage).
        admitted_at_ms: Option<i64>,
        /// `<id>@<version>` of the translator that admitted it.
        translator: Option<String>,
        /// Feed seqs the SDK could not find before this one.
        gap: Option<(u64, u64)>,
        /// Came from a gap replay.
        replayed: bool,
    },
    /// The subscription reported an error (it goes on).
    Failed {
        /// Unix ms.
        t_ms: i64,
        /// The SDK's error.
        error: String,
    },
}

/// One sample of a sidecar's link, every 250 ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkSample {
    /// Unix ms.
    pub t_ms: i64,
    /// `<FROM>-<TO>-<i>`.
    pub name: String,
    /// False while cut.
    pub open: bool,
    /// Connections being forwarded.
    pub live: usize,
    /// Bytes from the dialing (receiving) nation to the sender, so far.
    pub to_upstream: u64,
    /// Bytes from the sender to the receiving nation, so far.
    pub from_upstream: u64,
    /// Added one-way delay, ms.
    pub delay_ms: u64,
    /// Added jitter, ± ms.
    pub jitter_ms: u64,
    /// Bytes the sidecar's interfaces sent so far, both ways, as the
    /// kernel counts them (after any bandwidth limit); absent if unknown.
    #[serde(default)]
    pub wire_bytes: Option<u64>,
}

/// What the driver did, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Unix ms when the action was taken.
    pub t_ms: i64,
    /// The action, e.g. `cut USA-GBR`.
    pub action: String,
    /// Machine-readable parts of the action.
    pub event: crate::scenario::Action,
    /// For a notice: its name (`GBR#1`) and effective instant.
    pub notice: Option<(String, i64)>,
}

/// One audit record, as dumped from a nation's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLine {
    /// The bridge's nation.
    pub nation: String,
    /// `release`, `deny`, `admit`, `reject`, `revoke` or `hold` (the end
    /// of a hold is a second `hold` whose detail says so).
    pub decision: String,
    /// `egress`, `ingress` or `control`.
    pub stage: String,
    /// The partner the decision was about.
    pub partner: String,
    /// `<origin>.<producer>.<feed>.<seq>` or a notice's `<issuer>#<epoch>`.
    pub msg_id: String,
    /// Deny reason.
    pub reason: String,
    /// `<id>@<version>`.
    pub translator: String,
    /// Unix ms.
    pub decided_at_ms: i64,
    /// Free text: a notice's summary, why a hold began or that it ended.
    #[serde(default)]
    pub detail: String,
}

/// The ledger folder of an exercise.
#[derive(Debug, Clone)]
pub struct LedgerDir(pub PathBuf);

impl LedgerDir {
    /// `start.json`.
    pub fn start(&self) -> PathBuf {
        self.0.join("start.json")
    }
    /// A producer's ledger.
    pub fn producer(&self, nation: &str, producer: &str) -> PathBuf {
        self.0.join(format!("producer-{nation}-{producer}.jsonl"))
    }
    /// A nation's alerting subscriber's ledger.
    pub fn alerts(&self, nation: &str) -> PathBuf {
        self.0.join(format!("alerts-{nation}.jsonl"))
    }
    /// A sidecar's samples.
    pub fn link(&self, name: &str) -> PathBuf {
        self.0.join("links").join(format!("{name}.jsonl"))
    }
    /// The driver's events.
    pub fn events(&self) -> PathBuf {
        self.0.join("events.jsonl")
    }
    /// A nation's dumped audit log.
    pub fn audit(&self, nation: &str) -> PathBuf {
        self.0.join(format!("audit-{nation}.jsonl"))
    }
}

/// Appends JSON lines to a file, flushing each one, so a reader (or a
/// crash) never sees half a record.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl JsonlWriter {
    /// Opens `path` for appending, creating it and its folder.
    pub fn append(path: &Path) -> Result<Self, ExerciseError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(ExerciseError::io(format!("create {}", parent.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(ExerciseError::io(format!("open {}", path.display())))?;
        Ok(JsonlWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one record as one line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<(), ExerciseError> {
        let mut line = serde_json::to_vec(record).map_err(|e| ExerciseError::Ledger {
            path: self.path.display().to_string(),
            line: 0,
            detail: format!("cannot encode a record: {e}"),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(ExerciseError::io(format!(
                "append to {}",
                self.path.display()
            )))
    }
}

/// Reads every record of a JSON-lines file; a missing file is empty. A line
/// that does not parse is an error naming the file and line, except a last
/// line without its newline (a writer killed mid-line), which is ignored.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ExerciseError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ExerciseError::io(format!("read {}", path.display()))(e)),
    };
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(record) => out.push(record),
            Err(_) if !complete && i + 1 == lines.len() => {}
            Err(e) => {
                return Err(ExerciseError::Ledger {
                    path: path.display().to_string(),
                    line: i + 1,
                    detail: format!("not a ledger record: {e}"),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let mut w = JsonlWriter::append(&path).unwrap();
        let record = ProducerRecord::Done {
            t_ms: 5,
            published: 7,
        };
        w.write(&record).unwrap();
        drop(w);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"kind\":\"do").unwrap();
        let back: Vec<ProducerRecord> = read_jsonl(&path).unwrap();
        assert_eq!(back, vec![record]);
    }

    #[test]
    fn a_bad_line_in_the_middle_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        std::fs::write(
            &path,
            "{\"kind\":\"ready\",\"t_ms\":1}\nnot json\n{\"kind\":\"ready\",\"t_ms\":2}\n",
        )
        .unwrap();
        let e = read_jsonl::<ProducerRecord>(&path).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl:2: not a ledger record"), "{e}");
        assert!(read_jsonl::<ProducerRecord>(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_label_record_gives_back_the_label() {
        let label = Label::new("USA", "SECRET", &["GBR", "FRA"]).with_caveat("ORCON");
        let r = LabelRecord::of(&label);
        assert_eq!(r.display(), "SECRET REL TO FRA,GBR +ORCON");
        let back = r.to_label("USA");
        assert_eq!(back.releasable_to, label.releasable_to);
        assert_eq!(back.caveats, label.caveats);
        assert_eq!(back.classification, "SECRET");
    }
}
