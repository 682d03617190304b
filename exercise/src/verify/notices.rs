//! What the notices of a run did: when each bridge applied each one, and
//! which deliveries crossed after a bridge had applied a revocation or a
//! suspension that forbade them.
use std::collections::BTreeMap;

use super::{describe, Enforcement, Evidence, Received};
use crate::scenario::Action;

pub(super) fn enforcement(evidence: &Evidence) -> Vec<Enforcement> {
    let mut out = Vec::new();
    for e in &evidence.events {
        let Some((notice, effective_ms)) = &e.notice else {
            continue;
        };
        let mut applied: BTreeMap<String, i64> = BTreeMap::new();
        for a in evidence
            .audit
            .iter()
            .filter(|a| a.decision == "revoke" && a.msg_id == *notice)
        {
            let after = a.decided_at_ms - effective_ms;
            let slot = applied.entry(a.nation.clone()).or_insert(after);
            *slot = (*slot).min(after);
        }
        out.push(Enforcement {
            action: e.action.clone(),
            notice: notice.clone(),
            effective_ms: *effective_ms,
            applied_after_ms: applied,
        });
    }
    out
}

/// Deliveries that crossed after a bridge had applied a revocation or a
/// suspension that forbade them.
pub(super) fn policy_leaks(
    received: &[Received],
    enforcement: &[Enforcement],
    evidence: &Evidence,
) -> Vec<String> {
    let applied_at = |notice: &str, nation: &str| {
        enforcement
            .iter()
            .find(|e| e.notice == notice)
            .and_then(|e| e.applied_after_ms.get(nation).map(|ms| e.effective_ms + ms))
    };
    let mut out = Vec::new();
    for e in &evidence.events {
        let Some((notice, _)) = &e.notice else {
            continue;
        };
        match &e.event {
            Action::RevokeTranslator { id, .. } => {
                let Some((from, to)) = id.split_once('-') else {
                    continue;
                };
                for r in received
                    .iter()
                    .filter(|r| r.key.0 == from && r.receiver == to)
                {
                    let used = r
                        .translator
                        .as_deref()
                        .is_some_and(|t| t.split('@').next() == Some(id));
                    if !used {
                        continue;
                    }
                    if let (Some(at), Some(admitted)) = (applied_at(notice, to), r.admitted_at_ms) {
                        if admitted >= at {
                            out.push(format!(
                                "{} admitted by {to} at {admitted} under {id}, after {to} applied {notice} at {at}",
                                describe(&r.key)
                            ));
                        }
                    }
                    if let (Some(at), Some(released)) = (applied_at(notice, from), r.released_at_ms)
                    {
                        if released >= at {
                            out.push(format!(
                                "{} released by {from} at {released} after {from} applied {notice} at {at}",
                                describe(&r.key)
                            ));
                        }
                    }
                }
            }
            Action::Suspend { by, partner } => {
                let until = reinstated_at(evidence, enforcement, by, partner);
                let Some(from_ms) = applied_at(notice, by) else {
                    continue;
                };
                let window = |t: i64| t >= from_ms && until.is_none_or(|u| t < u);
                for r in received {
                    let admitted_by_suspender = r.receiver == *by && r.key.0 == *partner;
                    let released_by_suspender = r.key.0 == *by && r.receiver == *partner;
                    if admitted_by_suspender && r.admitted_at_ms.is_some_and(window) {
                        out.push(format!(
                            "{} admitted by {by} while {by} had {partner} suspended ({notice})",
                            describe(&r.key)
                        ));
                    }
                    if released_by_suspender && r.released_at_ms.is_some_and(window) {
                        out.push(format!(
                            "{} released by {by} to {partner} while suspended ({notice})",
                            describe(&r.key)
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// When `by`'s bridge applied a later reinstatement of `partner`.
fn reinstated_at(
    evidence: &Evidence,
    enforcement: &[Enforcement],
    by: &str,
    partner: &str,
) -> Option<i64> {
    evidence
        .events
        .iter()
        .find_map(|e| match (&e.event, &e.notice) {
            (Action::Reinstate { by: b, partner: p }, Some((notice, _)))
                if b == by && p == partner =>
            {
                enforcement
                    .iter()
                    .find(|x| x.notice == *notice)
                    .and_then(|x| x.applied_after_ms.get(by).map(|ms| x.effective_ms + ms))
            }
            _ => None,
        })
}
