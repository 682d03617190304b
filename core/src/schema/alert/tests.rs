//! Alert transcoding and validation tests, as tables: every v1 severity
//! and the v1 edge cases, v2 -> v1 with what it drops, the v2 messages v1
//! cannot carry, each validation rule with a permit and a deny, and the
//! bytes-level helpers. Properties are in `proptests.rs`.
use coalition_schemas::v1::{
    AlertArea, AlertMessageType as M, AlertReference, AlertSeverity as S2, AlertStatus, AlertV1,
    AlertV2, GeoCircle, GeoPoint, Severity as S1,
};
use prost::Message;

use super::*;
use crate::envelope::MessageType;
use crate::schema::{transcode_payload, ALERT_V1, ALERT_V2};
use crate::DenyReason;

fn alert_v1(severity: S1, summary: &str, track_id: &str) -> AlertV1 {
    AlertV1 {
        alert_id: "A-7".into(),
        severity: severity as i32,
        summary: summary.into(),
        track_id: track_id.into(),
        raised_at_ms: 1_795_000_000_123,
    }
}

/// What a v1 alert becomes in v2, with this severity, headline and ids.
fn as_v2(severity: S2, headline: &str, ids: &[&str]) -> AlertV2 {
    AlertV2 {
        alert_id: "A-7".into(),
        sender: String::new(),
        sent_at_ms: 1_795_000_000_123,
        status: AlertStatus::Actual as i32,
        message_type: M::Alert as i32,
        references: vec![],
        category: "other".into(),
        event: String::new(),
        urgency: AlertUrgency::Unknown as i32,
        severity: severity as i32,
        certainty: AlertCertainty::Unknown as i32,
        effective_at_ms: 0,
        expires_at_ms: 0,
        area: None,
        source_track_ids: ids.iter().map(|s| s.to_string()).collect(),
        headline: headline.into(),
        instruction: String::new(),
    }
}

fn point(lat_e7: i32, lon_e7: i32) -> GeoPoint {
    GeoPoint {
        latitude_e7: lat_e7,
        longitude_e7: lon_e7,
    }
}

/// A full CAP-style alert v2: everything set.
fn full_v2() -> AlertV2 {
    AlertV2 {
        sender: "fra-cuas-cell-2".into(),
        category: "air".into(),
        event: "uas-incursion".into(),
        urgency: AlertUrgency::Immediate as i32,
        certainty: AlertCertainty::Observed as i32,
        effective_at_ms: 1_795_000_000_000,
        expires_at_ms: 1_795_000_600_000,
        area: Some(AlertArea {
            description: "north of the airfield".into(),
            circle: Some(GeoCircle {
                center: Some(point(515_000_000, -1_250_000)),
                radius_m: 2_000,
            }),
            polygon: vec![point(0, 0), point(10, 0), point(10, 10), point(0, 0)],
            floor_m: Some(0),
            ceiling_m: Some(1_500),
        }),
        instruction: "Shelter".into(),
        ..as_v2(
            S2::Severe,
            "UAS over the airfield",
            &["GBR/EO-2", "USA/R-1"],
        )
    }
}

type Losses = Vec<(&'static str, Loss)>;

fn losses(lossy: &Lossy) -> Losses {
    lossy.iter().collect()
}

fn field_of(err: &TranscodeError) -> &'static str {
    match err {
        TranscodeError::InvalidAlert { field, .. }
        | TranscodeError::Unrepresentable { field, .. } => field,
        _ => "other",
    }
}

#[test]
fn v1_to_v2_converts_as_the_table_says_and_loses_nothing() {
    let long = "x".repeat(HEADLINE_MAX_CHARS);
    let wide = "é".repeat(HEADLINE_MAX_CHARS);
    #[rustfmt::skip]
    let cases: Vec<(&str, AlertV1, AlertV2)> = vec![
        ("info is minor", alert_v1(S1::Info, "drone", "T-1"), as_v2(S2::Minor, "drone", &["T-1"])),
        ("warning is severe", alert_v1(S1::Warning, "drone", "T-1"), as_v2(S2::Severe, "drone", &["T-1"])),
        ("critical is extreme", alert_v1(S1::Critical, "drone", "T-1"), as_v2(S2::Extreme, "drone", &["T-1"])),
        ("unspecified is unknown", alert_v1(S1::Unspecified, "drone", "T-1"), as_v2(S2::Unknown, "drone", &["T-1"])),
        ("no track: no source ids", alert_v1(S1::Info, "drone", ""), as_v2(S2::Minor, "drone", &[])),
        ("a track id with a slash is kept as it is", alert_v1(S1::Info, "", "USA/T-1"), as_v2(S2::Minor, "", &["USA/T-1"])),
        ("a summary of 160 characters", alert_v1(S1::Info, &long, ""), as_v2(S2::Minor, &long, &[])),
        ("160 characters, 320 bytes", alert_v1(S1::Info, &wide, ""), as_v2(S2::Minor, &wide, &[])),
    ];
    for (name, input, expected) in cases {
        let (v2, lossy) = alert_v1_to_v2(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v2, expected, "{name}");
        assert!(lossy.is_lossless(), "{name}: {lossy}");
        assert_eq!(validate_alert_v2(&v2), Ok(()), "{name}");
        let (back, lossy) = alert_v2_to_v1(&v2).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((back, lossy.is_lossless()), (input, true), "{name}");
    }
}

