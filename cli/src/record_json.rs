//! A verified delivery as one JSON object: what `coalition subscribe --json`
//! prints (one per line) and what `coalition forward --format json` posts.
//! The shape is documented in docs/alerting.md, "CLI JSON".
//!
//! Pure: [`Record`] is plain data copied out of an SDK [`Delivery`] (which
//! tests cannot build), and [`to_json`] only builds a `serde_json::Value`.
//! Payloads are converted field by field, destructuring every field, so a
//! field added to a schema breaks the build here instead of being dropped.
//! Enums are written by their protobuf names (`SEVERITY_CRITICAL`); an
//! unknown enum number is written as the number. Times stay Unix
//! milliseconds (`*_ms`), as on the wire.
use coalition_schemas::v1;
use coalition_sdk::{Delivery, Label, Lineage, Payload, SourceRef};
use serde_json::{json, Value};

/// What a delivery says, without its acknowledgement handle.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The producer's nation.
    pub origin: String,
    /// The producer.
    pub producer_id: String,
    /// The feed.
    pub feed: String,
    /// Position in the feed.
    pub seq: u64,
    /// The schema version the payload is in.
    pub schema_version: u32,
    /// The seq this delta corrects, if any.
    pub corrects_seq: Option<u64>,
    /// The label as signed by the producer.
    pub label: Label,
    /// The typed payload.
    pub payload: Payload,
    /// Lineage (includes the label as translated).
    pub lineage: Lineage,
    /// Sources of a composite product.
    pub derived_from: Vec<SourceRef>,
    /// Feed seqs missing before this one.
    pub gap: Option<(u64, u64)>,
}

impl From<&Delivery> for Record {
    fn from(d: &Delivery) -> Self {
        Record {
            origin: d.origin.clone(),
            producer_id: d.producer_id.clone(),
            feed: d.feed.clone(),
            seq: d.seq,
            schema_version: d.schema_version,
            corrects_seq: d.corrects_seq,
            label: d.label.clone(),
            payload: d.payload.clone(),
            lineage: d.lineage.clone(),
            derived_from: d.derived_from.clone(),
            gap: d.gap,
        }
    }
}

impl Record {
    /// `<origin>/<producer>/<feed>/<seq>/v<schema version>`: unique per
    /// record, the same on every redelivery (the webhook's
    /// `Idempotency-Key`).
    pub fn delivery_id(&self) -> String {
        format!(
            "{}/{}/{}/{}/v{}",
            self.origin, self.producer_id, self.feed, self.seq, self.schema_version
        )
    }
}

/// The record as one JSON object (docs/alerting.md, "CLI JSON").
pub fn to_json(r: &Record) -> Value {
    let (kind, schema, payload) = payload_json(&r.payload);
    json!({
        "kind": kind,
        "origin": r.origin,
        "producer": r.producer_id,
        "feed": r.feed,
        "seq": r.seq,
        "schema": schema,
        "schema_version": r.schema_version,
        "corrects_seq": r.corrects_seq,
        "label": label_json(&r.label),
        "translated_label": r.lineage.translated_label,
        "payload": payload,
        "lineage": lineage_json(&r.lineage),
        "derived_from": r.derived_from.iter().map(source_json).collect::<Vec<_>>(),
        "gap": r.gap.map(|(first, last)| json!({ "first": first, "last": last })),
    })
}

/// A label as a JSON object, with its one-line rendering.
pub fn label_json(l: &Label) -> Value {
    let Label {
        policy_id,
        classification,
        releasable_to,
        caveats,
        informative,
        policy_version,
    } = l;
    json!({
        "policy_id": policy_id,
        "policy_version": policy_version,
        "classification": classification,
        "releasable_to": releasable_to,
        "caveats": caveats,
        "informative": informative,
        "display": l.display(),
    })
}

fn lineage_json(l: &Lineage) -> Value {
    let Lineage {
        released_by,
        released_at_ms,
        admitted_by,
        admitted_at_ms,
        key_id,
        decision,
        translated_label: _, // top level: `translated_label`
        translator,
        policy_versions,
        transcoded_from,
        lossy,
    } = l;
    json!({
        "released_by": released_by,
        "released_at_ms": released_at_ms,
        "admitted_by": admitted_by,
        "admitted_at_ms": admitted_at_ms,
        "key_id": key_id,
        "decision": decision,
        "translator": translator,
        "policy_versions": policy_versions,
        "transcoded_from": transcoded_from,
        "lossy": lossy,
    })
}

