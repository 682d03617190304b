//! Properties of the alert conversions (schemas/MANIFEST.md, "Alert
//! guarantees"): the v1 round trip is exact, conversions are idempotent,
//! v2 -> v1 -> v2 gives back every field v1 carries, nothing panics on
//! arbitrary input, and a broken rule always fails closed. 256 cases each,
//! or `COALITION_PROPTEST_CASES`.
use coalition_schemas::v1::{
    AlertArea, AlertMessageType as M, AlertReference, AlertSeverity as S2, AlertStatus, AlertV1,
    AlertV2, GeoCircle, GeoPoint,
};
use proptest::prelude::*;
use proptest::sample::select;
use prost::Message;

use super::*;
use crate::envelope::MessageType;
use crate::schema::transcode_payload;
use crate::DenyReason;

/// 256 cases, or `COALITION_PROPTEST_CASES` (e.g. `1_000_000`).
fn proptest_cases() -> u32 {
    let var = std::env::var("COALITION_PROPTEST_CASES");
    var.ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(256)
}

/// Any v1 alert a v2 headline can hold: any text of up to 160 characters
/// (any Unicode), any ids, any time, every v1 severity.
fn arb_alert_v1() -> impl Strategy<Value = AlertV1> {
    (
        ".{0,24}",
        0..=3i32,
        ".{0,160}",
        prop_oneof![Just(String::new()), ".{1,24}"],
        any::<i64>(),
    )
        .prop_map(
            |(alert_id, severity, summary, track_id, raised_at_ms)| AlertV1 {
                alert_id,
                severity,
                summary,
                track_id,
                raised_at_ms,
            },
        )
}

fn arb_point() -> impl Strategy<Value = GeoPoint> {
    let lat = prop_oneof![
        -900_000_000..=900_000_000i32,
        select(vec![-900_000_000, 0, 900_000_000])
    ];
    let lon = prop_oneof![
        -1_800_000_000..=1_800_000_000i32,
        select(vec![-1_800_000_000, 1_800_000_000])
    ];
    (lat, lon).prop_map(|(latitude_e7, longitude_e7)| GeoPoint {
        latitude_e7,
        longitude_e7,
    })
}

/// A valid area: a circle, a closed polygon, either, both or neither, and
/// an altitude band with its ceiling at or above its floor.
fn arb_area() -> impl Strategy<Value = Option<AlertArea>> {
    let circle =
        proptest::option::of(
            (arb_point(), 1..=u32::MAX).prop_map(|(c, radius_m)| GeoCircle {
                center: Some(c),
                radius_m,
            }),
        );
    let polygon = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(arb_point(), 3..8).prop_map(|mut p| {
            p.push(p[0]);
            p
        }),
    ];
    let band = proptest::option::of((any::<i32>(), proptest::option::of(0..=1_000_000i32)))
        .prop_map(|b| match b {
            None => (None, None),
            Some((floor, up)) => (Some(floor), up.map(|u| floor.saturating_add(u))),
        });
    let area =
        (".{0,40}", circle, polygon, band).prop_map(|(d, circle, polygon, band)| AlertArea {
            description: d,
            circle,
            polygon,
            floor_m: band.0,
            ceiling_m: band.1,
        });
    proptest::option::of(area)
}

/// A valid actual new alert v2, with anything in the fields v1 lacks.
fn arb_alert_v2() -> impl Strategy<Value = AlertV2> {
    let head = (
        ".{0,24}",
        ".{0,24}",
        any::<i64>(),
        "[a-z0-9-]{1,32}",
        ".{0,24}",
    );
    let enums = (1..=5i32, 1..=5i32, 1..=5i32);
    let times = (any::<i64>(), 0..=i64::MAX / 2);
    let ids = prop::collection::vec(".{1,16}", 0..4);
    let text = (".{0,160}", ".{0,80}");
    (head, enums, times, arb_area(), ids, text).prop_map(
        |(head, enums, times, area, source_track_ids, text)| {
            let (alert_id, sender, sent_at_ms, category, event) = head;
            let (urgency, severity, certainty) = enums;
            let (effective_at_ms, extra) = times;
            let expires_at_ms = match effective_at_ms {
                0 => extra,
                e => e.saturating_add(extra),
            };
            AlertV2 {
                alert_id,
                sender,
                sent_at_ms,
                status: AlertStatus::Actual as i32,
                message_type: M::Alert as i32,
                references: Vec::new(),
                category,
                event,
                urgency,
                severity,
                certainty,
                effective_at_ms,
                expires_at_ms,
                area,
                source_track_ids,
                headline: text.0,
                instruction: text.1,
            }
        },
    )
}

