//! Catch-up after an outage: how many messages waited for a cut bearer or
//! a dead bridge, and how long after it came back the last of them arrived.
use std::collections::BTreeSet;

use super::{Evidence, Received, Sent};
use crate::scenario::Action;

/// One outage and its backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    /// E.g. `cut USA-GBR`.
    pub outage: String,
    /// When it began, Unix ms.
    pub from_ms: i64,
    /// When it ended (restore, bridge start), Unix ms.
    pub until_ms: i64,
    /// Messages published before it ended on an affected link that were
    /// delivered after it ended.
    pub backlog: u64,
    /// From the end of the outage to the last of those deliveries.
    pub drained_after_ms: i64,
}

/// The outages in the event ledger, paired start to end, with their backlogs.
pub fn catch_up(evidence: &Evidence, sent: &[Sent], received: &[Received]) -> Vec<CatchUp> {
    let mut out = Vec::new();
    for (i, e) in evidence.events.iter().enumerate() {
        let nations: BTreeSet<&str> = match &e.event {
            Action::Cut { a, b } => [a.as_str(), b.as_str()].into(),
            Action::KillBridge { nation } => [nation.as_str()].into(),
            _ => continue,
        };
        // A restore named in either direction ends the cut of its bearer.
        let Some(end) = evidence.events[i + 1..]
            .iter()
            .find(|x| x.event.ends(&e.event))
        else {
            continue;
        };
        let until = end.t_ms;
        let affected = |origin: &str, receiver: &str| {
            if nations.len() == 2 {
                nations.contains(origin) && nations.contains(receiver) && origin != receiver
            } else {
                nations.contains(origin) || nations.contains(receiver)
            }
        };
        let published_before: BTreeSet<_> = sent
            .iter()
            .filter(|m| m.t_ms < until)
            .map(|m| &m.key)
            .collect();
        let waiting: Vec<&Received> = received
            .iter()
            .filter(|r| {
                r.t_ms >= until
                    && affected(&r.key.0, &r.receiver)
                    && published_before.contains(&r.key)
            })
            .collect();
        let drained = waiting
            .iter()
            .map(|r| r.t_ms)
            .max()
            .map_or(0, |t| t - until);
        out.push(CatchUp {
            outage: e.action.clone(),
            from_ms: e.t_ms,
            until_ms: until,
            backlog: waiting.len() as u64,
            drained_after_ms: drained,
        });
    }
    out
}
