//! What each lane of the timeline shows: one lane per bearer (the two
//! nations of a leaf link, both directions), with deliveries per second
//! and p50/p99 latency over time in each direction. Pure.
//!
//! The figures come from the verifier's first deliveries
//! ([`Report::first_deliveries`]), so a lane's deliveries add up to the
//! report's "delivered" and its latencies are the report's latencies,
//! binned by when they arrived.
use std::collections::BTreeSet;

use crate::ledger::ProducerRecord;
use crate::scenario::{bearer, Action};
use crate::verify::{percentiles, Evidence, Report};

/// A bearer: the link between two nations, both directions. `a` is named
/// first, as the scenario names it (`cut USA-GBR` gives `USA`, `GBR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    /// The nation named first.
    pub a: String,
    /// The other one.
    pub b: String,
}

impl Bearer {
    /// `USA – GBR`.
    pub fn name(&self) -> String {
        format!("{} – {}", self.a, self.b)
    }

    /// True if `x` and `y` (either order) are this bearer's nations.
    pub fn is(&self, x: &str, y: &str) -> bool {
        bearer(x, y) == bearer(&self.a, &self.b)
    }

    /// True if `nation` is one end of it.
    pub fn touches(&self, nation: &str) -> bool {
        self.a == nation || self.b == nation
    }

    /// Its two directions as the report names links: `a->b`, `b->a`.
    pub fn links(&self) -> [String; 2] {
        [
            format!("{}->{}", self.a, self.b),
            format!("{}->{}", self.b, self.a),
        ]
    }
}

/// One direction of a bearer over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Direction {
    /// `FROM->TO`.
    pub link: String,
    /// `(centre of the second, deliveries in it)`, every second of the run.
    pub rate: Vec<(f64, f64)>,
    /// Latency per bin, where something arrived in it.
    pub latency: Vec<LatencyBin>,
    /// Distinct tracks delivered over the whole run.
    pub delivered: u64,
}

/// The latency of the deliveries that arrived in one time bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyBin {
    /// Centre of the bin, seconds since t0.
    pub at_s: f64,
    /// Median, publish to delivery, ms.
    pub p50_ms: i64,
    /// 99th percentile, ms.
    pub p99_ms: i64,
}

/// A lane: a bearer and both its directions.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// Which bearer.
    pub bearer: Bearer,
    /// `a->b`, then `b->a`.
    pub directions: [Direction; 2],
}

/// Every bearer of the run, once, whichever way it is named: first those
/// the scenario acts on (in the order it first names them), then the
/// others alphabetically.
pub fn bearers(evidence: &Evidence, report: &Report) -> Vec<Bearer> {
    let mut named: Vec<(String, String)> = Vec::new();
    for e in &evidence.events {
        match &e.event {
            Action::Cut { a, b }
            | Action::Restore { a, b }
            | Action::Degrade { a, b, .. }
            | Action::Clear { a, b } => named.push((a.clone(), b.clone())),
            Action::RevokeTranslator { id, .. } => {
                if let Some((a, b)) = id.split_once('-') {
                    named.push((a.into(), b.into()));
                }
            }
            Action::Suspend { by, partner } | Action::Reinstate { by, partner } => {
                named.push((partner.clone(), by.clone()))
            }
            Action::KillBridge { .. }
            | Action::StartBridge { .. }
            | Action::Flood { .. }
            | Action::FloodEnd { .. } => {}
        }
    }
    let mut others: Vec<(String, String)> = report
        .links
        .keys()
        .chain(report.first_deliveries.keys())
        .filter_map(|l| l.split_once("->"))
        .chain(evidence.links.keys().filter_map(|n| sidecar_link(n)))
        .map(|(a, b)| {
            let (a, b) = bearer(a, b);
            (a.to_string(), b.to_string())
        })
        .collect();
    others.sort();
    let mut seen = BTreeSet::new();
    named
        .into_iter()
        .chain(others)
        .filter(|(a, b)| {
            let (lo, hi) = bearer(a, b);
            a != b && seen.insert((lo.to_string(), hi.to_string()))
        })
        .map(|(a, b)| Bearer { a, b })
        .collect()
}

/// `USA-GBR-0` -> (`USA`, `GBR`).
fn sidecar_link(name: &str) -> Option<(&str, &str)> {
    let (link, _) = name.rsplit_once('-')?;
    link.split_once('-')
}

/// The lanes of a run, one per bearer, over `[0, end_s]`.
pub fn lanes(evidence: &Evidence, report: &Report, end_s: f64) -> Vec<Lane> {
    bearers(evidence, report)
        .into_iter()
        .map(|bearer| {
            let [fwd, back] = bearer.links();
            let direction = |link: String| {
                let firsts = report
                    .first_deliveries
                    .get(&link)
                    .map_or(&[][..], Vec::as_slice);
                Direction {
                    rate: rate(firsts, evidence.t0_ms, end_s),
                    latency: latency(firsts, evidence.t0_ms, end_s),
                    delivered: firsts.len() as u64,
                    link,
                }
            };
            Lane {
                directions: [direction(fwd), direction(back)],
                bearer,
            }
        })
        .collect()
}

