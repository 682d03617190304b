//! Measurement 7, **the webhook forwarder's added latency**: the same
//! alerts, in the same run, timed at two ends on the same machine clock.
//!
//! The alert producer (`warn-1`) sends alerts at a fixed rate, with no
//! track load, as measurement 6 does (USA producer -> USA bridge -> leaf ->
//! GBR bridge). In GBR two subscribers read them: the benchmark's own SDK
//! subscription (measurement 6's, [`crate::deliveries`]), and the real
//! `coalition forward` ([`crate::forwarder`]), which posts each verified
//! alert to the benchmark's webhook ([`crate::webhook`]) and acknowledges
//! it on the bus after the 200. Per alert: send -> SDK delivery, send ->
//! webhook receipt, and their difference, the forwarder's added latency
//! (its own pull and verification, rendering, the POST, and waiting behind
//! the alert before it: it posts one at a time).
//!
//! One run per format (`json`, then `cap`). Both forwarders use one
//! durable subscription name, so the second resumes where the first
//! stopped, as a restarted forwarder does, instead of posting the first
//! run's alerts again; the first is stopped only once the bus shows every
//! alert acknowledged. The runs come before measurement 6's (the durable
//! would otherwise start with those alerts), and the subscription is
//! deleted after them, so it holds nothing back later.
//!
//! Every alert must reach the webhook ([`crate::posted::check`]); the
//! forwarder process is killed by its PID at the end of each run, and on
//! an error path when it is dropped.
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coalition_sdk::Producer;
use coalition_topology::streams;

use crate::cpu;
use crate::deliveries::{Outcome, STALL};
use crate::forwarder::{Forwarder, Options};
use crate::payload::{alert, now_us, releasable};
use crate::posted;
use crate::publish;
use crate::setup::{feed, ALERT_PRODUCER};
use crate::stats::{percentiles, Percentiles};
use crate::track_run::Ctx;
use crate::webhook::Receiver;
use crate::Failure;

/// The durable subscription name both forwarders use.
pub const DURABLE: &str = "bench-forward";

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The format, `json` or `cap`; the feed is `af<format>-0`.
    pub format: String,
    pub alerts_per_second: f64,
    pub duration: Duration,
}

/// What it measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForwardRun {
    pub format: String,
    pub alerts_per_second: f64,
    /// Alerts sent while measuring (the warm-up alert left out).
    pub alerts_sent: u64,
    pub sdk_delivered: u64,
    /// Measured alerts the webhook received at least once.
    pub posted: u64,
    /// Every POST but the warm-up alert's first, duplicates included.
    pub posts: u64,
    /// POSTs of an alert posted before (at least once: counted, not an
    /// error).
    pub duplicates: u64,
    /// Lines the forwarder added to its dead-letter file.
    pub dead_lettered: u64,
    /// Send -> the SDK subscriber's delivery.
    pub sdk: Percentiles,
    /// Send -> the webhook's receipt of the first POST.
    pub webhook: Percentiles,
    /// Per alert: webhook receipt - SDK delivery.
    pub added: Percentiles,
    /// From the end of publishing to the last alert's first POST: the
    /// backlog the forwarder was left with.
    pub post_drain_seconds: f64,
    /// Measured alerts posted / first to last of their first POSTs: what
    /// the forwarder kept up with (at most the send rate when it keeps up).
    pub posted_per_second: f64,
    /// Whether the bus showed every alert acknowledged before the
    /// forwarder was stopped.
    pub all_acked: bool,
    /// Cores the forwarder process used, publishing to the last POST.
    pub forwarder_cores: f64,
    /// The rest of the machine over the same time.
    pub cpu: cpu::Use,
    /// Loss, unreadable or unexpected POSTs, order, dead letters.
    pub errors: Vec<String>,
}

/// Where things are.
pub struct Setup<'a> {
    /// The `coalition` binary.
    pub binary: &'a Path,
    /// The results folder (forwarder logs and dead letters go there).
    pub out: &'a Path,
}

/// What the timed part of a run saw.
struct Measured {
    sent: u64,
    /// When publishing ended (Unix µs).
    published_us: i64,
    sdk: Outcome,
    /// Whether every alert was posted, or why the wait stopped.
    waited: Result<(), String>,
    cpu: cpu::Use,
    forwarder_cores: f64,
}

