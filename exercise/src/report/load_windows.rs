//! The report's lines for the load: the rate the producers were asked
//! for, what crossed a narrow bearer, and what a flood did. Pure.
use std::fmt::Write as _;

use crate::verify::{percentiles, AlertsAcross, Flooded, Narrowed, Report, ALERT_BOUND_MS};

fn pct((p50, p99, _): (i64, i64, i64)) -> String {
    format!("p50 {p50} ms, p99 {p99} ms")
}

fn maybe_pct(l: Option<(i64, i64, i64)>) -> String {
    l.map_or("no tracks".into(), pct)
}

/// `1000 tracks/s per producer; USA 2000 tracks/s from 10 s to 15 s`.
pub fn load_line(report: &Report) -> Option<String> {
    let load = report.load.as_ref()?;
    let mut line = format!("{} tracks/s per producer", load.tracks_per_sec);
    for s in &load.surges {
        line.push_str(&format!(
            "; {} {} tracks/s from {} to {}",
            s.nation,
            s.tracks_per_sec,
            crate::scenario::secs(s.from_ms),
            crate::scenario::secs(s.until_ms)
        ));
    }
    Some(line)
}

fn bytes_per_track(b: Option<f64>) -> String {
    b.map_or("-".into(), |b| format!("{b:.0} B"))
}

/// `5 of 6 within 2 s (p99 2300 ms)`.
fn alerts_within(a: &AlertsAcross) -> String {
    match a.latency_ms {
        None => "no alerts".into(),
        Some((_, p99, _)) => format!(
            "{} of {} within {} (p99 {p99} ms)",
            a.within_bound,
            a.delivered,
            crate::scenario::secs(ALERT_BOUND_MS as u64)
        ),
    }
}

/// (p50, p99, max) ms.
type Percentiles = Option<(i64, i64, i64)>;

/// Every direction's alert latency: (direction, delivered, p50/p99/max).
fn alert_latencies(report: &Report) -> Vec<(String, usize, Percentiles)> {
    report
        .alert_deliveries
        .iter()
        .map(|(direction, f)| {
            let mut l: Vec<i64> = f.iter().map(|(_, late)| *late).collect();
            (direction.clone(), l.len(), percentiles(&mut l))
        })
        .collect()
}

/// Console lines for alerts, narrow bearers and floods.
pub fn console(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let alerts = alert_latencies(report);
    let slowest = alerts
        .iter()
        .filter_map(|(d, _, l)| l.map(|l| (l.1, d)))
        .max();
    if let Some((p99, direction)) = slowest {
        let delivered: usize = alerts.iter().map(|a| a.1).sum();
        out.push(format!(
            "alerts      {delivered} delivered; the slowest direction, {direction}: p99 {p99} ms"
        ));
    }
    for n in &report.narrowed {
        out.push(format!("narrow      {}", n.incident));
        for d in &n.directions {
            out.push(format!(
                "              {}: {:.1} tracks/s across it, {} per track on the bearer, {} waiting when it widened (drained in {} ms), latency {}; alerts {}",
                d.direction,
                d.tracks_per_sec,
                bytes_per_track(d.bytes_per_track),
                d.backlog,
                d.drained_after_ms,
                maybe_pct(d.latency_ms),
                alerts_within(&d.alerts)
            ));
        }
    }
    for f in &report.flooded {
        out.push(format!("flood       {}", f.incident));
        for o in &f.others {
            out.push(format!(
                "              {}: latency before {}, during {}",
                o.direction,
                maybe_pct(o.before_ms),
                maybe_pct(o.during_ms)
            ));
        }
        for (direction, waiting, drained) in &f.held_back {
            out.push(format!(
                "              {direction}: {waiting} held back by the quota, delivered within {drained} ms after the flood"
            ));
        }
    }
    out
}

/// Markdown sections for alerts, narrow bearers and floods (empty if
/// none).
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let alerts = alert_latencies(report);
    if !alerts.is_empty() {
        let _ = writeln!(out, "\n## Alerts\n");
        out.push_str("Each producer raises one alert a second beside its tracks; alerts have their own lane (streams, consumers, bridge stages). The figures above are of tracks.\n\n");
        out.push_str("| direction | delivered | latency p50 / p99 / max |\n|---|---|---|\n");
        for (direction, n, l) in alerts {
            let _ = writeln!(
                out,
                "| {direction} | {n} | {} |",
                l.map_or("-".into(), |(a, b, c)| format!("{a} / {b} / {c} ms"))
            );
        }
    }
    if !report.narrowed.is_empty() {
        narrow_section(&mut out, &report.narrowed);
    }
    if !report.flooded.is_empty() {
        flood_section(&mut out, &report.flooded);
    }
    out
}

