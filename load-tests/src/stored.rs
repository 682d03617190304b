//! Measurement 4's second half: **bytes fsynced per record**, summed over
//! every stream of both nations.
//!
//! Before and after a mesh run it lists every stream (JetStream
//! `STREAM.LIST`, with state) in every account that holds streams: HOME of
//! USA and of GBR, and USA's REL_GBR, each as the bridge's user there.
//! Per stream it reports messages written (`state.last_seq` after minus
//! before) and bytes: `state.bytes` after minus before when no message was
//! removed meanwhile; for streams that keep one message per subject
//! (CONTROL, POSITIONS, the writers bucket) or a work queue, where the
//! stored total hides what was overwritten, the messages written times
//! their average stored size (marked `estimated`).
//!
//! It also reads every durable consumer's delivery counter, so a run shows
//! how often a message was delivered again (ack wait expired, pull lost):
//! each redelivery of RELEASED crosses the leaf link again.
//!
//! `state.bytes` is the server's accounting of stored messages (payload,
//! subject, headers and its per-message overhead); consumer state files,
//! index files and filesystem metadata are written too and not counted.
//! Every stream here is on servers with `sync_interval: always`, so every
//! byte counted was fsynced before it was acknowledged.
use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use futures::TryStreamExt;

use crate::setup::Bench;
use crate::Failure;

/// (nation, account, stream).
pub type StreamKey = (String, String, String);

/// One stream's state at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct State {
    pub messages: u64,
    pub bytes: u64,
    pub last_seq: u64,
}

/// Every stream's state.
pub type Snapshot = BTreeMap<StreamKey, State>;

/// A durable consumer's counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consumer {
    /// Deliveries so far (`delivered.consumer_seq`: redeliveries count).
    pub deliveries: u64,
    /// The highest stream sequence delivered (`delivered.stream_seq`).
    pub stream_seq: u64,
    /// Delivered and not acknowledged yet.
    pub ack_pending: usize,
    /// Not delivered yet.
    pub pending: u64,
}

/// Every durable consumer, by (stream, consumer name).
pub type Consumers = BTreeMap<(StreamKey, String), Consumer>;