/// A valid v2 of any message type and status (references as its type
/// requires).
fn arb_any_valid_v2() -> impl Strategy<Value = AlertV2> {
    (arb_alert_v2(), 1..=5i32, 1..=3i32, ".{1,12}").prop_map(|(a, m, status, id)| {
        let references = if m == M::Alert as i32 {
            Vec::new()
        } else {
            vec![AlertReference {
                alert_id: id,
                ..Default::default()
            }]
        };
        AlertV2 {
            message_type: m,
            status,
            references,
            ..a
        }
    })
}

/// What v2 -> v1 -> v2 gives back: every field v1 carries (moderate comes
/// back severe, the first source track id only), the rest as a v1 alert
/// gets it.
fn expected_round_trip(a: &AlertV2) -> AlertV2 {
    let severity = if a.severity == S2::Moderate as i32 {
        S2::Severe as i32
    } else {
        a.severity
    };
    let v1_like = AlertV1 {
        alert_id: a.alert_id.clone(),
        severity: 0,
        summary: a.headline.clone(),
        track_id: a.source_track_ids.first().cloned().unwrap_or_default(),
        raised_at_ms: a.sent_at_ms,
    };
    let mut expected = convert_v1_to_v2(&v1_like).expect("in range");
    expected.severity = severity;
    expected
}

/// One rule broken, and the field that must be named.
fn arb_broken() -> impl Strategy<Value = (AlertV2, &'static str)> {
    (arb_alert_v2(), 0..12usize, any::<i32>()).prop_map(|(mut a, which, n)| {
        let field = match which {
            0 => {
                a.message_type = 0;
                "message_type"
            }
            1 => {
                a.status = 4 + n.rem_euclid(100);
                "status"
            }
            2 => {
                a.severity = -1 - n.rem_euclid(100);
                "severity"
            }
            3 => {
                a.message_type = M::Cancel as i32;
                "references"
            }
            4 => {
                a.category = format!("{}.x", a.category);
                "category"
            }
            5 => {
                a.headline = "h".repeat(161 + n.rem_euclid(100) as usize);
                "headline"
            }
            6 => {
                a.effective_at_ms = 1 + i64::from(n.rem_euclid(1000));
                a.expires_at_ms = a.effective_at_ms - 1;
                if a.expires_at_ms == 0 {
                    a.effective_at_ms += 1;
                    a.expires_at_ms = 1;
                }
                "expires_at_ms"
            }
            7 => {
                a.area = Some(AlertArea {
                    circle: Some(GeoCircle {
                        center: Some(GeoPoint {
                            latitude_e7: 900_000_001 + n.rem_euclid(1000),
                            longitude_e7: 0,
                        }),
                        radius_m: 1,
                    }),
                    ..Default::default()
                });
                "area.circle.center"
            }
            8 => {
                a.area = Some(AlertArea {
                    polygon: vec![GeoPoint::default(); 3],
                    ..Default::default()
                });
                "area.polygon"
            }
            9 => {
                let floor = n.max(i32::MIN + 1);
                a.area = Some(AlertArea {
                    floor_m: Some(floor),
                    ceiling_m: Some(floor - 1),
                    ..Default::default()
                });
                "area.ceiling_m"
            }
            10 => {
                a.source_track_ids.push(String::new());
                "source_track_ids"
            }
            _ => {
                a.area = Some(AlertArea {
                    circle: Some(GeoCircle {
                        center: Some(GeoPoint::default()),
                        radius_m: 0,
                    }),
                    ..Default::default()
                });
                "area.circle.radius_m"
            }
        };
        (a, field)
    })
}

