//! Transcoding tests: tables of conversions (poles, antimeridian, axes,
//! rounding, a stationary track) and of refusals (NaN, infinities, out of
//! range), the bytes-level helper, and property tests of the round trips
//! with the bounds stated below.
use coalition_schemas::v1;
use proptest::prelude::*;
use proptest::sample::select;
use prost::Message;

use super::*;
use crate::DenyReason;

// ---------------------------------------------------------------------------
// Round-trip bounds of v1 -> v2 -> v1, for finite in-range v1 values.
// ---------------------------------------------------------------------------

/// Half a v2 step of 1e-7°, plus float error: 5 × 10⁻⁸° ≈ 5.6 mm.
const POSITION_BOUND_DEG: f64 = 0.5e-7 + 1e-12;
/// Half a centimetre, plus float error (|altitude| up to 21,474 km).
const ALTITUDE_BOUND_M: f64 = 0.005 + 1e-8;
/// Relative: each f32 component is within 2⁻²⁴ of its value, and near an
/// axis the speed chosen to reproduce them exactly may add another 2⁻²⁴.
const SPEED_BOUND_RELATIVE: f64 = 1.2e-7;
/// An error vector of at most 2⁻²⁴ of the speed turns the direction by at
/// most asin(2⁻²⁴) ≈ 3.42 × 10⁻⁶° (when the speed is not zero).
const HEADING_BOUND_DEG: f64 = 3.5e-6;
/// Half a thousandth, plus the f32 rounding of the result.
const CONFIDENCE_BOUND: f64 = 0.0005 + 1e-7;

fn track(lat: f64, lon: f64, alt: f64, speed: f64, heading: f64, confidence: f32) -> v1::TrackV1 {
    v1::TrackV1 {
        track_id: "T-42".into(),
        latitude_deg: lat,
        longitude_deg: lon,
        altitude_m: alt,
        speed_mps: speed,
        heading_deg: heading,
        confidence,
        observed_at_ms: 1_795_000_000_123,
    }
}

fn track_v2(lat_e7: i32, lon_e7: i32, alt_cm: i32, north: f32, east: f32) -> v1::TrackV2 {
    v1::TrackV2 {
        track_id: "T-42".into(),
        latitude_e7: lat_e7,
        longitude_e7: lon_e7,
        altitude_cm: alt_cm,
        velocity_north_mps: north,
        velocity_east_mps: east,
        position_covariance_m2: Vec::new(),
        confidence_permille: 900,
        observed_at_ms: 1_795_000_000_123,
    }
}

/// Latitude, longitude (1e-7°), altitude (cm), velocity north and east,
/// confidence (‰).
type V2Fields = (i32, i32, i32, f32, f32, u32);
/// Latitude, longitude (°), altitude (m), speed, heading.
type V1Fields = (f64, f64, f64, f64, f64);
type Losses = Vec<(&'static str, Loss)>;

fn losses(lossy: &Lossy) -> Losses {
    lossy.iter().collect()
}

fn field_of(err: &TranscodeError) -> &'static str {
    match err {
        TranscodeError::NonFinite { field } | TranscodeError::OutOfRange { field, .. } => field,
        TranscodeError::BadCovariance(_) => "position_covariance_m2",
        _ => "other",
    }
}

fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

const SEMANTIC: (&str, Loss) = ("confidence", Loss::Semantic);

