//! The console's progress line during an exercise, one bearer at a time:
//! each bearer (a pair of nations, both directions) with its state (up,
//! cut, or delayed) and what was delivered across it each way. A cut
//! bearer's counts stop while the others go on. Pure, apart from
//! [`Progress::tick`], which reads the ledgers.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::driver::load_evidence;
use crate::ledger::{AlertsRecord, LinkSample, ProducerRecord};
use crate::verify::Evidence;
use crate::{now_ms, Exercise};

/// Prints the progress line at most every 5 s.
pub(crate) struct Progress {
    t0: i64,
    last: Instant,
}

impl Progress {
    pub(crate) fn new(t0: i64) -> Self {
        Progress {
            t0,
            last: Instant::now(),
        }
    }

    /// Seconds since the exercise's zero.
    pub(crate) fn secs(&self) -> f64 {
        (now_ms() - self.t0) as f64 / 1000.0
    }

    pub(crate) fn tick(&mut self, ex: &Exercise, extra: &str) {
        if self.last.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last = Instant::now();
        let Ok(e) = load_evidence(ex) else { return };
        let bearers = ex
            .plan
            .topology
            .links
            .iter()
            .map(|l| (l.from.as_str(), l.to.as_str()));
        let line = progress_line(self.secs(), &e, bearers);
        if extra.is_empty() {
            println!("{line}");
        } else {
            println!("{line}  {extra}");
        }
    }
}

/// A bearer: two nations in code order, whichever way traffic flows.
fn bearer(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// What a bearer's sidecars said last: cut if any of them is cut, else
/// the largest added delay.
fn state(samples: &[&LinkSample]) -> String {
    if samples.iter().any(|s| !s.open) {
        return "CUT".into();
    }
    match samples.iter().max_by_key(|s| s.delay_ms) {
        Some(s) if s.delay_ms > 0 => format!("+{}±{} ms", s.delay_ms, s.jitter_ms),
        _ => "up".into(),
    }
}

/// `   14.3s  published 432  GBR-USA CUT: to GBR 98, to USA 62  FRA-USA up: to FRA 144`:
/// every bearer of `links` (sender, receiver) with its state and its
/// deliveries in each direction it carries.
pub(crate) fn progress_line<'a>(
    secs: f64,
    e: &Evidence,
    links: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let published = e
        .published
        .iter()
        .filter(|r| matches!(r, ProducerRecord::Published { .. }))
        .count();
    // (bearer) -> receiver -> deliveries, for the directions links carry.
    let mut bearers: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for (from, to) in links {
        bearers
            .entry(bearer(from, to))
            .or_default()
            .insert(to.to_string(), 0);
    }
    for (receiver, records) in &e.delivered {
        for r in records {
            if let AlertsRecord::Delivered { origin, .. } = r {
                if let Some(count) = bearers
                    .get_mut(&bearer(origin, receiver))
                    .and_then(|m| m.get_mut(receiver))
                {
                    *count += 1;
                }
            }
        }
    }
    let mut line = format!("{secs:>7.1}s  published {published}");
    for ((a, b), counts) in &bearers {
        // Sidecars are named `<FROM>-<TO>-<i>`; both directions are the bearer.
        let samples: Vec<&LinkSample> = e
            .links
            .iter()
            .filter(|(name, _)| {
                let mut parts = name.splitn(3, '-');
                let (x, y) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                bearer(x, y) == (a.clone(), b.clone())
            })
            .filter_map(|(_, s)| s.last())
            .collect();
        let each: Vec<String> = counts
            .iter()
            .map(|(to, n)| format!("to {to} {n}"))
            .collect();
        line.push_str(&format!(
            "  {a}-{b} {}: {}",
            state(&samples),
            each.join(", ")
        ));
    }
    line
}

