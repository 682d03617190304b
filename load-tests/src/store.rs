//! Measurements 2 and 3: **one fsynced JetStream stream**, the ceiling any
//! path that stores each hop durably runs into.
//!
//! One R1 file stream in USA's HOME account with the mesh's stream
//! settings (file storage, replicas 1 as in pair.toml, 2-minute duplicate
//! window, every publish with a `Nats-Msg-Id` as the mesh's are), on a
//! server with `sync_interval: always`. A fresh stream per run, deleted
//! after it. Three ways to publish into it:
//!
//! - **per-message, pipelined**: one message of `size` bytes per publish,
//!   up to [`WINDOW`] acknowledgements outstanding (a sliding window);
//! - **per-message, awaited**: one message per publish, each
//!   acknowledgement awaited before the next publish (one fsync round
//!   trip per message);
//! - **batched**: messages of 64 × `size` bytes (what one full mesh batch
//!   of `size`-byte records weighs, without its signature), pipelined as
//!   above; reported in records/s and in fsynced MB/s: the write bandwidth
//!   the disk gives one stream.
//!
//! Stored bytes are the stream's `state.bytes` after the run (the server's
//! own accounting: payload, subject, headers and its per-message overhead).
use std::collections::VecDeque;
use std::time::Instant;

use async_nats::jetstream::{self, message::PublishMessage, stream};

use crate::Failure;

/// Acknowledgements outstanding in a pipelined run.
pub const WINDOW: usize = 1000;

/// How a run publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One message per publish, [`WINDOW`] in flight.
    Pipelined,
    /// One message per publish, each awaited.
    Awaited,
    /// `records` records' worth per message, [`WINDOW`] in flight.
    Batched { records: usize },
}

impl Mode {
    /// How the tables name it.
    pub fn label(&self) -> String {
        match self {
            Mode::Pipelined => "(a) per message, pipelined".into(),
            Mode::Awaited => "(b) per message, awaited".into(),
            Mode::Batched { records } => format!("(3) batched, {records} records/msg"),
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreRun {
    pub size: usize,
    pub mode: Mode,
    pub messages: usize,
    pub message_bytes: usize,
    pub seconds: f64,
    pub msgs_per_s: f64,
    /// Records per second: messages/s times records per message.
    pub records_per_s: f64,
    /// Payload bytes per second, in MB/s (10^6).
    pub payload_mb_per_s: f64,
    /// The stream's `state.bytes` per second, in MB/s.
    pub stored_mb_per_s: f64,
    pub stored_bytes: u64,
    /// msg/s of every round (this run is the median one).
    pub rounds_msgs_per_s: Vec<f64>,
}

/// Publishes `messages` messages into a fresh stream as `mode` says.
pub async fn run(
    js: &jetstream::Context,
    size: usize,
    mode: Mode,
    messages: usize,
) -> Result<StoreRun, Failure> {
    let tag = match mode {
        Mode::Pipelined => "p",
        Mode::Awaited => "a",
        Mode::Batched { .. } => "b",
    };
    let name = format!("BENCH_STORE_{tag}{size}");
    let subject = format!("bench.store.{tag}{size}");
    let _ = js.delete_stream(&name).await;
    let mut stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: 1,
            duplicate_window: std::time::Duration::from_secs(120),
            ..Default::default()
        })
        .await?;
    let records = match mode {
        Mode::Batched { records } => records,
        _ => 1,
    };
    let message_bytes = size * records;
    let payload = bytes::Bytes::from(vec![0x5a; message_bytes]);
    let window = if mode == Mode::Awaited { 1 } else { WINDOW };
    let mut acks = VecDeque::with_capacity(window);
    let started = Instant::now();
    for i in 0..messages {
        if acks.len() >= window {
            if let Some(ack) = acks.pop_front() {
                let _: jetstream::publish::PublishAck = ack.await?;
            }
        }
        let publish = PublishMessage::build()
            .payload(payload.clone())
            .message_id(format!("bench.{tag}{size}.{i}"));
        acks.push_back(js.send_publish(subject.clone(), publish).await?);
    }
    for ack in acks {
        ack.await?;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let stored_bytes = stream.info().await?.state.bytes;
    js.delete_stream(&name).await?;
    let msgs_per_s = messages as f64 / seconds;
    Ok(StoreRun {
        size,
        mode,
        messages,
        message_bytes,
        seconds,
        msgs_per_s,
        records_per_s: msgs_per_s * records as f64,
        payload_mb_per_s: (messages * message_bytes) as f64 / seconds / 1e6,
        stored_mb_per_s: stored_bytes as f64 / seconds / 1e6,
        stored_bytes,
        rounds_msgs_per_s: Vec::new(),
    })
}
