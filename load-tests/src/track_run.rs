//! One **mesh-path run** of tracks, the unit measurements 4 and 5 are
//! made of: producer SDK -> OUTBOUND -> egress -> RELEASED -> leaf ->
//! ingress -> INBOUND -> subscriber SDK, every batch verified and every
//! record policy-checked, delivered and acknowledged.
//!
//! A run publishes `records` tracks spread over `feeds` fresh feeds, as
//! fast as the producer takes them, and waits until GBR's subscriber has
//! every record released to it, each exactly once and in order per feed
//! ([`crate::deliveries`]). Around it, it reads every stream's state
//! ([`crate::stored`]), the leaf-link counters and the bridges' stage
//! timings ([`crate::counters`]), and afterwards decodes a few stored
//! batches ([`crate::sealed`]).
//!
//! Records/s is records delivered / (first publish to last delivery). The
//! producer's connection (certificate, writers bucket) is made before the
//! clock starts; each feed's first batch pays for taking the feed.
use std::sync::Arc;
use std::time::Instant;

use async_nats::jetstream;
use coalition_sdk::Label;
use coalition_topology::streams;

use crate::counters::{self, Leaf, StageWork};
use crate::cpu;
use crate::deliveries::Deliveries;
use crate::publish::{self, Until};
use crate::sealed::{self, Sealed};
use crate::setup::{feed, Bench, TRACK_PRODUCER};
use crate::stored::{self, StreamDelta, Streams};
use crate::Failure;

/// Everything a run needs from the benchmark.
pub struct Ctx<'a> {
    pub bench: &'a Bench,
    pub streams: Streams,
    pub tracks: Deliveries,
    pub alerts: Deliveries,
    /// USA's HOME account, to read stored batches back.
    pub home: jetstream::Context,
    /// Idle leaf-link traffic (heartbeats, pull requests), bytes per second
    /// both ways, measured before the first run.
    pub idle_leaf_per_s: f64,
    /// The bridges' log, to count what each run logged.
    pub log: std::path::PathBuf,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The run's name; its feeds are `<run>-<i>`.
    pub run: String,
    pub size: usize,
    pub feeds: usize,
    pub records_per_feed: u64,
    /// Record k of a feed gets `labels[k % len]`; only those labelled
    /// releasable to GBR are expected there.
    pub labels: Vec<Label>,
    pub batch_records: usize,
}

impl Spec {
    /// The producer's in-flight window for this run: two batches per feed
    /// (one being published, one sealed ahead), at least the SDK's 8.
    pub fn in_flight(&self) -> usize {
        (2 * self.feeds).max(8)
    }
}

/// What a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrackRun {
    pub run: String,
    pub size: usize,
    /// Seconds waited before the run for the previous one's consumers to
    /// go idle, and whether they did (within 30 s).
    pub quiet_wait_seconds: f64,
    pub quiet_before: bool,
    /// Warnings and errors the bridges and SDKs logged during the run.
    pub log_warnings: usize,
    pub feeds: usize,
    pub batch_records: usize,
    pub in_flight_batches: usize,
    pub published: u64,
    /// Share of the published records labelled releasable to GBR.
    pub released_share: f64,
    pub delivered: u64,
    pub missing: u64,
    pub seconds: f64,
    /// First publish to the last receipt (every batch stored in OUTBOUND).
    pub publish_seconds: f64,
    pub records_per_s: f64,
    /// Batch messages stored in USA's OUTBOUND during the run.
    pub outbound_batches: u64,
    /// Records published / OUTBOUND batches: how full batches really were.
    pub records_per_batch: f64,
    pub streams: Vec<StreamDelta>,
    /// Deliveries, over every durable consumer, of messages delivered before.
    pub redelivered: u64,
    pub fsynced_bytes: u64,
    pub fsynced_bytes_per_record: f64,
    pub leaf: Leaf,
    /// Message bytes on the leaf link (`/leafz`), both ways, per record delivered.
    pub leaf_bytes_per_record: f64,
    /// The same, less the idle traffic the run's duration would carry anyway.
    pub leaf_bytes_per_record_less_idle: f64,
    /// TLS bytes on the wire, both ways, per record delivered.
    pub wire_bytes_per_record: f64,
    pub sealed: Sealed,
    pub stages: Vec<StageWork>,
    /// CPU from the first publish to the last delivery.
    pub cpu: cpu::Use,
}