#[test]
fn v1_to_v2_converts_edge_cases_as_the_table_says() {
    use Loss::*;
    #[rustfmt::skip]
    let cases: Vec<(&str, v1::TrackV1, V2Fields, Losses)> = vec![
        ("due east, exact position", track(51.5, -0.125, 35.0, 10.0, 90.0, 0.9),
            (515_000_000, -1_250_000, 3_500, 0.0, 10.0, 900), vec![SEMANTIC]),
        ("north pole", track(90.0, 0.0, 0.0, 0.0, 0.0, 1.0),
            (900_000_000, 0, 0, 0.0, 0.0, 1000), vec![SEMANTIC]),
        ("south pole on the antimeridian, east", track(-90.0, 180.0, 0.0, 0.0, 0.0, 0.0),
            (-900_000_000, 1_800_000_000, 0, 0.0, 0.0, 0), vec![SEMANTIC]),
        ("antimeridian, west: kept apart from east", track(0.0, -180.0, 0.0, 0.0, 0.0, 0.0),
            (0, -1_800_000_000, 0, 0.0, 0.0, 0), vec![SEMANTIC]),
        ("position rounds to the nearest 1e-7 degree", track(12.345_678_96, 179.999_999_96, 0.0, 0.0, 0.0, 0.5),
            (123_456_790, 1_800_000_000, 0, 0.0, 0.0, 500),
            vec![SEMANTIC, ("latitude_deg", Rounded), ("longitude_deg", Rounded)]),
        ("altitude rounds to the centimetre", track(0.0, 0.0, 1234.567, 0.0, 0.0, 0.5),
            (0, 0, 123_457, 0.0, 0.0, 500), vec![("altitude_m", Rounded), SEMANTIC]),
        ("altitude at the top of the i32 range", track(0.0, 0.0, 21_474_836.47, 0.0, 0.0, 0.5),
            (0, 0, i32::MAX, 0.0, 0.0, 500), vec![SEMANTIC]),
        ("altitude at the bottom of the i32 range", track(0.0, 0.0, -21_474_836.48, 0.0, 0.0, 0.5),
            (0, 0, i32::MIN, 0.0, 0.0, 500), vec![SEMANTIC]),
        ("heading 360 is north, not a loss", track(0.0, 0.0, 0.0, 10.0, 360.0, 0.5),
            (0, 0, 0, 10.0, 0.0, 500), vec![SEMANTIC]),
        ("heading -90 is west", track(0.0, 0.0, 0.0, 10.0, -90.0, 0.5),
            (0, 0, 0, 0.0, -10.0, 500), vec![SEMANTIC]),
        ("heading 180 is south", track(0.0, 0.0, 0.0, 2.5, 180.0, 0.5),
            (0, 0, 0, -2.5, 0.0, 500), vec![SEMANTIC]),
        ("heading 630 is west", track(0.0, 0.0, 0.0, 4.0, 630.0, 0.5),
            (0, 0, 0, 0.0, -4.0, 500), vec![SEMANTIC]),
        ("stationary: the heading has nowhere to go", track(0.0, 0.0, 0.0, 0.0, 123.0, 0.5),
            (0, 0, 0, 0.0, 0.0, 500), vec![SEMANTIC, ("heading_deg", Dropped)]),
        ("confidence rounds to the thousandth", track(0.0, 0.0, 0.0, 0.0, 0.0, 0.1234),
            (0, 0, 0, 0.0, 0.0, 123), vec![SEMANTIC]),
    ];
    for (name, input, (lat, lon, alt, north, east, permille), expected_losses) in cases {
        let (v2, lossy) = track_v1_to_v2(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = (v2.latitude_e7, v2.longitude_e7, v2.altitude_cm);
        assert_eq!(got, (lat, lon, alt), "{name}");
        let velocity = (v2.velocity_north_mps, v2.velocity_east_mps);
        assert_eq!(velocity, (north, east), "{name}");
        for c in [v2.velocity_north_mps, v2.velocity_east_mps] {
            assert!(c != 0.0 || c.is_sign_positive(), "{name}: negative zero");
        }
        assert_eq!(v2.confidence_permille, permille, "{name}");
        assert_eq!(
            (v2.track_id.as_str(), v2.observed_at_ms),
            ("T-42", input.observed_at_ms)
        );
        assert!(
            v2.position_covariance_m2.is_empty(),
            "{name}: v1 has no covariance"
        );
        let mut expected = expected_losses;
        expected.sort();
        assert_eq!(losses(&lossy), expected, "{name}");
    }
}

#[test]
fn headings_off_the_axes_come_back_within_the_bound() {
    for heading in [359.99, 720.5, -0.01, 45.0, 0.001] {
        let (v2, lossy) = track_v1_to_v2(&track(0.0, 0.0, 0.0, 10.0, heading, 0.5)).unwrap();
        let (back, _) = track_v2_to_v1(&v2).unwrap();
        let normalised = heading.rem_euclid(360.0);
        assert!(
            angle_between(back.heading_deg, normalised) <= HEADING_BOUND_DEG,
            "{heading}"
        );
        assert!((0.0..360.0).contains(&back.heading_deg), "{heading}");
        assert!(
            (back.speed_mps - 10.0).abs() <= 10.0 * SPEED_BOUND_RELATIVE,
            "{heading}"
        );
        let rounded = (back.heading_deg != normalised).then_some(Loss::Rounded);
        assert_eq!(lossy.get("heading_deg"), rounded, "{heading}");
    }
}

#[test]
fn v1_values_without_a_v2_representation_are_refused() {
    let ok = || track(0.0, 0.0, 0.0, 1.0, 0.0, 0.5);
    #[rustfmt::skip]
    let cases: Vec<(&str, v1::TrackV1, &str)> = vec![
        ("NaN latitude", v1::TrackV1 { latitude_deg: f64::NAN, ..ok() }, "latitude_deg"),
        ("infinite latitude", v1::TrackV1 { latitude_deg: f64::NEG_INFINITY, ..ok() }, "latitude_deg"),
        ("latitude past the pole", v1::TrackV1 { latitude_deg: 90.000_000_1, ..ok() }, "latitude_deg"),
        ("longitude past the antimeridian", v1::TrackV1 { longitude_deg: -180.000_000_1, ..ok() }, "longitude_deg"),
        ("NaN longitude", v1::TrackV1 { longitude_deg: f64::NAN, ..ok() }, "longitude_deg"),
        ("altitude one cm over i32", v1::TrackV1 { altitude_m: 21_474_836.48, ..ok() }, "altitude_m"),
        ("altitude one cm under i32", v1::TrackV1 { altitude_m: -21_474_836.49, ..ok() }, "altitude_m"),
        ("huge altitude", v1::TrackV1 { altitude_m: 1e300, ..ok() }, "altitude_m"),
        ("infinite altitude", v1::TrackV1 { altitude_m: f64::INFINITY, ..ok() }, "altitude_m"),
        ("negative speed", v1::TrackV1 { speed_mps: -1.0, ..ok() }, "speed_mps"),
        ("NaN speed", v1::TrackV1 { speed_mps: f64::NAN, ..ok() }, "speed_mps"),
        ("speed beyond f32", v1::TrackV1 { speed_mps: 1e39, ..ok() }, "speed_mps"),
        ("NaN heading", v1::TrackV1 { heading_deg: f64::NAN, ..ok() }, "heading_deg"),
        ("infinite heading", v1::TrackV1 { heading_deg: f64::INFINITY, ..ok() }, "heading_deg"),
        ("confidence above 1", v1::TrackV1 { confidence: 1.5, ..ok() }, "confidence"),
        ("negative confidence", v1::TrackV1 { confidence: -0.001, ..ok() }, "confidence"),
        ("NaN confidence", v1::TrackV1 { confidence: f32::NAN, ..ok() }, "confidence"),
    ];
    assert!(track_v1_to_v2(&ok()).is_ok());
    for (name, input, field) in cases {
        let err = track_v1_to_v2(&input).expect_err(name);
        assert_eq!(field_of(&err), field, "{name}: {err}");
        assert_eq!(err.reason(), DenyReason::UntranscodablePayload);
    }
}

#[test]
fn v2_to_v1_converts_edge_cases_as_the_table_says() {
    use Loss::*;
    let covariance = vec![4.0, -0.5, 0.0, 4.0, 0.0, 9.0];
    #[rustfmt::skip]
    let cases: Vec<(&str, v1::TrackV2, V1Fields, Losses)> = vec![
        ("exact position, due east", track_v2(515_000_000, -1_250_000, 3_500, 0.0, 10.0),
            (51.5, -0.125, 35.0, 10.0, 90.0), vec![]),
        ("covariance is dropped", v1::TrackV2 { position_covariance_m2: covariance, ..track_v2(0, 0, 0, 10.0, 0.0) },
            (0.0, 0.0, 0.0, 10.0, 0.0), vec![("position_covariance_m2", Dropped)]),
        ("poles and antimeridian", track_v2(-900_000_000, 1_800_000_000, i32::MIN, 0.0, -10.0),
            (-90.0, 180.0, -21_474_836.48, 10.0, 270.0), vec![]),
        ("south", track_v2(0, -1_800_000_000, i32::MAX, -2.5, 0.0),
            (0.0, -180.0, 21_474_836.47, 2.5, 180.0), vec![]),
        ("stationary, negative zeros", track_v2(0, 0, 0, -0.0, -0.0),
            (0.0, 0.0, 0.0, 0.0, 0.0), vec![]),
        ("south-west, 3-4-5", track_v2(0, 0, 0, -3.0, -4.0),
            (0.0, 0.0, 0.0, 5.0, 180.0 + (4.0f64 / 3.0).atan().to_degrees()), vec![]),
    ];
    for (name, input, (lat, lon, alt, speed, heading), expected_losses) in cases {
        let (v1, lossy) = track_v2_to_v1(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (v1.latitude_deg, v1.longitude_deg, v1.altitude_m),
            (lat, lon, alt),
            "{name}"
        );
        assert!(
            (v1.speed_mps - speed).abs() <= 1e-12,
            "{name}: speed {}",
            v1.speed_mps
        );
        assert!(
            angle_between(v1.heading_deg, heading) <= 1e-9,
            "{name}: {}",
            v1.heading_deg
        );
        assert_eq!(
            (v1.confidence, v1.observed_at_ms),
            (0.9, input.observed_at_ms),
            "{name}"
        );
        assert_eq!(losses(&lossy), expected_losses, "{name}");
    }
}

#[test]
fn v2_values_without_a_v1_meaning_are_refused() {
    let ok = || track_v2(0, 0, 0, 1.0, 0.0);
    let cov = |c: &[f32]| v1::TrackV2 {
        position_covariance_m2: c.to_vec(),
        ..ok()
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, v1::TrackV2, &str)> = vec![
        ("latitude past the north pole", track_v2(900_000_001, 0, 0, 0.0, 0.0), "latitude_e7"),
        ("latitude past the south pole", track_v2(-900_000_001, 0, 0, 0.0, 0.0), "latitude_e7"),
        ("longitude past the antimeridian", track_v2(0, 1_800_000_001, 0, 0.0, 0.0), "longitude_e7"),
        ("longitude i32::MIN", track_v2(0, i32::MIN, 0, 0.0, 0.0), "longitude_e7"),
        ("NaN velocity", track_v2(0, 0, 0, f32::NAN, 0.0), "velocity_north_mps"),
        ("infinite velocity", track_v2(0, 0, 0, 0.0, f32::INFINITY), "velocity_east_mps"),
        ("five covariance values", cov(&[1.0; 5]), "position_covariance_m2"),
        ("NaN covariance", cov(&[1.0, f32::NAN, 0.0, 1.0, 0.0, 1.0]), "position_covariance_m2"),
        ("negative variance", cov(&[1.0, 0.0, 0.0, -1.0, 0.0, 1.0]), "position_covariance_m2"),
        ("confidence above 1000", v1::TrackV2 { confidence_permille: 1001, ..ok() }, "confidence_permille"),
    ];
    assert!(track_v2_to_v1(&ok()).is_ok());
    assert!(track_v2_to_v1(&cov(&[1.0, -3.0, -3.0, 1.0, -3.0, 0.0])).is_ok());
    for (name, input, field) in cases {
        let err = track_v2_to_v1(&input).expect_err(name);
        assert_eq!(field_of(&err), field, "{name}: {err}");
    }
}

#[test]
fn payloads_transcode_both_ways_and_refuse_what_they_cannot() {
    let v1_track = track(51.5, -0.125, 35.0, 10.0, 90.0, 0.9);
    let v1_bytes = v1_track.encode_to_vec();
    let (v2_bytes, lossy) =
        transcode_payload(MessageType::Track, &v1_bytes, TRACK_V1, TRACK_V2).unwrap();
    let v2_track = v1::TrackV2::decode(v2_bytes.as_ref()).unwrap();
    assert_eq!(
        (v2_track.clone(), lossy),
        track_v1_to_v2(&v1_track).unwrap()
    );
    let (back, lossy) =
        transcode_payload(MessageType::Track, &v2_bytes, TRACK_V2, TRACK_V1).unwrap();
    assert_eq!(v1::TrackV1::decode(back.as_ref()).unwrap(), v1_track);
    assert!(lossy.is_lossless());
    let (same, lossy) =
        transcode_payload(MessageType::Track, &v1_bytes, TRACK_V1, TRACK_V1).unwrap();
    assert_eq!((same.as_ref(), lossy.is_lossless()), (&v1_bytes[..], true));

    let garbage = [0xff, 0xff, 0xff];
    let err = transcode_payload(MessageType::Track, &garbage, TRACK_V1, TRACK_V2).unwrap_err();
    assert!(
        matches!(err, TranscodeError::Decode { version: 1, .. }),
        "{err}"
    );
    for (from, to) in [(1, 3), (3, 3), (0, 1), (2, 0)] {
        let err = transcode_payload(MessageType::Track, &v1_bytes, from, to).unwrap_err();
        let message_type = MessageType::Track;
        assert_eq!(
            err,
            TranscodeError::UnknownVersions {
                message_type,
                from,
                to
            }
        );
    }
    let nan = v1::TrackV1 {
        latitude_deg: f64::NAN,
        ..v1_track
    }
    .encode_to_vec();
    let err = transcode_payload(MessageType::Track, &nan, TRACK_V1, TRACK_V2).unwrap_err();
    assert_eq!(
        err,
        TranscodeError::NonFinite {
            field: "latitude_deg"
        }
    );
    assert_eq!(err.reason(), DenyReason::UntranscodablePayload);
}

#[test]
fn lossy_names_fields_for_lineage() {
    let (_, lossy) = track_v1_to_v2(&track(12.345_678_96, 0.0, 0.0, 0.0, 0.0, 0.5)).unwrap();
    assert_eq!(
        lossy.to_string(),
        "confidence:semantic,latitude_deg:rounded"
    );
    assert!(!lossy.is_lossless());
    let (_, lossy) = track_v2_to_v1(&track_v2(0, 0, 0, 0.0, 0.0)).unwrap();
    assert_eq!(
        (lossy.to_string(), lossy.is_lossless()),
        ("lossless".into(), true)
    );
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// 256 cases, or `COALITION_PROPTEST_CASES` (e.g. `1_000_000`).
fn proptest_cases() -> u32 {
    let var = std::env::var("COALITION_PROPTEST_CASES");
    var.ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(256)
}

const AXES: [f64; 5] = [0.0, 90.0, 180.0, 270.0, 360.0];

/// Any heading, the axes, and headings within 1e-14° to 1e-5° of an axis,
/// where v1's heading is coarsest.
fn arb_heading() -> impl Strategy<Value = f64> {
    let near_axis = (select(AXES.to_vec()), -14.0..-5.0f64, any::<bool>())
        .prop_map(|(axis, exp, below)| axis + if below { -1.0 } else { 1.0 } * 10f64.powf(exp));
    prop_oneof![-720.0..720.0f64, select(AXES.to_vec()), near_axis]
}

/// Finite, in-range v1 tracks.
fn arb_track_v1() -> impl Strategy<Value = v1::TrackV1> {
    let latitude = prop_oneof![-90.0..=90.0f64, select(vec![-90.0, 90.0, 0.0])];
    let longitude = prop_oneof![-180.0..=180.0f64, select(vec![-180.0, 180.0, 0.0])];
    let speed = prop_oneof![Just(0.0), 1e-3..5_000.0f64];
    let kinematics = (speed, arb_heading(), 0.0..=1.0f32, any::<i64>());
    let position = (
        "[A-Z0-9-]{0,12}",
        latitude,
        longitude,
        -21_474_836.0..21_474_836.0f64,
    );
    (position, kinematics).prop_map(|((id, lat, lon, alt), (speed, heading, conf, at))| {
        v1::TrackV1 {
            track_id: id,
            observed_at_ms: at,
            ..track(lat, lon, alt, speed, heading, conf)
        }
    })
}

/// A velocity whose direction v1 can name: a component is zero, or the
/// smaller is at least 1e-7 of the larger (round trips are exact from
/// about 1e-8 on; below, within ~1e-6° of 90°, 180°, 270° or 360°, v1's
/// f64 heading is too coarse).
fn arb_representable_velocity() -> impl Strategy<Value = (f32, f32)> {
    let ratio = prop_oneof![
        Just(0.0),
        1e-7..=1.0f64,
        (-7.0..0.0f64).prop_map(|e| 10f64.powf(e))
    ];
    let big = prop_oneof![Just(0.0f32), 1e-3..1e4f32];
    (big, ratio, any::<(bool, bool, bool)>()).prop_map(|(big, ratio, (neg_a, neg_b, swap))| {
        let a = if neg_a { -big } else { big };
        let b = (f64::from(big) * ratio) as f32 * if neg_b { -1.0 } else { 1.0 };
        if swap {
            (b, a)
        } else {
            (a, b)
        }
    })
}

/// Valid v2 tracks with a representable velocity.
fn arb_track_v2() -> impl Strategy<Value = v1::TrackV2> {
    let covariance = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(-1e6..1e6f32, 6).prop_map(|mut c| {
            for i in [0, 3, 5] {
                c[i] = c[i].abs();
            }
            c
        }),
    ];
    let position = (
        -900_000_000..=900_000_000i32,
        -1_800_000_000..=1_800_000_000i32,
        any::<i32>(),
    );
    let rest = (
        arb_representable_velocity(),
        covariance,
        0..=1000u32,
        any::<i64>(),
    );
    (position, rest).prop_map(
        |((lat, lon, alt), ((north, east), cov, permille, at))| v1::TrackV2 {
            position_covariance_m2: cov,
            confidence_permille: permille,
            observed_at_ms: at,
            ..track_v2(lat, lon, alt, north, east)
        },
    )
}

fn check_v1_round_trip(track: &v1::TrackV1) -> Result<(), TestCaseError> {
    let (v2, _) = track_v1_to_v2(track).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (back, _) = track_v2_to_v1(&v2).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back.track_id, &track.track_id);
    prop_assert_eq!(back.observed_at_ms, track.observed_at_ms);
    prop_assert!((back.latitude_deg - track.latitude_deg).abs() <= POSITION_BOUND_DEG);
    prop_assert!((back.longitude_deg - track.longitude_deg).abs() <= POSITION_BOUND_DEG);
    prop_assert!((back.altitude_m - track.altitude_m).abs() <= ALTITUDE_BOUND_M);
    let speed_error = (back.speed_mps - track.speed_mps).abs();
    prop_assert!(
        speed_error <= SPEED_BOUND_RELATIVE * track.speed_mps,
        "{}",
        back.speed_mps
    );
    let heading = track.heading_deg.rem_euclid(360.0);
    if track.speed_mps > 0.0 {
        let error = angle_between(back.heading_deg, heading);
        prop_assert!(
            error <= HEADING_BOUND_DEG,
            "{} vs {heading}",
            back.heading_deg
        );
    } else {
        prop_assert_eq!(back.heading_deg, 0.0);
    }
    prop_assert!((0.0..360.0).contains(&back.heading_deg));
    let confidence_error = (f64::from(back.confidence) - f64::from(track.confidence)).abs();
    prop_assert!(confidence_error <= CONFIDENCE_BOUND);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(proptest_cases())
    })]

    /// (1) v1 -> v2 -> v1 keeps id and time exactly, the rest within the
    /// bounds above.
    #[test]
    fn v1_round_trip_stays_within_the_v2_resolution(track in arb_track_v1()) {
        check_v1_round_trip(&track)?;
    }

    /// (2) v1 -> v2 -> v1 -> v2 equals v1 -> v2: the second pass through v1
    /// loses nothing more, and says so.
    #[test]
    fn v2_of_a_v1_survives_another_trip_through_v1_exactly(track in arb_track_v1()) {
        let (v2, _) = track_v1_to_v2(&track).unwrap();
        let (v1_again, lossy) = track_v2_to_v1(&v2).unwrap();
        prop_assert!(lossy.is_lossless(), "{lossy}");
        prop_assert_eq!(track_v1_to_v2(&v1_again).unwrap().0, v2);
    }

    /// (3) v2 -> v1 -> v2 gives back every field v1 carries exactly (all
    /// but the covariance) when the velocity's direction is representable.
    #[test]
    fn v2_round_trip_is_exact_for_representable_values(track in arb_track_v2()) {
        let (v1, lossy) = track_v2_to_v1(&track).unwrap();
        let (back, _) = track_v1_to_v2(&v1).unwrap();
        let expected = v1::TrackV2 { position_covariance_m2: Vec::new(), ..track.clone() };
        prop_assert_eq!(back, expected);
        let dropped = lossy.get("position_covariance_m2") == Some(Loss::Dropped);
        prop_assert_eq!(dropped, !track.position_covariance_m2.is_empty());
        prop_assert_eq!(lossy.iter().count(), usize::from(dropped));
    }

    /// Whatever numbers or bytes arrive, transcoding answers and never
    /// panics; what it accepts converts back.
    #[test]
    fn any_input_gives_an_answer(
        numbers in any::<[f64; 5]>(),
        small in any::<(f32, f32, f32, i32, i32, u32)>(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let [lat, lon, alt, speed, heading] = numbers;
        let (confidence, north, east, lat_e7, lon_e7, permille) = small;
        if let Ok((v2, _)) = track_v1_to_v2(&track(lat, lon, alt, speed, heading, confidence)) {
            prop_assert!(track_v2_to_v1(&v2).is_ok());
        }
        let v2 = v1::TrackV2 { confidence_permille: permille, ..track_v2(lat_e7, lon_e7, 0, north, east) };
        if let Ok((v1, _)) = track_v2_to_v1(&v2) {
            prop_assert!(track_v1_to_v2(&v1).is_ok());
        }
        for (from, to) in [(1, 2), (2, 1), (1, 1)] {
            let _ = transcode_payload(MessageType::Track, &bytes, from, to);
        }
    }
}
