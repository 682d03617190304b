//! Track transcoding between v1 and v2: the conversions and what each loses
//! ([`Lossy`]); and the bytes-level helper the bridge and the SDK call for
//! any message type ([`transcode_payload`]; alerts are in [`super::alert`]). Fails closed on
//! non-finite or out-of-range values; see `schemas/MANIFEST.md` for the
//! field mapping. No policy here: which versions to serve is
//! [`super::versions_to_serve`]'s answer.
use bytes::Bytes;
use coalition_schemas::v1;
use prost::Message;

use super::lossy::{Loss, Lossy, TranscodeError};
use super::velocity::{course_from_velocity, normalize_heading, velocity_from_course};
use super::{alert, known_versions, ALERT_V1, ALERT_V2, TRACK_V1, TRACK_V2};
use crate::envelope::MessageType;

/// Converts a track from v1 to v2 and says what was lost.
///
/// Latitude and longitude are rounded to 1e-7° and altitude to 1 cm (half
/// away from zero); speed and heading become north and east `f32`
/// components (heading 0 = north, clockwise, any finite value normalised
/// into [0, 360)); confidence is rounded to thousandths and always flagged
/// [`Loss::Semantic`]; v2 covariance is left empty (unknown).
///
/// Fails on a non-finite number, latitude beyond ±90°, longitude beyond
/// ±180°, altitude beyond the i32 range of centimetres, a negative speed or
/// one whose components overflow `f32`, confidence outside [0, 1].
pub fn track_v1_to_v2(track: &v1::TrackV1) -> Result<(v1::TrackV2, Lossy), TranscodeError> {
    let v2 = convert_v1_to_v2(track)?;
    let back = convert_v2_to_v1(&v2)?;
    let heading = normalize_heading(track.heading_deg);
    let mut lossy = Lossy::default();
    lossy.mark_if(
        back.latitude_deg != track.latitude_deg,
        "latitude_deg",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.longitude_deg != track.longitude_deg,
        "longitude_deg",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.altitude_m != track.altitude_m,
        "altitude_m",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.speed_mps != track.speed_mps,
        "speed_mps",
        Loss::Rounded,
    );
    if track.speed_mps == 0.0 {
        lossy.mark_if(heading != 0.0, "heading_deg", Loss::Dropped);
    } else {
        lossy.mark_if(back.heading_deg != heading, "heading_deg", Loss::Rounded);
    }
    lossy.mark_if(true, "confidence", Loss::Semantic);
    Ok((v2, lossy))
}

/// Converts a track from v2 to v1 and says what was lost.
///
/// Position, altitude and confidence convert exactly (every v2 value comes
/// back unchanged); velocity becomes speed and heading in `f64`, exact
/// whenever the direction is representable (schemas/MANIFEST.md);
/// covariance is dropped. Fails on latitude beyond ±90° or longitude beyond
/// ±180° (in 1e-7°), a non-finite velocity, a covariance that is not 0 or 6
/// finite values with non-negative variances, confidence above 1000.
pub fn track_v2_to_v1(track: &v1::TrackV2) -> Result<(v1::TrackV1, Lossy), TranscodeError> {
    let v1 = convert_v2_to_v1(track)?;
    let back = convert_v1_to_v2(&v1)?;
    let mut lossy = Lossy::default();
    lossy.mark_if(
        back.latitude_e7 != track.latitude_e7,
        "latitude_e7",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.longitude_e7 != track.longitude_e7,
        "longitude_e7",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.altitude_cm != track.altitude_cm,
        "altitude_cm",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.velocity_north_mps != track.velocity_north_mps,
        "velocity_north_mps",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.velocity_east_mps != track.velocity_east_mps,
        "velocity_east_mps",
        Loss::Rounded,
    );
    lossy.mark_if(
        back.confidence_permille != track.confidence_permille,
        "confidence_permille",
        Loss::Rounded,
    );
    lossy.mark_if(
        !track.position_covariance_m2.is_empty(),
        "position_covariance_m2",
        Loss::Dropped,
    );
    Ok((v1, lossy))
}