/// What the drain's progress says of the releasable messages not delivered
/// yet. Once a revocation or suspension was published, some of them are
/// withheld by it, not late; only `verify` (with the audit logs) tells
/// denied from lost, so the line does not call them all pending.
pub(crate) fn undelivered_label(undelivered: u64, events: &[crate::ledger::EventRecord]) -> String {
    let notices: Vec<&str> = events
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                crate::scenario::Action::RevokeTranslator { .. }
                    | crate::scenario::Action::Suspend { .. }
            )
        })
        .map(|e| {
            e.notice
                .as_ref()
                .map_or(e.action.as_str(), |(name, _)| name.as_str())
        })
        .collect();
    if notices.is_empty() {
        format!("{undelivered} pending")
    } else {
        format!(
            "{undelivered} not delivered yet, some withheld by {} (verify tells denied from lost)",
            notices.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LabelRecord;

    fn delivered(origin: &str) -> AlertsRecord {
        AlertsRecord::Delivered {
            t_ms: 0,
            origin: origin.into(),
            producer: "p".into(),
            feed: "tracks".into(),
            seq: 1,
            label: LabelRecord {
                classification: "SECRET".into(),
                releasable_to: Default::default(),
                caveats: Default::default(),
            },
            released_at_ms: None,
            admitted_at_ms: None,
            translator: None,
            gap: None,
            replayed: false,
        }
    }

    fn sample(name: &str, open: bool, delay_ms: u64) -> LinkSample {
        LinkSample {
            t_ms: 0,
            name: name.into(),
            open,
            live: 1,
            to_upstream: 0,
            from_upstream: 0,
            delay_ms,
            jitter_ms: 10,
            wire_bytes: None,
        }
    }

    #[test]
    fn one_lane_per_bearer_with_both_directions_its_state_and_no_sidecar_names() {
        let mut e = Evidence::default();
        e.delivered.insert(
            "GBR".into(),
            vec![delivered("USA"), delivered("USA"), delivered("FRA")],
        );
        e.delivered.insert("USA".into(), vec![delivered("GBR")]);
        e.delivered.insert("FRA".into(), vec![delivered("USA")]);
        e.links.insert(
            "USA-GBR-0".into(),
            vec![sample("USA-GBR-0", true, 0), sample("USA-GBR-0", false, 0)],
        );
        e.links
            .insert("GBR-USA-0".into(), vec![sample("GBR-USA-0", true, 0)]);
        e.links
            .insert("USA-FRA-0".into(), vec![sample("USA-FRA-0", true, 600)]);
        let links = [
            ("USA", "GBR"),
            ("GBR", "USA"),
            ("USA", "FRA"),
            ("FRA", "GBR"),
        ];
        let line = progress_line(14.3, &e, links);
        assert_eq!(
            line,
            "   14.3s  published 0  FRA-GBR up: to GBR 1  FRA-USA +600±10 ms: to FRA 1  GBR-USA CUT: to GBR 2, to USA 1"
        );
        assert!(!line.contains("-0"), "no sidecar names: {line}");
    }

    #[test]
    fn undelivered_messages_are_pending_until_a_notice_may_withhold_them() {
        use crate::ledger::EventRecord;
        use crate::scenario::Action;
        let event = |event: Action, notice: Option<&str>| EventRecord {
            t_ms: 0,
            action: event.describe(),
            event,
            notice: notice.map(|n| (n.to_string(), 0)),
        };
        let cut = event(
            Action::Cut {
                a: "USA".into(),
                b: "GBR".into(),
            },
            None,
        );
        let revoke = event(
            Action::RevokeTranslator {
                by: "GBR".into(),
                id: "USA-GBR".into(),
            },
            Some("GBR#1"),
        );
        let cases: [(&str, Vec<EventRecord>, &str); 3] = [
            ("nothing yet", vec![], "12 pending"),
            ("a cut only", vec![cut.clone()], "12 pending"),
            (
                "after a revocation",
                vec![cut, revoke],
                "12 not delivered yet, some withheld by GBR#1 (verify tells denied from lost)",
            ),
        ];
        for (what, events, want) in cases {
            assert_eq!(undelivered_label(12, &events), want, "{what}");
        }
    }
}
