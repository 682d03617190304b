//! The verifier's report as text: a console summary and a Markdown file
//! that links the timeline plot. Pure.
use std::fmt::Write as _;

use crate::verify::Report;

mod load_windows;

/// The console summary (also the top of the Markdown report).
pub fn summary(scenario: &str, report: &Report) -> String {
    let t = &report.total;
    let mut out = String::new();
    let _ = writeln!(out, "== exercise {scenario}: verifier ==");
    if let Some(window) = report.window_ms {
        let _ = writeln!(out, "when        {}", when(window));
    }
    if let Some(load) = load_windows::load_line(report) {
        let _ = writeln!(out, "load        {load}");
    }
    let _ = writeln!(
        out,
        "sent        {} tracks (each offered to every link from its nation: {} offers)",
        report.sent, t.published
    );
    let _ = writeln!(
        out,
        "delivered   {} of {} releasable (per receiving nation)",
        t.delivered, t.releasable
    );
    let _ = writeln!(out, "lost        {}", t.lost);
    let _ = writeln!(out, "duplicated  {}", t.duplicated);
    let _ = writeln!(out, "leaked      {}", report.leaked.len());
    let _ = writeln!(out, "denied      {}", denied(&t.denied));
    let _ = writeln!(
        out,
        "gaps        {} (replayed deliveries {})",
        report.gaps, report.replayed
    );
    for e in &report.enforcement {
        let applied = applied_after(e, " ");
        let _ = writeln!(
            out,
            "enforced    {} ({}): {}",
            e.notice,
            e.action,
            if applied.is_empty() {
                "by no bridge".into()
            } else {
                applied.join(", ")
            }
        );
    }
    for c in &report.catch_up {
        let _ = writeln!(
            out,
            "catch-up    {}: {} waiting, all delivered {} ms after it ended",
            c.outage, c.backlog, c.drained_after_ms
        );
        for d in &c.directions {
            let _ = writeln!(out, "              {}", direction_line(d));
        }
    }
    for line in load_windows::console(report) {
        let _ = writeln!(out, "{line}");
    }
    for line in report
        .failures
        .iter()
        .chain(&report.leaked)
        .chain(&report.lost)
        .take(30)
    {
        let _ = writeln!(out, "  ! {line}");
    }
    let _ = writeln!(out, "{}", if report.passed() { "PASS" } else { "FAIL" });
    out
}

/// `2026-12-06 20:50:01 UTC to 20:51:10 (69 s)`: the first and the last
/// track stored.
fn when((first, last): (i64, i64)) -> String {
    let end = coalition_core::clock::utc_seconds(last);
    // The time of day of the end, when the day is the same.
    let end = match (
        coalition_core::clock::utc_seconds(first).get(..10),
        end.get(..10),
    ) {
        (Some(a), Some(b)) if a == b => end.get(11..19).unwrap_or(&end).to_string(),
        _ => end.clone(),
    };
    format!(
        "{} to {end} ({} s of publishing)",
        coalition_core::clock::utc_seconds(first),
        (last - first).max(0) / 1000
    )
}

/// A table cell `p50 ms / p99 ms` of (p50, p99, max).
fn p50_p99_cell((p50, p99, _): (i64, i64, i64)) -> String {
    format!("{p50} ms / {p99} ms")
}

/// How long an incident lasted, `30.0 s`.
fn lasted(from_ms: i64, until_ms: i64) -> String {
    format!("{:.1} s", (until_ms - from_ms) as f64 / 1000.0)
}

/// `GBR 11 ms`, one per bridge that applied the notice.
fn applied_after(e: &crate::verify::Enforcement, sep: &str) -> Vec<String> {
    e.applied_after_ms
        .iter()
        .map(|(n, ms)| format!("{n}{sep}{ms} ms"))
        .collect()
}

