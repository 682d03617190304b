//! Alert transcoding between v1 (`AlertV1`) and v2 (`AlertV2`, modelled on
//! CAP 1.2), and what each conversion loses ([`Lossy`]); the rules of a
//! valid alert v2 are in `validate` ([`validate_alert_v2`], and
//! [`check_payload`] for encoded payloads). The mapping is in
//! `schemas/MANIFEST.md` ("Alert v1 ↔ v2 field mapping").
//!
//! Fails closed. An alert v2 whose meaning v1 cannot carry is refused, not
//! converted: an update, cancel, ack or error would become a v1 alert that
//! reads as a new alarm, and an exercise or test alert one that reads as
//! actual. Both are [`TranscodeError::Unrepresentable`]; the bridge serves
//! such an alert in v2 only and denies it for v1 (`untranscodable_payload`).
//! An invalid v2, either way, is [`TranscodeError::InvalidAlert`]. No
//! policy here, and nothing about subjects or lineage headers.
use coalition_schemas::v1::{
    self, AlertCertainty, AlertMessageType, AlertStatus, AlertUrgency, AlertV1, AlertV2, Severity,
};

use super::lossy::{Loss, Lossy, TranscodeError};

mod validate;

pub use validate::{check_payload, validate_alert_v2, HEADLINE_MAX_CHARS};

/// The category a v1 alert gets in v2 (CAP's `Other`): v1 has none.
pub(crate) const V1_CATEGORY: &str = "other";

/// Converts an alert from v1 to v2 and says what was lost.
///
/// `summary` becomes the headline, `track_id` the one source track id (as
/// it is: v1 names no origin), `raised_at_ms` the sent time, severity
/// INFO/WARNING/CRITICAL becomes MINOR/SEVERE/EXTREME (unspecified becomes
/// UNKNOWN). What v1 does not say gets the values that claim nothing: an
/// actual new alert (v1 has no other kind), category `other`, urgency and
/// certainty UNKNOWN, effective from its sending, no expiry, no area (it
/// applies everywhere), no sender (the signed header names the producer).
/// Every v1 field comes back exactly, so this is lossless.
///
/// Fails on a severity that is not one of v1's, and on a summary longer
/// than a v2 headline ([`HEADLINE_MAX_CHARS`]).
pub fn alert_v1_to_v2(alert: &AlertV1) -> Result<(AlertV2, Lossy), TranscodeError> {
    let v2 = convert_v1_to_v2(alert)?;
    validate_alert_v2(&v2)?;
    let back = convert_v2_to_v1(&v2)?;
    let mut lossy = Lossy::default();
    lossy.mark_if(back.alert_id != alert.alert_id, "alert_id", Loss::Rounded);
    lossy.mark_if(back.severity != alert.severity, "severity", Loss::Rounded);
    lossy.mark_if(back.summary != alert.summary, "summary", Loss::Rounded);
    lossy.mark_if(back.track_id != alert.track_id, "track_id", Loss::Rounded);
    let time_changed = back.raised_at_ms != alert.raised_at_ms;
    lossy.mark_if(time_changed, "raised_at_ms", Loss::Rounded);
    Ok((v2, lossy))
}

/// Converts an alert from v2 to v1 and says what was lost.
///
/// Only a valid, actual, new alert converts (see the module doc). Its
/// headline becomes the summary, its first source track id the track id,
/// its sent time the raised time; severity UNKNOWN/MINOR/MODERATE/SEVERE/
/// EXTREME becomes UNSPECIFIED/INFO/WARNING/WARNING/CRITICAL, so MODERATE
/// is `rounded` (it comes back SEVERE). Every field v1 cannot carry and
/// that holds more than the value a v1 alert gets in v2 is `dropped`:
/// sender, category, event, urgency, certainty, effective and expiry
/// times, area, instruction, and the source track ids after the first.
pub fn alert_v2_to_v1(alert: &AlertV2) -> Result<(AlertV1, Lossy), TranscodeError> {
    validate_alert_v2(alert)?;
    let v1 = convert_v2_to_v1(alert)?;
    let back = convert_v1_to_v2(&v1)?;
    let mut lossy = Lossy::default();
    let mut dropped = |changed: bool, field| lossy.mark_if(changed, field, Loss::Dropped);
    dropped(back.sender != alert.sender, "sender");
    dropped(back.category != alert.category, "category");
    dropped(back.event != alert.event, "event");
    dropped(back.urgency != alert.urgency, "urgency");
    dropped(back.certainty != alert.certainty, "certainty");
    let effective_changed = back.effective_at_ms != alert.effective_at_ms;
    dropped(effective_changed, "effective_at_ms");
    dropped(back.expires_at_ms != alert.expires_at_ms, "expires_at_ms");
    dropped(back.area != alert.area, "area");
    dropped(back.instruction != alert.instruction, "instruction");
    let ids_changed = back.source_track_ids != alert.source_track_ids;
    dropped(ids_changed, "source_track_ids");
    lossy.mark_if(back.severity != alert.severity, "severity", Loss::Rounded);
    // Exact by construction; checked so a change to the mapping cannot
    // lose them silently.
    lossy.mark_if(back.alert_id != alert.alert_id, "alert_id", Loss::Rounded);
    lossy.mark_if(back.headline != alert.headline, "headline", Loss::Rounded);
    let sent_changed = back.sent_at_ms != alert.sent_at_ms;
    lossy.mark_if(sent_changed, "sent_at_ms", Loss::Rounded);
    Ok((v1, lossy))
}

