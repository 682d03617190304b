//! The order of one benchmark run, on one mesh:
//!
//! 1. raw leaf and the one-stream baselines, before the bridges start (so
//!    nothing else runs on the servers), and the cost of sealing and
//!    opening one batch;
//! 2. the bridges, GBR's two subscriptions (tracks; alerts on a connection
//!    of their own), a warm-up run, the idle leaf traffic;
//! 3. the mesh path at each size;
//! 4. the leaf-bytes runs at batch 1, 8, 64 and 64 half released;
//! 5. the webhook forwarder's added latency (`coalition forward`, json
//!    then cap, no track load), then alert latency with no track load,
//!    under half the measured mesh maximum (at the realistic track size),
//!    then under it.
//!
//! Each step prints its figures as it ends; the tables come at the end.
use std::path::Path;

use crate::alerts;
use crate::args::Plan;
use crate::deliveries::Deliveries;
use crate::forward_run;
use crate::payload::{not_releasable, releasable};
use crate::raw::{raw_leaf, RawLeaf};
use crate::report::{Machine, Results};
use crate::setup::Bench;
use crate::store::{self, Mode, StoreRun};
use crate::stored::Streams;
use crate::track_run::{Ctx, Spec};
use crate::Failure;

/// Runs everything in `plan`; writes the results under `out`.
pub async fn run(plan: &Plan, out: &Path, log: &Path) -> Result<Results, Failure> {
    let mut results = Results {
        machine: Machine::here(),
        plan: Some(plan.clone()),
        ..Results::default()
    };
    // Before the mesh starts: a missing CLI stops the run at once.
    let coalition = crate::forwarder::locate(plan.coalition.as_deref())?;
    eprintln!("starting a 2-nation mesh (topologies/pair.toml) ...");
    let mut bench = Bench::start().await?;
    baselines(&bench, plan, &mut results).await?;
    let size = plan.track_size();
    for records in [1, 8, 64] {
        // One-record batches (an alert's) get enough seals for a p99.
        let iterations = match (plan.tiny, records) {
            (true, _) => 3,
            (false, 1) => 300,
            (false, _) => 30,
        };
        let c = crate::crypto::measure(&bench, size, records, iterations).await?;
        eprintln!(
            "crypto {records:>2} x {size} B: seal {:.2} ms (p99 {:.2}), open {:.2} ms per batch; {:.0} µs of CPU per record on the path",
            c.seal_ms, c.seal_spread.p99_ms, c.open_ms, c.path_us_per_record
        );
        results.crypto.push(c);
    }

    eprintln!("starting both bridges ...");
    bench.start_bridges().await?;
    let subscriber = bench.subscriber_options()?.connect().await?;
    let tracks = Deliveries::start(subscriber.subscribe(coalition_sdk::Topic::tracks()).await?);
    let alerting = bench.subscriber_options()?.connect().await?;
    let alerts = Deliveries::start(alerting.subscribe(coalition_sdk::Topic::alerts()).await?);
    let mut ctx = Ctx {
        streams: Streams::connect(&bench).await?,
        home: bench.usa_home().await?,
        bench: &bench,
        tracks,
        alerts,
        idle_leaf_per_s: 0.0,
        log: log.to_path_buf(),
    };
    let warm = ctx
        .run(&spec(plan, "warm", size, 1, 64 * plan.feeds))
        .await?;
    eprintln!("warm-up: {} records delivered", warm.delivered);
    let idle = ctx
        .measure_idle_leaf(if plan.tiny { 1.0 } else { 3.0 })
        .await?;
    results.idle_leaf_bytes_per_s = idle;
    eprintln!("idle leaf traffic: {idle:.0} B/s both ways");

    for (i, &size) in plan.sizes.iter().enumerate() {
        let m = ctx
            .run(&spec(
                plan,
                &format!("s{i}"),
                size,
                plan.mesh_batch_records,
                plan.mesh_records,
            ))
            .await?;
        eprintln!(
            "mesh path  {size:>5} B: {:>8.0} records/s ({} records, {:.1} per batch, {:.0} B fsynced per record)",
            m.records_per_s, m.delivered, m.records_per_batch, m.fsynced_bytes_per_record
        );
        results.mesh.push(m);
    }

    for (run, batch, records) in [
        ("b1", 1, plan.leaf_records_b1),
        ("b8", 8, plan.leaf_records_b8),
        ("b64", 64, plan.leaf_records_b64),
        ("half", 64, plan.leaf_records_b64),
    ] {
        let mut s = spec(plan, run, size, batch, records);
        if run == "half" {
            s.labels = vec![releasable(), not_releasable()];
        }
        let m = ctx.run(&s).await?;
        eprintln!(
            "leaf {run:>4}: {:.0} B/record on the leaf ({:.0} header+payload), {:.0} records/s",
            m.leaf_bytes_per_record,
            m.sealed.header_plus_payload(),
            m.records_per_s
        );
        results.leaf.push(m);
    }

    forward_runs(&mut ctx, plan, &coalition, out, &mut results).await?;

    let max = results
        .mesh
        .iter()
        .find(|m| m.size == size)
        .map_or(1000.0, |m| m.records_per_s);
    for (name, rate) in [("none", 0.0), ("half", max / 2.0), ("max", max)] {
        let a = ctx
            .alert_run(&alerts::Spec {
                name: name.into(),
                track_rate: rate,
                track_size: size,
                feeds: plan.feeds,
                alerts_per_second: f64::from(plan.alerts_per_second),
                duration: plan.alerts_duration(),
            })
            .await?;
        eprintln!(
            "alerts under {name} track load ({:.0} of {:.0} tracks/s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} alerts)",
            a.track_rate_achieved,
            a.track_rate_target,
            a.latency.p50_ms,
            a.latency.p99_ms,
            a.latency.max_ms,
            a.alerts_delivered
        );
        results.alerts.push(a);
    }

    for (lane, d) in [("tracks", &ctx.tracks), ("alerts", &ctx.alerts)] {
        results
            .errors
            .extend(d.errors().iter().map(|e| format!("{lane}: {e}")));
        for (reason, n) in d.skipped() {
            results.skipped.insert(format!("{lane}/{reason}"), *n);
        }
    }
    let Ctx { tracks, alerts, .. } = ctx;
    tracks.stop();
    alerts.stop();
    bench.stop_bridges().await;
    results.log = crate::logs::summarise(log);
    results.derive();
    let md = results.write(out)?;
    println!("\n{md}");
    println!("wrote {}/latest.json and latest.md", out.display());
    Ok(results)
}