/// The streams records move through: a run is over once their consumers
/// are idle.
fn is_data_stream(name: &str) -> bool {
    ["OUTBOUND", "RELEASED", "INBOUND", "PACED"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// How long [`Streams::quiesce`] waits at most.
const QUIET_WAIT: Duration = Duration::from_secs(30);

/// What one stream took during a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamDelta {
    pub nation: String,
    pub account: String,
    pub stream: String,
    pub messages_written: u64,
    pub bytes_written: u64,
    /// True when `bytes_written` is messages × average size (messages were
    /// removed or replaced meanwhile).
    pub estimated: bool,
    /// Deliveries its durable consumers made (all of them, summed).
    pub consumer_deliveries: u64,
    /// Of those, deliveries of a message the consumer had delivered before
    /// (its ack wait expired, or a pull was lost): consumer deliveries
    /// minus the stream sequences newly delivered.
    pub redelivered: u64,
}

/// Connections to every account holding streams.
pub struct Streams {
    accounts: Vec<(String, String, jetstream::Context)>,
}

impl Streams {
    /// Connects as the bridge's user in every such account of both nations.
    pub async fn connect(bench: &Bench) -> Result<Streams, Failure> {
        let mut accounts = Vec::new();
        for nation in ["USA", "GBR"] {
            for (account, cred) in bench.stream_accounts(nation)? {
                let client = bench.connect(nation, &cred).await?;
                accounts.push((nation.to_string(), account, jetstream::new(client)));
            }
        }
        Ok(Streams { accounts })
    }

    /// Every stream's state now (the benchmark's own BENCH_ streams left out).
    pub async fn snapshot(&self) -> Result<Snapshot, Failure> {
        let mut out = Snapshot::new();
        for (nation, account, js) in &self.accounts {
            let infos: Vec<_> = js.streams().try_collect().await?;
            for info in infos {
                if info.config.name.starts_with("BENCH_") {
                    continue;
                }
                out.insert(
                    (nation.clone(), account.clone(), info.config.name.clone()),
                    State {
                        messages: info.state.messages,
                        bytes: info.state.bytes,
                        last_seq: info.state.last_sequence,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Every durable consumer's delivery counters now.
    pub async fn consumers(&self) -> Result<Consumers, Failure> {
        let mut out = Consumers::new();
        for (nation, account, js) in &self.accounts {
            let infos: Vec<_> = js.streams().try_collect().await?;
            for info in infos {
                let name = info.config.name.clone();
                if name.starts_with("BENCH_") {
                    continue;
                }
                let stream = js.get_stream_no_info(&name).await?;
                let consumers: Vec<_> = stream.consumers().try_collect().await?;
                for c in consumers {
                    out.insert(
                        ((nation.clone(), account.clone(), name.clone()), c.name),
                        Consumer {
                            deliveries: c.delivered.consumer_sequence,
                            stream_seq: c.delivered.stream_sequence,
                            ack_pending: c.num_ack_pending,
                            pending: c.num_pending,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Waits until the data streams' consumers have nothing pending or
    /// unacknowledged and made no delivery for a second, so what one run
    /// left behind (a late redelivery crosses the leaf again) is not
    /// counted in the next; at most [`QUIET_WAIT`]. Returns how long it
    /// waited and whether they were quiet.
    pub async fn quiesce(&self) -> Result<(Duration, bool), Failure> {
        let started = std::time::Instant::now();
        let mut last = None;
        loop {
            let consumers = self.consumers().await?;
            let data = consumers
                .iter()
                .filter(|(((_, _, stream), _), _)| is_data_stream(stream));
            let (mut busy, mut total) = (false, 0);
            for (_, c) in data {
                busy |= c.ack_pending > 0 || c.pending > 0;
                total += c.deliveries;
            }
            if !busy && last == Some(total) {
                return Ok((started.elapsed(), true));
            }
            if started.elapsed() > QUIET_WAIT {
                return Ok((started.elapsed(), false));
            }
            last = Some(total);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// A snapshot taken once the data streams stop growing (the audit log
    /// and feed positions are written as batches are stored): polled every
    /// 250 ms until two agree, for at most 5 s. CONTROL and the writers
    /// bucket are left out of the comparison: heartbeats and renewals
    /// write them every second.
    pub async fn settled(&self) -> Result<Snapshot, Failure> {
        let data = |s: &Snapshot| -> u64 {
            s.iter()
                .filter(|((_, _, name), _)| name != "CONTROL" && !name.starts_with("KV_"))
                .map(|(_, st)| st.last_seq)
                .sum()
        };
        let mut last = self.snapshot().await?;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.snapshot().await?;
            if data(&now) == data(&last) {
                return Ok(now);
            }
            last = now;
        }
        Ok(last)
    }
}

/// What every stream took between two snapshots, and what its consumers
/// delivered between two readings (streams that took nothing and
/// delivered nothing are left out).
pub fn deltas(
    before: &Snapshot,
    after: &Snapshot,
    consumers_before: &Consumers,
    consumers_after: &Consumers,
) -> Vec<StreamDelta> {
    let mut out = Vec::new();
    for (key, a) in after {
        let b = before.get(key).copied().unwrap_or_default();
        let written = a.last_seq.saturating_sub(b.last_seq);
        let (mut consumer_deliveries, mut redelivered) = (0, 0);
        for ((stream, name), c) in consumers_after.range((key.clone(), String::new())..) {
            if stream != key {
                break;
            }
            let c0 = consumers_before
                .get(&(stream.clone(), name.clone()))
                .copied()
                .unwrap_or(Consumer {
                    stream_seq: b.last_seq.min(c.stream_seq),
                    ..Consumer::default()
                });
            let d = c.deliveries.saturating_sub(c0.deliveries);
            consumer_deliveries += d;
            redelivered += d.saturating_sub(c.stream_seq.saturating_sub(c0.stream_seq));
        }
        if written == 0 && consumer_deliveries == 0 {
            continue;
        }
        let kept = a.messages.saturating_sub(b.messages);
        let (bytes_written, estimated) = if kept == written {
            (a.bytes.saturating_sub(b.bytes), false)
        } else {
            let average = if a.messages > 0 {
                a.bytes as f64 / a.messages as f64
            } else {
                0.0
            };
            ((written as f64 * average).round() as u64, true)
        };
        let (nation, account, stream) = key.clone();
        out.push(StreamDelta {
            nation,
            account,
            stream,
            messages_written: written,
            bytes_written,
            estimated,
            consumer_deliveries,
            redelivered,
        });
    }
    out
}

/// Total bytes written over `deltas`.
pub fn total_bytes(deltas: &[StreamDelta]) -> u64 {
    deltas.iter().map(|d| d.bytes_written).sum()
}

/// Redeliveries over every consumer of every stream.
pub fn redelivered(deltas: &[StreamDelta]) -> u64 {
    deltas.iter().map(|d| d.redelivered).sum()
}

/// Messages written into `stream` (any nation, account).
pub fn messages_in(deltas: &[StreamDelta], nation: &str, stream: &str) -> u64 {
    deltas
        .iter()
        .filter(|d| d.nation == nation && d.stream == stream)
        .map(|d| d.messages_written)
        .sum()
}
