//! The topic of an alert record: its category and severity, read from the
//! payload in the schema version its signed header names. The payload is
//! bound to the producer's signature by the header's payload digest, so
//! the topic is too. The bridges refuse a record whose topic is not the one
//! its batch's subject says (`subject_mismatch`); the producer SDK puts a
//! record on the subject of its topic. The subject tokens themselves are
//! `coalition_topology::AlertTopic`.
use coalition_schemas::v1::{AlertSeverity, AlertV1, AlertV2};
use prost::Message;

use crate::schema::{severity_to_v2, V1_CATEGORY};

/// An alert payload's category and severity; `None` if it does not decode
/// in `schema_version`, or is of a version this build does not know. The
/// values are not checked as subject tokens here.
pub fn alert_topic(schema_version: u32, payload: &[u8]) -> Option<(String, AlertSeverity)> {
    match schema_version {
        1 => {
            let alert = AlertV1::decode(payload).ok()?;
            // As the v1 alert transcoded into v2 has them (MANIFEST.md).
            let severity = severity_to_v2(alert.severity).ok()?;
            Some((V1_CATEGORY.to_string(), severity))
        }
        2 => {
            let alert = AlertV2::decode(payload).ok()?;
            let severity = AlertSeverity::try_from(alert.severity).ok()?;
            Some((alert.category, severity))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coalition_schemas::v1::Severity;

    #[test]
    fn topics_of_v1_and_v2_payloads() {
        let v1 = |severity: Severity| {
            AlertV1 {
                severity: severity as i32,
                ..Default::default()
            }
            .encode_to_vec()
        };
        let v2 = AlertV2 {
            category: "air".into(),
            severity: AlertSeverity::Severe as i32,
            ..Default::default()
        }
        .encode_to_vec();
        #[rustfmt::skip]
        type Case = (u32, Vec<u8>, Option<(&'static str, AlertSeverity)>);
        let cases: Vec<Case> = vec![
            (1, v1(Severity::Info), Some(("other", AlertSeverity::Minor))),
            (
                1,
                v1(Severity::Warning),
                Some(("other", AlertSeverity::Severe)),
            ),
            (
                1,
                v1(Severity::Critical),
                Some(("other", AlertSeverity::Extreme)),
            ),
            (
                1,
                v1(Severity::Unspecified),
                Some(("other", AlertSeverity::Unknown)),
            ),
            (2, v2.clone(), Some(("air", AlertSeverity::Severe))),
            (3, v2.clone(), None),
            (2, vec![0xff, 0xff], None),
            (
                1,
                AlertV1 {
                    severity: 99,
                    ..Default::default()
                }
                .encode_to_vec(),
                None,
            ),
            (
                2,
                AlertV2 {
                    severity: 99,
                    ..Default::default()
                }
                .encode_to_vec(),
                None,
            ),
        ];
        for (version, payload, want) in cases {
            let got = alert_topic(version, &payload);
            let want = want.map(|(c, s)| (c.to_string(), s));
            assert_eq!(got, want, "v{version} {payload:?}");
        }
    }
}