fn fail(e: TranscodeError) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(proptest_cases())
    })]

    /// (1) v1 -> v2 -> v1 gives back the v1 alert exactly, and neither
    /// direction reports a loss.
    #[test]
    fn v1_round_trip_is_exact(alert in arb_alert_v1()) {
        let (v2, lossy) = alert_v1_to_v2(&alert).map_err(fail)?;
        prop_assert!(lossy.is_lossless(), "{lossy}");
        prop_assert_eq!(validate_alert_v2(&v2), Ok(()));
        let (back, lossy) = alert_v2_to_v1(&v2).map_err(fail)?;
        prop_assert!(lossy.is_lossless(), "{lossy}");
        prop_assert_eq!(back, alert);
    }

    /// (2) Idempotence: v2 -> v1 -> v2 -> v1 -> v2 equals v2 -> v1 -> v2,
    /// and the second trip through v1 loses nothing.
    #[test]
    fn a_second_trip_through_v1_changes_nothing(alert in arb_alert_v2()) {
        let (v1, _) = alert_v2_to_v1(&alert).map_err(fail)?;
        let (v2, _) = alert_v1_to_v2(&v1).map_err(fail)?;
        let (v1_again, lossy) = alert_v2_to_v1(&v2).map_err(fail)?;
        prop_assert!(lossy.is_lossless(), "{lossy}");
        prop_assert_eq!(&v1_again, &v1);
        prop_assert_eq!(alert_v1_to_v2(&v1_again).map_err(fail)?.0, v2);
    }

    /// (3) v2 -> v1 -> v2 gives back every field v1 carries; the lossy
    /// report names exactly the fields that did not come back.
    #[test]
    fn v2_round_trip_keeps_what_v1_carries(alert in arb_alert_v2()) {
        let (v1, lossy) = alert_v2_to_v1(&alert).map_err(fail)?;
        let (back, _) = alert_v1_to_v2(&v1).map_err(fail)?;
        prop_assert_eq!(&back, &expected_round_trip(&alert));
        let changed = |a: &AlertV2, b: &AlertV2| {
            let mut names = Vec::new();
            let mut check = |c: bool, n: &'static str| if c { names.push(n) };
            check(a.area != b.area, "area");
            check(a.category != b.category, "category");
            check(a.certainty != b.certainty, "certainty");
            check(a.effective_at_ms != b.effective_at_ms, "effective_at_ms");
            check(a.event != b.event, "event");
            check(a.expires_at_ms != b.expires_at_ms, "expires_at_ms");
            check(a.instruction != b.instruction, "instruction");
            check(a.sender != b.sender, "sender");
            check(a.severity != b.severity, "severity");
            check(a.source_track_ids != b.source_track_ids, "source_track_ids");
            check(a.urgency != b.urgency, "urgency");
            names
        };
        let named: Vec<_> = lossy.iter().map(|(f, _)| f).collect();
        prop_assert_eq!(named, changed(&alert, &back));
    }

    /// Any valid v2 converts to v1 exactly when it is an actual new alert;
    /// otherwise it is refused as untranscodable, never converted.
    #[test]
    fn only_actual_new_alerts_reach_v1(alert in arb_any_valid_v2()) {
        prop_assert_eq!(validate_alert_v2(&alert), Ok(()));
        let convertible = alert.message_type == M::Alert as i32
            && alert.status == AlertStatus::Actual as i32;
        match alert_v2_to_v1(&alert) {
            Ok(_) => prop_assert!(convertible),
            Err(e) => {
                prop_assert!(!convertible, "{e}");
                prop_assert_eq!(e.reason(), DenyReason::UntranscodablePayload);
            }
        }
    }

    /// A broken rule is always refused, naming its field, by the
    /// validation, the conversion and the bridge's payload check.
    #[test]
    fn invalid_values_fail_closed((alert, field) in arb_broken()) {
        let err = validate_alert_v2(&alert).expect_err("invalid");
        prop_assert!(matches!(err, TranscodeError::InvalidAlert { field: f, .. } if f == field), "{err}");
        prop_assert!(alert_v2_to_v1(&alert).is_err());
        let checked = check_payload(MessageType::Alert, 2, &alert.encode_to_vec());
        prop_assert_eq!(checked.map_err(|e| e.reason()), Err(DenyReason::InvalidPayload));
    }

    /// Whatever arrives (any enum numbers, any text, any bytes), the
    /// conversions and checks answer and never panic; what converts to v1
    /// converts back.
    #[test]
    fn any_input_gives_an_answer(
        numbers in any::<(i32, i32, i32, i32, i32, i32)>(),
        times in any::<(i64, i64, i64)>(),
        text in (".{0,200}", ".{0,40}", ".{0,4}"),
        area in proptest::option::of(any::<(i32, i32, u32, Option<i32>, Option<i32>, u8)>()),
        bytes in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let (m, status, urgency, severity, certainty, v1_severity) = numbers;
        let area = area.map(|(lat, lon, radius_m, floor_m, ceiling_m, n)| AlertArea {
            circle: Some(GeoCircle { center: Some(GeoPoint { latitude_e7: lat, longitude_e7: lon }), radius_m }),
            polygon: vec![GeoPoint { latitude_e7: lat, longitude_e7: lon }; usize::from(n % 6)],
            floor_m,
            ceiling_m,
            ..Default::default()
        });
        let v2 = AlertV2 {
            message_type: m, status, urgency, severity, certainty,
            sent_at_ms: times.0, effective_at_ms: times.1, expires_at_ms: times.2,
            headline: text.0.clone(), category: text.1.clone(), area,
            source_track_ids: vec![text.2.clone()],
            ..Default::default()
        };
        let _ = validate_alert_v2(&v2);
        if let Ok((v1, _)) = alert_v2_to_v1(&v2) {
            prop_assert!(alert_v1_to_v2(&v1).is_ok());
        }
        let v1 = AlertV1 { severity: v1_severity, summary: text.0, track_id: text.2, ..Default::default() };
        if let Ok((v2, _)) = alert_v1_to_v2(&v1) {
            prop_assert!(alert_v2_to_v1(&v2).is_ok());
        }
        for (from, to) in [(1, 2), (2, 1), (1, 1), (2, 2)] {
            let _ = transcode_payload(MessageType::Alert, &bytes, from, to);
        }
        let _ = check_payload(MessageType::Alert, 2, &bytes);
    }
}
