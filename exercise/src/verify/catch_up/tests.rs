//! Catch-up per direction, with the withheld messages apart and the
//! latency of the incident window.
use super::*;
use crate::ledger::{EventRecord, LabelRecord};

fn key(origin: &str, seq: u64) -> MessageKey {
    (origin.into(), "radar-1".into(), "tracks".into(), seq)
}

fn label() -> LabelRecord {
    LabelRecord {
        classification: "SECRET".into(),
        releasable_to: ["GBR".to_string(), "USA".to_string()].into(),
        caveats: Default::default(),
    }
}

fn sent(origin: &str, seq: u64, t_ms: i64) -> Sent {
    Sent {
        key: key(origin, seq),
        t_ms,
        label: label(),
    }
}

fn received(origin: &str, seq: u64, receiver: &str, t_ms: i64) -> Received {
    Received {
        key: key(origin, seq),
        receiver: receiver.into(),
        t_ms,
        label: label(),
        released_at_ms: None,
        admitted_at_ms: None,
        translator: None,
    }
}

fn event(t_ms: i64, event: Action) -> EventRecord {
    EventRecord {
        t_ms,
        action: event.describe(),
        event,
        notice: None,
    }
}

/// USA<->GBR cut from 1,000 to 5,000 ms. USA->GBR: seqs 1-3 waited and
/// arrived 200, 300 and 900 ms after the restore; seq 4 was withheld by a
/// revocation. GBR->USA: seq 1 waited and arrived 100 ms after. FRA->GBR
/// (another bearer) arrived late too but is not part of this outage, and a
/// USA->GBR message published after the restore is not a backlog.
#[test]
fn each_direction_has_its_own_backlog_drain_latency_and_withheld_messages() {
    let evidence = Evidence {
        events: vec![
            event(
                1_000,
                Action::Cut {
                    a: "USA".into(),
                    b: "GBR".into(),
                },
            ),
            event(
                5_000,
                Action::Restore {
                    a: "GBR".into(),
                    b: "USA".into(),
                },
            ),
        ],
        ..Default::default()
    };
    let sent = vec![
        sent("USA", 1, 1_500),
        sent("USA", 2, 2_500),
        sent("USA", 3, 4_500),
        sent("USA", 4, 4_600),
        sent("USA", 5, 5_500),
        sent("GBR", 1, 3_000),
        sent("FRA", 1, 2_000),
    ];
    let received = vec![
        received("USA", 1, "GBR", 5_200),
        received("USA", 2, "GBR", 5_300),
        received("USA", 3, "GBR", 5_900),
        received("USA", 5, "GBR", 5_550),
        received("GBR", 1, "USA", 5_100),
        received("FRA", 1, "GBR", 6_000),
    ];
    let denials: BTreeMap<(MessageKey, String), String> = [
        (
            (key("USA", 4), "GBR".to_string()),
            "translator_revoked".to_string(),
        ),
        // A label denial is not withheld by a notice.
        (
            (key("GBR", 1), "FRA".to_string()),
            "caveat_forbids_release".to_string(),
        ),
    ]
    .into();
    let c = catch_up(&evidence, &sent, &received, &denials);
    assert_eq!(c.len(), 1);
    let c = &c[0];
    assert_eq!((c.from_ms, c.until_ms), (1_000, 5_000));
    assert_eq!((c.backlog, c.drained_after_ms), (4, 900), "totals");
    let by: BTreeMap<&str, &DirectionCatchUp> = c
        .directions
        .iter()
        .map(|d| (d.direction.as_str(), d))
        .collect();
    assert_eq!(
        by.keys().copied().collect::<Vec<_>>(),
        ["GBR->USA", "USA->GBR"]
    );
    let usa = by["USA->GBR"];
    assert_eq!(
        (usa.backlog, usa.drained_after_ms, usa.withheld),
        (3, 900, 1)
    );
    // Lateness 3,700, 2,800 and 1,400 ms: p50 2,800, p99 and max 3,700.
    assert_eq!(usa.latency_ms, Some((2_800, 3_700, 3_700)));
    let gbr = by["GBR->USA"];
    assert_eq!(
        (gbr.backlog, gbr.drained_after_ms, gbr.withheld),
        (1, 100, 0)
    );
    assert_eq!(gbr.latency_ms, Some((2_100, 2_100, 2_100)));
}

#[test]
fn a_direction_with_only_withheld_messages_is_listed_with_no_latency() {
    let evidence = Evidence {
        events: vec![
            event(
                0,
                Action::KillBridge {
                    nation: "GBR".into(),
                },
            ),
            event(
                1_000,
                Action::StartBridge {
                    nation: "GBR".into(),
                },
            ),
        ],
        ..Default::default()
    };
    let sent = vec![sent("USA", 1, 500)];
    let denials: BTreeMap<(MessageKey, String), String> = [(
        (key("USA", 1), "GBR".to_string()),
        "partner_suspended".to_string(),
    )]
    .into();
    let c = catch_up(&evidence, &sent, &[], &denials);
    assert_eq!(c[0].backlog, 0);
    assert_eq!(
        c[0].directions,
        vec![DirectionCatchUp {
            direction: "USA->GBR".into(),
            backlog: 0,
            drained_after_ms: 0,
            latency_ms: None,
            withheld: 1,
        }]
    );
}