fn narrow_section(out: &mut String, narrowed: &[Narrowed]) {
    let _ = writeln!(out, "\n## Narrow bearer\n");
    let _ = writeln!(
        out,
        "| bearer | lasted | direction | tracks/s across it | bytes on the bearer | per track | waiting when it widened | drained after | latency p50 / p99 | alerts within {} |\n|---|---|---|---|---|---|---|---|---|---|",
        crate::scenario::secs(ALERT_BOUND_MS as u64)
    );
    for n in narrowed {
        let lasted = super::lasted(n.from_ms, n.until_ms);
        for d in &n.directions {
            let _ = writeln!(
                out,
                "| {} | {lasted} | {} | {:.1} | {} | {} | {} | {} ms | {} | {} |",
                n.incident,
                d.direction,
                d.tracks_per_sec,
                d.bytes,
                bytes_per_track(d.bytes_per_track),
                d.backlog,
                d.drained_after_ms,
                d.latency_ms.map_or("-".into(), super::p50_p99_cell),
                alerts_within(&d.alerts)
            );
        }
    }
    out.push_str("\nBytes are what the direction's link sidecars carried from the sending nation while the bearer was narrow (batches, signatures, proofs and NATS protocol), divided by the tracks delivered across it meanwhile. Latency is of the tracks published while it was narrow. An alert should cross within the bound while tracks saturate the bearer: the last column says how many of the alerts raised meanwhile did (reported, not an invariant).\n");
}

fn flood_section(out: &mut String, flooded: &[Flooded]) {
    let _ = writeln!(out, "\n## Partner flood\n");
    for f in flooded {
        let _ = writeln!(
            out,
            "{} for {:.1} s. The other directions' latency, of tracks published just before the flood (as long a time as it lasted) and during it:\n",
            f.incident,
            (f.until_ms - f.from_ms) as f64 / 1000.0
        );
        out.push_str("| direction | before p50 / p99 | during p50 / p99 |\n|---|---|---|\n");
        let cell = |l: Percentiles| l.map_or("-".into(), super::p50_p99_cell);
        for o in &f.others {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                o.direction,
                cell(o.before_ms),
                cell(o.during_ms)
            );
        }
        let _ = writeln!(
            out,
            "\n{}'s partners admit its excess at their quota: it waits in {}'s RELEASED streams, unacknowledged, and is delivered after the flood.\n",
            f.nation, f.nation
        );
        out.push_str("| direction | held back | all delivered after the flood |\n|---|---|---|\n");
        for (direction, waiting, drained) in &f.held_back {
            let _ = writeln!(out, "| {direction} | {waiting} | {drained} ms |");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Load, Surge};
    use crate::verify::{FloodLatency, NarrowDirection};

    #[test]
    fn the_load_narrow_bearer_and_flood_are_stated_with_their_figures() {
        let report = Report {
            load: Some(Load {
                tracks_per_sec: 100,
                surges: vec![Surge {
                    nation: "USA".into(),
                    from_ms: 10_000,
                    until_ms: 15_000,
                    tracks_per_sec: 2_000,
                }],
            }),
            narrowed: vec![Narrowed {
                incident: "degrade USA-GBR: 300 ms ± 0 ms, 1 % loss, 256 kbit/s".into(),
                from_ms: 0,
                until_ms: 30_000,
                directions: vec![NarrowDirection {
                    direction: "USA->GBR".into(),
                    tracks_per_sec: 84.25,
                    bytes: 960_000,
                    bytes_per_track: Some(379.6),
                    backlog: 21_000,
                    drained_after_ms: 7_400,
                    latency_ms: Some((14_000, 29_000, 29_500)),
                    alerts: AlertsAcross {
                        delivered: 30,
                        within_bound: 4,
                        latency_ms: Some((9_000, 21_000, 21_000)),
                    },
                }],
            }],
            flooded: vec![Flooded {
                incident: "USA floods at 2000 tracks/s".into(),
                nation: "USA".into(),
                from_ms: 10_000,
                until_ms: 15_000,
                others: vec![FloodLatency {
                    direction: "GBR->FRA".into(),
                    before_ms: Some((40, 90, 95)),
                    during_ms: Some((45, 120, 130)),
                }],
                held_back: vec![("USA->GBR".into(), 6_000, 31_000)],
            }],
            alert_deliveries: [
                ("USA->GBR".to_string(), vec![(1_100, 100), (2_300, 300)]),
                ("GBR->USA".to_string(), vec![(1_050, 50)]),
            ]
            .into(),
            ..Default::default()
        };
        assert_eq!(
            load_line(&report).unwrap(),
            "100 tracks/s per producer; USA 2000 tracks/s from 10 s to 15 s"
        );
        let console = console(&report).join("\n");
        assert!(console.contains("USA->GBR: 84.2 tracks/s across it, 380 B per track on the bearer, 21000 waiting when it widened (drained in 7400 ms), latency p50 14000 ms, p99 29000 ms; alerts 4 of 30 within 2 s (p99 21000 ms)"), "{console}");
        assert!(
            console
                .contains("alerts      3 delivered; the slowest direction, USA->GBR: p99 300 ms"),
            "{console}"
        );
        assert!(
            console.contains(
                "GBR->FRA: latency before p50 40 ms, p99 90 ms, during p50 45 ms, p99 120 ms"
            ),
            "{console}"
        );
        assert!(
            console.contains("USA->GBR: 6000 held back by the quota"),
            "{console}"
        );
        let md = markdown(&report);
        assert!(md.contains("## Narrow bearer"), "{md}");
        assert!(
            md.contains(
                "| USA->GBR | 84.2 | 960000 | 380 B | 21000 | 7400 ms | 14000 ms / 29000 ms |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| GBR->FRA | 40 ms / 90 ms | 45 ms / 120 ms |"),
            "{md}"
        );
        assert!(md.contains("| USA->GBR | 6000 | 31000 ms |"), "{md}");
        assert!(markdown(&Report::default()).is_empty());
        assert!(load_line(&Report::default()).is_none());
    }
}
