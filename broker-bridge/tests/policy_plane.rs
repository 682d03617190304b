//! The policy plane on a real mesh: translators revoked under load by
//! either party, partner suspension, fail-closed holding on a stale
//! revocation view, two translator versions in use at once, and the audit
//! log that proves each of these message by message.
//!
//! `COALITION_SOAK=1` runs the revocation-under-load test with more rounds.
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coalition_core::audit::verify_chain;
use coalition_core::revocation::Revoked;
use coalition_core::translator::{cosign_translator, sign_translator};
use coalition_schemas::v1::{AuditDecision, AuditRecord};
use coalition_sdk::{Producer, Subscription};
use common::*;
use nats_harness::{dev_policy, dev_translator, Mesh};

/// USA and GBR, each releasing to the other.
const DUPLEX: &str = r#"
[mesh]
name = "duplex"
[[nation]]
code = "USA"
[[nation]]
code = "GBR"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[link]]
from = "GBR"
to = "USA"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
[[feed]]
nation = "GBR"
producer = "radar-2"
name = "tracks"
kind = "track"
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Deliveries seen by a background reader: (seq, translator).
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(u64, String)>>>);

impl Received {
    fn count_with(&self, translator: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|(_, t)| t == translator).count()
    }
    fn seqs(&self) -> Vec<u64> {
        self.0.lock().unwrap().iter().map(|(s, _)| *s).collect()
    }
}

fn read_in_background(mut sub: Subscription) -> Received {
    let received = Received::default();
    let out = received.clone();
    tokio::spawn(async move {
        while let Some(Ok(d)) = sub.next().await {
            let translator = d.lineage.translator.clone().unwrap_or_default();
            out.0.lock().unwrap().push((d.seq, translator));
            if d.ack().await.is_err() {
                break;
            }
        }
    });
    received
}

/// Publishes batches of tracks releasable to GBR until stopped; counts them.
struct Load {
    stop: Arc<AtomicBool>,
    published: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

fn publish_in_background(producer: Producer, batch: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let (s, p) = (stop.clone(), published.clone());
    let task = tokio::spawn(async move {
        let l = label("USA", "SECRET", &["GBR"]);
        let mut n = 0u64;
        while !s.load(Ordering::Acquire) {
            let tracks: Vec<_> = (0..batch)
                .map(|i| (l.clone(), track(&format!("LOAD-{}", n + i as u64))))
                .collect();
            let receipts = producer.publish_tracks("tracks", &tracks).await.expect("published");
            n += receipts.len() as u64;
            p.store(n, Ordering::Release);
        }
    });
    Load { stop, published, task }
}

impl Load {
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        within("publisher stop", self.task).await.expect("publisher task");
        self.published.load(Ordering::Acquire)
    }
}

/// Issues USA-GBR translator `version` (dev mapping), co-signed by both
/// roots, and publishes it in USA.
async fn issue_translator(mesh: &Mesh, version: u32) {
    let t = mesh.topology();
    let (usa, gbr) = (t.nation("USA").unwrap(), t.nation("GBR").unwrap());
    let mut tr = dev_translator(&dev_policy(usa), &dev_policy(gbr), now_ms());
    tr.version = version;
    let mut signed = sign_translator(&tr, "USA", &root_key(mesh, "USA")).unwrap();
    cosign_translator(&mut signed, "GBR", &root_key(mesh, "GBR")).unwrap();
    control(mesh, "USA")
        .await
        .publish_translator(&tr.id, version, signed)
        .await
        .expect("translator published");
}

