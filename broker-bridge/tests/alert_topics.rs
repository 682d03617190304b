//! Alert topics on a real mesh: an alert feed's subjects end with the
//! alert's category and severity (`out.alert.<producer>.<feed>.<category>.<severity>`,
//! and so on at every hop), so an alerting system filters on the server
//! with a consumer filter. The producer SDK puts each alert on its topic;
//! a record whose payload is not of the topic its subject says is refused
//! (`subject_mismatch`) at egress, and at ingress if a releasing bridge
//! moved it, dead-lettered and audited, and never delivered.
mod common;

use bytes::Bytes;
use coalition_core::batch::{seal_batch, RecordDraft};
use coalition_core::envelope::MessageType;
use coalition_core::DenyReason;
use coalition_schemas::v1::{AlertV1, AuditDecision, Severity};
use coalition_sdk::{AlertSeverity, Payload, Topic};
use coalition_topology::{streams, subjects, AlertTopic, Kind};
use common::policy::until_audited;
use common::*;
use prost::Message;

/// USA releases to GBR; USA's `cell-1` raises alerts on `alerts`.
const USA_ALERTS_TO_GBR: &str = r#"
[mesh]
name = "alert-topics"
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
producer = "cell-1"
name = "alerts"
kind = "alert"
"#;

fn alert(id: &str, severity: Severity) -> AlertV1 {
    AlertV1 {
        alert_id: id.into(),
        severity: severity as i32,
        summary: format!("alert {id}"),
        track_id: "T-1".into(),
        raised_at_ms: now_ms(),
    }
}

fn alert_id(d: &coalition_sdk::Delivery) -> String {
    match &d.payload {
        Payload::Alert(a) => a.alert_id.clone(),
        other => panic!("expected an alert, got {other:?}"),
    }
}

/// How many messages a subscription's consumer on INBOUND_ALERTS has yet
/// to deliver, and has delivered, as the server counts them.
async fn consumer_counts(mesh: &nats_harness::Mesh, consumer: &str) -> (u64, u64) {
    let home = mesh.bridge_config("GBR").unwrap().home.clone();
    let js = jetstream_as(mesh, "GBR", home).await;
    let stream = js.get_stream(streams::INBOUND_ALERTS).await.unwrap();
    let mut c: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(consumer).await.expect("consumer");
    let info = c.info().await.expect("consumer info");
    (info.num_pending, info.delivered.stream_sequence)
}

