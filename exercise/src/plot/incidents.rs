//! What happened to each lane, from the event ledger and the verifier's
//! report: cuts, degradations and bridge outages as shaded intervals,
//! catch-up after each outage (messages waiting, time to drain, as the
//! report computed them), restores and notices as vertical lines, and
//! each nation's enforcement of a notice as a point. Pure.
//!
//! An incident is placed on every lane it affects: a cut or degradation
//! on its bearer's lane (named in either direction), a bridge outage on
//! every lane of that nation, a notice and its enforcement on the lane of
//! the bearer it is about.
use super::axes::{after as after_ms, millis};
use super::lanes::Bearer;
use super::palette;
use crate::scenario::Action;
use crate::verify::{Evidence, Report};

/// What kind of mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The bearer was cut (shaded).
    Cut,
    /// The bearer was degraded (shaded).
    Degraded,
    /// A nation's bridge was down (shaded).
    BridgeDown,
    /// The backlog drained (shaded).
    CatchUp,
    /// A restore, clear or bridge start (line).
    Restored,
    /// A notice published (dashed line).
    Notice,
    /// A nation's bridge applied a notice (diamond).
    Enforced,
}

impl Kind {
    /// Its colour.
    pub fn colour(self) -> &'static str {
        match self {
            Kind::Cut => palette::CUT,
            Kind::Degraded => palette::DEGRADED,
            Kind::BridgeDown => palette::BRIDGE_DOWN,
            Kind::CatchUp => palette::CATCH_UP,
            Kind::Restored => palette::RESTORED,
            Kind::Notice | Kind::Enforced => palette::NOTICE,
        }
    }

    /// Whether it is drawn as an interval.
    pub fn is_shade(self) -> bool {
        matches!(
            self,
            Kind::Cut | Kind::Degraded | Kind::BridgeDown | Kind::CatchUp
        )
    }

    /// Which label keeps its place when labels crowd (lower first).
    pub fn priority(self) -> u8 {
        match self {
            Kind::Notice | Kind::Enforced => 0,
            Kind::Cut | Kind::Degraded | Kind::BridgeDown => 1,
            Kind::CatchUp => 2,
            Kind::Restored => 3,
        }
    }
}

/// One mark on one lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Index of the lane (bearer).
    pub lane: usize,
    /// What it is.
    pub kind: Kind,
    /// Start, seconds since t0.
    pub from_s: f64,
    /// End; equal to `from_s` for a line or a point.
    pub until_s: f64,
    /// Its label.
    pub text: String,
}

/// Every incident of the run on every lane it affects.
pub fn incidents(
    evidence: &Evidence,
    report: &Report,
    bearers: &[Bearer],
    end_s: f64,
) -> Vec<Incident> {
    let s = |t: i64| ((t - evidence.t0_ms) as f64 / 1000.0).clamp(0.0, end_s);
    let mut out = Vec::new();
    for (i, e) in evidence.events.iter().enumerate() {
        // What ends it: a restore or clear of the same bearer, named in
        // either direction, or the bridge's start.
        let until = evidence.events[i + 1..]
            .iter()
            .find(|x| x.event.ends(&e.event))
            .map_or(end_s, |x| s(x.t_ms));
        let from = s(e.t_ms);
        let lasted = millis(((until - from) * 1000.0).round());
        let (kind, text) = match &e.event {
            Action::Cut { .. } => (Kind::Cut, format!("cut {lasted}")),
            Action::Degrade { .. } => (Kind::Degraded, degradation(&e.action)),
            Action::KillBridge { nation } => {
                (Kind::BridgeDown, format!("{nation} bridge down {lasted}"))
            }
            Action::Restore { .. } => (Kind::Restored, "restored".into()),
            Action::Clear { .. } => (Kind::Restored, "cleared".into()),
            Action::StartBridge { nation } => (Kind::Restored, format!("{nation} bridge back")),
            Action::RevokeTranslator { .. } | Action::Suspend { .. } | Action::Reinstate { .. } => {
                (Kind::Notice, e.action.clone())
            }
            Action::Flood { .. } => (Kind::Degraded, format!("{} for {lasted}", e.action)),
            Action::FloodEnd { .. } => (Kind::Restored, "flood ends".into()),
        };
        let until_s = if kind.is_shade() { until } else { from };
        for lane in affected(bearers, &e.event) {
            out.push(Incident {
                lane,
                kind,
                from_s: from,
                until_s,
                text: text.clone(),
            });
        }
    }
    out.extend(catch_ups(evidence, report, bearers, end_s));
    out.extend(enforcements(evidence, report, bearers, end_s));
    out
}

