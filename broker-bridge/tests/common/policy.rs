//! Helpers of the policy-plane tests: background receivers and publishers,
//! control objects issued with the development PKI, and readers of the
//! audit log.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coalition_core::translator::{cosign_translator, sign_translator};
use coalition_schemas::v1::{AuditDecision, AuditRecord};
use coalition_sdk::{Producer, Subscription};
use nats_harness::{dev_policy, dev_translator, Mesh};

use super::*;

/// `nation`'s revocation authority, from the mesh's development PKI: what
/// an operator signs notices with (`coalition revoke`).
pub fn authority(mesh: &Mesh, nation: &str) -> coalition_sdk::CertifiedKey {
    let (key, cert) = nats_harness::revocation_authority_files(mesh.dir(), nation);
    let anchor = coalition_sdk::load_trust_anchor(&mesh.root_public_key_path(nation))
        .expect("root.pub loads");
    coalition_sdk::load_revocation_authority(&key, &cert, nation, &anchor, now_ms())
        .expect("the revocation authority loads")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Deliveries seen by a background reader: (seq, translator).
#[derive(Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<(u64, String)>>>);

impl Received {
    pub fn count_with(&self, translator: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| t == translator)
            .count()
    }
    pub fn seqs(&self) -> Vec<u64> {
        self.0.lock().unwrap().iter().map(|(s, _)| *s).collect()
    }
}

/// Receives, in the background, what `nation`'s subscriber gets from
/// `origin`; keep the returned subscriber for as long as it should receive.
pub async fn receive(
    mesh: &Mesh,
    nation: &str,
    origin: &str,
) -> (coalition_sdk::Subscriber, Received) {
    let subscriber = subscriber(mesh, nation).await;
    let topic = coalition_sdk::Topic::tracks().from_nation(origin);
    let sub = within("subscribe", subscriber.subscribe(topic))
        .await
        .expect("subscribes");
    (subscriber, read_in_background(sub))
}

pub fn read_in_background(mut sub: Subscription) -> Received {
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
pub struct Load {
    stop: Arc<AtomicBool>,
    published: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

pub fn publish_in_background(producer: Producer, batch: usize) -> Load {
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
                .publish_all(
                    "tracks",
                    tracks
                        .iter()
                        .map(|(l, t)| coalition_sdk::Record::track(l, t))
                        .collect(),
                )
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
    pub async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        within("publisher stop", self.task)
            .await
            .expect("publisher task");
        self.published.load(Ordering::Acquire)
    }
}

/// Issues USA-GBR translator `version` (dev mapping), co-signed by both
/// roots, and publishes it in USA.
pub async fn issue_translator(mesh: &Mesh, version: u32) {
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
pub async fn applied_at(mesh: &Mesh, nation: &str, name: &str) -> i64 {
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

pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn is(r: &AuditRecord, decision: AuditDecision) -> bool {
    r.decision == decision as i32
}

/// Checks, record by record, that nothing was released (USA) or admitted
/// (GBR) under `translator` by a decision taken after the instant its
/// revocation was applied there (to the millisecond: a decision's time is
/// taken just before it reads the state, an application's just after it
/// changed it); returns how many records under it were checked.
pub fn nothing_after(
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
pub fn outcomes_for_gbr(usa: &[AuditRecord], gbr: &[AuditRecord]) -> BTreeMap<String, u32> {
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

/// Publishes `n` tracks with ids `<prefix>-<i>`; returns their seqs.
pub async fn publish_n(producer: &Producer, prefix: &str, to: &[&str], n: usize) -> Vec<u64> {
    let l = label(producer_nation(producer), "SECRET", to);
    let tracks: Vec<_> = (0..n)
        .map(|i| (l.clone(), track(&format!("{prefix}-{i}"))))
        .collect();
    within(
        "publish",
        producer.publish_all(
            "tracks",
            tracks
                .iter()
                .map(|(l, t)| coalition_sdk::Record::track(l, t))
                .collect(),
        ),
    )
    .await
    .expect("published")
    .into_iter()
    .map(|r| r.seq)
    .collect()
}

pub fn producer_nation(p: &Producer) -> &'static str {
    if p.producer_id() == "radar-1" {
        "USA"
    } else {
        "GBR"
    }
}

/// Waits until `received` holds every seq in `seqs`; fails on duplicates.
pub async fn until_received(received: &Received, seqs: &[u64]) {
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
pub async fn until_audited(
    mesh: &Mesh,
    nation: &str,
    what: &str,
    pred: impl Fn(&AuditRecord) -> bool,
) {
    within(what, async {
        while !audit_records(mesh, nation).await.iter().any(&pred) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// Starts one nation's bridge with its own stop switch.
pub async fn start_one(
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