#[tokio::test]
async fn the_server_filters_alerts_by_category_and_minimum_severity() {
    let mesh = mesh(USA_ALERTS_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    let usa = producer(&mesh, "USA", "cell-1").await;
    let gbr = subscriber(&mesh, "GBR").await;
    let named = |name: &str| {
        let clients = mesh.clients("GBR").expect("clients");
        coalition_sdk::SubscriberOptions::from_clients(clients)
            .trust_anchors(anchors(&mesh))
            .durable(name)
            .connect()
    };
    let severe = within("connect", named("severe")).await.expect("connects");
    let mut severe = within(
        "subscribe",
        severe.subscribe(Topic::alerts().min_severity(AlertSeverity::Severe)),
    )
    .await
    .expect("subscribes");
    let air = within("connect", named("air")).await.expect("connects");
    let air = within("subscribe", air.subscribe(Topic::alerts().category("air")))
        .await
        .expect("subscribes");
    let mut everything = within("subscribe", gbr.subscribe(Topic::alerts()))
        .await
        .expect("subscribes");

    let label = label("USA", "SECRET", &["GBR"]);
    // v1 alerts have category `other`; INFO is minor, WARNING severe,
    // CRITICAL extreme.
    let sent = [
        ("A-info", Severity::Info),
        ("A-warning", Severity::Warning),
        ("A-critical", Severity::Critical),
    ];
    for (id, severity) in sent {
        let receipt = within(
            "publish",
            usa.publish(
                "alerts",
                coalition_sdk::Record::alert(&label, &alert(id, severity)),
            ),
        )
        .await
        .expect("published");
        assert_eq!(
            receipt.batch,
            (receipt.seq, receipt.seq),
            "one alert per batch"
        );
    }
    let mut all = Vec::new();
    for _ in 0..3 {
        all.push(alert_id(&next_delivery(&mut everything).await));
    }
    assert_eq!(all, ["A-info", "A-warning", "A-critical"]);

    // Matching: only what is severe or worse reaches this subscriber.
    let first = next_delivery(&mut severe).await;
    let second = next_delivery(&mut severe).await;
    assert_eq!(
        [alert_id(&first), alert_id(&second)],
        ["A-warning", "A-critical"]
    );
    // Non-matching: the server holds nothing for `air`, and has sent it
    // nothing, although INBOUND_ALERTS holds all three.
    let home = mesh.bridge_config("GBR").unwrap().home.clone();
    let js = jetstream_as(&mesh, "GBR", home).await;
    let mut inbound = js.get_stream(streams::INBOUND_ALERTS).await.unwrap();
    let held = inbound.info().await.unwrap().state.messages;
    assert_eq!(held, 3, "every alert is in INBOUND_ALERTS");
    assert_eq!(
        consumer_counts(&mesh, "air").await,
        (0, 0),
        "nothing for air"
    );
    assert_eq!(consumer_counts(&mesh, "severe").await.0, 0);
    // Each topic is its own subject.
    for (id, topic) in [("A-info", "other.minor"), ("A-critical", "other.extreme")] {
        let subject = format!("in.alert.USA.cell-1.alerts.{topic}.v1");
        let m = inbound.get_last_raw_message_by_subject(&subject).await;
        let m = m.unwrap_or_else(|e| panic!("{id} on {subject}: {e}"));
        assert!(contains(&m.payload, id.as_bytes()), "{id} on {subject}");
    }
    drop(air);
    bridges.shutdown().await;
}

/// A v1 alert record (topic `other.<severity>`) sealed as seq `seq`.
fn sealed_alert(mesh: &nats_harness::Mesh, seq: u64, id: &str, severity: Severity) -> Bytes {
    let identity = forge_identity(mesh);
    let record = RecordDraft {
        schema_version: 1,
        label: label("USA", "SECRET", &["GBR"]),
        payload: alert(id, severity).encode_to_vec().into(),
        corrects_seq: None,
        product_id: id.into(),
        derived_from: Vec::new(),
        produced_at_ms: now_ms(),
    };
    seal_batch(
        &identity,
        MessageType::Alert,
        "alerts",
        seq,
        &[record],
        now_ms(),
    )
    .expect("seals")
    .bytes
}

fn forge_identity(mesh: &nats_harness::Mesh) -> coalition_core::envelope::ProducerIdentity {
    common::forge::identity(mesh, "USA", "cell-1")
}

fn topic(category: &str, severity: AlertSeverity) -> AlertTopic {
    AlertTopic::new(category, severity).expect("a topic")
}

#[tokio::test]
async fn an_alert_on_another_topic_s_subject_is_refused_and_audited_at_egress_and_ingress() {
    let mesh = mesh(USA_ALERTS_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    let gbr = subscriber(&mesh, "GBR").await;
    let mut alerts = within("subscribe", gbr.subscribe(Topic::alerts()))
        .await
        .expect("subscribes");
    let usa = producer(&mesh, "USA", "cell-1").await;
    let label = label("USA", "SECRET", &["GBR"]);
    // The SDK stores the producer's certificate and takes the feed; seq 1.
    let first = alert("A-1", Severity::Info);
    within(
        "publish",
        usa.publish("alerts", coalition_sdk::Record::alert(&label, &first)),
    )
    .await
    .expect("published");
    assert_eq!(alert_id(&next_delivery(&mut alerts).await), "A-1");
    within("close", usa.close()).await.expect("closes");

    // A hostile producer, with its own credential and key, files a minor
    // alert under `extreme`, where severe-alert subscribers would see it.
    let cred = common::forge::producer_credential(&mesh, "USA", "cell-1");
    let subject = subjects::outbound(
        Kind::Alert,
        "cell-1",
        "alerts",
        Some(&topic("other", AlertSeverity::Extreme)),
    );
    let minor = sealed_alert(&mesh, 2, "A-misfiled", Severity::Info);
    common::forge::publish_raw(&mesh, "USA", cred.clone(), &subject, "attack-1", minor).await;
    let reason = DenyReason::SubjectMismatch.as_str();
    until_audited(
        &mesh,
        "USA",
        "USA refuses the misfiled alert at egress",
        |r| {
            r.decision == AuditDecision::Reject as i32
                && r.reason == reason
                && r.stage == "egress"
                && r.msg_id.ends_with(".2")
        },
    )
    .await;
    let dead = dead_letter(&mesh, "USA", &subjects::deadletter("egress", reason)).await;
    assert!(
        contains(&dead.payload, b"A-misfiled"),
        "dead-lettered whole"
    );

    // A hostile releasing bridge moves a critical alert (seq 2 again: USA
    // released nothing under it) to a minor topic, where it would escape
    // severe-alert subscribers.
    let release = common::forge::release_credential(&mesh, "USA", "GBR");
    let moved = subjects::released(
        Kind::Alert,
        "USA",
        "cell-1",
        "alerts",
        Some(&topic("other", AlertSeverity::Minor)),
    );
    let critical = sealed_alert(&mesh, 2, "A-moved", Severity::Critical);
    common::forge::publish_raw(&mesh, "USA", release, &moved, "attack-2", critical).await;
    until_audited(
        &mesh,
        "GBR",
        "GBR refuses the moved alert at ingress",
        |r| {
            r.decision == AuditDecision::Reject as i32
                && r.reason == reason
                && r.stage == "ingress"
                && r.msg_id.ends_with(".2")
        },
    )
    .await;

    // Neither is delivered; the feed goes on with the next legitimate one.
    let usa = producer(&mesh, "USA", "cell-1").await;
    let next = within(
        "publish",
        usa.publish(
            "alerts",
            coalition_sdk::Record::alert(&label, &alert("A-next", Severity::Warning)),
        ),
    )
    .await
    .expect("published");
    assert_eq!(next.seq, 3, "the feed continues after the refused seq");
    let d = next_delivery(&mut alerts).await;
    assert_eq!(alert_id(&d), "A-next", "nothing misfiled was delivered");
    assert_eq!(d.seq, next.seq);
    bridges.shutdown().await;
}