impl Ctx<'_> {
    /// Runs `spec`.
    pub async fn run(&mut self, spec: &Spec) -> Result<TrackRun, Failure> {
        let feeds: Vec<String> = (0..spec.feeds).map(|i| feed(&spec.run, i)).collect();
        let released = crate::payload::releasable();
        let expected: Vec<u64> = (1..=spec.records_per_feed)
            .filter(|seq| spec.labels[((seq - 1) % spec.labels.len() as u64) as usize] == released)
            .collect();
        for f in &feeds {
            self.tracks.expect(f, expected.clone());
        }
        let (batch, in_flight) = (spec.batch_records, spec.in_flight());
        let producer = Arc::new(
            self.bench
                .producer(TRACK_PRODUCER, |o| {
                    o.max_batch_records(batch).in_flight_batches(in_flight)
                })
                .await?,
        );
        let (quiet_wait, quiet) = self.streams.quiesce().await?;
        let before = self.streams.settled().await?;
        let consumers_before = self.streams.consumers().await?;
        let stages_before = counters::stages();
        let log_before = crate::logs::count(&self.log);
        let leaf_before = Leaf::read(self.bench).await?;
        let cpu_before = cpu::Sample::now(self.bench);
        let started = Instant::now();
        let publishing = tokio::spawn(publish::tracks(
            producer.clone(),
            feeds.clone(),
            spec.size,
            Until::Records(spec.records_per_feed),
            spec.labels.clone(),
        ));
        let outcome = self.tracks.wait(&feeds).await;
        let cpu = cpu::Sample::now(self.bench).since(&cpu_before);
        let leaf_after = Leaf::read(self.bench).await?;
        let stages_after = counters::stages();
        let fed = publishing.await??;
        let published: u64 = fed.iter().map(|f| f.records).sum();
        let stored_at = fed.iter().map(|f| f.stored_at).max().unwrap_or(started);
        let after = self.streams.settled().await?;
        let consumers_after = self.streams.consumers().await?;
        if let Ok(p) = Arc::try_unwrap(producer) {
            p.close().await?;
        }
        let end = outcome.last_at.unwrap_or_else(Instant::now);
        let seconds = end.duration_since(started).as_secs_f64().max(1e-9);
        let delivered = outcome.delivered as u64;
        let per = |bytes: f64| bytes / delivered.max(1) as f64;
        let streams = stored::deltas(&before, &after, &consumers_before, &consumers_after);
        let fsynced_bytes = stored::total_bytes(&streams);
        let outbound_batches = stored::messages_in(&streams, "USA", streams::OUTBOUND);
        let leaf = leaf_after.since(&leaf_before);
        let idle = self.idle_leaf_per_s * seconds;
        Ok(TrackRun {
            run: spec.run.clone(),
            size: spec.size,
            quiet_wait_seconds: quiet_wait.as_secs_f64(),
            quiet_before: quiet,
            log_warnings: crate::logs::count(&self.log).saturating_sub(log_before),
            feeds: spec.feeds,
            batch_records: spec.batch_records,
            in_flight_batches: in_flight,
            published,
            released_share: expected.len() as f64 / spec.records_per_feed.max(1) as f64,
            delivered,
            missing: outcome.missing as u64,
            seconds,
            publish_seconds: stored_at.duration_since(started).as_secs_f64(),
            records_per_s: delivered as f64 / seconds,
            outbound_batches,
            records_per_batch: published as f64 / outbound_batches.max(1) as f64,
            redelivered: stored::redelivered(&streams),
            fsynced_bytes_per_record: per(fsynced_bytes as f64),
            fsynced_bytes,
            streams,
            leaf_bytes_per_record: per(leaf.both_ways() as f64),
            leaf_bytes_per_record_less_idle: per((leaf.both_ways() as f64 - idle).max(0.0)),
            wire_bytes_per_record: per((leaf.wire_usa_to_gbr + leaf.wire_gbr_to_usa) as f64),
            leaf,
            sealed: sealed::sample(&self.home, &feeds[0]).await?,
            stages: counters::stage_work(&stages_before, &stages_after, seconds),
            cpu,
        })
    }

    /// Idle leaf-link traffic over `seconds`, in bytes per second both ways.
    pub async fn measure_idle_leaf(&mut self, seconds: f64) -> Result<f64, Failure> {
        let before = Leaf::read(self.bench).await?;
        let t = Instant::now();
        tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
        let after = Leaf::read(self.bench).await?;
        let rate = after.since(&before).both_ways() as f64 / t.elapsed().as_secs_f64();
        self.idle_leaf_per_s = rate;
        Ok(rate)
    }
}