impl Ctx<'_> {
    /// Runs one forwarder measurement.
    pub async fn forward_run(
        &mut self,
        spec: &Spec,
        setup: &Setup<'_>,
    ) -> Result<ForwardRun, Failure> {
        let feed = feed(&format!("af{}", spec.format), 0);
        let producer = Arc::new(self.bench.producer(ALERT_PRODUCER, |o| o).await?);
        self.streams.quiesce().await?;
        let mut hook = Receiver::start().await?;
        let dead_letter = setup.out.join("forward-dead.jsonl");
        let dead_before = lines(&dead_letter);
        let mut fwd = Forwarder::start(&Options {
            binary: setup.binary,
            mesh_dir: self.bench.mesh.dir(),
            webhook: hook.url(),
            format: &spec.format,
            durable: DURABLE,
            dead_letter: dead_letter.clone(),
            log: setup.out.join(format!("forward-{}.log", spec.format)),
        })?;
        self.warm_up(&producer, &feed, &mut hook, &mut fwd).await?;
        let m = self
            .measure(spec, producer.clone(), &feed, &mut hook, &mut fwd)
            .await?;
        let all_acked = self.forwarder_acked().await?;
        fwd.stop().await;
        let check = posted::check(&feed, 1..=m.sent + 1, &hook.stop().await);
        if let Ok(p) = Arc::try_unwrap(producer) {
            p.close().await?;
        }
        let dead_lettered = lines(&dead_letter).saturating_sub(dead_before);
        let errors = run_errors(spec, &check, &m.waited, dead_lettered, &dead_letter);
        let drain = check
            .last_first_post_us
            .map_or(0.0, |t| (t - m.published_us) as f64 / 1e6);
        let (webhook, added) = compare(&check.latencies_us, &m.sdk.seq_latencies_us);
        Ok(ForwardRun {
            format: spec.format.clone(),
            alerts_per_second: spec.alerts_per_second,
            alerts_sent: m.sent,
            sdk_delivered: m.sdk.delivered as u64,
            posted: check.posted.saturating_sub(1),
            posts: check.posts.saturating_sub(1),
            duplicates: check.duplicates,
            dead_lettered,
            sdk: percentiles(&m.sdk.latencies_us),
            webhook,
            added,
            post_drain_seconds: drain.max(0.0),
            posted_per_second: rate(&check),
            all_acked,
            forwarder_cores: m.forwarder_cores,
            cpu: m.cpu,
            errors,
        })
    }

    /// The timed part: alerts (seq 2 on) at the spec's rate, then waits
    /// for the SDK's deliveries and the webhook's POSTs of all of them.
    async fn measure(
        &mut self,
        spec: &Spec,
        producer: Arc<Producer>,
        feed: &str,
        hook: &mut Receiver,
        fwd: &mut Forwarder,
    ) -> Result<Measured, Failure> {
        let pid = fwd.pid();
        let cpu_before = cpu::Sample::now(self.bench);
        let fwd_before = pid.map_or(0.0, cpu::process_seconds);
        let started = Instant::now();
        let (rate, for_) = (spec.alerts_per_second, spec.duration);
        let sent = publish::alerts(producer, feed.into(), releasable(), rate, for_, 2).await?;
        let published_us = now_us();
        self.alerts.expect(feed, (2..sent.records + 2).collect());
        let sdk = self.alerts.wait(&[feed.to_string()]).await;
        let waited = wait_posted(hook, fwd, feed, 1..=sent.records + 1).await;
        let cpu = cpu::Sample::now(self.bench).since(&cpu_before);
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        Ok(Measured {
            sent: sent.records,
            published_us,
            sdk,
            waited,
            cpu,
            forwarder_cores: (pid.map_or(0.0, cpu::process_seconds) - fwd_before) / seconds,
        })
    }

    /// One alert (seq 1), delivered to the SDK and posted, before the
    /// clock starts: the forwarder is connected and subscribed, the feed
    /// taken, the certificate known everywhere.
    async fn warm_up(
        &mut self,
        producer: &Producer,
        feed: &str,
        hook: &mut Receiver,
        fwd: &mut Forwarder,
    ) -> Result<(), Failure> {
        let record = coalition_sdk::Record::alert(&releasable(), &alert(0, now_us()));
        producer.publish(feed, record).await?;
        self.alerts.expect(feed, vec![1]);
        self.alerts.wait(&[feed.to_string()]).await;
        wait_posted(hook, fwd, feed, 1..=1).await.map_err(|e| {
            let log = std::fs::read_to_string(&fwd.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            format!(
                "the forwarder did not post the warm-up alert: {e}; its log ({}) ends:\n{}",
                fwd.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })?;
        Ok(())
    }

    /// Waits (at most 30 s) until the forwarders' durable subscription has
    /// nothing unacknowledged and nothing undelivered.
    async fn forwarder_acked(&self) -> Result<bool, Failure> {
        let js = self.bench.home("GBR").await?;
        let stream = js.get_stream(streams::INBOUND_ALERTS).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = stream.consumer_info(DURABLE).await?;
            if info.num_ack_pending == 0 && info.num_pending == 0 {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes the forwarders' durable subscription (after the last
    /// forwarder run), so it holds no alerts back from later runs.
    pub async fn delete_forwarder_subscription(&self) -> Result<(), Failure> {
        let js = self.bench.home("GBR").await?;
        let stream = js.get_stream(streams::INBOUND_ALERTS).await?;
        stream.delete_consumer(DURABLE).await?;
        Ok(())
    }
}

/// Waits until every seq of `seqs` on `feed` was posted; an error if no
/// POST comes for [`STALL`] or the forwarder exits.
async fn wait_posted(
    hook: &mut Receiver,
    fwd: &mut Forwarder,
    feed: &str,
    seqs: RangeInclusive<u64>,
) -> Result<(), String> {
    loop {
        if hook.has_all(feed, seqs.clone()) {
            return Ok(());
        }
        tokio::select! {
            r = tokio::time::timeout(STALL, hook.changed()) => if r.is_err() {
                return Err(format!("no POST for {} s", STALL.as_secs()));
            },
            status = fwd.exited() => {
                return Err(format!("the forwarder exited ({status}); see {}", fwd.log.display()));
            }
        }
    }
}

/// Send -> webhook percentiles of the measured alerts (seq 2 on), and the
/// per-alert difference from their SDK delivery.
fn compare(webhook_us: &[(u64, i64)], sdk_us: &[(u64, i64)]) -> (Percentiles, Percentiles) {
    let sdk: HashMap<u64, i64> = sdk_us.iter().copied().collect();
    let measured: Vec<(u64, i64)> = webhook_us
        .iter()
        .copied()
        .filter(|(s, _)| *s >= 2)
        .collect();
    let added: Vec<i64> = measured
        .iter()
        .filter_map(|(seq, w)| sdk.get(seq).map(|d| w - d))
        .collect();
    let webhook: Vec<i64> = measured.iter().map(|(_, w)| *w).collect();
    (percentiles(&webhook), percentiles(&added))
}

/// Every error of a run, each naming the run: the check's, a wait that
/// stopped short, dead letters.
fn run_errors(
    spec: &Spec,
    check: &posted::Check,
    waited: &Result<(), String>,
    dead_lettered: u64,
    dead_letter: &Path,
) -> Vec<String> {
    let mut errors = check.errors.clone();
    errors.extend(waited.clone().err());
    if dead_lettered > 0 {
        errors.push(format!(
            "{dead_lettered} alerts dead-lettered ({})",
            dead_letter.display()
        ));
    }
    errors
        .into_iter()
        .map(|e| format!("forward {}: {e}", spec.format))
        .collect()
}

/// First POSTs per second of the measured alerts (seq 2 on), first to
/// last.
fn rate(check: &posted::Check) -> f64 {
    let times: Vec<i64> = check
        .latencies_us
        .iter()
        .zip(&check.first_posts_us)
        .filter(|((seq, _), _)| *seq >= 2)
        .map(|(_, at)| *at)
        .collect();
    match (times.first(), times.last()) {
        (Some(first), Some(last)) if last > first => {
            (times.len() - 1) as f64 / ((last - first) as f64 / 1e6)
        }
        _ => 0.0,
    }
}

/// Lines in a file (0 if there is none).
fn lines(path: &Path) -> u64 {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_added_latency_is_per_alert_and_leaves_the_warm_up_out() {
        let webhook = [(1, 900), (2, 5_000), (3, 7_000)];
        let sdk = [(2, 4_000), (3, 4_500)];
        let (w, added) = compare(&webhook, &sdk);
        assert_eq!((w.count, w.max_ms), (2, 7.0));
        assert_eq!((added.count, added.p50_ms, added.max_ms), (2, 1.0, 2.5));
    }
}
