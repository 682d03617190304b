//! The rules of a valid alert v2, as one pure function
//! ([`validate_alert_v2`]), and the check the bridge runs on every
//! producer's payload before it is released or admitted
//! ([`check_payload`]). A rule broken is a [`TranscodeError::InvalidAlert`]
//! naming the field; the bridge's reason for it is `invalid_payload`.
use coalition_schemas::v1::{
    AlertArea, AlertCertainty, AlertMessageType, AlertSeverity, AlertStatus, AlertUrgency, AlertV2,
    GeoPoint,
};
use prost::Message;

use super::super::lossy::TranscodeError;
use super::super::ALERT_V2;
use crate::envelope::MessageType;

/// The most characters (Unicode scalar values) a v2 headline holds.
pub const HEADLINE_MAX_CHARS: usize = 160;
/// The most characters a category (a subject token) holds.
const CATEGORY_MAX_CHARS: usize = 32;

fn invalid(field: &'static str, why: impl Into<String>) -> TranscodeError {
    TranscodeError::InvalidAlert {
        field,
        why: why.into(),
    }
}

/// Checks an alert v2 against the rules of its schema (alert.proto), and
/// names the first field that breaks one:
///
/// - `message_type`, `status`, `urgency`, `severity`, `certainty`: a known
///   value, not UNSPECIFIED (UNKNOWN says "not known");
/// - `references`: none for a new alert, at least one for an update,
///   cancel, ack or error; each names an alert id;
/// - `category`: a subject token, 1 to 32 of `a-z`, `0-9`, `-`;
/// - `headline`: at most [`HEADLINE_MAX_CHARS`] characters;
/// - `expires_at_ms` not before `effective_at_ms` when both are set (not 0);
/// - `source_track_ids`: no empty id;
/// - `area`: latitudes within ±90° and longitudes within ±180° (in 1e-7°),
///   a circle with a center and a radius above 0, a polygon empty or a
///   closed ring of at least 4 points, a ceiling only with a floor and not
///   below it.
pub fn validate_alert_v2(alert: &AlertV2) -> Result<(), TranscodeError> {
    let AlertV2 {
        alert_id: _,
        sender: _,
        sent_at_ms: _,
        status,
        message_type,
        references,
        category,
        event: _,
        urgency,
        severity,
        certainty,
        effective_at_ms,
        expires_at_ms,
        area,
        source_track_ids,
        headline,
        instruction: _,
    } = alert;
    check_enums(*message_type, *status, *urgency, *severity, *certainty)?;
    check_references(*message_type, references)?;
    check_category(category)?;
    let length = headline.chars().count();
    if length > HEADLINE_MAX_CHARS {
        let why = format!("{length} characters, at most {HEADLINE_MAX_CHARS}");
        return Err(invalid("headline", why));
    }
    if *effective_at_ms != 0 && *expires_at_ms != 0 && expires_at_ms < effective_at_ms {
        let why = format!("{expires_at_ms} is before effective_at_ms {effective_at_ms}");
        return Err(invalid("expires_at_ms", why));
    }
    if source_track_ids.iter().any(String::is_empty) {
        return Err(invalid("source_track_ids", "an empty track id"));
    }
    area.as_ref().map_or(Ok(()), check_area)
}

/// Checks the payload of a producer's record of `message_type` in schema
/// `version` before the bridge releases or admits it: an alert v2 must
/// decode and be valid ([`validate_alert_v2`]). Other payloads are not
/// decoded here; a track or alert v1 that does not decode or has no v2
/// form is refused when it is transcoded (`untranscodable_payload`), and
/// its subscribers' SDK refuses one that does not decode.
pub fn check_payload(
    message_type: MessageType,
    version: u32,
    payload: &[u8],
) -> Result<(), TranscodeError> {
    match (message_type, version) {
        (MessageType::Alert, ALERT_V2) => {
            let alert = AlertV2::decode(payload)
                .map_err(|e| invalid("payload", format!("does not decode: {e}")))?;
            validate_alert_v2(&alert)
        }
        _ => Ok(()),
    }
}