/// v1 severity to v2: the one mapping, both ways, is here and in
/// [`severity_to_v1`].
pub(crate) fn severity_to_v2(severity: i32) -> Result<v1::AlertSeverity, TranscodeError> {
    use v1::AlertSeverity as S2;
    match Severity::try_from(severity) {
        Ok(Severity::Unspecified) => Ok(S2::Unknown),
        Ok(Severity::Info) => Ok(S2::Minor),
        Ok(Severity::Warning) => Ok(S2::Severe),
        Ok(Severity::Critical) => Ok(S2::Extreme),
        Err(_) => Err(TranscodeError::Unrepresentable {
            field: "severity",
            why: format!("{severity} is not a v1 severity"),
        }),
    }
}

/// v2 severity to v1 (MODERATE rounds up to WARNING, as SEVERE).
fn severity_to_v1(severity: v1::AlertSeverity) -> Result<Severity, TranscodeError> {
    use v1::AlertSeverity as S2;
    match severity {
        S2::Unknown => Ok(Severity::Unspecified),
        S2::Minor => Ok(Severity::Info),
        S2::Moderate | S2::Severe => Ok(Severity::Warning),
        S2::Extreme => Ok(Severity::Critical),
        S2::Unspecified => Err(TranscodeError::InvalidAlert {
            field: "severity",
            why: "unspecified".into(),
        }),
    }
}

fn convert_v1_to_v2(alert: &AlertV1) -> Result<AlertV2, TranscodeError> {
    let AlertV1 {
        alert_id,
        severity,
        summary,
        track_id,
        raised_at_ms,
    } = alert;
    let length = summary.chars().count();
    if length > HEADLINE_MAX_CHARS {
        return Err(TranscodeError::Unrepresentable {
            field: "summary",
            why: format!("{length} characters; a v2 headline holds at most {HEADLINE_MAX_CHARS}"),
        });
    }
    Ok(AlertV2 {
        alert_id: alert_id.clone(),
        sender: String::new(),
        sent_at_ms: *raised_at_ms,
        status: AlertStatus::Actual as i32,
        message_type: AlertMessageType::Alert as i32,
        references: Vec::new(),
        category: V1_CATEGORY.into(),
        event: String::new(),
        urgency: AlertUrgency::Unknown as i32,
        severity: severity_to_v2(*severity)? as i32,
        certainty: AlertCertainty::Unknown as i32,
        effective_at_ms: 0,
        expires_at_ms: 0,
        area: None,
        source_track_ids: if track_id.is_empty() {
            Vec::new()
        } else {
            vec![track_id.clone()]
        },
        headline: summary.clone(),
        instruction: String::new(),
    })
}

/// The v1 form of a v2 alert that [`validate_alert_v2`] accepted; refuses
/// what v1 cannot say without changing its meaning.
fn convert_v2_to_v1(alert: &AlertV2) -> Result<AlertV1, TranscodeError> {
    let AlertV2 {
        alert_id,
        sender: _,
        sent_at_ms,
        status,
        message_type,
        references: _,
        category: _,
        event: _,
        urgency: _,
        severity,
        certainty: _,
        effective_at_ms: _,
        expires_at_ms: _,
        area: _,
        source_track_ids,
        headline,
        instruction: _,
    } = alert;
    let message_type = AlertMessageType::try_from(*message_type);
    if message_type != Ok(AlertMessageType::Alert) {
        let name = message_type.map_or("unknown", |m| m.as_str_name());
        return Err(TranscodeError::Unrepresentable {
            field: "message_type",
            why: format!("{name}: v1 has only new alerts; it would read as a new alarm"),
        });
    }
    let status = AlertStatus::try_from(*status);
    if status != Ok(AlertStatus::Actual) {
        let name = status.map_or("unknown", |s| s.as_str_name());
        return Err(TranscodeError::Unrepresentable {
            field: "status",
            why: format!("{name}: v1 has only actual alerts; it would read as one"),
        });
    }
    let severity =
        v1::AlertSeverity::try_from(*severity).map_err(|_| TranscodeError::InvalidAlert {
            field: "severity",
            why: format!("{severity} is not a v2 severity"),
        })?;
    Ok(AlertV1 {
        alert_id: alert_id.clone(),
        severity: severity_to_v1(severity)? as i32,
        summary: headline.clone(),
        track_id: source_track_ids.first().cloned().unwrap_or_default(),
        raised_at_ms: *sent_at_ms,
    })
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
