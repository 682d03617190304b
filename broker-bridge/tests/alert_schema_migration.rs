//! The alert v1 -> v2 migration on a real mesh (USA releasing alerts to
//! GBR), under USA's signed schema policy: each phase accepts exactly its
//! versions and serves every alert in the versions in force; in the
//! dual-run window a v1 alert reaches a v2 subscriber as an `AlertV2` and a
//! v2 alert a v1 subscriber as an `AlertV1`, transcoded, with lineage; a v2
//! cancel is served in v2 only (as v1 it would read as a new alarm) and
//! its refusal for v1 is counted and audited; an invalid v2 alert is
//! dead-lettered at egress as `invalid_payload` and audited.
mod common;

use coalition_core::envelope::MessageType;
use coalition_schemas::v1::AuditDecision;
use coalition_sdk::{
    AlertMessageType, AlertSeverity, AlertV1, AlertV2, Delivery, Payload, Severity, Topic,
};
use common::alerts::{alert_v2, apply_policy, cancel_of, migration, usa_policy, HOUR};
use common::policy::until_audited;
use common::*;

/// USA releases alerts to GBR; USA's `radar-1` has an alert feed.
const USA_ALERTS_TO_GBR: &str = r#"
[mesh]
name = "alert-migration"
[[nation]]
code = "USA"
[[nation]]
code = "GBR"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "alerts"
kind = "alert"
"#;

fn alert_v1(id: &str) -> AlertV1 {
    AlertV1 {
        alert_id: id.into(),
        severity: Severity::Warning as i32,
        summary: format!("{id}: UAS near the airfield"),
        track_id: "T-1".into(),
        raised_at_ms: now_ms(),
    }
}

/// Seals `a` as seq `seq` of USA's `radar-1` `alerts` feed and publishes
/// it with the producer's own credential on the `other.moderate` topic.
async fn publish_forged_v2(mesh: &nats_harness::Mesh, seq: u64, a: &AlertV2) {
    let identity = common::forge::identity(mesh, "USA", "radar-1");
    let record = common::forge::record(
        &label("USA", "SECRET", &["GBR"]),
        2,
        &a.alert_id,
        prost::Message::encode_to_vec(a),
    );
    let sealed = coalition_core::batch::seal_batch(
        &identity,
        MessageType::Alert,
        "alerts",
        seq,
        &[record],
        now_ms(),
    )
    .expect("seals");
    let topic = coalition_topology::AlertTopic::new("other", AlertSeverity::Moderate).unwrap();
    let subject = coalition_topology::subjects::outbound(
        coalition_topology::Kind::Alert,
        "radar-1",
        "alerts",
        Some(&topic),
    );
    let cred = common::forge::producer_credential(mesh, "USA", "radar-1");
    common::forge::publish_raw(mesh, "USA", cred, &subject, &a.alert_id, sealed.bytes).await;
}

async fn publish_v1(usa: &coalition_sdk::Producer, a: &AlertV1) -> u64 {
    let secret = label("USA", "SECRET", &["GBR"]);
    within(
        "publish v1",
        usa.publish("alerts", coalition_sdk::Record::alert(&secret, a)),
    )
    .await
    .expect("published")
    .seq
}

async fn publish_v2(usa: &coalition_sdk::Producer, a: &AlertV2) -> u64 {
    let secret = label("USA", "SECRET", &["GBR"]);
    within(
        "publish v2",
        usa.publish("alerts", coalition_sdk::Record::alert_v2(&secret, a)),
    )
    .await
    .expect("published")
    .seq
}

/// (alert id, seq, version served, transcoded from, gap).
type Seen = (String, u64, u32, Option<u32>, Option<(u64, u64)>);

fn seen(d: &Delivery) -> Seen {
    let id = match &d.payload {
        Payload::Alert(a) => a.alert_id.clone(),
        Payload::AlertV2(a) => a.alert_id.clone(),
        other => panic!("expected an alert, got {other:?}"),
    };
    (
        id,
        d.seq,
        d.schema_version,
        d.lineage.transcoded_from,
        d.gap,
    )
}