#[test]
fn v1_values_without_a_v2_form_are_refused() {
    let too_long = "x".repeat(HEADLINE_MAX_CHARS + 1);
    let bad_severity = AlertV1 {
        severity: 9,
        ..alert_v1(S1::Info, "", "")
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, AlertV1, &str)> = vec![
        ("a summary longer than a headline", alert_v1(S1::Info, &too_long, ""), "summary"),
        ("a severity v1 does not have", bad_severity, "severity"),
    ];
    for (name, input, field) in cases {
        let err = alert_v1_to_v2(&input).expect_err(name);
        assert_eq!(field_of(&err), field, "{name}: {err}");
        assert!(
            matches!(err, TranscodeError::Unrepresentable { .. }),
            "{name}"
        );
        assert_eq!(err.reason(), DenyReason::UntranscodablePayload, "{name}");
    }
}

#[test]
fn v2_to_v1_converts_and_names_what_it_drops() {
    use Loss::*;
    let all_dropped: Losses = vec![
        ("area", Dropped),
        ("category", Dropped),
        ("certainty", Dropped),
        ("effective_at_ms", Dropped),
        ("event", Dropped),
        ("expires_at_ms", Dropped),
        ("instruction", Dropped),
        ("sender", Dropped),
        ("source_track_ids", Dropped),
        ("urgency", Dropped),
    ];
    let v1 = |severity, ids: &str| alert_v1(severity, "UAS over the airfield", ids);
    let plain = |severity, ids: &[&str]| as_v2(severity, "UAS over the airfield", ids);
    #[rustfmt::skip]
    let cases: Vec<(&str, AlertV2, AlertV1, Losses)> = vec![
        ("everything v1 cannot say is dropped", full_v2(), v1(S1::Warning, "GBR/EO-2"), all_dropped),
        ("the form a v1 alert takes: nothing lost", plain(S2::Extreme, &["T-1"]), v1(S1::Critical, "T-1"), vec![]),
        ("moderate rounds up to warning", plain(S2::Moderate, &[]), v1(S1::Warning, ""), vec![("severity", Rounded)]),
        ("minor is info", plain(S2::Minor, &[]), v1(S1::Info, ""), vec![]),
        ("unknown is unspecified", plain(S2::Unknown, &[]), v1(S1::Unspecified, ""), vec![]),
        ("only the first source track", plain(S2::Severe, &["A", "B"]), v1(S1::Warning, "A"),
            vec![("source_track_ids", Dropped)]),
        ("an empty area is still an area", AlertV2 { area: Some(AlertArea::default()), ..plain(S2::Severe, &[]) },
            v1(S1::Warning, ""), vec![("area", Dropped)]),
        ("category other is what v1 gives", AlertV2 { category: "air".into(), ..plain(S2::Severe, &[]) },
            v1(S1::Warning, ""), vec![("category", Dropped)]),
    ];
    for (name, input, expected, expected_losses) in cases {
        let (got, lossy) = alert_v2_to_v1(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected, "{name}");
        assert_eq!(losses(&lossy), expected_losses, "{name}");
    }
}

#[test]
fn v2_messages_whose_meaning_v1_cannot_carry_are_refused() {
    let reference = AlertReference {
        sender: "fra-cuas-cell-2".into(),
        alert_id: "A-6".into(),
        sent_at_ms: 1_794_999_000_000,
    };
    let referring = |m: M| AlertV2 {
        message_type: m as i32,
        references: vec![reference.clone()],
        ..full_v2()
    };
    let status = |s: AlertStatus| AlertV2 {
        status: s as i32,
        ..full_v2()
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, AlertV2, &str)> = vec![
        ("an update", referring(M::Update), "message_type"),
        ("a cancel", referring(M::Cancel), "message_type"),
        ("an ack", referring(M::Ack), "message_type"),
        ("an error", referring(M::Error), "message_type"),
        ("an exercise alert", status(AlertStatus::Exercise), "status"),
        ("a test alert", status(AlertStatus::Test), "status"),
    ];
    for (name, input, field) in cases {
        assert_eq!(validate_alert_v2(&input), Ok(()), "{name} is a valid v2");
        let err = alert_v2_to_v1(&input).expect_err(name);
        assert!(
            matches!(err, TranscodeError::Unrepresentable { field: f, .. } if f == field),
            "{name}: {err}"
        );
        assert_eq!(err.reason(), DenyReason::UntranscodablePayload, "{name}");
        assert!(err.to_string().contains("would read as"), "{name}: {err}");
    }
}