/// The time `nation`'s bridge applied notice `name` (`<issuer>#<epoch>`).
async fn applied_at(mesh: &Mesh, nation: &str, name: &str) -> i64 {
    within(&format!("{nation} applies {name}"), async {
        loop {
            let found = audit_records(mesh, nation).await.into_iter().find(|r| {
                r.decision == AuditDecision::Revoke as i32 && r.msg_id == name
            });
            if let Some(r) = found {
                return r.decided_at_ms;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn is(r: &AuditRecord, decision: AuditDecision) -> bool {
    r.decision == decision as i32
}

/// Checks, record by record, that nothing was released (USA) or admitted
/// (GBR) under `translator` at or after the instant its revocation was
/// applied there; returns how many records under it were checked.
fn nothing_after(records: &[AuditRecord], decision: AuditDecision, translator: &str, applied: i64) -> usize {
    let under: Vec<_> = records
        .iter()
        .filter(|r| is(r, decision) && r.translator == translator)
        .collect();
    for r in &under {
        assert!(
            r.decided_at_ms < applied,
            "{} {:?} under revoked {translator} at {} >= applied {applied}",
            r.msg_id,
            r.decision,
            r.decided_at_ms
        );
    }
    under.len()
}

/// Outcomes per message id for GBR: USA's egress denials to GBR, and GBR's
/// admissions and rejections of USA's messages.
fn outcomes_for_gbr(usa: &[AuditRecord], gbr: &[AuditRecord]) -> BTreeMap<String, u32> {
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    let denied = usa.iter().filter(|r| r.partner == "GBR" && is(r, AuditDecision::Deny));
    let decided = gbr
        .iter()
        .filter(|r| r.partner == "USA" && (is(r, AuditDecision::Admit) || is(r, AuditDecision::Reject)));
    for r in denied.chain(decided) {
        *outcomes.entry(r.msg_id.clone()).or_default() += 1;
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translator_revoked_under_load_by_either_party_stops_release_and_admission_at_once() {
    let rounds: u32 = if std::env::var_os("COALITION_SOAK").is_some() { 20 } else { 4 };
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let gbr = subscriber(&mesh, "GBR").await;
    let sub = within("subscribe", gbr.subscribe(coalition_sdk::Topic::tracks().from_nation("USA")))
        .await
        .expect("subscribes");
    let received = read_in_background(sub);
    let load = publish_in_background(producer(&mesh, "USA", "radar-1").await, 50);
    let started = Instant::now();
    let mut latencies: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut checks = Vec::new();
    for version in 1..=rounds {
        let translator = format!("USA-GBR@{version}");
        // Unilateral: the two parties take turns revoking.
        let issuer = if version % 2 == 1 { "USA" } else { "GBR" };
        let flowing = received.count_with(&translator) + 20;
        until(&format!("20 more admitted under {translator}"), || {
            received.count_with(&translator) >= flowing
        })
        .await;
        let sent_at = now_ms();
        let notice = control(&mesh, issuer)
            .await
            .revoke(
                &root_key(&mesh, issuer),
                Revoked::Translator { id: "USA-GBR".into(), version },
                None,
                "test: revoke under load",
            )
            .await
            .expect("notice published");
        for nation in ["USA", "GBR"] {
            let at = applied_at(&mesh, nation, &notice.name()).await;
            latencies.entry(nation).or_default().push(at - sent_at);
            checks.push((nation, translator.clone(), at));
        }
        issue_translator(&mesh, version + 1).await;
    }
    let published = load.finish().await;
    let elapsed = started.elapsed().as_secs_f64();
    // Nothing lost silently: every published track ends with exactly one
    // outcome for GBR: denied at USA's egress, or admitted or rejected (and
    // dead-lettered) at GBR's ingress.
    let (usa, gbr_audit) = within("every track decided for GBR", async {
        loop {
            let usa = audit_records(&mesh, "USA").await;
            let gbr = audit_records(&mesh, "GBR").await;
            let outcomes = outcomes_for_gbr(&usa, &gbr);
            let missing = (1..=published)
                .filter(|s| !outcomes.contains_key(&format!("USA.radar-1.tracks.{s}")))
                .count();
            if missing == 0 {
                let doubled: Vec<_> = outcomes.iter().filter(|(_, n)| **n > 1).collect();
                assert!(doubled.is_empty(), "tracks with two outcomes for GBR: {doubled:?}");
                return (usa, gbr);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let mut checked = 0;
    for (nation, translator, applied) in &checks {
        let (records, decision) = match *nation {
            "USA" => (&usa, AuditDecision::Release),
            _ => (&gbr_audit, AuditDecision::Admit),
        };
        let n = nothing_after(records, decision, translator, *applied);
        assert!(n > 0, "{nation}: no {decision:?} records under {translator} at all");
        checked += n;
    }
    for (nation, mut l) in latencies {
        l.sort();
        println!(
            "revocation enforcement at {nation}: p50 {} ms, p99 {} ms, max {} ms over {} revocations",
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            l[l.len() - 1],
            l.len()
        );
    }
    println!(
        "load: {published} tracks in {elapsed:.1} s ({:.0}/s), {} admitted, {checked} decisions checked against the revocation instants",
        published as f64 / elapsed,
        received.seqs().len()
    );
    bridges.shutdown().await;
}
