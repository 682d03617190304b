//! One partner floods at 10x its quota: the others' latency stays within
//! 1.2x of their baseline, measured in the same run, and nobody loses
//! anything.
//!
//! GBR receives from USA, FRA and DEU. USA's quota is `quota` msgs/s
//! (`[rate_limits] partner`); FRA's and DEU's are 5x that (overrides in
//! `[rate_limits.partners]`), and each sends a steady quarter of its quota
//! throughout: enough latency samples, and headroom left on the machine.
//! The run has two phases with the same traffic from FRA and DEU:
//! - **baseline**: USA sends at its quota (so GBR admits as much from it as
//!   during the flood: the flood adds only excess);
//! - **flood**: USA publishes at 10x its quota for `flood_secs`; its excess
//!   waits in USA's RELEASED stream and is admitted at the quota, so the
//!   phase lasts until USA's backlog is drained (about 10x `flood_secs`).
//!
//! Alternating rounds put any change in the machine's load (2 shared,
//! noisy cores) on both phases alike.
//!
//! USA runs as if on a machine of its own ([`common::own_machine`]): its
//! servers, its bridge and its producer are separate processes in the idle scheduling class,
//! and its JetStream stores are on a disk of their own (RAM-backed).
//! What is measured is then what GBR's bridge lets USA's flood do to the
//! others, not how four nations share 2 cores and one tokio runtime. FRA,
//! DEU and GBR run in this process, as in the other tests.
//!
//! Latency is publish (before signing) to delivery at a GBR subscriber,
//! per message, from one clock in this process. Every message of every
//! producer is counted by (origin, seq): none may be missing.
//! `COALITION_SOAK=1` runs it at full size, and only then asserts the
//! 1.2x latency bound; at CI size the ratio is printed, not asserted.
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coalition_sdk::{Label, Producer, Topic};
use coalition_topology::Rate;
use common::own_machine::{self, ProducerProcess, Sent};
use common::*;

const THREE_TO_GBR: &str = r#"
[mesh]
name = "flood"
[[nation]]
code = "USA"
[[nation]]
code = "FRA"
[[nation]]
code = "DEU"
[[nation]]
code = "GBR"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[link]]
from = "FRA"
to = "GBR"
max_classification = "SECRET"
[[link]]
from = "DEU"
to = "GBR"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
[[feed]]
nation = "FRA"
producer = "radar-f"
name = "tracks"
kind = "track"
[[feed]]
nation = "DEU"
producer = "radar-d"
name = "tracks"
kind = "track"
"#;

/// FRA's and DEU's quota, as a multiple of USA's.
const OTHERS_QUOTA_FACTOR: u32 = 5;

/// How big a run is.
struct Size {
    /// Per-partner quota at GBR, msgs/s (burst the same).
    quota: u32,
    /// Rounds of (baseline, flood).
    rounds: u32,
    /// Seconds USA publishes at 10x the quota, per round.
    flood_secs: u64,
    /// Seconds of baseline, per round.
    baseline_secs: u64,
}

fn soak() -> bool {
    std::env::var("COALITION_SOAK").is_ok_and(|v| v == "1")
}

fn size() -> Size {
    if soak() {
        Size {
            quota: 40,
            rounds: 5,
            flood_secs: 2,
            baseline_secs: 20,
        }
    } else {
        Size {
            quota: 20,
            rounds: 3,
            flood_secs: 1,
            baseline_secs: 8,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Warmup,
    Baseline,
    Flood,
}

/// Publish instants and phases, and delivery instants, by (origin, seq).
#[derive(Default)]
struct Book {
    sent: HashMap<(String, u64), (Instant, Phase)>,
    received: HashMap<(String, u64), Instant>,
    duplicates: usize,
}

type Shared = Arc<Mutex<Book>>;

async fn send(book: &Shared, producer: &Producer, origin: &str, label: &Label, phase: Phase) {
    let t0 = Instant::now();
    let seq = publish(producer, label, &format!("{origin}-{phase:?}")).await;
    book.lock()
        .unwrap()
        .sent
        .insert((origin.into(), seq), (t0, phase));
}

/// Publishes at `per_sec` until `stop` says so; the ticks are the same in
/// every phase.
fn steady(
    book: Shared,
    producer: Producer,
    origin: &'static str,
    per_sec: u32,
    phase: Arc<Mutex<Phase>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let label = label(origin, "SECRET", &["GBR"]);
        let mut tick = tokio::time::interval(Duration::from_secs(1) / per_sec);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stop.borrow() {
            tick.tick().await;
            let p = *phase.lock().unwrap();
            send(&book, &producer, origin, &label, p).await;
        }
    })
}

