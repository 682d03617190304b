//! The policy plane on a real mesh: translators revoked under load by
//! either party, partner suspension, fail-closed holding on a stale
//! revocation view, and a restart after a revocation, each proved message
//! by message from the audit log.
//!
//! `COALITION_SOAK=1` runs the revocation-under-load test with more rounds.
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use coalition_core::revocation::{NoticeSigner, Revoked, REVOCATION_AUTHORITY_IDENTITY};
use coalition_schemas::v1::{AuditDecision, AuditRecord};
use common::policy::*;
use common::*;

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
                NoticeSigner::Authority(&authority(&mesh, issuer)),
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
            NoticeSigner::Authority(&authority(&mesh, "GBR")),
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

    // Reinstated by the same issuer, at a later epoch, signed by its root
    // (the emergency path: as if the authority key were unavailable): both
    // directions flow.
    control(&mesh, "GBR")
        .await
        .revoke(
            NoticeSigner::Root(&root_key(&mesh, "GBR")),
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
            NoticeSigner::Authority(&authority(&mesh, "USA")),
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

/// A revocation-authority key certified by USA's root, as at a renewal.
fn renewed_authority(mesh: &nats_harness::Mesh) -> coalition_sdk::CertifiedKey {
    use coalition_core::certificate::{issue_certificate, CertificateRequest};
    use coalition_core::keys::{Algorithm, SigningKeyPair};
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, "USA/revocation-authority (renewed)");
    let request = CertificateRequest {
        nation: "USA".into(),
        producer_id: REVOCATION_AUTHORITY_IDENTITY.into(),
        public_key: key.public_key().clone(),
        not_before_ms: now_ms() - 60_000,
        not_after_ms: now_ms() + 3_600_000,
        feeds: vec!["control".into()],
        max_classification: String::new(),
    };
    coalition_sdk::CertifiedKey {
        nation: "USA".into(),
        certificate: issue_certificate(&root_key(mesh, "USA"), &request).unwrap(),
        key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_revocation_authority_signs_nothing_more_and_the_root_signs_in_an_emergency() {
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let (_gbr, at_gbr) = receive(&mesh, "GBR", "USA").await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    let control = control(&mesh, "USA").await;
    let old = authority(&mesh, "USA");
    let retract = |id: &str| {
        Revoked::Product(coalition_core::revocation::ProductKey {
            origin: "USA".into(),
            producer_id: "radar-1".into(),
            feed: "tracks".into(),
            product_id: id.into(),
        })
    };
    let publish = |signer, revoked| control.revoke(signer, revoked, None, "test");
    // The authority signs as usual.
    let first = publish(NoticeSigner::Authority(&old), retract("T-1"))
        .await
        .unwrap();
    // Its key is compromised: the root, brought out for the emergency,
    // revokes it, and certifies a new authority.
    let revocation = Revoked::ProducerKey {
        nation: "USA".into(),
        producer_id: REVOCATION_AUTHORITY_IDENTITY.into(),
        key_sha256: *old.key.public_key().id(),
    };
    let root = root_key(&mesh, "USA");
    let cut = publish(NoticeSigner::Root(&root), revocation)
        .await
        .unwrap();
    let renewed = renewed_authority(&mesh);
    let third = publish(NoticeSigner::Authority(&renewed), retract("T-3"))
        .await
        .unwrap();
    for nation in ["USA", "GBR"] {
        for n in [&first, &cut, &third] {
            applied_at(&mesh, nation, &n.name()).await;
        }
    }
    // The thief's suspension of GBR, signed with the revoked key, is refused
    // at USA's bridge, with why, and never reaches GBR.
    let refused = r#"coalition_bridge_control_refused_total{nation="USA",source="home"}"#;
    let before = metric(refused);
    let stolen = publish(
        NoticeSigner::Authority(&old),
        Revoked::SuspendPartner("GBR".into()),
    )
    .await
    .unwrap();
    let subject = format!("ctl.notice.USA.{}", stolen.epoch);
    let why = format!("which {} revoked", cut.name());
    until_audited(&mesh, "USA", "USA refuses the stolen key's notice", |r| {
        r.reason == "control_refused" && r.msg_id == subject && r.detail.contains(&why)
    })
    .await;
    assert!(metric(refused) > before);
    until_received(&at_gbr, &publish_n(&usa, "AFTER", &["GBR"], 3).await).await;
    // Its epoch is a hole no notice can fill (HOME's CONTROL is
    // append-only). A later notice still reaches GBR, and GBR's view of
    // USA stays fresh: tracks keep being admitted.
    let fourth = publish(NoticeSigner::Authority(&renewed), retract("T-4"))
        .await
        .unwrap();
    assert!(fourth.epoch > stolen.epoch);
    for nation in ["USA", "GBR"] {
        applied_at(&mesh, nation, &fourth.name()).await;
    }
    until_received(&at_gbr, &publish_n(&usa, "LATER", &["GBR"], 3).await).await;
    for nation in ["USA", "GBR"] {
        let records = audit_records(&mesh, nation).await;
        assert!(
            !records
                .iter()
                .any(|r| is(r, AuditDecision::Revoke) && r.msg_id == stolen.name()),
            "{nation} applied {}",
            stolen.name()
        );
    }
    bridges.shutdown().await;
}
