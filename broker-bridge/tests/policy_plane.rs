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
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| t == translator)
            .count()
    }
    fn seqs(&self) -> Vec<u64> {
        self.0.lock().unwrap().iter().map(|(s, _)| *s).collect()
    }
}

/// Receives, in the background, what `nation`'s subscriber gets from
/// `origin`; keep the returned subscriber for as long as it should receive.
async fn receive(mesh: &Mesh, nation: &str, origin: &str) -> (coalition_sdk::Subscriber, Received) {
    let subscriber = subscriber(mesh, nation).await;
    let topic = coalition_sdk::Topic::tracks().from_nation(origin);
    let sub = within("subscribe", subscriber.subscribe(topic))
        .await
        .expect("subscribes");
    (subscriber, read_in_background(sub))
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
            let receipts = producer
                .publish_tracks("tracks", &tracks)
                .await
                .expect("published");
            n += receipts.len() as u64;
            p.store(n, Ordering::Release);
        }
    });
    Load {
        stop,
        published,
        task,
    }
}

impl Load {
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        within("publisher stop", self.task)
            .await
            .expect("publisher task");
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
            let found = audit_records(mesh, nation)
                .await
                .into_iter()
                .find(|r| r.decision == AuditDecision::Revoke as i32 && r.msg_id == name);
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
/// (GBR) under `translator` by a decision taken after the instant its
/// revocation was applied there (to the millisecond: a decision's time is
/// taken just before it reads the state, an application's just after it
/// changed it); returns how many records under it were checked.
fn nothing_after(
    records: &[AuditRecord],
    decision: AuditDecision,
    translator: &str,
    applied: i64,
) -> usize {
    let under: Vec<_> = records
        .iter()
        .filter(|r| is(r, decision) && r.translator == translator)
        .collect();
    for r in &under {
        assert!(
            r.decided_at_ms <= applied,
            "{} {:?} under revoked {translator} at {} > applied {applied}",
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
    let denied = usa
        .iter()
        .filter(|r| r.partner == "GBR" && is(r, AuditDecision::Deny));
    let decided = gbr.iter().filter(|r| {
        r.partner == "USA" && (is(r, AuditDecision::Admit) || is(r, AuditDecision::Reject))
    });
    for r in denied.chain(decided) {
        *outcomes.entry(r.msg_id.clone()).or_default() += 1;
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translator_revoked_under_load_by_either_party_stops_release_and_admission_at_once() {
    let rounds: u32 = if std::env::var_os("COALITION_SOAK").is_some() {
        20
    } else {
        4
    };
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let (_gbr, received) = receive(&mesh, "GBR", "USA").await;
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
                Revoked::Translator {
                    id: "USA-GBR".into(),
                    version,
                },
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
                assert!(
                    doubled.is_empty(),
                    "tracks with two outcomes for GBR: {doubled:?}"
                );
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
        assert!(
            n > 0,
            "{nation}: no {decision:?} records under {translator} at all"
        );
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

/// Publishes `n` tracks with ids `<prefix>-<i>`; returns their seqs.
async fn publish_n(producer: &Producer, prefix: &str, to: &[&str], n: usize) -> Vec<u64> {
    let l = label(producer_nation(producer), "SECRET", to);
    let tracks: Vec<_> = (0..n)
        .map(|i| (l.clone(), track(&format!("{prefix}-{i}"))))
        .collect();
    within("publish", producer.publish_tracks("tracks", &tracks))
        .await
        .expect("published")
        .into_iter()
        .map(|r| r.seq)
        .collect()
}

fn producer_nation(p: &Producer) -> &'static str {
    if p.producer_id() == "radar-1" {
        "USA"
    } else {
        "GBR"
    }
}

/// Waits until `received` holds every seq in `seqs`; fails on duplicates.
async fn until_received(received: &Received, seqs: &[u64]) {
    until(&format!("{} deliveries", seqs.len()), || {
        let got = received.seqs();
        seqs.iter().all(|s| got.contains(s))
    })
    .await;
    let got = received.seqs();
    for s in seqs {
        assert_eq!(
            got.iter().filter(|g| *g == s).count(),
            1,
            "seq {s} delivered more than once"
        );
    }
}

/// Waits until `nation`'s audit log has a record matching `pred`.
async fn until_audited(mesh: &Mesh, nation: &str, what: &str, pred: impl Fn(&AuditRecord) -> bool) {
    within(what, async {
        while !audit_records(mesh, nation).await.iter().any(&pred) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_suspension_stops_both_directions_until_reinstated() {
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let (_gbr, at_gbr) = receive(&mesh, "GBR", "USA").await;
    let (_usa, at_usa) = receive(&mesh, "USA", "GBR").await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    let gbr = producer(&mesh, "GBR", "radar-2").await;
    until_received(&at_gbr, &publish_n(&usa, "BEFORE", &["GBR"], 5).await).await;
    until_received(&at_usa, &publish_n(&gbr, "BEFORE", &["USA"], 5).await).await;

    // GBR suspends USA, alone.
    let notice = control(&mesh, "GBR")
        .await
        .revoke(
            &root_key(&mesh, "GBR"),
            Revoked::SuspendPartner("USA".into()),
            None,
            "test",
        )
        .await
        .expect("suspension published");
    applied_at(&mesh, "GBR", &notice.name()).await;
    applied_at(&mesh, "USA", &notice.name()).await;
    let held_usa = publish_n(&usa, "SUSPENDED", &["GBR"], 5).await;
    let held_gbr = publish_n(&gbr, "SUSPENDED", &["USA"], 5).await;
    let suspended =
        |id: String| move |r: &AuditRecord| r.msg_id == id && r.reason == "partner_suspended";
    // Each side's egress denies its last message to the other.
    until_audited(
        &mesh,
        "USA",
        "USA denies to GBR",
        suspended(format!("USA.radar-1.tracks.{}", held_usa[4])),
    )
    .await;
    until_audited(
        &mesh,
        "GBR",
        "GBR denies to USA",
        suspended(format!("GBR.radar-2.tracks.{}", held_gbr[4])),
    )
    .await;
    for (received, seqs) in [(&at_gbr, &held_usa), (&at_usa, &held_gbr)] {
        let got = received.seqs();
        assert!(
            seqs.iter().all(|s| !got.contains(s)),
            "a message crossed a suspended partnership"
        );
    }

    // Reinstated by the same issuer, at a later epoch: both directions flow.
    control(&mesh, "GBR")
        .await
        .revoke(
            &root_key(&mesh, "GBR"),
            Revoked::ReinstatePartner("USA".into()),
            None,
            "test",
        )
        .await
        .expect("reinstatement published");
    until_received(&at_gbr, &publish_n(&usa, "AFTER", &["GBR"], 5).await).await;
    until_received(&at_usa, &publish_n(&gbr, "AFTER", &["USA"], 5).await).await;
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_revocation_view_holds_admission_and_the_backlog_arrives_whole_when_fresh() {
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges_with(&mesh, |s| {
        s.config.revocation_staleness_ms = 3_000;
        s.config.heartbeat_interval_ms = 500;
    })
    .await;
    let (_gbr, at_gbr) = receive(&mesh, "GBR", "USA").await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    until_received(&at_gbr, &publish_n(&usa, "FRESH", &["GBR"], 5).await).await;
    let stale = r#"coalition_bridge_partner_stale{nation="GBR",partner="USA"}"#;
    assert_eq!(metric(stale), 0.0);

    let usa_bridge = bridges.handles.iter().find(|h| h.nation == "USA").unwrap();
    usa_bridge.pause_heartbeats(true).await;
    let paused_at = now_ms();
    // Past the bound from the pause, even a heartbeat GBR reads late is too
    // old to make its view fresh again.
    until("GBR holds USA", || {
        metric(stale) == 1.0 && now_ms() > paused_at + 3_000
    })
    .await;
    let held_since = now_ms();
    let backlog = publish_n(&usa, "HELD", &["GBR"], 50).await;
    // USA releases all of them; GBR admits none while its view is stale.
    let last = format!("USA.radar-1.tracks.{}", backlog[49]);
    until_audited(&mesh, "USA", "USA released the backlog", |r| {
        r.msg_id == last && is(r, AuditDecision::Release)
    })
    .await;
    let got = at_gbr.seqs();
    assert!(
        backlog.iter().all(|s| !got.contains(s)),
        "admitted while stale"
    );
    until_audited(&mesh, "GBR", "GBR audits the hold", |r| {
        is(r, AuditDecision::Hold) && r.partner == "USA" && r.detail.starts_with("holding")
    })
    .await;

    usa_bridge.pause_heartbeats(false).await;
    until_received(&at_gbr, &backlog).await;
    assert_eq!(metric(stale), 0.0);
    let gbr_audit = audit_records(&mesh, "GBR").await;
    for seq in &backlog {
        let id = format!("USA.radar-1.tracks.{seq}");
        let admit = gbr_audit
            .iter()
            .find(|r| r.msg_id == id && is(r, AuditDecision::Admit))
            .expect("admission audited");
        assert!(admit.decided_at_ms > held_since, "{id} admitted while held");
    }
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_translator_versions_serve_two_source_policy_versions_at_once() {
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let gbr_sub = subscriber(&mesh, "GBR").await;
    let mut sub = gbr_sub
        .subscribe(coalition_sdk::Topic::tracks().from_nation("USA"))
        .await
        .unwrap();
    // USA policy v2 (one more caveat) and translator v2 for it only.
    let t = mesh.topology();
    let mut v2 = dev_policy(t.nation("USA").unwrap());
    v2.version = 2;
    v2.caveats.push(("REL-EXERCISE".into(), false));
    let signed =
        coalition_core::policy::sign_policy(&v2, &root_key(&mesh, "USA"), now_ms()).unwrap();
    let usa_control = control(&mesh, "USA").await;
    usa_control
        .publish_policy("USA", 2, signed)
        .await
        .expect("policy published");
    let mut tr = dev_translator(&v2, &dev_policy(t.nation("GBR").unwrap()), now_ms());
    tr.version = 2;
    tr.source_versions = 2..=2;
    let mut signed = sign_translator(&tr, "USA", &root_key(&mesh, "USA")).unwrap();
    cosign_translator(&mut signed, "GBR", &root_key(&mesh, "GBR")).unwrap();
    usa_control
        .publish_translator("USA-GBR", 2, signed)
        .await
        .expect("translator published");

    let usa = producer(&mesh, "USA", "radar-1").await;
    let old = label("USA", "SECRET", &["GBR"]);
    let new = label("USA", "SECRET", &["GBR"]).in_version(2);
    // The first v2 message may meet a bridge that has not read the new
    // objects yet; it is then denied and kept, so wait for one to pass.
    let mut tracks = Vec::new();
    for i in 0..10 {
        let l = if i % 2 == 0 { &old } else { &new };
        tracks.push((l.clone(), track(&format!("COHAB-{i}"))));
    }
    for nation in ["USA", "GBR"] {
        for kind in ["policy", "translator"] {
            let series = format!(
                r#"coalition_bridge_control_applied_total{{nation="{nation}",kind="{kind}"}}"#
            );
            until(&format!("{nation} applies the new {kind}"), || {
                metric(&series) >= 1.0
            })
            .await;
        }
    }
    let receipts = within("publish", usa.publish_tracks("tracks", &tracks))
        .await
        .unwrap();
    let mut by_translator: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for _ in 0..receipts.len() {
        let d = next_delivery(&mut sub).await;
        let translator = d.lineage.translator.clone().expect("translator in lineage");
        let versions = d
            .lineage
            .policy_versions
            .clone()
            .expect("policy versions in lineage");
        assert!(
            versions.starts_with(&format!("USA/v{}", d.label.policy_version)),
            "{versions}"
        );
        by_translator
            .entry(translator)
            .or_default()
            .push(d.label.policy_version);
    }
    assert_eq!(by_translator["USA-GBR@1"], vec![1; 5]);
    assert_eq!(by_translator["USA-GBR@2"], vec![2; 5]);
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_of_a_running_bridge_verifies_answers_who_admitted_and_shows_a_deletion() {
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let (_gbr, at_gbr) = receive(&mesh, "GBR", "USA").await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    for round in 0..6 {
        until_received(
            &at_gbr,
            &publish_n(&usa, &format!("AUDIT-{round}"), &["GBR"], 5).await,
        )
        .await;
    }
    let anchors = anchors(&mesh);
    let blocks = audit_blocks(&mesh, "GBR").await;
    let report = verify_chain("GBR", blocks.iter().cloned(), &anchors, now_ms());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(
        report.checkpoints_verified >= 1,
        "no signed checkpoint verified"
    );
    let id = "USA.radar-1.tracks.3";
    let decoded: Vec<_> = blocks
        .iter()
        .map(|(_, raw)| coalition_core::audit::decode_block(raw).expect("block decodes"))
        .collect();
    let found = coalition_core::audit::records_for(&decoded, id);
    let admit = found
        .iter()
        .find(|r| is(r.record, AuditDecision::Admit))
        .expect("admission of seq 3 audited");
    assert_eq!(admit.record.translator, "USA-GBR@1");
    assert_eq!(
        (
            admit.record.source_policy_version,
            admit.record.target_policy_version
        ),
        (1, 1)
    );
    assert_eq!(admit.record.key_id.len(), 64, "key id is a hex SHA-256");

    // Someone with the nation's admin rights deletes a block: the chain shows where.
    let (victim_seq, _) = blocks[blocks.len() / 2];
    let cred = mesh.bridge_config("GBR").unwrap().home.clone();
    let js = jetstream_as(&mesh, "GBR", cred).await;
    let stream = js.get_stream("AUDIT").await.unwrap();
    stream.delete_message(victim_seq).await.expect("deleted");
    bridges.shutdown().await;
    let after = audit_blocks(&mesh, "GBR").await;
    let report = verify_chain("GBR", after.iter().cloned(), &anchors, now_ms());
    assert!(!report.is_clean());
    let first = &report.problems[0];
    assert_eq!(first.stream_seq, victim_seq + 1, "{first}");
}

/// Starts one nation's bridge with its own stop switch.
async fn start_one(
    mesh: &Mesh,
    nation: &str,
) -> (
    tokio::sync::watch::Sender<bool>,
    coalition_bridge::BridgeHandle,
) {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let settings =
        coalition_bridge::BridgeSettings::load(&mesh.bridge_config_path(nation)).unwrap();
    let handle = within("bridge start", coalition_bridge::start(settings, shutdown))
        .await
        .unwrap();
    (stop, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_restarted_after_a_revocation_applies_it_before_releasing_anything() {
    let mesh = mesh(DUPLEX).await;
    let (usa_stop, usa_bridge) = start_one(&mesh, "USA").await;
    let (gbr_stop, gbr_bridge) = start_one(&mesh, "GBR").await;
    let (_gbr, at_gbr) = receive(&mesh, "GBR", "USA").await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    until_received(&at_gbr, &publish_n(&usa, "BEFORE", &["GBR"], 5).await).await;

    // USA's bridge is down while USA's operators revoke the translator and
    // its producer keeps publishing.
    let _ = usa_stop.send(true);
    within("USA bridge stops", usa_bridge.join()).await;
    let notice = control(&mesh, "USA")
        .await
        .revoke(
            &root_key(&mesh, "USA"),
            Revoked::Translator {
                id: "USA-GBR".into(),
                version: 0,
            },
            None,
            "test",
        )
        .await
        .expect("notice published");
    let while_down = publish_n(&usa, "WHILE-DOWN", &["GBR"], 10).await;
    let (usa_stop, usa_bridge) = start_one(&mesh, "USA").await;
    let applied = applied_at(&mesh, "USA", &notice.name()).await;
    let last = format!("USA.radar-1.tracks.{}", while_down[9]);
    until_audited(&mesh, "USA", "USA decides the backlog", |r| {
        r.msg_id == last && r.partner == "GBR"
    })
    .await;
    let usa_audit = audit_records(&mesh, "USA").await;
    for seq in &while_down {
        let id = format!("USA.radar-1.tracks.{seq}");
        let r = usa_audit
            .iter()
            .find(|r| r.msg_id == id && r.partner == "GBR")
            .expect("decided");
        assert!(
            is(r, AuditDecision::Deny) && r.reason == "translator_revoked",
            "{id}: {r:?}"
        );
        assert!(
            r.decided_at_ms >= applied,
            "{id} decided before the notice was applied"
        );
    }
    // And GBR learns it over the mesh.
    applied_at(&mesh, "GBR", &notice.name()).await;
    let got = at_gbr.seqs();
    assert!(while_down.iter().all(|s| !got.contains(s)));
    let _ = (usa_stop.send(true), gbr_stop.send(true));
    within("stop", async {
        usa_bridge.join().await;
        gbr_bridge.join().await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fused_track_carries_the_composite_label_and_every_sources_lineage_across() {
    use coalition_core::composite::{composite_label, derived_from, AdmittedSource};
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let gbr_sub = subscriber(&mesh, "GBR").await;
    let mut at_gbr = gbr_sub
        .subscribe(coalition_sdk::Topic::tracks())
        .await
        .unwrap();
    let usa_sub = subscriber(&mesh, "USA").await;
    let mut at_usa = usa_sub
        .subscribe(coalition_sdk::Topic::tracks().from_nation("GBR"))
        .await
        .unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;
    let gbr = producer(&mesh, "GBR", "radar-2").await;
    publish(&usa, &label("USA", "SECRET", &["GBR", "USA"]), "USA-SOURCE").await;
    let from_usa = next_delivery(&mut at_gbr).await;
    assert_eq!(from_usa.lineage.translator.as_deref(), Some("USA-GBR@1"));
    // The source as admitted into GBR, in GBR's vocabulary.
    let usa_as_admitted = label("GBR", "SECRET", &["GBR", "USA"]);
    let own = label("GBR", "CONFIDENTIAL", &["FRA", "GBR", "USA"]).with_caveat("ORCON");
    let own_header = coalition_core::envelope::Header {
        message_type: coalition_core::envelope::MessageType::Track,
        schema_version: 1,
        label: own.clone(),
        origin: "GBR".into(),
        producer_id: "radar-2".into(),
        feed: "tracks".into(),
        seq: publish(&gbr, &label("GBR", "CONFIDENTIAL", &["GBR"]), "GBR-SOURCE").await,
        payload_sha256: [0; 32],
        produced_at_ms: 0,
        producer_cert_sha256: [0; 32],
        corrects_seq: None,
        product_id: "GBR-SOURCE".into(),
        derived_from: Vec::new(),
    };
    let usa_header = coalition_core::envelope::Header {
        origin: "USA".into(),
        producer_id: "radar-1".into(),
        seq: from_usa.seq,
        label: usa_as_admitted.clone(),
        ..own_header.clone()
    };
    let gbr_policy = dev_policy(mesh.topology().nation("GBR").unwrap());
    let fused = composite_label(&gbr_policy, &[&usa_as_admitted, &own]).expect("composite");
    assert_eq!(fused.classification, "SECRET", "highest");
    assert_eq!(
        fused.releasable_to,
        ["GBR", "USA"].map(String::from).into(),
        "intersection"
    );
    assert!(fused.caveats.contains("ORCON"), "union");
    let sources = derived_from(&[
        AdmittedSource {
            header: &usa_header,
            label: &usa_as_admitted,
            translator: Some("USA-GBR@1"),
        },
        AdmittedSource {
            header: &own_header,
            label: &own,
            translator: None,
        },
    ]);
    within(
        "publish fused",
        gbr.publish_derived_track("tracks", &fused, &track("FUSED"), sources),
    )
    .await
    .expect("published");
    let d = next_delivery(&mut at_usa).await;
    assert_eq!(track_id(&d), "FUSED");
    assert_eq!(d.label, fused, "signed with the composite label");
    assert_eq!(d.lineage.translator.as_deref(), Some("GBR-USA@1"));
    assert_eq!(d.derived_from.len(), 2);
    assert_eq!(
        d.derived_from[0].msg_id(),
        format!("USA.radar-1.tracks.{}", from_usa.seq)
    );
    assert_eq!(d.derived_from[0].translator.as_deref(), Some("USA-GBR@1"));
    assert_eq!(d.derived_from[1].label, own);
    bridges.shutdown().await;
}
