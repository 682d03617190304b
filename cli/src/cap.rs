//! An `AlertV2` as an OASIS CAP 1.2 `<alert>` document: what
//! `coalition forward --format cap` posts. The mapping table, and why each
//! choice was made, is in docs/alerting.md, "CAP mapping".
//!
//! Pure: no I/O, no clock. The XML is written with quick-xml's writer
//! (escaping included); characters XML 1.0 cannot carry (control
//! characters) are replaced with U+FFFD first. Elements follow the order
//! the CAP 1.2 schema requires. An alert CAP cannot express honestly
//! (an unspecified status or message type, a time outside years
//! 0000-9999) is refused with [`CliError::Unmappable`]; the forwarder
//! dead-letters it.
use std::io;

use coalition_schemas::v1::{
    AlertArea, AlertCertainty, AlertMessageType, AlertReference, AlertSeverity, AlertStatus,
    AlertUrgency, AlertV2, GeoPoint,
};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::error::CliError;
use crate::record_json::Record;

/// CAP 1.2's XML namespace.
pub const CAP_NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// The prefix of every `<parameter>` and `<eventCode>` name this mapping
/// writes.
pub const PARAMETER_PREFIX: &str = "coalition:";

fn unmappable(what: String) -> CliError {
    CliError::Unmappable(what)
}

/// A CAP `dateTime`: `YYYY-MM-DDThh:mm:ss-00:00`. CAP 1.2 (3.3.2) forbids
/// `Z` and requires UTC as `-00:00`; it has no fractions of a second, so
/// milliseconds are truncated.
pub fn cap_time(ms: i64) -> Result<String, CliError> {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .filter(|t| (0..=9999).contains(&t.year()))
        .ok_or_else(|| unmappable(format!("time {ms} ms is outside years 0000-9999")))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}-00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// CAP's `category` for a mesh category token. The mesh's categories are
/// threat domains; those with a CAP counterpart map to it, every military
/// domain (air, land, maritime, space, cyber...) is `Security`, and the
/// rest is `Other`. The token itself is kept in `<eventCode>`.
pub fn cap_category(token: &str) -> &'static str {
    match token {
        "cbrn" | "cbrne" | "chemical" | "biological" | "radiological" | "nuclear" => "CBRNE",
        "fire" => "Fire",
        "rescue" | "sar" => "Rescue",
        "health" | "medical" => "Health",
        "met" | "weather" => "Met",
        "geo" | "earthquake" => "Geo",
        "env" | "environment" => "Env",
        "transport" => "Transport",
        "infra" | "infrastructure" => "Infra",
        "safety" => "Safety",
        "air" | "uas" | "land" | "maritime" | "sea" | "subsurface" | "space" | "cyber"
        | "missile" | "security" => "Security",
        _ => "Other",
    }
}

fn status(s: i32) -> Result<&'static str, CliError> {
    match AlertStatus::try_from(s) {
        Ok(AlertStatus::Actual) => Ok("Actual"),
        Ok(AlertStatus::Exercise) => Ok("Exercise"),
        Ok(AlertStatus::Test) => Ok("Test"),
        _ => Err(unmappable(format!(
            "status {s} is not actual, exercise or test"
        ))),
    }
}

fn msg_type(t: i32) -> Result<&'static str, CliError> {
    match AlertMessageType::try_from(t) {
        Ok(AlertMessageType::Alert) => Ok("Alert"),
        Ok(AlertMessageType::Update) => Ok("Update"),
        Ok(AlertMessageType::Cancel) => Ok("Cancel"),
        Ok(AlertMessageType::Ack) => Ok("Ack"),
        Ok(AlertMessageType::Error) => Ok("Error"),
        _ => Err(unmappable(format!(
            "message type {t} is not alert, update, cancel, ack or error"
        ))),
    }
}

/// Urgency, severity and certainty: unspecified (or unknown numbers) is
/// CAP's `Unknown`, which each of the three has.
fn urgency(u: i32) -> &'static str {
    match AlertUrgency::try_from(u) {
        Ok(AlertUrgency::Immediate) => "Immediate",
        Ok(AlertUrgency::Expected) => "Expected",
        Ok(AlertUrgency::Future) => "Future",
        Ok(AlertUrgency::Past) => "Past",
        _ => "Unknown",
    }
}

fn severity(s: i32) -> &'static str {
    match AlertSeverity::try_from(s) {
        Ok(AlertSeverity::Extreme) => "Extreme",
        Ok(AlertSeverity::Severe) => "Severe",
        Ok(AlertSeverity::Moderate) => "Moderate",
        Ok(AlertSeverity::Minor) => "Minor",
        _ => "Unknown",
    }
}