type Edit = fn(&mut AlertV2);

#[test]
fn validation_permits_and_denies_as_the_table_says() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Edit, Option<&str>)> = vec![
        ("a full alert", |_| {}, None),
        ("the form of a v1 alert", |a| *a = as_v2(S2::Unknown, "", &[]), None),
        ("message type unspecified", |a| a.message_type = 0, Some("message_type")),
        ("message type unknown", |a| a.message_type = 6, Some("message_type")),
        ("status unspecified", |a| a.status = 0, Some("status")),
        ("status unknown", |a| a.status = 4, Some("status")),
        ("urgency unspecified", |a| a.urgency = 0, Some("urgency")),
        ("severity unspecified", |a| a.severity = 0, Some("severity")),
        ("severity unknown", |a| a.severity = -1, Some("severity")),
        ("certainty unspecified", |a| a.certainty = 0, Some("certainty")),
        ("a cancel naming an alert", |a| { a.message_type = M::Cancel as i32; a.references.push(AlertReference { alert_id: "A-6".into(), ..Default::default() }) }, None),
        ("a cancel naming none", |a| a.message_type = M::Cancel as i32, Some("references")),
        ("an update naming none", |a| a.message_type = M::Update as i32, Some("references")),
        ("an ack naming none", |a| a.message_type = M::Ack as i32, Some("references")),
        ("an error naming none", |a| a.message_type = M::Error as i32, Some("references")),
        ("a new alert naming one", |a| a.references.push(AlertReference { alert_id: "A-6".into(), ..Default::default() }), Some("references")),
        ("a reference without an id", |a| { a.message_type = M::Cancel as i32; a.references.push(AlertReference::default()) }, Some("references")),
        ("category with digits and dashes", |a| a.category = "c-uas-2".into(), None),
        ("category of 32", |a| a.category = "a".repeat(32), None),
        ("category of 33", |a| a.category = "a".repeat(33), Some("category")),
        ("category empty", |a| a.category.clear(), Some("category")),
        ("category uppercase", |a| a.category = "Air".into(), Some("category")),
        ("category with a dot", |a| a.category = "air.uas".into(), Some("category")),
        ("category with a wildcard", |a| a.category = "*".into(), Some("category")),
        ("category non-ASCII", |a| a.category = "aér".into(), Some("category")),
        ("headline of 160", |a| a.headline = "h".repeat(160), None),
        ("headline of 161", |a| a.headline = "h".repeat(161), Some("headline")),
        ("expires when it takes effect", |a| a.expires_at_ms = a.effective_at_ms, None),
        ("expires before it takes effect", |a| a.expires_at_ms = a.effective_at_ms - 1, Some("expires_at_ms")),
        ("expires, effective from sent", |a| { a.effective_at_ms = 0; a.expires_at_ms = 1 }, None),
        ("an empty source track id", |a| a.source_track_ids.push(String::new()), Some("source_track_ids")),
        ("no area: everywhere", |a| a.area = None, None),
        ("circle without a center", |a| a.area.as_mut().unwrap().circle.as_mut().unwrap().center = None, Some("area.circle.center")),
        ("circle of radius 0", |a| a.area.as_mut().unwrap().circle.as_mut().unwrap().radius_m = 0, Some("area.circle.radius_m")),
        ("circle center at the pole", |a| a.area.as_mut().unwrap().circle.as_mut().unwrap().center = Some(point(900_000_000, 1_800_000_000)), None),
        ("circle center past the pole", |a| a.area.as_mut().unwrap().circle.as_mut().unwrap().center = Some(point(900_000_001, 0)), Some("area.circle.center")),
        ("circle center past the antimeridian", |a| a.area.as_mut().unwrap().circle.as_mut().unwrap().center = Some(point(0, -1_800_000_001)), Some("area.circle.center")),
        ("no polygon", |a| a.area.as_mut().unwrap().polygon.clear(), None),
        ("polygon of 3", |a| { let p = &mut a.area.as_mut().unwrap().polygon; p.remove(1); }, Some("area.polygon")),
        ("polygon not closed", |a| a.area.as_mut().unwrap().polygon[3] = point(1, 1), Some("area.polygon")),
        ("polygon point past the pole", |a| { let p = &mut a.area.as_mut().unwrap().polygon; p[1] = point(-900_000_001, 0); }, Some("area.polygon")),
        ("polygon closed past the antimeridian", |a| { let p = &mut a.area.as_mut().unwrap().polygon; p[0] = point(0, i32::MIN); p[3] = point(0, i32::MIN); }, Some("area.polygon")),
        ("a floor alone", |a| a.area.as_mut().unwrap().ceiling_m = None, None),
        ("a ceiling alone", |a| a.area.as_mut().unwrap().floor_m = None, Some("area.ceiling_m")),
        ("ceiling equal to floor", |a| a.area.as_mut().unwrap().ceiling_m = Some(0), None),
        ("ceiling below floor", |a| a.area.as_mut().unwrap().ceiling_m = Some(-1), Some("area.ceiling_m")),
    ];
    for (name, edit, expected) in cases {
        let mut alert = full_v2();
        edit(&mut alert);
        let got = validate_alert_v2(&alert);
        match expected {
            None => assert_eq!(got, Ok(()), "{name}"),
            Some(field) => {
                let err = got.expect_err(name);
                assert_eq!(field_of(&err), field, "{name}: {err}");
                assert_eq!(err.reason(), DenyReason::InvalidPayload, "{name}");
                assert!(alert_v2_to_v1(&alert).is_err(), "{name}: never transcoded");
                let bytes = alert.encode_to_vec();
                let checked = check_payload(MessageType::Alert, ALERT_V2, &bytes);
                assert_eq!(checked, Err(err), "{name}: the bridge's check");
            }
        }
    }
}