fn source_json(s: &SourceRef) -> Value {
    json!({
        "origin": s.origin,
        "producer": s.producer_id,
        "feed": s.feed,
        "seq": s.seq,
        "label": label_json(&s.label),
        "translator": s.translator,
    })
}

/// An enum field by its protobuf name, or its number if unknown.
fn enum_name<E: TryFrom<i32>>(value: i32, name: impl Fn(E) -> &'static str) -> Value {
    E::try_from(value).map_or_else(|_| json!(value), |e| json!(name(e)))
}

/// (kind, schema name, payload object).
pub fn payload_json(p: &Payload) -> (&'static str, &'static str, Value) {
    match p {
        Payload::Track(t) => ("track", "coalition.v1.TrackV1", track_v1(t)),
        Payload::TrackV2(t) => ("track", "coalition.v1.TrackV2", track_v2(t)),
        Payload::Alert(a) => ("alert", "coalition.v1.AlertV1", alert_v1(a)),
        Payload::AlertV2(a) => ("alert", "coalition.v1.AlertV2", alert_v2(a)),
    }
}

fn track_v1(t: &v1::TrackV1) -> Value {
    let v1::TrackV1 {
        track_id,
        latitude_deg,
        longitude_deg,
        altitude_m,
        speed_mps,
        heading_deg,
        confidence,
        observed_at_ms,
    } = t;
    json!({
        "track_id": track_id,
        "latitude_deg": latitude_deg,
        "longitude_deg": longitude_deg,
        "altitude_m": altitude_m,
        "speed_mps": speed_mps,
        "heading_deg": heading_deg,
        "confidence": confidence,
        "observed_at_ms": observed_at_ms,
    })
}

fn track_v2(t: &v1::TrackV2) -> Value {
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
    } = t;
    json!({
        "track_id": track_id,
        "latitude_e7": latitude_e7,
        "longitude_e7": longitude_e7,
        "altitude_cm": altitude_cm,
        "velocity_north_mps": velocity_north_mps,
        "velocity_east_mps": velocity_east_mps,
        "position_covariance_m2": position_covariance_m2,
        "confidence_permille": confidence_permille,
        "observed_at_ms": observed_at_ms,
    })
}

fn alert_v1(a: &v1::AlertV1) -> Value {
    let v1::AlertV1 {
        alert_id,
        severity,
        summary,
        track_id,
        raised_at_ms,
    } = a;
    json!({
        "alert_id": alert_id,
        "severity": enum_name(*severity, |e: v1::Severity| e.as_str_name()),
        "summary": summary,
        "track_id": track_id,
        "raised_at_ms": raised_at_ms,
    })
}

fn point(p: &v1::GeoPoint) -> Value {
    let v1::GeoPoint {
        latitude_e7,
        longitude_e7,
    } = p;
    json!({ "latitude_e7": latitude_e7, "longitude_e7": longitude_e7 })
}

fn area(a: &v1::AlertArea) -> Value {
    let v1::AlertArea {
        description,
        circle,
        polygon,
        floor_m,
        ceiling_m,
    } = a;
    let circle = circle.as_ref().map(|c| {
        let v1::GeoCircle { center, radius_m } = c;
        json!({ "center": center.as_ref().map(point), "radius_m": radius_m })
    });
    json!({
        "description": description,
        "circle": circle,
        "polygon": polygon.iter().map(point).collect::<Vec<_>>(),
        "floor_m": floor_m,
        "ceiling_m": ceiling_m,
    })
}