fn certainty(c: i32) -> &'static str {
    match AlertCertainty::try_from(c) {
        Ok(AlertCertainty::Observed) => "Observed",
        Ok(AlertCertainty::Likely) => "Likely",
        Ok(AlertCertainty::Possible) => "Possible",
        Ok(AlertCertainty::Unlikely) => "Unlikely",
        _ => "Unknown",
    }
}

/// Degrees x 1e7 as a decimal, exactly (no float rounding), trailing zeros
/// dropped: `515000000` -> `51.5`, `-1234567` -> `-0.1234567`.
pub fn degrees(e7: i32) -> String {
    let sign = if e7 < 0 { "-" } else { "" };
    let abs = i64::from(e7).unsigned_abs();
    let frac = format!("{:07}", abs % 10_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", abs / 10_000_000)
    } else {
        format!("{sign}{}.{frac}", abs / 10_000_000)
    }
}

/// `lat,lon`, CAP's WGS 84 point.
fn point(p: &GeoPoint) -> String {
    format!("{},{}", degrees(p.latitude_e7), degrees(p.longitude_e7))
}

/// Metres as CAP's feet (CAP `altitude`/`ceiling`), to the nearest foot.
pub fn feet(m: i32) -> String {
    format!("{:.0}", f64::from(m) / 0.3048)
}

/// Metres as kilometres, exactly, trailing zeros dropped.
fn kilometres(m: u32) -> String {
    let frac = format!("{:03}", m % 1000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}", m / 1000)
    } else {
        format!("{}.{frac}", m / 1000)
    }
}

/// Text XML 1.0 can carry: its forbidden characters become U+FFFD.
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// CAP `references`: `sender,identifier,sent` for each, space-separated.
fn references(refs: &[AlertReference]) -> Result<String, CliError> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        out.push(format!(
            "{},{},{}",
            r.sender,
            r.alert_id,
            cap_time(r.sent_at_ms)?
        ));
    }
    Ok(out.join(" "))
}

/// The `<parameter>`s: the label and the lineage, `coalition:`-prefixed
/// (docs/alerting.md lists them). Absent lineage fields are left out.
pub fn parameters(alert: &AlertV2, r: &Record) -> Result<Vec<(String, String)>, CliError> {
    let l = &r.lineage;
    let at = |ms: Option<i64>| ms.map(cap_time).transpose();
    let join = |s: &std::collections::BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
    let mut p: Vec<(&str, Option<String>)> = vec![
        ("label", Some(r.label.display())),
        (
            "labelPolicy",
            Some(format!("{}/v{}", r.label.policy_id, r.label.policy_version)),
        ),
        ("classification", Some(r.label.classification.clone())),
        ("releasableTo", Some(join(&r.label.releasable_to).join(","))),
        ("caveats", Some(join(&r.label.caveats).join(","))),
        ("labelTranslated", l.translated_label.clone()),
        ("origin", Some(r.origin.clone())),
        ("producer", Some(r.producer_id.clone())),
        ("feed", Some(r.feed.clone())),
        ("seq", Some(r.seq.to_string())),
        ("schemaVersion", Some(r.schema_version.to_string())),
        ("releasedBy", l.released_by.clone()),
        ("releasedAt", at(l.released_at_ms)?),
        ("admittedBy", l.admitted_by.clone()),
        ("admittedAt", at(l.admitted_at_ms)?),
        ("keyId", l.key_id.clone()),
        ("decision", l.decision.clone()),
        ("translator", l.translator.clone()),
        ("policyVersions", l.policy_versions.clone()),
        ("transcodedFrom", l.transcoded_from.map(|v| v.to_string())),
        ("lossy", (!l.lossy.is_empty()).then(|| l.lossy.join(","))),
    ];
    p.retain(|(_, v)| v.as_deref().is_some_and(|v| !v.is_empty()));
    let mut out: Vec<(String, String)> = p
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (format!("{PARAMETER_PREFIX}{k}"), v)))
        .collect();
    for t in &alert.source_track_ids {
        out.push((format!("{PARAMETER_PREFIX}sourceTrack"), t.clone()));
    }
    Ok(out)
}

/// The CAP 1.2 document for `alert`, delivered as `r` (whose label and
/// lineage go in `<restriction>` and `<parameter>`s).
pub fn to_cap(alert: &AlertV2, r: &Record) -> Result<String, CliError> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_alert(&mut w, alert, r)
        .map_err(|e| unmappable(format!("writing the CAP XML failed: {e}")))??;
    String::from_utf8(w.into_inner())
        .map_err(|e| unmappable(format!("the CAP XML is not UTF-8: {e}")))
}

type Xml = Writer<Vec<u8>>;