#[test]
fn payloads_transcode_by_message_type_and_the_bridge_checks_v2_alerts() {
    let v1 = alert_v1(S1::Warning, "drone", "T-1");
    let v1_bytes = v1.encode_to_vec();
    let (v2_bytes, lossy) = transcode_payload(MessageType::Alert, &v1_bytes, 1, 2).unwrap();
    let v2 = AlertV2::decode(v2_bytes.as_ref()).unwrap();
    assert_eq!((v2.clone(), lossy), alert_v1_to_v2(&v1).unwrap());
    let (back, lossy) = transcode_payload(MessageType::Alert, &v2_bytes, 2, 1).unwrap();
    assert_eq!(AlertV1::decode(back.as_ref()).unwrap(), v1);
    assert!(lossy.is_lossless());
    let full = full_v2().encode_to_vec();
    let (_, lossy) = transcode_payload(MessageType::Alert, &full, 2, 1).unwrap();
    assert!(lossy
        .to_string()
        .starts_with("area:dropped,category:dropped"));
    for version in [ALERT_V1, ALERT_V2] {
        let (same, lossy) = transcode_payload(MessageType::Alert, &full, version, version).unwrap();
        assert_eq!((same.as_ref(), lossy.is_lossless()), (&full[..], true));
    }
    for (from, to) in [(1, 3), (3, 3), (0, 1)] {
        let err = transcode_payload(MessageType::Alert, &v1_bytes, from, to).unwrap_err();
        let message_type = MessageType::Alert;
        let expected = TranscodeError::UnknownVersions {
            message_type,
            from,
            to,
        };
        assert_eq!(err, expected);
    }
    let garbage = [0xff, 0xff, 0xff];
    let err = transcode_payload(MessageType::Alert, &garbage, 2, 1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("alert v2 payload does not decode"),
        "{err}"
    );
    let cancel = AlertV2 {
        message_type: M::Cancel as i32,
        references: vec![AlertReference {
            alert_id: "A-6".into(),
            ..Default::default()
        }],
        ..full_v2()
    };
    let err = transcode_payload(MessageType::Alert, &cancel.encode_to_vec(), 2, 1).unwrap_err();
    assert_eq!(err.reason(), DenyReason::UntranscodablePayload);

    // The bridge's payload check: only alert v2 is decoded and validated.
    assert_eq!(check_payload(MessageType::Alert, 2, &full), Ok(()));
    let err = check_payload(MessageType::Alert, 2, &garbage).unwrap_err();
    assert_eq!(
        (field_of(&err), err.reason()),
        ("payload", DenyReason::InvalidPayload)
    );
    let unspecified = AlertV2::default().encode_to_vec();
    let err = check_payload(MessageType::Alert, 2, &unspecified).unwrap_err();
    assert_eq!(err.reason(), DenyReason::InvalidPayload);
    for (kind, version) in [
        (MessageType::Alert, 1),
        (MessageType::Track, 1),
        (MessageType::Track, 2),
    ] {
        assert_eq!(
            check_payload(kind, version, &garbage),
            Ok(()),
            "{kind:?} v{version}"
        );
    }
}