fn expect_v1(d: &Delivery) -> &AlertV1 {
    match &d.payload {
        Payload::Alert(a) => a,
        other => panic!("expected an alert v1, got {other:?}"),
    }
}

fn expect_v2(d: &Delivery) -> &AlertV2 {
    match &d.payload {
        Payload::AlertV2(a) => a,
        other => panic!("expected an alert v2, got {other:?}"),
    }
}

/// The alert subscriptions of GBR in v1 and in v2.
async fn subscriptions(
    gbr: &coalition_sdk::Subscriber,
) -> (coalition_sdk::Subscription, coalition_sdk::Subscription) {
    let v1 = within("subscribe v1", gbr.subscribe(Topic::alerts())).await;
    let v2 = within("subscribe v2", gbr.subscribe(Topic::alerts().version(2))).await;
    (v1.expect("subscribes"), v2.expect("subscribes"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_phase_of_an_alert_migration_accepts_and_serves_exactly_its_versions() {
    let mesh = mesh(USA_ALERTS_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    let gbr = subscriber(&mesh, "GBR").await;
    let (mut v1_alerts, mut v2_alerts) = subscriptions(&gbr).await;
    let usa = producer(&mesh, "USA", "radar-1").await;

    // Before the window: v2 is not yet accepted; v1 is served in v1 only.
    let policy = usa_policy(1, migration(now_ms() + HOUR, now_ms() + 2 * HOUR));
    apply_policy(&mesh, &policy).await;
    assert_eq!(publish_v2(&usa, &alert_v2("EARLY-V2")).await, 1);
    let dead = dead_letter(&mesh, "USA", "dlq.egress.schema_version_not_yet_accepted").await;
    assert!(contains(&dead.payload, b"EARLY-V2"));
    assert_eq!(publish_v1(&usa, &alert_v1("BEFORE-V1")).await, 2);
    let d = next_delivery(&mut v1_alerts).await;
    assert_eq!(seen(&d), ("BEFORE-V1".into(), 2, 1, None, None));

    // In the window: both accepted, and every alert served in both.
    apply_policy(
        &mesh,
        &usa_policy(2, migration(now_ms() - HOUR, now_ms() + HOUR)),
    )
    .await;
    let during_v1 = alert_v1("DURING-V1");
    let during_v2 = alert_v2("DURING-V2");
    assert_eq!(publish_v1(&usa, &during_v1).await, 3);
    assert_eq!(publish_v2(&usa, &during_v2).await, 4);

    // A v2 subscriber gets the v1 alert as an AlertV2 (nothing lost: every
    // v1 field has a v2 home) and the v2 alert as it was produced.
    let d = next_delivery(&mut v2_alerts).await;
    assert_eq!(seen(&d), ("DURING-V1".into(), 3, 2, Some(1), None));
    assert!(d.lineage.lossy.is_empty(), "{:?}", d.lineage.lossy);
    let a = expect_v2(&d);
    assert_eq!(
        (a.headline.as_str(), a.severity, a.category.as_str()),
        (
            during_v1.summary.as_str(),
            AlertSeverity::Severe as i32,
            "other"
        ),
        "WARNING is SEVERE in v2; v1 has no category"
    );
    assert_eq!(a.source_track_ids, ["T-1"]);
    assert_eq!(a.sent_at_ms, during_v1.raised_at_ms);
    let d = next_delivery(&mut v2_alerts).await;
    assert_eq!(seen(&d), ("DURING-V2".into(), 4, 2, None, None));
    assert_eq!(expect_v2(&d), &during_v2);

    // A v1 subscriber gets both as AlertV1, the v2 one transcoded, with
    // what v1 could not carry named in lineage.
    let d = next_delivery(&mut v1_alerts).await;
    assert_eq!(seen(&d), ("DURING-V1".into(), 3, 1, None, None));
    assert_eq!(expect_v1(&d), &during_v1);
    let d = next_delivery(&mut v1_alerts).await;
    assert_eq!(seen(&d), ("DURING-V2".into(), 4, 1, Some(2), None));
    let expected = AlertV1 {
        alert_id: "DURING-V2".into(),
        severity: Severity::Warning as i32,
        summary: during_v2.headline.clone(),
        track_id: "USA/T-1".into(),
        raised_at_ms: during_v2.sent_at_ms,
    };
    assert_eq!(expect_v1(&d), &expected);
    let lossy = [
        "area:dropped",
        "category:dropped",
        "certainty:dropped",
        "event:dropped",
        "expires_at_ms:dropped",
        "instruction:dropped",
        "sender:dropped",
        "severity:rounded",
        "urgency:dropped",
    ];
    assert_eq!(d.lineage.lossy, lossy, "MODERATE comes back SEVERE");

    cancel_in_the_window(&mesh, &usa, &mut v1_alerts, &mut v2_alerts).await;

    // After the window: v1 is retired; v2 is served in v2 only.
    apply_policy(
        &mesh,
        &usa_policy(3, migration(now_ms() - 2 * HOUR, now_ms() - HOUR)),
    )
    .await;
    assert_eq!(publish_v1(&usa, &alert_v1("LATE-V1")).await, 7);
    assert_eq!(publish_v2(&usa, &alert_v2("AFTER-V2")).await, 8);
    let d = next_delivery(&mut v2_alerts).await;
    assert_eq!(seen(&d), ("AFTER-V2".into(), 8, 2, None, None));
    let dead = dead_letter(&mesh, "USA", "dlq.egress.schema_version_retired").await;
    assert!(contains(&dead.payload, b"LATE-V1"), "refused, not lost");
    let nothing = tokio::time::timeout(std::time::Duration::from_secs(2), v1_alerts.next()).await;
    assert!(nothing.is_err(), "after the window nothing is served in v1");
    bridges.shutdown().await;
}

/// In the window, a v2 cancel (seq 5) reaches the v2 subscriber only; GBR
/// counts and audits its refusal for v1. The next v1 alert (seq 6) reaches
/// both.
async fn cancel_in_the_window(
    mesh: &nats_harness::Mesh,
    usa: &coalition_sdk::Producer,
    v1_alerts: &mut coalition_sdk::Subscription,
    v2_alerts: &mut coalition_sdk::Subscription,
) {
    let cancel = cancel_of("CANCEL-1", "DURING-V2");
    assert_eq!(publish_v2(usa, &cancel).await, 5);
    assert_eq!(publish_v1(usa, &alert_v1("AFTER-CANCEL")).await, 6);
    let d = next_delivery(v2_alerts).await;
    assert_eq!(seen(&d), ("CANCEL-1".into(), 5, 2, None, None));
    let got = expect_v2(&d);
    assert_eq!(got.message_type, AlertMessageType::Cancel as i32);
    assert_eq!(got.references[0].alert_id, "DURING-V2");
    let d = next_delivery(v2_alerts).await;
    assert_eq!(seen(&d), ("AFTER-CANCEL".into(), 6, 2, Some(1), None));
    let d = next_delivery(v1_alerts).await;
    assert_eq!(
        seen(&d).0,
        "AFTER-CANCEL",
        "the cancel is never a v1 alert: it would read as a new alarm"
    );
    assert_eq!(d.seq, 6);
    let denied = r#"coalition_bridge_denied_total{nation="GBR",partner="USA",reason="untranscodable_payload"}"#;
    until("the refusal for v1 is counted", || metric(denied) >= 1.0).await;
    until_audited(mesh, "GBR", "the refusal for v1 is audited", |r| {
        r.decision == AuditDecision::Deny as i32
            && r.msg_id == "USA.radar-1.alerts.5"
            && r.reason == "untranscodable_payload"
            && r.detail
                .starts_with("not served in v1: message_type cannot be converted")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_v2_alert_is_dead_lettered_with_its_reason_and_audited() {
    let mesh = mesh(USA_ALERTS_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    let gbr = subscriber(&mesh, "GBR").await;
    let (_, mut v2_alerts) = subscriptions(&gbr).await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    apply_policy(
        &mesh,
        &usa_policy(1, migration(now_ms() - HOUR, now_ms() + HOUR)),
    )
    .await;

    // A category that is not a subject token: the SDK refuses to publish
    // it (it has no topic), so a producer outside the SDK files it under a
    // topic that is; then a cancel naming nothing.
    let bad_category = AlertV2 {
        category: "air.uas".into(),
        ..alert_v2("BAD-CATEGORY")
    };
    let secret = label("USA", "SECRET", &["GBR"]);
    let refused = within(
        "publish",
        usa.publish(
            "alerts",
            coalition_sdk::Record::alert_v2(&secret, &bad_category),
        ),
    )
    .await;
    assert!(
        matches!(&refused, Err(coalition_sdk::SdkError::InvalidTopic { alert_id, .. }) if alert_id == "BAD-CATEGORY"),
        "{refused:?}"
    );
    publish_forged_v2(&mesh, 1, &bad_category).await;
    let orphan_cancel = AlertV2 {
        references: vec![],
        ..cancel_of("ORPHAN-CANCEL", "")
    };
    assert_eq!(publish_v2(&usa, &orphan_cancel).await, 2);
    assert_eq!(publish_v2(&usa, &alert_v2("VALID")).await, 3);

    let d = next_delivery(&mut v2_alerts).await;
    assert_eq!(
        seen(&d),
        ("VALID".into(), 3, 2, None, None),
        "the invalid alerts never reach GBR"
    );
    let rejected = r#"coalition_bridge_rejected_total{nation="USA",stage="egress",partner="-",reason="invalid_payload"}"#;
    until("both refusals are counted", || metric(rejected) >= 2.0).await;
    for (seq, id, detail) in [
        (1, "BAD-CATEGORY", "invalid alert v2: category: \"air.uas\""),
        (
            2,
            "ORPHAN-CANCEL",
            "invalid alert v2: references: an update, cancel",
        ),
    ] {
        until_audited(
            &mesh,
            "USA",
            &format!("seq {seq} refused and audited"),
            |r| {
                r.decision == AuditDecision::Reject as i32
                    && r.msg_id == format!("USA.radar-1.alerts.{seq}")
                    && r.reason == "invalid_payload"
                    && r.detail.starts_with(detail)
            },
        )
        .await;
        let dead = dead_letter_with(&mesh, "dlq.egress.invalid_payload", id.as_bytes()).await;
        assert_eq!(
            dead.headers
                .get(coalition_schemas::headers::REASON)
                .map(|v| v.as_str()),
            Some("invalid_payload")
        );
    }
    bridges.shutdown().await;
}

/// The dead letter on `subject` in USA's DEADLETTER stream whose payload
/// contains `needle` (there are several on the subject).
async fn dead_letter_with(
    mesh: &nats_harness::Mesh,
    subject: &str,
    needle: &[u8],
) -> async_nats::jetstream::message::StreamMessage {
    let home = mesh.bridge_config("USA").expect("config").home.clone();
    let stream = within(
        "DEADLETTER",
        jetstream_as(mesh, "USA", home)
            .await
            .get_stream("DEADLETTER"),
    )
    .await
    .expect("DEADLETTER stream");
    within(&format!("dead letter with {needle:?}"), async {
        loop {
            let last = stream.get_info().await.map_or(0, |i| i.state.last_sequence);
            for seq in 1..=last {
                if let Ok(m) = stream.get_raw_message(seq).await {
                    if m.subject.as_str() == subject && contains(&m.payload, needle) {
                        return m;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
}