fn denied(d: &std::collections::BTreeMap<String, u64>) -> String {
    if d.is_empty() {
        return "none".into();
    }
    d.iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One direction of a catch-up, for the console: what waited, how long it
/// took to drain and how late it was; and what a notice withheld.
fn direction_line(d: &crate::verify::DirectionCatchUp) -> String {
    let mut line = format!(
        "{}: {} waiting, drained {} ms after it ended",
        d.direction, d.backlog, d.drained_after_ms
    );
    if let Some((p50, p99, _)) = d.latency_ms {
        line.push_str(&format!(", latency p50 {p50} ms, p99 {p99} ms"));
    }
    if d.withheld > 0 {
        line.push_str(&format!(
            "; {} withheld by a notice (never arrive)",
            d.withheld
        ));
    }
    line
}

/// The Markdown report; `plot` is the SVG's file name beside it.
pub fn markdown(scenario: &str, summary_line: &str, report: &Report, plot: &str) -> String {
    let mut out = String::new();
    let verdict = if report.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        out,
        "# Exercise `{scenario}`: {verdict}\n\n{summary_line}\n"
    );
    if let Some(window) = report.window_ms {
        let _ = writeln!(out, "Run {}.\n", when(window));
    }
    if let Some(load) = load_windows::load_line(report) {
        let _ = writeln!(out, "Load: {load}.\n");
    }
    let _ = writeln!(out, "![timeline]({plot})\n");
    let _ = writeln!(out, "## Invariants\n");
    let t = &report.total;
    let rows = [
        ("lost", t.lost as usize, "0"),
        ("duplicated", t.duplicated as usize, "0"),
        ("leaked", report.leaked.len(), "0"),
        ("gaps reported by the SDK", report.gaps as usize, "0"),
        ("other failures", report.failures.len(), "0"),
    ];
    out.push_str("| invariant | found | must be |\n|---|---|---|\n");
    for (name, found, must) in rows {
        let _ = writeln!(out, "| {name} | {found} | {must} |");
    }
    let _ = writeln!(out, "\n## Per link\n");
    let _ = writeln!(
        out,
        "{} tracks were sent. Each is offered to every link from its nation, so the links' \"offered\" add up to {}, the \"all\" row.\n",
        report.sent, t.published
    );
    out.push_str("| link | offered | releasable | delivered | lost | duplicated | latency p50 / p99 / max | denied |\n|---|---|---|---|---|---|---|---|\n");
    for (link, l) in report.links.iter().chain([(&"all".to_string(), t)]) {
        let _ = writeln!(
            out,
            "| {link} | {} | {} | {} | {} | {} | {} | {} |",
            l.published,
            l.releasable,
            l.delivered,
            l.lost,
            l.duplicated,
            l.latency_ms
                .map_or("-".into(), |(a, b, c)| format!("{a} / {b} / {c} ms")),
            denied(&l.denied)
        );
    }
    if !report.enforcement.is_empty() {
        let _ = writeln!(out, "\n## Revocation enforcement\n");
        out.push_str("| notice | action | applied after (per bridge) |\n|---|---|---|\n");
        for e in &report.enforcement {
            let applied = applied_after(e, ": ");
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                e.notice,
                e.action,
                applied.join(", ")
            );
        }
        out.push_str("\nA partner behind a cut bearer applies a notice only once the bearer returns; its figure includes the cut.\n");
    }
    if !report.catch_up.is_empty() {
        let _ = writeln!(out, "\n## Catch-up after each outage\n");
        out.push_str("| outage | lasted | direction | messages waiting | all delivered after it ended | their latency p50 / p99 | withheld by a notice |\n|---|---|---|---|---|---|---|\n");
        for c in &report.catch_up {
            let lasted = lasted(c.from_ms, c.until_ms);
            if c.directions.is_empty() {
                let _ = writeln!(out, "| {} | {lasted} | - | 0 | - | - | 0 |", c.outage);
            }
            for d in &c.directions {
                let _ = writeln!(
                    out,
                    "| {} | {lasted} | {} | {} | {} ms | {} | {} |",
                    c.outage,
                    d.direction,
                    d.backlog,
                    d.drained_after_ms,
                    d.latency_ms.map_or("-".into(), p50_p99_cell),
                    d.withheld
                );
            }
        }
        out.push_str("\nLatency here is of the messages that waited, publish to delivery: the incident window, not the whole run. Withheld messages were published before the outage ended and denied by a notice (a revoked translator, a suspension): they are not a backlog and never arrive.\n");
    }
    out.push_str(&load_windows::markdown(report));
    let problems: Vec<&String> = report
        .failures
        .iter()
        .chain(&report.leaked)
        .chain(&report.lost)
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "\n## Problems\n");
        for p in problems.iter().take(200) {
            let _ = writeln!(out, "- {p}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::LinkTally;

    #[test]
    fn a_failed_report_says_fail_and_lists_the_problem() {
        let mut report = Report {
            total: LinkTally {
                lost: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        report
            .lost
            .push("USA/p/tracks#3 to GBR: neither delivered nor denied".into());
        report.failures.push("1 message(s) lost".into());
        let s = summary("cut-30s", &report);
        assert!(s.contains("lost        1"));
        assert!(s.trim_end().ends_with("FAIL"));
        let md = markdown("cut-30s", "x", &report, "timeline.svg");
        assert!(md.starts_with("# Exercise `cut-30s`: FAIL"));
        assert!(md.contains("![timeline](timeline.svg)"));
        assert!(md.contains("- USA/p/tracks#3 to GBR"));
        assert!(summary("cut-30s", &Report::default())
            .trim_end()
            .ends_with("PASS"));
    }

    #[test]
    fn sent_and_offered_agree_and_the_run_says_when() {
        let report = Report {
            sent: 1500,
            // 2023-11-14 22:13:20 to 22:14:30 UTC.
            window_ms: Some((1_700_000_000_000, 1_700_000_070_000)),
            total: LinkTally {
                published: 3000,
                ..Default::default()
            },
            ..Default::default()
        };
        let s = summary("cut-30s", &report);
        assert!(
            s.contains("when        2023-11-14 22:13:20 UTC to 22:14:30 (70 s of publishing)"),
            "{s}"
        );
        assert!(
            s.contains(
                "sent        1500 tracks (each offered to every link from its nation: 3000 offers)"
            ),
            "{s}"
        );
        let md = markdown("cut-30s", "x", &report, "timeline.svg");
        assert!(
            md.contains("Run 2023-11-14 22:13:20 UTC to 22:14:30"),
            "{md}"
        );
        assert!(md.contains("1500 tracks were sent"), "{md}");
        assert!(md.contains("| link | offered |"), "{md}");
    }

    #[test]
    fn catch_up_is_given_per_direction_with_its_latency_and_what_was_withheld() {
        use crate::verify::{CatchUp, DirectionCatchUp};
        let report = Report {
            catch_up: vec![CatchUp {
                outage: "cut USA-GBR".into(),
                from_ms: 0,
                until_ms: 30_000,
                backlog: 148,
                drained_after_ms: 9_900,
                directions: vec![
                    DirectionCatchUp {
                        direction: "GBR->USA".into(),
                        backlog: 28,
                        drained_after_ms: 2_000,
                        latency_ms: Some((15_000, 29_000, 29_500)),
                        withheld: 0,
                    },
                    DirectionCatchUp {
                        direction: "USA->GBR".into(),
                        backlog: 120,
                        drained_after_ms: 9_900,
                        latency_ms: Some((20_100, 28_000, 28_100)),
                        withheld: 12,
                    },
                ],
            }],
            ..Default::default()
        };
        let s = summary("cut-30s", &report);
        assert!(
            s.contains("USA->GBR: 120 waiting, drained 9900 ms after it ended, latency p50 20100 ms, p99 28000 ms; 12 withheld by a notice"),
            "{s}"
        );
        assert!(s.contains("GBR->USA: 28 waiting, drained 2000 ms"), "{s}");
        let md = markdown("cut-30s", &s, &report, "timeline.svg");
        assert!(
            md.contains(
                "| cut USA-GBR | 30.0 s | USA->GBR | 120 | 9900 ms | 20100 ms / 28000 ms | 12 |"
            ),
            "{md}"
        );
    }
}
