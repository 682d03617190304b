//! Table tests of the area filter, expiry and the in-force ledger.
use coalition_schemas::v1::{AlertReference, GeoCircle};

use super::*;

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint {
        latitude_e7: (lat * 1e7).round() as i32,
        longitude_e7: (lon * 1e7).round() as i32,
    }
}

fn circle(lat: f64, lon: f64, radius_m: u32) -> AlertArea {
    AlertArea {
        circle: Some(GeoCircle {
            center: Some(point(lat, lon)),
            radius_m,
        }),
        ..Default::default()
    }
}

fn polygon(points: &[(f64, f64)]) -> AlertArea {
    AlertArea {
        polygon: points.iter().map(|(a, b)| point(*a, *b)).collect(),
        ..Default::default()
    }
}

#[test]
fn boxes_refuse_impossible_edges() {
    assert!(BoundingBox::new(50.0, -1.0, 52.0, 1.0).is_ok());
    assert!(
        BoundingBox::new(50.0, 170.0, 52.0, -170.0).is_ok(),
        "spans 180"
    );
    for (s, w, n, e) in [
        (52.0, -1.0, 50.0, 1.0),
        (-91.0, 0.0, 0.0, 1.0),
        (0.0, -181.0, 1.0, 1.0),
        (f64::NAN, 0.0, 1.0, 1.0),
        (0.0, 0.0, 1.0, f64::INFINITY),
    ] {
        assert!(BoundingBox::new(s, w, n, e).is_err(), "{s} {w} {n} {e}");
    }
}

#[test]
fn areas_against_a_box() {
    // Around London: 51..52 N, 1 W..1 E.
    let london = BoundingBox::new(51.0, -1.0, 52.0, 1.0).unwrap();
    let square = |lat: f64, lon: f64, d: f64| {
        polygon(&[
            (lat - d, lon - d),
            (lat - d, lon + d),
            (lat + d, lon + d),
            (lat + d, lon - d),
            (lat - d, lon - d),
        ])
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<AlertArea>, bool)> = vec![
        ("no area: everywhere", None, true),
        ("an empty area: everywhere", Some(AlertArea::default()), true),
        ("circle inside", Some(circle(51.5, 0.0, 1_000)), true),
        ("circle outside, centre 20 km north", Some(circle(52.18, 0.0, 10_000)), false),
        ("circle outside but reaching in", Some(circle(52.18, 0.0, 25_000)), true),
        ("circle far away (Paris)", Some(circle(48.85, 2.35, 50_000)), false),
        ("polygon inside", Some(square(51.5, 0.0, 0.1)), true),
        ("polygon around the box", Some(square(51.5, 0.0, 5.0)), true),
        ("polygon crossing one edge", Some(square(52.0, 0.0, 0.2)), true),
        ("polygon away", Some(square(45.0, 0.0, 0.5)), false),
        ("a cross through the box, no vertex or corner inside",
            Some(polygon(&[(50.0, -0.1), (53.0, -0.1), (53.0, 0.1), (50.0, 0.1), (50.0, -0.1)])), true),
    ];
    for (name, area, want) in cases {
        assert_eq!(area_touches(area.as_ref(), &london), want, "{name}");
    }
}

#[test]
fn a_box_across_the_antimeridian() {
    let fiji = BoundingBox::new(-20.0, 175.0, -15.0, -178.0).unwrap();
    assert!(area_touches(Some(&circle(-17.0, 179.5, 1_000)), &fiji));
    assert!(area_touches(Some(&circle(-17.0, -179.0, 1_000)), &fiji));
    assert!(!area_touches(Some(&circle(-17.0, 0.0, 1_000)), &fiji));
}

