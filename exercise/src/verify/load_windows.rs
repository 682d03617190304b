//! What a narrow bearer and a partner flood did to the traffic, from the
//! first deliveries the verifier already matched and the sidecars'
//! byte counters. Pure.
//!
//! - **A narrow bearer** (a degradation with a bandwidth limit), each
//!   direction across it: tracks per second delivered while it was narrow,
//!   the bytes the sidecars carried per track delivered (what the wire
//!   format costs on the bearer: batches, signatures, proofs, protocol),
//!   the backlog when it widened again and the time to drain it; and the
//!   alerts raised meanwhile: how many arrived within [`ALERT_BOUND_MS`]
//!   while tracks saturated the bearer.
//! - **A flood** (one nation publishing far above its partners' quota):
//!   every other direction's latency just before the flood (as long a
//!   time as it lasted) and during it, so a
//!   reader sees whether the flood slowed anyone else; and the flooding
//!   nation's own backlog, which its partners' quotas hold back and which
//!   drains after it.
use std::collections::BTreeMap;

use super::{percentiles, Evidence};
use crate::ledger::LinkSample;
use crate::scenario::{bearer, Action};

/// How soon an alert must cross a narrow bearer: a few of its round
/// trips. Reported, not an invariant: it is what an alerting cell asks of
/// the mesh, measured.
pub const ALERT_BOUND_MS: i64 = 2_000;

/// The alerts raised while a bearer was narrow, one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsAcross {
    /// Alerts published while it was narrow and delivered (at any time).
    pub delivered: u64,
    /// Of those, delivered within [`ALERT_BOUND_MS`] of their publishing.
    pub within_bound: u64,
    /// (p50, p99, max) ms from publish to delivery.
    pub latency_ms: Option<(i64, i64, i64)>,
}

/// One direction across a narrow bearer.
#[derive(Debug, Clone, PartialEq)]
pub struct NarrowDirection {
    /// `FROM->TO`.
    pub direction: String,
    /// First deliveries while the bearer was narrow, per second.
    pub tracks_per_sec: f64,
    /// Bytes the direction's leaf connections carried meanwhile, both
    /// ways, as the sidecars' kernels counted them.
    pub bytes: u64,
    /// `bytes` per track delivered meanwhile, if any was.
    pub bytes_per_track: Option<f64>,
    /// Tracks published before it widened and delivered after.
    pub backlog: u64,
    /// From the widening to the last of those deliveries.
    pub drained_after_ms: i64,
    /// (p50, p99, max) ms from publish to delivery of the tracks published
    /// while it was narrow.
    pub latency_ms: Option<(i64, i64, i64)>,
    /// The alerts published while it was narrow.
    pub alerts: AlertsAcross,
}

/// A degradation with a bandwidth limit, and what crossed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Narrowed {
    /// E.g. `degrade USA-GBR: 300 ms ± 0 ms, 1 % loss, 256 kbit/s`.
    pub incident: String,
    /// Unix ms.
    pub from_ms: i64,
    /// When it was cleared (or the last delivery, if never), Unix ms.
    pub until_ms: i64,
    /// Both directions, `a->b` first.
    pub directions: Vec<NarrowDirection>,
}

/// One direction's latency around a flood.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodLatency {
    /// `FROM->TO`.
    pub direction: String,
    /// (p50, p99, max) of tracks published in as long a time just before
    /// the flood (not from the start: a mesh coming up is slower).
    pub before_ms: Option<(i64, i64, i64)>,
    /// Of tracks published during it.
    pub during_ms: Option<(i64, i64, i64)>,
}

/// A flood and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Flooded {
    /// E.g. `USA floods at 2000 tracks/s`.
    pub incident: String,
    /// The flooding nation.
    pub nation: String,
    /// Unix ms.
    pub from_ms: i64,
    /// Unix ms.
    pub until_ms: i64,
    /// Every direction not from the flooding nation.
    pub others: Vec<FloodLatency>,
    /// The flooding nation's directions: published before the flood
    /// ended, delivered after (held back by the quotas), and the time from
    /// its end to the last of them.
    pub held_back: Vec<(String, u64, i64)>,
}

