//! Permit/deny tables for the verifier: each invariant passes on a clean
//! ledger and fails on one broken in exactly that way.
use super::*;
use coalition_topology::parse_topology;

fn pair() -> Topology {
    parse_topology(
        include_str!("../../../topologies/pair.toml"),
        "pair.toml".as_ref(),
    )
    .unwrap()
}

fn label(classification: &str, to: &[&str], caveats: &[&str]) -> LabelRecord {
    LabelRecord {
        classification: classification.into(),
        releasable_to: to.iter().map(|s| s.to_string()).collect(),
        caveats: caveats.iter().map(|s| s.to_string()).collect(),
    }
}

fn published(seq: u64, t_ms: i64, label: LabelRecord) -> ProducerRecord {
    ProducerRecord::Published {
        t_ms,
        origin: "USA".into(),
        producer: "radar-1".into(),
        feed: "tracks".into(),
        seq,
        label,
    }
}

fn delivered(seq: u64, t_ms: i64, label: LabelRecord, admitted_at_ms: i64) -> AlertsRecord {
    AlertsRecord::Delivered {
        t_ms,
        origin: "USA".into(),
        producer: "radar-1".into(),
        feed: "tracks".into(),
        seq,
        label,
        released_at_ms: Some(admitted_at_ms - 1),
        admitted_at_ms: Some(admitted_at_ms),
        translator: Some("USA-GBR@1".into()),
        gap: None,
        replayed: false,
    }
}

fn audit(
    nation: &str,
    decision: &str,
    stage: &str,
    partner: &str,
    msg_id: &str,
    reason: &str,
    at: i64,
) -> AuditLine {
    AuditLine {
        nation: nation.into(),
        decision: decision.into(),
        stage: stage.into(),
        partner: partner.into(),
        msg_id: msg_id.into(),
        reason: reason.into(),
        translator: String::new(),
        decided_at_ms: at,
        detail: String::new(),
    }
}

/// Two releasable tracks delivered once each, one NOFORN track denied at
/// USA's egress: a clean run.
fn clean() -> Evidence {
    let ok = label("SECRET", &["GBR"], &[]);
    let noforn = label("SECRET", &["GBR"], &["NOFORN"]);
    Evidence {
        published: vec![
            ProducerRecord::Ready { t_ms: 0 },
            published(1, 100, ok.clone()),
            published(2, 200, noforn),
            published(3, 300, ok.clone()),
            ProducerRecord::Done {
                t_ms: 400,
                published: 3,
            },
        ],
        delivered: [(
            "GBR".to_string(),
            vec![
                delivered(1, 150, ok.clone(), 140),
                delivered(3, 350, ok, 340),
            ],
        )]
        .into(),
        audit: vec![audit(
            "USA",
            "deny",
            "egress",
            "GBR",
            "USA.radar-1.tracks.2",
            "caveat_forbids_release",
            210,
        )],
        t0_ms: 0,
        ..Default::default()
    }
}

#[test]
fn a_clean_run_passes_with_its_counts() {
    let r = verify(&pair(), &clean());
    assert!(r.passed(), "{:?}", r.failures);
    let t = &r.links["USA->GBR"];
    assert_eq!(
        (t.published, t.releasable, t.delivered, t.lost, t.duplicated),
        (3, 2, 2, 0, 0)
    );
    assert_eq!(t.denied["caveat_forbids_release"], 1);
    assert_eq!(r.sent, 3);
    // Published at 100 and 300, delivered at 150 and 350.
    assert_eq!(t.latency_ms, Some((50, 50, 50)));
}

#[test]
fn a_missing_delivery_is_a_loss() {
    let mut e = clean();
    e.delivered.get_mut("GBR").unwrap().pop();
    let r = verify(&pair(), &e);
    assert_eq!(r.total.lost, 1);
    assert!(r.lost[0].contains("USA/radar-1/tracks#3"), "{:?}", r.lost);
    assert!(!r.passed());
}

#[test]
fn a_second_delivery_is_a_duplicate() {
    let mut e = clean();
    let again = delivered(1, 160, label("SECRET", &["GBR"], &[]), 140);
    e.delivered.get_mut("GBR").unwrap().push(again);
    let r = verify(&pair(), &e);
    assert_eq!(r.total.duplicated, 1);
    assert!(r.failures.iter().any(|f| f.contains("duplicate")));
}