/// Records every delivery at GBR, acknowledging it.
fn receive(book: Shared, mut sub: coalition_sdk::Subscription) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            let d = d.expect("delivery verifies");
            let at = Instant::now();
            let _ = d.ack().await;
            let mut b = book.lock().unwrap();
            if b.received.insert((d.origin.clone(), d.seq), at).is_some() {
                b.duplicates += 1;
            }
        }
    })
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Latencies of FRA's and DEU's messages sent in `phase`.
fn latencies(book: &Book, phase: Phase) -> Vec<Duration> {
    book.sent
        .iter()
        .filter(|((origin, _), (_, p))| origin != "USA" && *p == phase)
        .map(|(k, (t0, _))| book.received[k] - *t0)
        .collect()
}

fn missing(book: &Book) -> Vec<(String, u64)> {
    let mut m: Vec<_> = book
        .sent
        .keys()
        .filter(|k| !book.received.contains_key(*k))
        .cloned()
        .collect();
    m.sort();
    m
}

/// Waits (polling, bounded by `limit`) until everything sent by `origins` was received.
async fn drained(book: &Shared, origins: &[&str], limit: Duration, what: &str) {
    let done = || {
        let b = book.lock().unwrap();
        b.sent
            .keys()
            .filter(|(o, _)| origins.contains(&o.as_str()))
            .all(|k| b.received.contains_key(k))
    };
    let polled = tokio::time::timeout(limit, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        polled.is_ok(),
        "{what}: not drained after {limit:?}: missing {:?}",
        missing(&book.lock().unwrap())
    );
}

/// Records what USA's producer process published in `phase`.
fn book_usa(book: &Shared, sent: Sent, phase: Phase) {
    let now = Instant::now();
    let mut b = book.lock().unwrap();
    for seq in sent.first..=sent.last {
        b.sent.insert(("USA".into(), seq), (now, phase));
    }
}

/// Baseline: USA at its full quota, so GBR admits as much of it as during
/// the flood: what the flood adds is only the excess.
async fn baseline(book: &Shared, usa: &mut ProducerProcess, quota: u32, secs: u64) {
    let sent = usa.steady(quota, secs).await;
    book_usa(book, sent, Phase::Baseline);
    drained(book, &["USA"], WAIT, "baseline").await;
}

/// One flood: how many, how fast, and how long until all were delivered.
struct Flood {
    started: Instant,
    sent: u64,
    published_in: Duration,
    took: Duration,
}

/// USA at 10x its quota for `secs`; lasts until its backlog is drained.
async fn flood(book: &Shared, usa: &mut ProducerProcess, quota: u32, secs: u64) -> Flood {
    let started = Instant::now();
    let sent = usa.flood(quota * 10, secs).await;
    book_usa(book, sent, Phase::Flood);
    let limit = Duration::from_secs(sent.count() / u64::from(quota) * 3 + 60);
    drained(book, &["USA"], limit, "the flood").await;
    Flood {
        started,
        sent: sent.count(),
        published_in: sent.took,
        took: started.elapsed(),
    }
}