/// `first_deliveries` as (published, delivered) instants per direction.
type Firsts<'a> = &'a BTreeMap<String, Vec<(i64, i64)>>;

fn published_and_delivered(firsts: &[(i64, i64)]) -> impl Iterator<Item = (i64, i64)> + '_ {
    firsts.iter().map(|(t, late)| (t - late, *t))
}

/// Every bandwidth-limited degradation in the event ledger; `firsts` are
/// the tracks' first deliveries, `alerts` the alerts'.
pub fn narrowed(evidence: &Evidence, firsts: Firsts, alerts: Firsts) -> Vec<Narrowed> {
    let mut out = Vec::new();
    for (i, e) in evidence.events.iter().enumerate() {
        let Action::Degrade {
            a, b, rate_kbit, ..
        } = &e.event
        else {
            continue;
        };
        if *rate_kbit == 0 {
            continue;
        }
        let until = evidence.events[i + 1..]
            .iter()
            .find(|x| x.event.ends(&e.event))
            .map_or(i64::MAX, |x| x.t_ms);
        let (lo, hi) = bearer(a, b);
        let directions = [(lo, hi), (hi, lo)]
            .into_iter()
            .map(|(from, to)| {
                let mut d = narrow_direction(evidence, firsts, from, to, e.t_ms, until);
                d.alerts = alerts_across(alerts, &d.direction, e.t_ms, until);
                d
            })
            .collect();
        out.push(Narrowed {
            incident: e.action.clone(),
            from_ms: e.t_ms,
            until_ms: until,
            directions,
        });
    }
    out
}

fn narrow_direction(
    evidence: &Evidence,
    firsts: Firsts,
    from: &str,
    to: &str,
    start: i64,
    until: i64,
) -> NarrowDirection {
    let direction = format!("{from}->{to}");
    let pairs: Vec<(i64, i64)> = firsts
        .get(&direction)
        .map(|f| published_and_delivered(f).collect())
        .unwrap_or_default();
    let end = until.min(pairs.iter().map(|p| p.1).max().unwrap_or(start));
    let inside = pairs
        .iter()
        .filter(|(_, t)| *t >= start && *t < end)
        .count();
    let secs = (end - start).max(1) as f64 / 1000.0;
    let bytes = sidecar_bytes(evidence, from, to, start, end);
    let waited: Vec<i64> = pairs
        .iter()
        .filter(|(p, t)| *p < until && *t >= until)
        .map(|(_, t)| t - until)
        .collect();
    let mut latency: Vec<i64> = pairs
        .iter()
        .filter(|(p, _)| *p >= start && *p < until)
        .map(|(p, t)| t - p)
        .collect();
    NarrowDirection {
        direction,
        tracks_per_sec: inside as f64 / secs,
        bytes,
        bytes_per_track: (inside > 0).then(|| bytes as f64 / inside as f64),
        backlog: waited.len() as u64,
        drained_after_ms: waited.iter().copied().max().unwrap_or(0),
        latency_ms: percentiles(&mut latency),
        alerts: AlertsAcross {
            delivered: 0,
            within_bound: 0,
            latency_ms: None,
        },
    }
}

/// The alerts of `direction` published in `[start, until)`.
fn alerts_across(alerts: Firsts, direction: &str, start: i64, until: i64) -> AlertsAcross {
    let mut latency: Vec<i64> = alerts
        .get(direction)
        .map(|f| {
            published_and_delivered(f)
                .filter(|(p, _)| *p >= start && *p < until)
                .map(|(p, t)| t - p)
                .collect()
        })
        .unwrap_or_default();
    AlertsAcross {
        delivered: latency.len() as u64,
        within_bound: latency.iter().filter(|l| **l <= ALERT_BOUND_MS).count() as u64,
        latency_ms: percentiles(&mut latency),
    }
}

/// Bytes the sidecars of `from -> to` sent, both ways, between `start`
/// and `end`: each kernel counter's growth between its last samples at or
/// before each instant (the relay's own count of bytes from the sender
/// where the kernel's is unknown).
fn sidecar_bytes(evidence: &Evidence, from: &str, to: &str, start: i64, end: i64) -> u64 {
    let prefix = format!("{from}-{to}-");
    evidence
        .links
        .iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .map(|(_, samples)| {
            let at = |t: i64| counter_at(samples, t);
            at(end).saturating_sub(at(start))
        })
        .sum()
}