fn alert_v2(a: &v1::AlertV2) -> Value {
    let v1::AlertV2 {
        alert_id,
        sender,
        sent_at_ms,
        status,
        message_type,
        references,
        category,
        event,
        urgency,
        severity,
        certainty,
        effective_at_ms,
        expires_at_ms,
        area: alert_area,
        source_track_ids,
        headline,
        instruction,
    } = a;
    let references: Vec<Value> = references
        .iter()
        .map(|r| {
            let v1::AlertReference {
                sender,
                alert_id,
                sent_at_ms,
            } = r;
            json!({ "sender": sender, "alert_id": alert_id, "sent_at_ms": sent_at_ms })
        })
        .collect();
    json!({
        "alert_id": alert_id,
        "sender": sender,
        "sent_at_ms": sent_at_ms,
        "status": enum_name(*status, |e: v1::AlertStatus| e.as_str_name()),
        "message_type": enum_name(*message_type, |e: v1::AlertMessageType| e.as_str_name()),
        "references": references,
        "category": category,
        "event": event,
        "urgency": enum_name(*urgency, |e: v1::AlertUrgency| e.as_str_name()),
        "severity": enum_name(*severity, |e: v1::AlertSeverity| e.as_str_name()),
        "certainty": enum_name(*certainty, |e: v1::AlertCertainty| e.as_str_name()),
        "effective_at_ms": effective_at_ms,
        "expires_at_ms": expires_at_ms,
        "area": alert_area.as_ref().map(area),
        "source_track_ids": source_track_ids,
        "headline": headline,
        "instruction": instruction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: Payload) -> Record {
        Record {
            origin: "USA".into(),
            producer_id: "cuas-1".into(),
            feed: "alerts".into(),
            seq: 7,
            schema_version: 1,
            corrects_seq: None,
            label: Label::new("USA", "SECRET", &["GBR"]).with_caveat("ORCON"),
            payload,
            lineage: Lineage {
                released_by: Some("USA".into()),
                released_at_ms: Some(1_000),
                admitted_by: Some("GBR".into()),
                admitted_at_ms: Some(2_000),
                key_id: Some("ab12".into()),
                decision: Some("admitted".into()),
                translated_label: Some("GBR/v1 UK SECRET".into()),
                translator: Some("usa-gbr@1".into()),
                policy_versions: Some("USA/v1 -> GBR/v1".into()),
                transcoded_from: None,
                lossy: vec![],
            },
            derived_from: vec![],
            gap: Some((3, 4)),
        }
    }

    #[test]
    fn an_alert_has_every_field_with_enums_by_name() {
        let r = record(Payload::Alert(v1::AlertV1 {
            alert_id: "A-1".into(),
            severity: v1::Severity::Critical as i32,
            summary: "drone".into(),
            track_id: "T-9".into(),
            raised_at_ms: 5,
        }));
        let j = to_json(&r);
        assert_eq!(j["kind"], "alert");
        assert_eq!(j["schema"], "coalition.v1.AlertV1");
        assert_eq!(j["producer"], "cuas-1");
        assert_eq!(j["seq"], 7);
        assert_eq!(j["payload"]["severity"], "SEVERITY_CRITICAL");
        assert_eq!(j["payload"]["raised_at_ms"], 5);
        assert_eq!(j["label"]["releasable_to"], json!(["GBR"]));
        assert_eq!(j["label"]["caveats"], json!(["ORCON"]));
        assert_eq!(j["translated_label"], "GBR/v1 UK SECRET");
        assert_eq!(j["lineage"]["admitted_by"], "GBR");
        assert_eq!(j["lineage"]["translator"], "usa-gbr@1");
        assert_eq!(j["lineage"]["lossy"], json!([]));
        assert_eq!(j["gap"], json!({"first": 3, "last": 4}));
        assert_eq!(j["corrects_seq"], Value::Null);
        assert_eq!(r.delivery_id(), "USA/cuas-1/alerts/7/v1");
        // One line: no newline inside the serialised object.
        assert!(!serde_json::to_string(&j).unwrap().contains('\n'));
    }

    #[test]
    fn an_unknown_enum_number_is_kept_as_a_number() {
        let r = record(Payload::Alert(v1::AlertV1 {
            severity: 42,
            ..Default::default()
        }));
        assert_eq!(to_json(&r)["payload"]["severity"], 42);
    }

    #[test]
    fn tracks_of_both_versions_are_tracks() {
        let (kind, schema, p) = payload_json(&Payload::TrackV2(v1::TrackV2 {
            track_id: "T".into(),
            position_covariance_m2: vec![1.0, 2.0],
            ..Default::default()
        }));
        assert_eq!((kind, schema), ("track", "coalition.v1.TrackV2"));
        assert_eq!(p["position_covariance_m2"], json!([1.0, 2.0]));
        let (kind, _, p) = payload_json(&Payload::Track(v1::TrackV1::default()));
        assert_eq!(kind, "track");
        assert_eq!(p["track_id"], "");
    }
}