fn check_enums(
    message_type: i32,
    status: i32,
    urgency: i32,
    severity: i32,
    certainty: i32,
) -> Result<(), TranscodeError> {
    let known = [
        (
            "message_type",
            AlertMessageType::try_from(message_type).is_ok(),
        ),
        ("status", AlertStatus::try_from(status).is_ok()),
        ("urgency", AlertUrgency::try_from(urgency).is_ok()),
        ("severity", AlertSeverity::try_from(severity).is_ok()),
        ("certainty", AlertCertainty::try_from(certainty).is_ok()),
    ];
    let values = [message_type, status, urgency, severity, certainty];
    for ((field, is_known), value) in known.into_iter().zip(values) {
        if value == 0 {
            return Err(invalid(field, "unspecified (0)"));
        }
        if !is_known {
            return Err(invalid(field, format!("{value} is not a known value")));
        }
    }
    Ok(())
}

fn check_references(
    message_type: i32,
    references: &[coalition_schemas::v1::AlertReference],
) -> Result<(), TranscodeError> {
    let is_new = message_type == AlertMessageType::Alert as i32;
    match (is_new, references.is_empty()) {
        (true, false) => Err(invalid("references", "a new alert refers to none")),
        (false, true) => Err(invalid(
            "references",
            "an update, cancel, ack or error must name the alerts it refers to",
        )),
        _ if references.iter().any(|r| r.alert_id.is_empty()) => {
            Err(invalid("references", "a reference without an alert id"))
        }
        _ => Ok(()),
    }
}

fn check_category(category: &str) -> Result<(), TranscodeError> {
    let token = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let length = category.chars().count();
    if !(1..=CATEGORY_MAX_CHARS).contains(&length) || !category.chars().all(token) {
        let why = format!("{category:?} is not 1 to {CATEGORY_MAX_CHARS} of a-z, 0-9, '-'");
        return Err(invalid("category", why));
    }
    Ok(())
}

fn check_point(field: &'static str, point: &GeoPoint) -> Result<(), TranscodeError> {
    let GeoPoint {
        latitude_e7,
        longitude_e7,
    } = point;
    if !(-900_000_000..=900_000_000).contains(latitude_e7) {
        return Err(invalid(
            field,
            format!("latitude_e7 {latitude_e7} beyond ±90°"),
        ));
    }
    if !(-1_800_000_000..=1_800_000_000).contains(longitude_e7) {
        let why = format!("longitude_e7 {longitude_e7} beyond ±180°");
        return Err(invalid(field, why));
    }
    Ok(())
}

fn check_area(area: &AlertArea) -> Result<(), TranscodeError> {
    let AlertArea {
        description: _,
        circle,
        polygon,
        floor_m,
        ceiling_m,
    } = area;
    if let Some(circle) = circle {
        let center = circle
            .center
            .as_ref()
            .ok_or_else(|| invalid("area.circle.center", "missing"))?;
        check_point("area.circle.center", center)?;
        if circle.radius_m == 0 {
            return Err(invalid("area.circle.radius_m", "0; must be above 0"));
        }
    }
    if !polygon.is_empty() {
        if polygon.len() < 4 {
            let why = format!("{} points; a closed ring has at least 4", polygon.len());
            return Err(invalid("area.polygon", why));
        }
        if polygon.first() != polygon.last() {
            return Err(invalid("area.polygon", "not closed: first point != last"));
        }
        for point in polygon {
            check_point("area.polygon", point)?;
        }
    }
    match (floor_m, ceiling_m) {
        (None, Some(_)) => Err(invalid("area.ceiling_m", "a ceiling needs a floor")),
        (Some(floor), Some(ceiling)) if ceiling < floor => {
            let why = format!("{ceiling} is below floor_m {floor}");
            Err(invalid("area.ceiling_m", why))
        }
        _ => Ok(()),
    }
}