/// Transcodes an encoded payload of `message_type` from one version to
/// another, for the bridge serving both versions during a dual-run window
/// (and the SDK checking what the bridge served). The same known version
/// in and out returns the bytes unchanged (not checked).
pub fn transcode_payload(
    message_type: MessageType,
    payload: &[u8],
    from_version: u32,
    to_version: u32,
) -> Result<(Bytes, Lossy), TranscodeError> {
    use MessageType::{Alert, Track};
    let decode_error = |source| TranscodeError::Decode {
        message_type,
        version: from_version,
        source,
    };
    let (bytes, lossy) = match (message_type, from_version, to_version) {
        (Track, TRACK_V1, TRACK_V2) => {
            let track = v1::TrackV1::decode(payload).map_err(decode_error)?;
            let (v2, lossy) = track_v1_to_v2(&track)?;
            (v2.encode_to_vec(), lossy)
        }
        (Track, TRACK_V2, TRACK_V1) => {
            let track = v1::TrackV2::decode(payload).map_err(decode_error)?;
            let (v1, lossy) = track_v2_to_v1(&track)?;
            (v1.encode_to_vec(), lossy)
        }
        (Alert, ALERT_V1, ALERT_V2) => {
            let a = v1::AlertV1::decode(payload).map_err(decode_error)?;
            let (v2, lossy) = alert::alert_v1_to_v2(&a)?;
            (v2.encode_to_vec(), lossy)
        }
        (Alert, ALERT_V2, ALERT_V1) => {
            let a = v1::AlertV2::decode(payload).map_err(decode_error)?;
            let (v1, lossy) = alert::alert_v2_to_v1(&a)?;
            (v1.encode_to_vec(), lossy)
        }
        (_, from, to) if from == to && known_versions(message_type).contains(&from) => {
            return Ok((Bytes::copy_from_slice(payload), Lossy::default()));
        }
        (_, from, to) => {
            return Err(TranscodeError::UnknownVersions {
                message_type,
                from,
                to,
            })
        }
    };
    Ok((bytes.into(), lossy))
}

fn convert_v1_to_v2(track: &v1::TrackV1) -> Result<v1::TrackV2, TranscodeError> {
    let v1::TrackV1 {
        track_id,
        latitude_deg,
        longitude_deg,
        altitude_m,
        speed_mps,
        heading_deg,
        confidence,
        observed_at_ms,
    } = track;
    let (north, east) = velocity(*speed_mps, *heading_deg)?;
    Ok(v1::TrackV2 {
        track_id: track_id.clone(),
        latitude_e7: degrees_to_e7("latitude_deg", *latitude_deg, 90.0, "[-90, 90] degrees")?,
        longitude_e7: degrees_to_e7(
            "longitude_deg",
            *longitude_deg,
            180.0,
            "[-180, 180] degrees",
        )?,
        altitude_cm: metres_to_cm(*altitude_m)?,
        velocity_north_mps: north,
        velocity_east_mps: east,
        position_covariance_m2: Vec::new(),
        confidence_permille: score_to_permille(*confidence)?,
        observed_at_ms: *observed_at_ms,
    })
}

