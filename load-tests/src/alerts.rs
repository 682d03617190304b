//! Measurement 6, **alert latency under track load**.
//!
//! A separate producer (`warn-1`, an alert feed, the alert lane: OUTBOUND_ALERTS
//! -> RELEASED_ALERTS -> INBOUND_ALERTS) sends alerts at a fixed rate with
//! `Producer::send` of a `Record::alert`, each carrying its send time (Unix µs, taken just
//! before the call). GBR's alert subscription (`Topic::alerts()`, its own
//! connection, as an alerting system would have) notes the time each is
//! delivered; latency = delivery - send, on the same machine clock.
//! Meanwhile `radar-1` publishes 200-byte tracks on its feeds at a fixed
//! rate (half the measured mesh maximum, then the maximum), and every
//! track must still arrive exactly once.
//!
//! Before the clock starts, one alert is published and delivered, so the
//! feed is taken, the certificate known everywhere and the subscription
//! warm: the latencies are steady-state ones.
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cpu;
use crate::payload::{alert, now_us, releasable};
use crate::publish::{self, Until};
use crate::setup::{feed, ALERT_PRODUCER, TRACK_PRODUCER};
use crate::stats::{percentiles, Percentiles};
use crate::stored;
use crate::track_run::Ctx;
use crate::Failure;
use coalition_topology::streams;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `none`, `half` or `max`.
    pub name: String,
    /// Its track feeds are `l<name>-<i>`, its alert feed `a<name>-0`.
    pub track_rate: f64,
    pub track_size: usize,
    pub feeds: usize,
    pub alerts_per_second: f64,
    pub duration: Duration,
}

/// What it measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertRun {
    pub name: String,
    pub track_rate_target: f64,
    pub track_size: usize,
    pub feeds: usize,
    pub tracks_published: u64,
    /// Tracks published / the run's duration.
    pub track_rate_achieved: f64,
    pub tracks_delivered: u64,
    /// From the end of publishing to the last track delivered: the backlog
    /// the run left.
    pub track_drain_seconds: f64,
    pub alerts_per_second: f64,
    pub alerts_sent: u64,
    pub alerts_delivered: u64,
    /// Batches the alerts were sealed in (messages stored in USA's
    /// OUTBOUND_ALERTS during the run): each is one ML-DSA signature.
    pub alert_batches: u64,
    pub latency: Percentiles,
    /// The latency split at the bridges' decision times (their
    /// `Coalition-Released-At`/`-Admitted-At` headers, whole ms): send ->
    /// USA's release decision; -> GBR's admit decision; -> delivery.
    pub to_release_decision: Percentiles,
    pub to_admit_decision: Percentiles,
    pub to_delivery: Percentiles,
    /// CPU while tracks and alerts were published.
    pub cpu: cpu::Use,
}

impl Ctx<'_> {
    /// Runs one alert-latency measurement.
    pub async fn alert_run(&mut self, spec: &Spec) -> Result<AlertRun, Failure> {
        let feeds = if spec.track_rate > 0.0 { spec.feeds } else { 0 };
        let track_feeds: Vec<String> = (0..feeds)
            .map(|i| feed(&format!("l{}", spec.name), i))
            .collect();
        let alert_feed = feed(&format!("a{}", spec.name), 0);
        let in_flight = (2 * spec.feeds).max(8);
        let tracks = Arc::new(
            self.bench
                .producer(TRACK_PRODUCER, |o| o.in_flight_batches(in_flight))
                .await?,
        );
        let alerts = Arc::new(self.bench.producer(ALERT_PRODUCER, |o| o).await?);
        self.streams.quiesce().await?;
        // Warm-up: one alert, delivered, before the clock starts.
        let label = releasable();
        alerts
            .publish(
                &alert_feed,
                coalition_sdk::Record::alert(&label, &alert(0, now_us())),
            )
            .await?;
        self.alerts.expect(&alert_feed, vec![1]);
        self.alerts.wait(std::slice::from_ref(&alert_feed)).await;

        let streams_before = self.streams.snapshot().await?;
        let cpu_before = cpu::Sample::now(self.bench);
        let started = Instant::now();
        let track_task = tokio::spawn(publish::tracks(
            tracks.clone(),
            track_feeds.clone(),
            spec.track_size,
            Until::Paced {
                per_second: spec.track_rate,
                for_: spec.duration,
            },
            vec![label.clone()],
        ));
        let alert_task = tokio::spawn(publish::alerts(
            alerts.clone(),
            alert_feed.clone(),
            label,
            spec.alerts_per_second,
            spec.duration,
            2,
        ));
        let sent = alert_task.await??;
        let published = track_task.await??;
        let published_at = started.elapsed().as_secs_f64();
        let cpu = cpu::Sample::now(self.bench).since(&cpu_before);
        let streams_after = self.streams.settled().await?;
        let alert_batches = stored::messages_in(
            &stored::deltas(
                &streams_before,
                &streams_after,
                &Default::default(),
                &Default::default(),
            ),
            "USA",
            streams::OUTBOUND_ALERTS,
        );
        let tracks_published: u64 = published.iter().map(|f| f.records).sum();
        for f in &published {
            self.tracks.expect(&f.feed, (1..=f.records).collect());
        }
        self.alerts
            .expect(&alert_feed, (2..sent.records + 2).collect());
        let track_outcome = self.tracks.wait(&track_feeds).await;
        let alert_outcome = self.alerts.wait(std::slice::from_ref(&alert_feed)).await;
        for p in [tracks, alerts] {
            if let Ok(p) = Arc::try_unwrap(p) {
                p.close().await?;
            }
        }
        let drain = track_outcome.last_at.map_or(0.0, |t| {
            t.duration_since(started).as_secs_f64() - published_at
        });
        Ok(AlertRun {
            name: spec.name.clone(),
            track_rate_target: spec.track_rate,
            track_size: spec.track_size,
            feeds: spec.feeds,
            tracks_published,
            track_rate_achieved: tracks_published as f64 / spec.duration.as_secs_f64(),
            tracks_delivered: track_outcome.delivered as u64,
            track_drain_seconds: drain.max(0.0),
            alerts_per_second: spec.alerts_per_second,
            alerts_sent: sent.records,
            alerts_delivered: alert_outcome.delivered as u64,
            alert_batches,
            latency: percentiles(&alert_outcome.latencies_us),
            to_release_decision: hop(&alert_outcome.hops_us, 0),
            to_admit_decision: hop(&alert_outcome.hops_us, 1),
            to_delivery: hop(&alert_outcome.hops_us, 2),
            cpu,
        })
    }
}

fn hop(hops: &[[i64; 3]], i: usize) -> Percentiles {
    percentiles(&hops.iter().map(|h| h[i]).collect::<Vec<_>>())
}
