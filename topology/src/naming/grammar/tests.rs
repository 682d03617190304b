//! Every subject shape round-trips; every malformed one is refused with
//! the token named.
use super::*;
use coalition_schemas::v1::AlertSeverity;

use crate::{subjects, TopicFilter};

fn air_severe() -> Option<AlertTopic> {
    Some(AlertTopic::new("air", AlertSeverity::Severe).unwrap())
}

fn all_shapes() -> Vec<Subject> {
    vec![
        Subject::Outbound {
            kind: Kind::Track,
            producer: "radar-1".into(),
            feed: "tracks".into(),
            topic: None,
        },
        Subject::Paced {
            kind: Kind::Alert,
            producer: "radar-1".into(),
            feed: "alerts".into(),
            topic: air_severe(),
        },
        Subject::Released {
            kind: Kind::Track,
            origin: "USA".into(),
            producer: "radar-1".into(),
            feed: "tracks".into(),
            topic: None,
        },
        Subject::Inbound {
            kind: Kind::Alert,
            origin: "GBR".into(),
            producer: "eo_2".into(),
            feed: "alerts".into(),
            topic: air_severe(),
            version: 12,
        },
        Subject::DeadLetter {
            stage: "ingress".into(),
            reason: "bad_proof".into(),
        },
        Subject::Position {
            stage: "egress".into(),
            origin: "USA".into(),
            producer: "radar-1".into(),
            feed: "tracks".into(),
        },
        Subject::Audit {
            nation: "FRA".into(),
        },
        Subject::Control(ControlSubject::Policy {
            nation: "USA".into(),
            version: 3,
        }),
        Subject::Control(ControlSubject::Translator {
            id: "USA-GBR".into(),
            version: 1,
        }),
        Subject::Control(ControlSubject::Notice {
            issuer: "GBR".into(),
            epoch: 17,
        }),
        Subject::Control(ControlSubject::SchemaPolicy {
            nation: "USA".into(),
            version: 2,
        }),
        Subject::Control(ControlSubject::Heartbeat {
            issuer: "USA".into(),
        }),
        Subject::Control(ControlSubject::Certificate {
            nation: "USA".into(),
            producer: "radar-1".into(),
            sha256: [0xab; 32],
        }),
    ]
}

#[test]
fn every_shape_round_trips() {
    for subject in all_shapes() {
        let text = subject.to_string();
        assert_eq!(Subject::parse(&text), Ok(subject.clone()), "{text}");
    }
    assert_eq!(
        Subject::Control(ControlSubject::Certificate {
            nation: "USA".into(),
            producer: "p".into(),
            sha256: [0x0f; 32],
        })
        .to_string(),
        format!("ctl.certificate.USA.p.{}", "0f".repeat(32))
    );
}

#[test]
fn malformed_subjects_are_refused_naming_the_token() {
    let cases = [
        ("", "token 1"),
        ("nope.track.a.b", "token 1"),
        ("out.track.a", "expected 4"),
        ("out.tracks.a.b", "token 2 (kind)"),
        ("out.track.a b.c", "token 3 (producer)"),
        ("rel.track.USA.p.f.x", "expected 5"),
        ("in.track.USA.p.f.1", "token 6 (version)"),
        ("in.track.USA.p.f.v", "token 6 (version)"),
        ("in.track.USA.p.f.v1x", "token 6 (version)"),
        ("in.track.USA.p.f.v99999999999", "token 6 (version)"),
        ("ctl.policy.USA.one", "token 4 (version)"),
        ("ctl.policy.USA.-1", "token 4 (version)"),
        ("ctl.notice.GBR", "expected 4"),
        ("ctl.bogus.x", "token 2"),
        ("ctl.certificate.USA.p.abcd", "token 5"),
        (
            "ctl.certificate.USA.p.ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
            "token 5",
        ),
        ("audit.USA.x", "expected 2"),
        ("dlq.egress.*", "token 3 (reason)"),
        ("out.alert.p.f", "expected 6: out.alert.<producer>.<feed>.<category>.<severity>"),
        ("out.alert.p.f.air.severe.x", "expected 6"),
        ("out.track.p.f.air.severe", "expected 4"),
        ("out.alert.p.f.Air.severe", "tokens 5 and 6 (topic): category \"Air\""),
        ("paced.alert.p.f.air.fatal", "tokens 5 and 6 (topic): severity"),
        ("rel.alert.USA.p.f", "expected 7"),
        ("rel.alert.USA.p.f.air.unspecified", "tokens 6 and 7 (topic)"),
        ("in.alert.USA.p.f.v1", "expected 8"),
        ("in.alert.USA.p.f.air.minor.1", "token 8 (version)"),
        ("in.alert.USA.p.f.a_b.minor.v1", "tokens 6 and 7 (topic)"),
        ("out", "has 1 token"),
    ];
    for (subject, needle) in cases {
        let err = Subject::parse(subject).expect_err(subject);
        assert!(
            err.to_string().contains(needle),
            "{subject}: {err} should mention {needle}"
        );
    }
}

#[test]
fn alert_subjects_end_with_their_topic() {
    let topic = air_severe();
    assert_eq!(
        subjects::outbound(Kind::Alert, "cell", "alerts", topic.as_ref()),
        "out.alert.cell.alerts.air.severe"
    );
    assert_eq!(
        subjects::inbound(Kind::Alert, "FRA", "cell", "alerts", topic.as_ref(), 2),
        "in.alert.FRA.cell.alerts.air.severe.v2"
    );
    let parsed = Subject::parse("rel.alert.FRA.cell.alerts.air.severe").unwrap();
    assert_eq!(parsed.topic(), topic.as_ref());
    assert_eq!(
        subjects::inbound_filters(
            Kind::Alert,
            Some("FRA"),
            &TopicFilter {
                category: Some("air".into()),
                min_severity: Some(AlertSeverity::Severe),
            },
            2
        ),
        [
            "in.alert.FRA.*.*.air.severe.v2",
            "in.alert.FRA.*.*.air.extreme.v2"
        ]
    );
    assert_eq!(
        subjects::inbound_filters(Kind::Track, None, &TopicFilter::default(), 1),
        ["in.track.*.*.*.v1"]
    );
}

#[test]
fn feed_subjects_know_their_lane() {
    let kinds: Vec<Option<Kind>> = all_shapes().iter().map(Subject::kind).collect();
    assert_eq!(
        kinds[..5],
        [
            Some(Kind::Track),
            Some(Kind::Alert),
            Some(Kind::Track),
            Some(Kind::Alert),
            None
        ]
    );
}