/// Measurement 7: the forwarder in each format, then its durable
/// subscription deleted.
async fn forward_runs(
    ctx: &mut Ctx<'_>,
    plan: &Plan,
    coalition: &Path,
    out: &Path,
    results: &mut Results,
) -> Result<(), Failure> {
    let setup = forward_run::Setup {
        binary: coalition,
        out,
    };
    for format in ["json", "cap"] {
        let f = ctx
            .forward_run(
                &forward_run::Spec {
                    format: format.into(),
                    alerts_per_second: f64::from(plan.alerts_per_second),
                    duration: plan.alerts_duration(),
                },
                &setup,
            )
            .await?;
        eprintln!(
            "forwarder {format}: send -> webhook p50 {:.2} ms, p99 {:.2} ms; send -> SDK p50 {:.2} ms, p99 {:.2} ms; added p50 {:.2} ms, p99 {:.2} ms ({} of {} alerts posted, {:.0}/s, {} duplicates)",
            f.webhook.p50_ms,
            f.webhook.p99_ms,
            f.sdk.p50_ms,
            f.sdk.p99_ms,
            f.added.p50_ms,
            f.added.p99_ms,
            f.posted,
            f.alerts_sent,
            f.posted_per_second,
            f.duplicates
        );
        results.errors.extend(f.errors.iter().cloned());
        results.forward.push(f);
    }
    ctx.delete_forwarder_subscription().await
}

/// Raw leaf and the one-stream runs at every size, `plan.rounds` times
/// interleaved (so a disturbance lands on one round of each, not on one
/// size); the median round of each is kept, with every round's rate.
async fn baselines(bench: &Bench, plan: &Plan, results: &mut Results) -> Result<(), Failure> {
    let js = bench.usa_home().await?;
    let modes = [
        (Mode::Pipelined, plan.store_pipelined),
        (Mode::Awaited, plan.store_awaited),
        (
            Mode::Batched {
                records: plan.store_batch_records,
            },
            plan.store_batched,
        ),
    ];
    let mut raws: Vec<Vec<RawLeaf>> = vec![Vec::new(); plan.sizes.len()];
    let mut stores: Vec<Vec<StoreRun>> = vec![Vec::new(); plan.sizes.len() * modes.len()];
    for round in 1..=plan.rounds {
        for (i, &size) in plan.sizes.iter().enumerate() {
            let raw = raw_leaf(bench, size, plan.raw_messages).await?;
            eprintln!(
                "[{round}/{}] raw leaf   {size:>5} B: {:>10.0} msg/s ({} of {} received)",
                plan.rounds, raw.msgs_per_s, raw.received, raw.sent
            );
            raws[i].push(raw);
            for (j, (mode, n)) in modes.iter().enumerate() {
                let s = store::run(&js, size, *mode, *n).await?;
                eprintln!(
                    "[{round}/{}] one stream {size:>5} B {}: {:>8.0} msg/s, {:>8.0} records/s, {:.2} MB/s stored",
                    plan.rounds,
                    mode.label(),
                    s.msgs_per_s,
                    s.records_per_s,
                    s.stored_mb_per_s
                );
                stores[i * modes.len() + j].push(s);
            }
        }
    }
    for runs in raws {
        let all: Vec<f64> = runs.iter().map(|r| r.msgs_per_s).collect();
        if let Some(mut m) = median_by(runs, |r| r.msgs_per_s) {
            m.rounds_msgs_per_s = all;
            results.raw.push(m);
        }
    }
    for runs in stores {
        let all: Vec<f64> = runs.iter().map(|r| r.msgs_per_s).collect();
        if let Some(mut m) = median_by(runs, |r| r.msgs_per_s) {
            m.rounds_msgs_per_s = all;
            results.store.push(m);
        }
    }
    Ok(())
}

/// The median element by `key` (the lower one of an even count).
fn median_by<T>(mut v: Vec<T>, key: impl Fn(&T) -> f64) -> Option<T> {
    v.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mid = v.len().checked_sub(1)? / 2;
    Some(v.swap_remove(mid))
}

/// A track run of `records` records (rounded up to whole batches per feed)
/// spread over the plan's feeds, every record released.
fn spec(plan: &Plan, run: &str, size: usize, batch: usize, records: usize) -> Spec {
    let feeds = plan.feeds;
    let per_feed = records.div_ceil(feeds).div_ceil(batch) * batch;
    Spec {
        run: run.into(),
        size,
        feeds,
        records_per_feed: per_feed as u64,
        labels: vec![releasable()],
        batch_records: batch,
    }
}