#[test]
fn a_delivery_the_label_forbids_is_a_leak() {
    let mut e = clean();
    let noforn = label("SECRET", &["GBR"], &["NOFORN"]);
    e.delivered
        .get_mut("GBR")
        .unwrap()
        .push(delivered(2, 250, noforn, 240));
    let r = verify(&pair(), &e);
    assert_eq!(r.leaked.len(), 1, "{:?}", r.leaked);
    assert!(r.leaked[0].contains("caveat_forbids_release"));
    assert!(!r.passed());
}

#[test]
fn a_forbidden_message_without_a_denial_record_fails() {
    let mut e = clean();
    e.audit.clear();
    let r = verify(&pair(), &e);
    assert!(
        r.failures
            .iter()
            .any(|f| f.contains("no bridge recorded a denial")),
        "{:?}",
        r.failures
    );
}

fn revocation(e: &mut Evidence, applied_at: i64) {
    e.events.push(EventRecord {
        t_ms: 200,
        action: "GBR revokes translator USA-GBR".into(),
        event: Action::RevokeTranslator {
            by: "GBR".into(),
            id: "USA-GBR".into(),
        },
        notice: Some(("GBR#1".into(), 200)),
    });
    e.audit.push(audit(
        "GBR", "revoke", "control", "", "GBR#1", "", applied_at,
    ));
}

#[test]
fn a_denial_for_a_revoked_translator_is_explained_only_by_a_revocation() {
    let mut e = clean();
    // Track 3 was denied at GBR's ingress instead of delivered.
    e.delivered.get_mut("GBR").unwrap().pop();
    e.audit.push(audit(
        "GBR",
        "reject",
        "ingress",
        "USA",
        "USA.radar-1.tracks.3",
        "translator_revoked",
        330,
    ));
    let r = verify(&pair(), &e);
    assert!(
        r.failures
            .iter()
            .any(|f| f.contains("the scenario does not explain")),
        "{:?}",
        r.failures
    );
    revocation(&mut e, 210);
    let r = verify(&pair(), &e);
    assert!(r.passed(), "{:?}", r.failures);
    assert_eq!(r.enforcement[0].applied_after_ms["GBR"], 10);
    assert_eq!(r.total.denied["translator_revoked"], 1);
}

#[test]
fn an_admission_after_the_revocation_was_applied_is_a_leak() {
    let mut e = clean();
    revocation(&mut e, 300);
    // Track 3 was admitted at 340, after GBR applied the revocation at 300.
    let r = verify(&pair(), &e);
    assert_eq!(r.leaked.len(), 1, "{:?}", r.leaked);
    assert!(r.leaked[0].contains("after GBR applied GBR#1"));
    // Applied after the admission: no leak.
    let mut e = clean();
    revocation(&mut e, 345);
    assert!(verify(&pair(), &e).passed());
}

#[test]
fn a_notice_no_bridge_applied_fails() {
    let mut e = clean();
    revocation(&mut e, 999);
    e.audit.retain(|a| a.decision != "revoke");
    let r = verify(&pair(), &e);
    assert!(r
        .failures
        .iter()
        .any(|f| f.contains("no bridge recorded applying GBR#1")));
}

#[test]
fn an_admission_while_the_partner_is_suspended_is_a_leak_and_reinstatement_ends_the_window() {
    let mut e = clean();
    let suspend = |t: i64, reinstate: bool| EventRecord {
        t_ms: t,
        action: String::new(),
        event: if reinstate {
            Action::Reinstate {
                by: "GBR".into(),
                partner: "USA".into(),
            }
        } else {
            Action::Suspend {
                by: "GBR".into(),
                partner: "USA".into(),
            }
        },
        notice: Some((format!("GBR#{}", if reinstate { 2 } else { 1 }), t)),
    };
    // Applied after track 1 was admitted (140), before track 3 (340).
    e.events.push(suspend(145, false));
    e.audit
        .push(audit("GBR", "revoke", "control", "", "GBR#1", "", 145));
    let r = verify(&pair(), &e);
    // Track 3, admitted at 340, is inside the open window.
    assert_eq!(r.leaked.len(), 1, "{:?}", r.leaked);
    e.events.push(suspend(300, true));
    e.audit
        .push(audit("GBR", "revoke", "control", "", "GBR#2", "", 300));
    let r = verify(&pair(), &e);
    assert!(r.leaked.is_empty(), "{:?}", r.leaked);
}