/// The lanes an action affects.
pub fn affected(bearers: &[Bearer], action: &Action) -> Vec<usize> {
    let on = |f: &dyn Fn(&Bearer) -> bool| -> Vec<usize> {
        (0..bearers.len()).filter(|i| f(&bearers[*i])).collect()
    };
    match action {
        Action::Cut { a, b }
        | Action::Restore { a, b }
        | Action::Degrade { a, b, .. }
        | Action::Clear { a, b } => on(&|x| x.is(a, b)),
        Action::KillBridge { nation }
        | Action::StartBridge { nation }
        | Action::Flood { nation, .. }
        | Action::FloodEnd { nation } => on(&|x| x.touches(nation)),
        Action::RevokeTranslator { id, .. } => match id.split_once('-') {
            Some((a, b)) => on(&|x| x.is(a, b)),
            None => Vec::new(),
        },
        Action::Suspend { by, partner } | Action::Reinstate { by, partner } => {
            on(&|x| x.is(by, partner))
        }
    }
}

/// `degrade USA-GBR: 200 ms ± 50 ms, 5 % loss` -> `degraded: 200 ms ±
/// 50 ms, 5 % loss`: the figures as the driver applied them (whatever the
/// action carries, bandwidth included, is in its description).
fn degradation(action: &str) -> String {
    match action.split_once(": ") {
        Some((_, figures)) => format!("degraded: {figures}"),
        None => "degraded".into(),
    }
}

/// The report's catch-up after each outage, on the outage's lanes: from
/// its end until the last waiting message arrived.
fn catch_ups(
    evidence: &Evidence,
    report: &Report,
    bearers: &[Bearer],
    end_s: f64,
) -> Vec<Incident> {
    let s = |t: i64| ((t - evidence.t0_ms) as f64 / 1000.0).clamp(0.0, end_s);
    let mut out = Vec::new();
    for c in &report.catch_up {
        let Some(outage) = evidence
            .events
            .iter()
            .find(|e| e.t_ms == c.from_ms && e.action == c.outage)
        else {
            continue;
        };
        // Nothing waited: nothing to draw (the report still lists it).
        if c.backlog == 0 {
            continue;
        }
        let text = format!(
            "catch-up: {} waiting, drained in {}",
            c.backlog,
            millis(c.drained_after_ms as f64)
        );
        for lane in affected(bearers, &outage.event) {
            out.push(Incident {
                lane,
                kind: Kind::CatchUp,
                from_s: s(c.until_ms),
                until_s: s(c.until_ms + c.drained_after_ms),
                text: text.clone(),
            });
        }
    }
    out
}

/// When each nation's bridge applied each notice, as the report has it,
/// on the notice's lanes: a diamond per nation. Nations that applied it
/// within a second of each other share one label (`enforced: FRA +12 ms,
/// USA +20 ms`) on the first of them; the others' labels are empty.
fn enforcements(
    evidence: &Evidence,
    report: &Report,
    bearers: &[Bearer],
    end_s: f64,
) -> Vec<Incident> {
    let s = |t: i64| ((t - evidence.t0_ms) as f64 / 1000.0).clamp(0.0, end_s);
    let mut out = Vec::new();
    for enf in &report.enforcement {
        let Some(event) = evidence
            .events
            .iter()
            .find(|e| e.notice.as_ref().is_some_and(|(n, _)| *n == enf.notice))
        else {
            continue;
        };
        let mut applied: Vec<(&String, i64)> = enf
            .applied_after_ms
            .iter()
            .map(|(n, ms)| (n, *ms))
            .collect();
        applied.sort_by_key(|(n, ms)| (*ms, (*n).clone()));
        for group in clusters(&applied, 1_000) {
            let text = group
                .iter()
                .map(|(n, ms)| format!("{n} {}", after_ms(*ms)))
                .collect::<Vec<_>>()
                .join(", ");
            for (i, (_, ms)) in group.iter().enumerate() {
                let at = s(enf.effective_ms + ms);
                let text = if i == 0 {
                    format!("enforced: {text}")
                } else {
                    String::new()
                };
                for lane in affected(bearers, &event.event) {
                    out.push(Incident {
                        lane,
                        kind: Kind::Enforced,
                        from_s: at,
                        until_s: at,
                        text: text.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Splits `sorted` (by ms) where two neighbours are more than `gap_ms`
/// apart.
fn clusters<'a>(sorted: &[(&'a String, i64)], gap_ms: i64) -> Vec<Vec<(&'a String, i64)>> {
    let mut out: Vec<Vec<(&String, i64)>> = Vec::new();
    for &(n, ms) in sorted {
        match out.last_mut() {
            Some(group) if group.last().is_some_and(|(_, prev)| ms - prev <= gap_ms) => {
                group.push((n, ms))
            }
            _ => out.push(vec![(n, ms)]),
        }
    }
    out
}