/// Deliveries per second: one point per second of `[0, end_s)`, zeros
/// included, so a cut shows as a run of zeros.
pub fn rate(firsts: &[(i64, i64)], t0_ms: i64, end_s: f64) -> Vec<(f64, f64)> {
    let n = end_s.ceil().max(1.0) as usize;
    let mut bins = vec![0.0; n];
    for (t, _) in firsts {
        let s = (t - t0_ms).div_euclid(1000);
        if let Some(b) = usize::try_from(s).ok().and_then(|s| bins.get_mut(s)) {
            *b += 1.0;
        }
    }
    bins.into_iter()
        .enumerate()
        .map(|(i, v)| (i as f64 + 0.5, v))
        .collect()
}

/// The latency bin for a run of `end_s`: 1, 2, 5 or 10 s, so that a run
/// has at most 60 bins.
pub fn latency_bin_s(end_s: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|b| end_s / b <= 60.0)
        .unwrap_or(30.0)
}

/// p50 and p99 of the deliveries arriving in each bin (by arrival time).
pub fn latency(firsts: &[(i64, i64)], t0_ms: i64, end_s: f64) -> Vec<LatencyBin> {
    let bin = latency_bin_s(end_s);
    let bin_ms = (bin * 1000.0) as i64;
    let mut bins: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (t, ms) in firsts {
        let at = t - t0_ms;
        if at >= 0 && (at as f64) <= end_s * 1000.0 {
            bins.entry(at.div_euclid(bin_ms)).or_default().push(*ms);
        }
    }
    bins.into_iter()
        .filter_map(|(i, mut v)| {
            let (p50, p99, _) = percentiles(&mut v)?;
            Some(LatencyBin {
                at_s: ((i as f64 + 0.5) * bin).min(end_s),
                p50_ms: p50,
                p99_ms: p99,
            })
        })
        .collect()
}

/// The runs of `bins` to draw as lines: neighbours at most 1.5 bins
/// apart are joined, a gap (nothing arrived) splits them, and a bin alone
/// is widened to its own span so it shows as a short flat line rather than
/// a point nothing draws.
pub fn latency_runs(bins: &[LatencyBin], bin_s: f64) -> Vec<Vec<LatencyBin>> {
    let mut runs: Vec<Vec<LatencyBin>> = Vec::new();
    for b in bins {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|p| b.at_s - p.at_s <= bin_s * 1.5) => run.push(*b),
            _ => runs.push(vec![*b]),
        }
    }
    for run in &mut runs {
        if let [only] = run.as_slice() {
            let half = bin_s / 2.0;
            let (from, to) = (only.at_s - half, only.at_s + half);
            *run = vec![
                LatencyBin {
                    at_s: from,
                    ..*only
                },
                LatencyBin { at_s: to, ..*only },
            ];
        }
    }
    runs
}

/// The top of the rate axis: the largest rate, unless a burst (catch-up)
/// is more than twice the steady rate; then 1.5 × the steady rate (the
/// 90th percentile of the non-zero seconds), and the burst is drawn
/// clipped with its value written on it.
pub fn rate_top(lanes: &[Lane]) -> f64 {
    let mut values: Vec<f64> = lanes
        .iter()
        .flat_map(|l| l.directions.iter())
        .flat_map(|d| d.rate.iter().map(|(_, v)| *v))
        .filter(|v| *v > 0.0)
        .collect();
    if values.is_empty() {
        return 1.0;
    }
    values.sort_by(f64::total_cmp);
    let peak = values[values.len() - 1];
    let steady = values[((values.len() - 1) as f64 * 0.9).round() as usize];
    if peak <= 2.0 * steady {
        peak
    } else {
        1.5 * steady
    }
}

/// The end of the run in seconds since t0: the last producer finishing,
/// the last delivery or the last action, whichever is latest (at least 1).
/// Sidecar samples taken before t0, or after the run until `verify` was
/// called, do not stretch it.
pub fn run_end_s(evidence: &Evidence) -> f64 {
    let done = evidence.published.iter().filter_map(|r| match r {
        ProducerRecord::Done { t_ms, .. } => Some(*t_ms),
        _ => None,
    });
    let delivered = evidence.delivery_times();
    let acted = evidence.events.iter().map(|e| e.t_ms);
    let last = done
        .chain(delivered)
        .chain(acted)
        .max()
        .unwrap_or(evidence.t0_ms);
    ((last - evidence.t0_ms) as f64 / 1000.0).ceil().max(1.0)
}
