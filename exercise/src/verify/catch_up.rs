//! Catch-up after an outage: how many messages waited for a cut bearer or
//! a dead bridge, how long after it came back the last of them arrived,
//! and how late they were, each direction on its own; and how many of the
//! messages published before it ended a notice withheld for good (a
//! translator revoked, a partner suspended, ...), which are not a backlog.
use std::collections::{BTreeMap, BTreeSet};

use super::{percentiles, Evidence, MessageKey, Received, Sent};
use crate::scenario::Action;

/// Denial reasons that come from a notice, not from the label.
pub const WITHHELD_BY_A_NOTICE: [&str; 4] = [
    "translator_revoked",
    "partner_suspended",
    "producer_key_revoked",
    "product_retracted",
];

/// One direction of an outage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionCatchUp {
    /// `FROM->TO`.
    pub direction: String,
    /// Messages published before the outage ended, delivered after.
    pub backlog: u64,
    /// From the end of the outage to the last of those deliveries.
    pub drained_after_ms: i64,
    /// (p50, p99, max) ms from publish to delivery of those messages: the
    /// latency of the incident window, not of the whole run.
    pub latency_ms: Option<(i64, i64, i64)>,
    /// Messages published before the outage ended and never delivered
    /// because a notice withheld them ([`WITHHELD_BY_A_NOTICE`]).
    pub withheld: u64,
}

/// One outage and its backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    /// E.g. `cut USA-GBR`.
    pub outage: String,
    /// When it began, Unix ms.
    pub from_ms: i64,
    /// When it ended (restore, bridge start), Unix ms.
    pub until_ms: i64,
    /// Every direction's backlog together.
    pub backlog: u64,
    /// The longest drain of any direction.
    pub drained_after_ms: i64,
    /// Each affected direction that had traffic, in `FROM->TO` order.
    pub directions: Vec<DirectionCatchUp>,
}

/// The outages in the event ledger, paired start to end, with their
/// backlogs. `denials` maps (message, receiver) to its denial reason.
pub fn catch_up(
    evidence: &Evidence,
    sent: &[Sent],
    received: &[Received],
    denials: &BTreeMap<(MessageKey, String), String>,
) -> Vec<CatchUp> {
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
        let affected = |origin: &str, receiver: &str| {
            origin != receiver
                && if nations.len() == 2 {
                    nations.contains(origin) && nations.contains(receiver)
                } else {
                    nations.contains(origin) || nations.contains(receiver)
                }
        };
        let directions = directions_of(end.t_ms, sent, received, denials, &affected);
        out.push(CatchUp {
            outage: e.action.clone(),
            from_ms: e.t_ms,
            until_ms: end.t_ms,
            backlog: directions.iter().map(|d| d.backlog).sum(),
            drained_after_ms: directions
                .iter()
                .map(|d| d.drained_after_ms)
                .max()
                .unwrap_or(0),
            directions,
        });
    }
    out
}

/// Each affected direction's figures for an outage that ended at `until`.
fn directions_of(
    until: i64,
    sent: &[Sent],
    received: &[Received],
    denials: &BTreeMap<(MessageKey, String), String>,
    affected: &dyn Fn(&str, &str) -> bool,
) -> Vec<DirectionCatchUp> {
    let published_before: BTreeMap<&MessageKey, i64> = sent
        .iter()
        .filter(|m| m.t_ms < until)
        .map(|m| (&m.key, m.t_ms))
        .collect();
    let mut waiting: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for r in received {
        if r.t_ms < until || !affected(&r.key.0, &r.receiver) {
            continue;
        }
        if let Some(t_sent) = published_before.get(&r.key) {
            waiting
                .entry((r.key.0.clone(), r.receiver.clone()))
                .or_default()
                .push((r.t_ms, r.t_ms - t_sent));
        }
    }
    let mut withheld: BTreeMap<(String, String), u64> = BTreeMap::new();
    for ((key, receiver), reason) in denials {
        if affected(&key.0, receiver)
            && published_before.contains_key(key)
            && WITHHELD_BY_A_NOTICE.contains(&reason.as_str())
        {
            *withheld
                .entry((key.0.clone(), receiver.clone()))
                .or_default() += 1;
        }
    }
    let keys: BTreeSet<(String, String)> = waiting.keys().chain(withheld.keys()).cloned().collect();
    keys.into_iter()
        .map(|(from, to)| {
            let arrivals = waiting.get(&(from.clone(), to.clone()));
            let mut lateness: Vec<i64> = arrivals
                .map(|a| a.iter().map(|(_, late)| *late).collect())
                .unwrap_or_default();
            DirectionCatchUp {
                backlog: lateness.len() as u64,
                drained_after_ms: arrivals
                    .and_then(|a| a.iter().map(|(t, _)| t - until).max())
                    .unwrap_or(0),
                latency_ms: percentiles(&mut lateness),
                withheld: withheld
                    .get(&(from.clone(), to.clone()))
                    .copied()
                    .unwrap_or(0),
                direction: format!("{from}->{to}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