fn open(w: &mut Xml, name: &str) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))
}

fn close(w: &mut Xml, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn text(w: &mut Xml, name: &str, value: &str) -> io::Result<()> {
    open(w, name)?;
    w.write_event(Event::Text(BytesText::new(&xml_safe(value))))?;
    close(w, name)
}

fn named_value(w: &mut Xml, element: &str, name: &str, value: &str) -> io::Result<()> {
    open(w, element)?;
    text(w, "valueName", name)?;
    text(w, "value", value)?;
    close(w, element)
}

/// Writes the document; the outer error is the writer's, the inner one
/// the mapping's.
fn write_alert(w: &mut Xml, a: &AlertV2, r: &Record) -> io::Result<Result<(), CliError>> {
    let (status, msg_type) = match (status(a.status), msg_type(a.message_type)) {
        (Ok(s), Ok(m)) => (s, m),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
    };
    let times = (|| {
        Ok::<_, CliError>((
            cap_time(a.sent_at_ms)?,
            references(&a.references)?,
            (a.effective_at_ms != 0)
                .then(|| cap_time(a.effective_at_ms))
                .transpose()?,
            (a.expires_at_ms != 0)
                .then(|| cap_time(a.expires_at_ms))
                .transpose()?,
            parameters(a, r)?,
        ))
    })();
    let (sent, references, effective, expires, parameters) = match times {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::Start(
        BytesStart::new("alert").with_attributes([("xmlns", CAP_NAMESPACE)]),
    ))?;
    text(w, "identifier", &a.alert_id)?;
    text(w, "sender", &sender(a, r))?;
    text(w, "sent", &sent)?;
    text(w, "status", status)?;
    text(w, "msgType", msg_type)?;
    text(w, "scope", "Restricted")?;
    text(w, "restriction", &restriction(r))?;
    if !references.is_empty() {
        text(w, "references", &references)?;
    }
    open(w, "info")?;
    text(w, "category", cap_category(&a.category))?;
    text(w, "event", &a.event)?;
    text(w, "urgency", urgency(a.urgency))?;
    text(w, "severity", severity(a.severity))?;
    text(w, "certainty", certainty(a.certainty))?;
    named_value(
        w,
        "eventCode",
        &format!("{PARAMETER_PREFIX}category"),
        &a.category,
    )?;
    if let Some(t) = &effective {
        text(w, "effective", t)?;
    }
    if let Some(t) = &expires {
        text(w, "expires", t)?;
    }
    if !a.headline.is_empty() {
        text(w, "headline", &a.headline)?;
    }
    if !a.instruction.is_empty() {
        text(w, "instruction", &a.instruction)?;
    }
    for (name, value) in &parameters {
        named_value(w, "parameter", name, value)?;
    }
    if let Some(area) = &a.area {
        write_area(w, area, &a.alert_id)?;
    }
    close(w, "info")?;
    close(w, "alert")?;
    Ok(Ok(()))
}

/// CAP `sender`: the alert's sender, or `<producer>@<origin>` if it has
/// none.
fn sender(a: &AlertV2, r: &Record) -> String {
    if a.sender.is_empty() {
        format!("{}@{}", r.producer_id, r.origin)
    } else {
        a.sender.clone()
    }
}

/// CAP `restriction` (scope Restricted): who may see it, from the label.
pub fn restriction(r: &Record) -> String {
    let mut s = format!("Coalition Mesh label {}", r.label.display());
    if let Some(t) = &r.lineage.translated_label {
        s.push_str(&format!("; as admitted: {t}"));
    }
    s.push_str("; handle and release only as the label allows");
    s
}

fn write_area(w: &mut Xml, area: &AlertArea, alert_id: &str) -> io::Result<()> {
    open(w, "area")?;
    let desc = if area.description.is_empty() {
        format!("Area of alert {alert_id}")
    } else {
        area.description.clone()
    };
    text(w, "areaDesc", &desc)?;
    if !area.polygon.is_empty() {
        let ring: Vec<String> = area.polygon.iter().map(point).collect();
        text(w, "polygon", &ring.join(" "))?;
    }
    if let Some(c) = &area.circle {
        let center = c.center.as_ref().map_or_else(|| "0,0".to_string(), point);
        text(w, "circle", &format!("{center} {}", kilometres(c.radius_m)))?;
    }
    // CAP: `ceiling` only with `altitude`.
    if let Some(floor) = area.floor_m {
        text(w, "altitude", &feet(floor))?;
        if let Some(ceiling) = area.ceiling_m {
            text(w, "ceiling", &feet(ceiling))?;
        }
    }
    close(w, "area")
}

#[cfg(test)]
mod tests;