fn alert(id: &str, kind: AlertMessageType, refs: &[&str], expires_at_ms: i64) -> AlertV2 {
    AlertV2 {
        alert_id: id.into(),
        sender: "fra-cell".into(),
        message_type: kind as i32,
        references: refs
            .iter()
            .map(|r| AlertReference {
                sender: "fra-cell".into(),
                alert_id: (*r).into(),
                sent_at_ms: 0,
            })
            .collect(),
        expires_at_ms,
        ..Default::default()
    }
}

#[test]
fn expiry() {
    use AlertMessageType as T;
    assert!(
        !is_expired(&alert("a", T::Alert, &[], 0), i64::MAX),
        "0: never"
    );
    assert!(!is_expired(&alert("a", T::Alert, &[], 100), 99));
    assert!(is_expired(&alert("a", T::Alert, &[], 100), 100));
}

#[test]
fn in_force_after_updates_and_cancels() {
    use AlertMessageType as T;
    let history = [
        alert("a1", T::Alert, &[], 0),
        alert("b1", T::Alert, &[], 0),
        alert("c1", T::Alert, &[], 50),
        alert("a2", T::Update, &["a1"], 0),
        alert("b-cancel", T::Cancel, &["b1"], 0),
        alert("d-ack", T::Ack, &["a2"], 0),
        alert("e1", T::Alert, &[], 0),
        // An update of something never seen: the update is in force, and
        // the alert it ends stays ended if it turns up late.
        alert("f2", T::Update, &["f1"], 0),
        alert("f1", T::Alert, &[], 0),
    ];
    let ids = |now: i64, include_expired: bool| {
        let mut ledger = InForce::default();
        for (i, a) in history.iter().enumerate() {
            ledger.apply(a.clone(), i);
        }
        ledger
            .into_in_force(now, include_expired)
            .into_iter()
            .map(|(a, i)| (a.alert_id, i))
            .collect::<Vec<_>>()
    };
    let want = |ids: &[(&str, usize)]| -> Vec<(String, usize)> {
        ids.iter().map(|(a, i)| (a.to_string(), *i)).collect()
    };
    assert_eq!(
        ids(10, false),
        want(&[("c1", 2), ("a2", 3), ("e1", 6), ("f2", 7)])
    );
    assert_eq!(
        ids(60, false),
        want(&[("a2", 3), ("e1", 6), ("f2", 7)]),
        "c1 expired"
    );
    assert_eq!(
        ids(60, true),
        want(&[("c1", 2), ("a2", 3), ("e1", 6), ("f2", 7)])
    );
}

#[test]
fn what_a_subscriber_is_given() {
    use AlertMessageType as T;
    let london = BoundingBox::new(51.0, -1.0, 52.0, 1.0).unwrap();
    let inside = AlertV2 {
        area: Some(circle(51.5, 0.0, 1_000)),
        ..alert("in", T::Alert, &[], 0)
    };
    let paris = AlertV2 {
        area: Some(circle(48.85, 2.35, 1_000)),
        ..alert("out", T::Alert, &[], 0)
    };
    let stale = AlertV2 {
        expires_at_ms: 100,
        ..inside.clone()
    };
    let cancel_far = AlertV2 {
        area: Some(circle(48.85, 2.35, 1_000)),
        ..alert("cancel", T::Cancel, &["in"], 0)
    };
    #[rustfmt::skip]
    let cases = [
        ("inside the box", &inside, Some(&london), false, false, true),
        ("outside the box", &paris, Some(&london), false, false, false),
        ("no box: everywhere", &paris, None, false, false, true),
        ("expired", &stale, Some(&london), false, false, false),
        ("expired, asked for", &stale, Some(&london), true, false, true),
        ("a cancel outside the box of an alert given", &cancel_far, Some(&london), false, true, true),
        ("a cancel outside the box of nothing given", &cancel_far, Some(&london), false, false, false),
    ];
    for (name, a, area, include_expired, follows, want) in cases {
        assert_eq!(
            wanted(a, area, include_expired, 200, follows),
            want,
            "{name}"
        );
    }
}
