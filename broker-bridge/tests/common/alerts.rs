//! Alerts v2 and USA's signed schema policy for them, shared by the alert
//! tests: a full v2 alert, a cancel, and the policy rule of a v1 -> v2
//! migration, published and waited for until both bridges apply it.
use coalition_core::envelope::MessageType;
use coalition_core::schema::{sign_schema_policy, Migration, SchemaPolicy, SchemaRule};
use coalition_sdk::{
    AlertArea, AlertCertainty, AlertMessageType, AlertReference, AlertSeverity, AlertStatus,
    AlertUrgency, AlertV2, GeoCircle, GeoPoint,
};

use super::policy::now_ms;
use super::{control, metric, root_key, until};

pub const HOUR: i64 = 3_600_000;

/// USA's schema policy `version`: tracks v1 only, alerts by `alert`.
pub fn usa_policy(version: u32, alert: SchemaRule) -> SchemaPolicy {
    SchemaPolicy {
        nation: "USA".into(),
        version,
        rules: vec![SchemaRule::v1_only(MessageType::Track), alert],
        issued_at_ms: now_ms(),
    }
}

/// USA's alert rule migrating 1 -> 2 in the window `[start, end)`.
pub fn migration(start_ms: i64, end_ms: i64) -> SchemaRule {
    SchemaRule {
        message_type: MessageType::Alert,
        current_version: 1,
        migration: Some(Migration {
            from_version: 1,
            to_version: 2,
            window_start_ms: start_ms,
            window_end_ms: end_ms,
        }),
    }
}

/// Publishes `policy` and waits until both bridges apply it.
pub async fn apply_policy(mesh: &nats_harness::Mesh, policy: &SchemaPolicy) {
    let signed = sign_schema_policy(policy, &root_key(mesh, "USA")).expect("signs");
    control(mesh, "USA")
        .await
        .publish_schema_policy("USA", policy.version, signed)
        .await
        .expect("published");
    let applied = |nation: &str| {
        format!(
            r#"coalition_bridge_control_applied_total{{nation="{nation}",kind="schema_policy"}}"#
        )
    };
    let (usa, gbr) = (applied("USA"), applied("GBR"));
    let n = f64::from(policy.version);
    until(&format!("USA and GBR apply policy v{n}"), || {
        metric(&usa) >= n && metric(&gbr) >= n
    })
    .await;
}

/// A new, actual v2 alert with everything v1 cannot say.
pub fn alert_v2(id: &str) -> AlertV2 {
    AlertV2 {
        alert_id: id.into(),
        sender: "usa-cuas-1".into(),
        sent_at_ms: now_ms(),
        status: AlertStatus::Actual as i32,
        message_type: AlertMessageType::Alert as i32,
        references: vec![],
        category: "air".into(),
        event: "uas-incursion".into(),
        urgency: AlertUrgency::Immediate as i32,
        severity: AlertSeverity::Moderate as i32,
        certainty: AlertCertainty::Observed as i32,
        effective_at_ms: 0,
        expires_at_ms: now_ms() + HOUR,
        area: Some(AlertArea {
            description: "north of the airfield".into(),
            circle: Some(GeoCircle {
                center: Some(GeoPoint {
                    latitude_e7: 515_000_000,
                    longitude_e7: -1_250_000,
                }),
                radius_m: 2_000,
            }),
            ..Default::default()
        }),
        source_track_ids: vec!["USA/T-1".into()],
        headline: format!("{id}: UAS over the airfield"),
        instruction: "Shelter".into(),
    }
}

pub fn cancel_of(id: &str, cancelled: &str) -> AlertV2 {
    AlertV2 {
        message_type: AlertMessageType::Cancel as i32,
        references: vec![AlertReference {
            sender: "usa-cuas-1".into(),
            alert_id: cancelled.into(),
            sent_at_ms: 0,
        }],
        ..alert_v2(id)
    }
}