fn convert_v2_to_v1(track: &v1::TrackV2) -> Result<v1::TrackV1, TranscodeError> {
    let v1::TrackV2 {
        track_id,
        latitude_e7,
        longitude_e7,
        altitude_cm,
        velocity_north_mps,
        velocity_east_mps,
        position_covariance_m2,
        confidence_permille,
        observed_at_ms,
    } = track;
    let in_e7 = |field, value: i32, limit: i32, range| {
        if value.checked_abs().is_some_and(|a| a <= limit) {
            Ok(f64::from(value) / 1e7)
        } else {
            Err(out_of_range(field, f64::from(value), range))
        }
    };
    let latitude_deg = in_e7("latitude_e7", *latitude_e7, 900_000_000, "±900000000")?;
    let longitude_deg = in_e7("longitude_e7", *longitude_e7, 1_800_000_000, "±1800000000")?;
    finite("velocity_north_mps", f64::from(*velocity_north_mps))?;
    finite("velocity_east_mps", f64::from(*velocity_east_mps))?;
    check_covariance(position_covariance_m2)?;
    if *confidence_permille > 1000 {
        let value = f64::from(*confidence_permille);
        return Err(out_of_range("confidence_permille", value, "[0, 1000]"));
    }
    let (speed_mps, heading_deg) = course_from_velocity(*velocity_north_mps, *velocity_east_mps);
    Ok(v1::TrackV1 {
        track_id: track_id.clone(),
        latitude_deg,
        longitude_deg,
        altitude_m: f64::from(*altitude_cm) / 100.0,
        speed_mps,
        heading_deg,
        confidence: (f64::from(*confidence_permille) / 1000.0) as f32,
        observed_at_ms: *observed_at_ms,
    })
}

fn finite(field: &'static str, value: f64) -> Result<f64, TranscodeError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(TranscodeError::NonFinite { field })
    }
}

fn out_of_range(field: &'static str, value: f64, range: &'static str) -> TranscodeError {
    TranscodeError::OutOfRange {
        field,
        value,
        range,
    }
}

fn degrees_to_e7(
    field: &'static str,
    degrees: f64,
    limit: f64,
    range: &'static str,
) -> Result<i32, TranscodeError> {
    let degrees = finite(field, degrees)?;
    if degrees.abs() > limit {
        return Err(out_of_range(field, degrees, range));
    }
    // |degrees| <= 180 so the result is within ±1.8e9, inside i32.
    Ok((degrees * 1e7).round() as i32)
}

fn metres_to_cm(metres: f64) -> Result<i32, TranscodeError> {
    let cm = (finite("altitude_m", metres)? * 100.0).round();
    if cm < f64::from(i32::MIN) || cm > f64::from(i32::MAX) {
        return Err(out_of_range(
            "altitude_m",
            metres,
            "[-21474836.48, 21474836.47] m",
        ));
    }
    Ok(cm as i32)
}

fn score_to_permille(score: f32) -> Result<u32, TranscodeError> {
    let score = finite("confidence", f64::from(score))?;
    if !(0.0..=1.0).contains(&score) {
        return Err(out_of_range("confidence", score, "[0, 1]"));
    }
    Ok((score * 1000.0).round() as u32)
}

fn check_covariance(covariance: &[f32]) -> Result<(), TranscodeError> {
    let [nn, _, _, ee, _, uu] = covariance else {
        return match covariance.len() {
            0 => Ok(()),
            _ => Err(TranscodeError::BadCovariance("must hold 0 or 6 values")),
        };
    };
    if covariance.iter().any(|x| !x.is_finite()) {
        return Err(TranscodeError::BadCovariance("a value is not finite"));
    }
    if [nn, ee, uu].iter().any(|v| **v < 0.0) {
        return Err(TranscodeError::BadCovariance("a variance is negative"));
    }
    Ok(())
}

/// v1 speed and heading into v2 components, refusing a non-finite value, a
/// negative speed, or components that overflow f32.
fn velocity(speed: f64, heading: f64) -> Result<(f32, f32), TranscodeError> {
    let speed = finite("speed_mps", speed)?;
    let heading = finite("heading_deg", heading)?;
    let bad_speed = || out_of_range("speed_mps", speed, "[0, 3.4e38] m/s");
    if speed < 0.0 {
        return Err(bad_speed());
    }
    velocity_from_course(speed, heading).ok_or_else(bad_speed)
}

#[cfg(test)]
mod tests;