fn counter_at(samples: &[LinkSample], t: i64) -> u64 {
    samples
        .iter()
        .take_while(|s| s.t_ms <= t)
        .last()
        .map_or(0, |s| s.wire_bytes.unwrap_or(s.from_upstream))
}

/// Every flood in the event ledger.
pub fn flooded(evidence: &Evidence, firsts: Firsts) -> Vec<Flooded> {
    let mut out = Vec::new();
    for (i, e) in evidence.events.iter().enumerate() {
        let Action::Flood { nation, .. } = &e.event else {
            continue;
        };
        let until = evidence.events[i + 1..]
            .iter()
            .find(|x| x.event.ends(&e.event))
            .map_or(i64::MAX, |x| x.t_ms);
        let mut others = Vec::new();
        let mut held_back = Vec::new();
        for (direction, f) in firsts {
            let pairs: Vec<(i64, i64)> = published_and_delivered(f).collect();
            if direction.starts_with(&format!("{nation}->")) {
                let waited: Vec<i64> = pairs
                    .iter()
                    .filter(|(p, t)| *p < until && *t >= until)
                    .map(|(_, t)| t - until)
                    .collect();
                held_back.push((
                    direction.clone(),
                    waited.len() as u64,
                    waited.iter().copied().max().unwrap_or(0),
                ));
                continue;
            }
            let latency = |keep: &dyn Fn(i64) -> bool| {
                let mut l: Vec<i64> = pairs
                    .iter()
                    .filter(|(p, _)| keep(*p))
                    .map(|(p, t)| t - p)
                    .collect();
                percentiles(&mut l)
            };
            others.push(FloodLatency {
                direction: direction.clone(),
                before_ms: latency(&|p| p >= e.t_ms - (until - e.t_ms) && p < e.t_ms),
                during_ms: latency(&|p| p >= e.t_ms && p < until),
            });
        }
        out.push(Flooded {
            incident: e.action.clone(),
            nation: nation.clone(),
            from_ms: e.t_ms,
            until_ms: until,
            others,
            held_back,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::EventRecord;

    fn event(t_ms: i64, event: Action) -> EventRecord {
        EventRecord {
            t_ms,
            action: event.describe(),
            event,
            notice: None,
        }
    }

    fn sample(name: &str, t_ms: i64, from_upstream: u64) -> LinkSample {
        LinkSample {
            t_ms,
            name: name.into(),
            open: true,
            live: 1,
            to_upstream: 0,
            from_upstream,
            delay_ms: 0,
            jitter_ms: 0,
            wire_bytes: None,
        }
    }

    fn narrow_satcom() -> Evidence {
        let degrade = Action::Degrade {
            a: "USA".into(),
            b: "GBR".into(),
            delay_ms: 300,
            jitter_ms: 0,
            loss_percent: 1,
            rate_kbit: 256,
        };
        let clear = Action::Clear {
            a: "GBR".into(),
            b: "USA".into(),
        };
        let mut links = BTreeMap::new();
        links.insert(
            "USA-GBR-0".to_string(),
            vec![
                sample("USA-GBR-0", 500, 1_000),
                sample("USA-GBR-0", 1_000, 5_000),
                sample("USA-GBR-0", 6_000, 45_000),
                sample("USA-GBR-0", 11_000, 95_000),
            ],
        );
        // Another direction's sidecar is not counted.
        links.insert(
            "USA-FRA-0".to_string(),
            vec![sample("USA-FRA-0", 11_000, 9_999_999)],
        );
        Evidence {
            events: vec![event(1_000, degrade), event(11_000, clear)],
            links,
            ..Evidence::default()
        }
    }

    #[test]
    fn a_narrow_bearer_reports_rate_bytes_per_track_backlog_and_drain_each_way() {
        let mut firsts = BTreeMap::new();
        // (delivered at, ms from publish): 20 inside the window, then 3
        // published inside and delivered after the clear.
        let mut usa_gbr: Vec<(i64, i64)> = (0..20).map(|i| (1_500 + i * 400, 300)).collect();
        usa_gbr.extend([(11_200, 1_000), (11_400, 2_000), (11_900, 3_000)]);
        firsts.insert("USA->GBR".to_string(), usa_gbr);
        let mut alerts = BTreeMap::new();
        // Alerts published at 2 s, 5 s and 9 s: 400 ms, 1.5 s, 6 s late.
        alerts.insert(
            "USA->GBR".to_string(),
            vec![(2_400, 400), (6_500, 1_500), (15_000, 6_000)],
        );
        let n = narrowed(&narrow_satcom(), &firsts, &alerts);
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].from_ms, n[0].until_ms), (1_000, 11_000));
        let [gbr_usa, usa_gbr] = [&n[0].directions[0], &n[0].directions[1]];
        assert_eq!(gbr_usa.direction, "GBR->USA");
        assert_eq!(gbr_usa.bytes_per_track, None, "nothing crossed that way");
        assert_eq!(usa_gbr.direction, "USA->GBR");
        assert!((usa_gbr.tracks_per_sec - 2.0).abs() < 1e-9, "20 in 10 s");
        assert_eq!(usa_gbr.bytes, 90_000, "95,000 - 5,000");
        assert_eq!(usa_gbr.bytes_per_track, Some(4_500.0));
        assert_eq!((usa_gbr.backlog, usa_gbr.drained_after_ms), (3, 900));
        assert_eq!(usa_gbr.latency_ms, Some((300, 3_000, 3_000)));
        assert_eq!(
            usa_gbr.alerts,
            AlertsAcross {
                delivered: 3,
                within_bound: 2,
                latency_ms: Some((1_500, 6_000, 6_000)),
            }
        );
        assert_eq!(gbr_usa.alerts.delivered, 0);
        // Where the kernel counted the bytes on the wire, that count is
        // used: the relay may read ahead of a narrow bearer.
        let mut evidence = narrow_satcom();
        for s in evidence.links.get_mut("USA-GBR-0").unwrap() {
            s.wire_bytes = Some(s.from_upstream / 2);
        }
        let n = narrowed(&evidence, &firsts, &alerts);
        assert_eq!(n[0].directions[1].bytes, 45_000);
    }

    #[test]
    fn a_degradation_without_a_bandwidth_limit_is_not_a_narrow_bearer() {
        let mut e = narrow_satcom();
        if let Action::Degrade { rate_kbit, .. } = &mut e.events[0].event {
            *rate_kbit = 0;
        }
        assert!(narrowed(&e, &BTreeMap::new(), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_flood_shows_the_others_latency_before_and_during_and_its_own_backlog() {
        let evidence = Evidence {
            events: vec![
                event(
                    10_000,
                    Action::Flood {
                        nation: "USA".into(),
                        tracks_per_sec: 2_000,
                    },
                ),
                event(
                    15_000,
                    Action::FloodEnd {
                        nation: "USA".into(),
                    },
                ),
            ],
            ..Evidence::default()
        };
        let mut firsts = BTreeMap::new();
        // GBR->FRA: 40 ms just before, 60 ms during; the slow one at the
        // start (published at 100 ms) is outside the window before.
        firsts.insert(
            "GBR->FRA".to_string(),
            vec![
                (1_000, 900),
                (5_040, 40),
                (9_040, 40),
                (12_060, 60),
                (14_060, 60),
            ],
        );
        // USA->GBR: two published during the flood, delivered after it.
        firsts.insert(
            "USA->GBR".to_string(),
            vec![(9_050, 50), (16_000, 3_000), (20_000, 6_000)],
        );
        let f = flooded(&evidence, &firsts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].nation, "USA");
        assert_eq!(
            f[0].others,
            vec![FloodLatency {
                direction: "GBR->FRA".into(),
                before_ms: Some((40, 40, 40)),
                during_ms: Some((60, 60, 60)),
            }]
        );
        assert_eq!(f[0].held_back, vec![("USA->GBR".to_string(), 2, 5_000)]);
    }
}
