//! What an alerting system asks of alerts beyond their topic, on a real
//! mesh: an area (filtered by the SDK after verification), expiry (expired
//! alerts are left out unless asked for), and updates or cancels, which
//! always reach a subscriber that was given the alert they refer to, even
//! from outside its area.
mod common;

use coalition_sdk::{AlertV2, BoundingBox, GeoCircle, GeoPoint, Payload, Subscription, Topic};
use common::alerts::{alert_v2, apply_policy, cancel_of, migration, usa_policy, HOUR};
use common::policy::now_ms;
use common::*;

/// USA raises alerts for GBR; USA's `radar-1` has an alert feed.
const USA_ALERTS_TO_GBR: &str = r#"
[mesh]
name = "alert-scope"
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

/// An alert v2 whose area is a 2 km circle around (lat, lon).
fn at(id: &str, lat: f64, lon: f64) -> AlertV2 {
    let mut a = alert_v2(id);
    if let Some(area) = a.area.as_mut() {
        area.circle = Some(GeoCircle {
            center: Some(GeoPoint {
                latitude_e7: (lat * 1e7) as i32,
                longitude_e7: (lon * 1e7) as i32,
            }),
            radius_m: 2_000,
        });
    }
    a
}

async fn ids(sub: &mut Subscription, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        match next_delivery(sub).await.payload {
            Payload::AlertV2(a) => out.push(a.alert_id.clone()),
            other => panic!("expected an alert v2, got {other:?}"),
        }
    }
    out
}

async fn subscribe(mesh: &nats_harness::Mesh, name: &str, topic: Topic) -> Subscription {
    let clients = mesh.clients("GBR").expect("clients");
    let subscriber = coalition_sdk::SubscriberOptions::from_clients(clients)
        .trust_anchors(anchors(mesh))
        .durable(name)
        .connect();
    let subscriber = within("connect", subscriber).await.expect("connects");
    within("subscribe", subscriber.subscribe(topic))
        .await
        .expect("subscribes")
}

#[tokio::test]
async fn area_expiry_and_cancels_decide_what_each_alerting_system_is_given() {
    let mesh = mesh(USA_ALERTS_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    apply_policy(
        &mesh,
        &usa_policy(1, migration(now_ms() - HOUR, now_ms() + HOUR)),
    )
    .await;
    let london = BoundingBox::new(51.0, -1.0, 52.0, 1.0).expect("a box");
    let v2 = || Topic::alerts().version(2);
    let mut in_london = subscribe(&mesh, "london", v2().area(london)).await;
    let mut everywhere = subscribe(&mesh, "everywhere", v2()).await;
    let mut with_expired = subscribe(&mesh, "expired-too", v2().include_expired()).await;

    let usa = producer(&mesh, "USA", "radar-1").await;
    let secret = label("USA", "SECRET", &["GBR"]);
    let expired = AlertV2 {
        expires_at_ms: now_ms() - 1_000,
        ..at("OLD", 51.5, 0.0)
    };
    // A cancel of LON whose own area is Paris: it still follows LON.
    let cancel_far = AlertV2 {
        area: at("-", 48.85, 2.35).area,
        ..cancel_of("LON-CANCEL", "LON")
    };
    let sent = [
        at("LON", 51.5, 0.0),
        at("PAR", 48.85, 2.35),
        expired,
        cancel_far,
        at("END", 51.6, 0.1),
    ];
    for a in &sent {
        within(
            "publish",
            usa.publish("alerts", coalition_sdk::Record::alert_v2(&secret, a)),
        )
        .await
        .expect("published");
    }
    assert_eq!(
        ids(&mut in_london, 3).await,
        ["LON", "LON-CANCEL", "END"],
        "Paris and the expired alert are left out; the cancel of LON is not"
    );
    assert_eq!(
        ids(&mut everywhere, 4).await,
        ["LON", "PAR", "LON-CANCEL", "END"],
        "the expired alert is left out"
    );
    assert_eq!(
        ids(&mut with_expired, 5).await,
        ["LON", "PAR", "OLD", "LON-CANCEL", "END"]
    );
    let filtered = |reason: &str| {
        metric(&format!(
            "coalition_sdk_filtered_total{{reason=\"{reason}\"}}"
        ))
    };
    assert!(
        filtered("outside_area") >= 1.0,
        "counted, not lost silently"
    );
    assert!(filtered("expired") >= 2.0);
    bridges.shutdown().await;
}

fn id_of(d: &coalition_sdk::Delivery) -> String {
    match &d.payload {
        Payload::AlertV2(a) => a.alert_id.clone(),
        other => panic!("expected an alert v2, got {other:?}"),
    }
}

#[tokio::test]
async fn a_late_joiner_gets_exactly_the_alerts_in_force_then_the_live_stream() {
    let mesh = mesh(USA_ALERTS_TO_GBR).await;
    let bridges = bridges(&mesh).await;
    apply_policy(
        &mesh,
        &usa_policy(1, migration(now_ms() - HOUR, now_ms() + HOUR)),
    )
    .await;
    let mut early = subscribe(&mesh, "early", Topic::alerts().version(2)).await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    let secret = label("USA", "SECRET", &["GBR"]);
    let publish = |a: AlertV2| {
        let (usa, secret) = (&usa, &secret);
        async move {
            within(
                "publish",
                usa.publish("alerts", coalition_sdk::Record::alert_v2(secret, &a)),
            )
            .await
            .expect("published");
        }
    };
    publish(at("LON", 51.5, 0.0)).await;
    publish(at("PAR", 48.85, 2.35)).await;
    publish(AlertV2 {
        expires_at_ms: now_ms() - 1_000,
        ..at("OLD", 51.5, 0.0)
    })
    .await;
    // PAR2 supersedes PAR; LON is cancelled; KEEP stays.
    let par2 = AlertV2 {
        message_type: coalition_sdk::AlertMessageType::Update as i32,
        ..cancel_of("PAR2", "PAR")
    };
    publish(AlertV2 {
        area: at("-", 48.85, 2.35).area,
        ..par2
    })
    .await;
    publish(cancel_of("LON-CANCEL", "LON")).await;
    publish(at("KEEP", 51.6, 0.1)).await;
    // Everything is in INBOUND_ALERTS once the early subscriber has it.
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("KEEP") {
        seen.push(id_of(&next_delivery(&mut early).await));
    }

    let gbr = subscriber(&mesh, "GBR").await;
    let start = within(
        "in force",
        gbr.subscribe_in_force(Topic::alerts().version(2)),
    )
    .await
    .expect("reads the alerts in force");
    let in_force: Vec<String> = start.alerts.iter().map(id_of).collect();
    assert_eq!(
        in_force,
        ["PAR2", "KEEP"],
        "not LON (cancelled), PAR (updated), OLD (expired)"
    );
    let london = BoundingBox::new(51.0, -1.0, 52.0, 1.0).expect("a box");
    let here = within(
        "in force",
        gbr.subscribe_in_force(Topic::alerts().version(2).area(london)),
    )
    .await
    .expect("reads");
    assert_eq!(here.alerts.iter().map(id_of).collect::<Vec<_>>(), ["KEEP"]);

    // Then the live stream, from just after the history: nothing again.
    let mut live = start.live;
    publish(at("LIVE", 51.5, 0.0)).await;
    assert_eq!(id_of(&next_delivery(&mut live).await), "LIVE");
    let refused = gbr.subscribe_in_force(Topic::tracks()).await;
    assert!(matches!(
        refused,
        Err(coalition_sdk::SdkError::InvalidTopicFilter { .. })
    ));
    bridges.shutdown().await;
}