const TEST: &str =
    "a_partner_flooding_at_ten_times_its_quota_does_not_slow_the_others_and_nothing_is_lost";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_flooding_at_ten_times_its_quota_does_not_slow_the_others_and_nothing_is_lost() {
    if let Some(role) = own_machine::producer_role() {
        // This process is USA's producer, started by the test below.
        return own_machine::serve_producer(&role).await;
    }
    let size = size();
    let quota = size.quota;
    // USA on a machine of its own: its stores on a disk of their own, its
    // servers, bridge and producer in the idle scheduling class.
    let (mesh, _folders) = own_machine::mesh_with_own_store(THREE_TO_GBR, "USA").await;
    own_machine::lower_servers_priority(&mesh, "USA");
    let mut usa_bridge = own_machine::spawn_bridge(&mesh, "USA");
    let bridges = bridges_where(
        &mesh,
        |n| n != "USA",
        |s| {
            let limits = &mut s.config.rate_limits;
            limits.partner = Rate {
                msgs_per_sec: quota,
                burst: quota,
            };
            // FRA and DEU have a larger quota (an override each), so their
            // steady traffic gives enough samples for a stable p99.
            for partner in ["FRA", "DEU"] {
                if s.config.ingress.iter().any(|l| l.partner == partner) {
                    let others = Rate {
                        msgs_per_sec: quota * OTHERS_QUOTA_FACTOR,
                        burst: quota * OTHERS_QUOTA_FACTOR,
                    };
                    limits.partners.insert(partner.to_string(), others);
                }
            }
        },
    )
    .await;
    let gbr = subscriber(&mesh, "GBR").await;
    let sub = within("subscribe", gbr.subscribe(Topic::tracks()))
        .await
        .expect("subscribes");
    let book: Shared = Arc::default();
    let receiver = receive(book.clone(), sub);
    let mut usa = ProducerProcess::spawn(&mesh, "USA", "radar-1", TEST);
    let fra = producer(&mesh, "FRA", "radar-f").await;
    let deu = producer(&mesh, "DEU", "radar-d").await;
    // Warm-up: every link attached and delivering before anything is measured.
    book_usa(&book, usa.one().await, Phase::Warmup);
    for (p, o) in [(&fra, "FRA"), (&deu, "DEU")] {
        send(&book, p, o, &label(o, "SECRET", &["GBR"]), Phase::Warmup).await;
    }
    drained(&book, &["USA", "FRA", "DEU"], WAIT, "warm-up").await;

    let phase = Arc::new(Mutex::new(Phase::Baseline));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let others_rate = (quota * OTHERS_QUOTA_FACTOR / 4).max(1);
    let others = [
        steady(
            book.clone(),
            fra,
            "FRA",
            others_rate,
            phase.clone(),
            stopped.clone(),
        ),
        steady(
            book.clone(),
            deu,
            "DEU",
            others_rate,
            phase.clone(),
            stopped.clone(),
        ),
    ];
    // Alternating rounds, so a change in the machine's load (2 shared
    // cores) falls on both phases alike.
    let mut floods = Vec::new();
    for _ in 0..size.rounds {
        *phase.lock().unwrap() = Phase::Baseline;
        baseline(&book, &mut usa, quota, size.baseline_secs).await;
        *phase.lock().unwrap() = Phase::Flood;
        floods.push(flood(&book, &mut usa, quota, size.flood_secs).await);
    }
    let _ = stop.send(true);
    for t in others {
        within("steady publishers stop", t)
            .await
            .expect("publisher ran");
    }
    drained(
        &book,
        &["USA", "FRA", "DEU"],
        WAIT,
        "the others, after the flood",
    )
    .await;
    receiver.abort();

    let book = std::mem::take(&mut *book.lock().unwrap());
    let base = latencies(&book, Phase::Baseline);
    let flood = latencies(&book, Phase::Flood);
    let (b99, f99) = (
        percentile(base.clone(), 0.99),
        percentile(flood.clone(), 0.99),
    );
    let (b50, f50) = (
        percentile(base.clone(), 0.5),
        percentile(flood.clone(), 0.5),
    );
    let ratio = f99.as_secs_f64() / b99.as_secs_f64();
    let slowed = metric(
        r#"coalition_bridge_rate_limited_total{nation="GBR",stage="ingress",source="USA",action="slowed"}"#,
    );
    // Where in the flood phase the tail is: while USA publishes (its
    // signing and its egress share this machine's cores) or while GBR
    // admits its backlog at the quota.
    let publishing = |t: &Instant| {
        floods
            .iter()
            .any(|f| *t >= f.started && *t <= f.started + f.published_in)
    };
    let split: Vec<(bool, Duration)> = book
        .sent
        .iter()
        .filter(|((o, _), (_, p))| o != "USA" && *p == Phase::Flood)
        .map(|(k, (t0, _))| (publishing(t0), book.received[k] - *t0))
        .collect();
    let part = |during: bool| -> Vec<Duration> {
        split
            .iter()
            .filter(|(d, _)| *d == during)
            .map(|(_, l)| *l)
            .collect()
    };
    let (pub99, drain99) = (percentile(part(true), 0.99), percentile(part(false), 0.99));
    // When, after its flood began, the others' messages slower than the
    // baseline p99 were sent (half-second buckets).
    let mut late: std::collections::BTreeMap<u64, usize> = Default::default();
    for (k, (t0, p)) in &book.sent {
        if k.0 == "USA" || *p != Phase::Flood || book.received[k] - *t0 <= b99 {
            continue;
        }
        if let Some(f) = floods.iter().rev().find(|f| *t0 >= f.started) {
            *late
                .entry((*t0 - f.started).as_millis() as u64 / 500)
                .or_default() += 1;
        }
    }
    println!("flood: others slower than the baseline p99, by half-second after the flood began: {late:?}");
    println!(
        "flood: p99 while USA publishes {pub99:?} (n={}), while GBR drains it {drain99:?} (n={})",
        part(true).len(),
        part(false).len()
    );
    println!(
        "flood: quota {quota}/s, {} rounds; USA floods (sent, rate/s, drained after): {:?}; \
         others baseline n={} p50={b50:?} p99={b99:?}; flood n={} p50={f50:?} p99={f99:?}; \
         p99 ratio {ratio:.3}; GBR slowed {slowed} of USA's messages",
        size.rounds,
        floods
            .iter()
            .map(|f| (
                f.sent,
                (f.sent as f64 / f.published_in.as_secs_f64()).round(),
                f.took
            ))
            .collect::<Vec<_>>(),
        base.len(),
        flood.len(),
    );
    assert!(missing(&book).is_empty(), "nothing lost");
    assert_eq!(book.duplicates, 0, "nothing duplicated");
    for f in &floods {
        let rate = f.sent as f64 / f.published_in.as_secs_f64();
        assert!(
            rate >= 9.0 * f64::from(quota),
            "the flood was really about 10x the quota of {quota}/s: {rate:.0}/s"
        );
        // The limit really held: the flood took about sent / quota seconds
        // to be admitted (one burst of it at once).
        let at_least = (f.sent - u64::from(quota)) as f64 / f64::from(quota) * 0.9;
        assert!(
            f.took.as_secs_f64() >= at_least,
            "a flood of {} was admitted in {:?}, faster than its quota allows ({at_least:.1} s)",
            f.sent,
            f.took
        );
    }
    assert!(slowed > 0.0, "GBR counted USA slowed");
    // The latency bound is a timing on 2 shared cores where all nations run
    // in one process: a measurement in CI (printed above), an assertion only
    // at full size (docs/testing.md says why, with the figures).
    if soak() {
        assert!(
            ratio <= 1.2,
            "the others' p99 latency went from {b99:?} to {f99:?} ({ratio:.3}x) during the flood"
        );
    }
    usa.stop().await;
    bridges.shutdown().await;
    let _ = usa_bridge.kill().await;
}