#[test]
fn a_gap_and_an_unfinished_producer_fail() {
    let mut e = clean();
    e.published
        .retain(|p| !matches!(p, ProducerRecord::Done { .. }));
    if let Some(AlertsRecord::Delivered { gap, .. }) =
        e.delivered.get_mut("GBR").unwrap().last_mut()
    {
        *gap = Some((2, 2));
    }
    let r = verify(&pair(), &e);
    assert!(
        r.failures.iter().any(|f| f.contains("gap")),
        "{:?}",
        r.failures
    );
    assert!(
        r.failures.iter().any(|f| f.contains("did not finish")),
        "{:?}",
        r.failures
    );
}

#[test]
fn the_backlog_of_a_cut_and_its_drain_time_are_measured() {
    let mut e = clean();
    let event = |t_ms: i64, event: Action| EventRecord {
        t_ms,
        action: event.describe(),
        event,
        notice: None,
    };
    e.events.push(event(
        50,
        Action::Cut {
            a: "USA".into(),
            b: "GBR".into(),
        },
    ));
    e.events.push(event(
        320,
        Action::Restore {
            a: "USA".into(),
            b: "GBR".into(),
        },
    ));
    let r = verify(&pair(), &e);
    // Track 3 (published at 300, before the restore) arrived at 350.
    assert_eq!(r.catch_up.len(), 1);
    assert_eq!(
        (r.catch_up[0].backlog, r.catch_up[0].drained_after_ms),
        (1, 30)
    );
}

#[test]
fn a_restore_named_in_the_reverse_direction_closes_the_cut() {
    let mut e = clean();
    let event = |t_ms: i64, event: Action| EventRecord {
        t_ms,
        action: event.describe(),
        event,
        notice: None,
    };
    e.events.push(event(
        50,
        Action::Cut {
            a: "USA".into(),
            b: "GBR".into(),
        },
    ));
    e.events.push(event(
        320,
        Action::Restore {
            a: "GBR".into(),
            b: "USA".into(),
        },
    ));
    let r = verify(&pair(), &e);
    assert_eq!(r.catch_up.len(), 1, "the catch-up section is there");
    assert_eq!((r.catch_up[0].until_ms, r.catch_up[0].backlog), (320, 1));
}

#[test]
fn message_ids_parse_and_others_are_ignored() {
    assert_eq!(
        parse_msg_id("USA.radar-1.tracks.17"),
        Some(("USA".into(), "radar-1".into(), "tracks".into(), 17))
    );
    assert_eq!(parse_msg_id("GBR#3"), None);
    assert_eq!(parse_msg_id("USA.radar-1.tracks.x"), None);
}

#[test]
fn alerts_are_verified_like_tracks_and_their_latency_is_kept_apart() {
    // The pair topology with an alert feed, as the exercise adds one.
    let text = include_str!("../../../topologies/pair.toml");
    let base = pair();
    let with_alerts = crate::layout::with_alert_feeds(text, &base);
    let topology = parse_topology(&with_alerts, "pair.toml".as_ref()).unwrap();
    let mut e = clean();
    let ok = label("SECRET", &["GBR"], &[]);
    let alert = |r: ProducerRecord| match r {
        ProducerRecord::Published {
            t_ms,
            origin,
            producer,
            seq,
            label,
            ..
        } => ProducerRecord::Published {
            t_ms,
            origin,
            producer,
            feed: crate::layout::ALERT_FEED.into(),
            seq,
            label,
        },
        other => other,
    };
    e.published.push(alert(published(1, 500, ok.clone())));
    let mut d = delivered(1, 900, ok, 880);
    if let AlertsRecord::Delivered { feed, .. } = &mut d {
        *feed = crate::layout::ALERT_FEED.into();
    }
    e.delivered.get_mut("GBR").unwrap().push(d);
    let r = verify(&topology, &e);
    assert!(r.passed(), "{:?}", r.failures);
    assert_eq!(r.links["USA->GBR"].delivered, 3, "two tracks and an alert");
    assert_eq!(r.alert_deliveries["USA->GBR"], vec![(900, 400)]);
    // The tracks' latency is the tracks' alone.
    assert_eq!(r.first_deliveries["USA->GBR"].len(), 2);
    assert_eq!(r.links["USA->GBR"].latency_ms, Some((50, 50, 50)));
}
