//! The verifier's report as text: a console summary and a Markdown file
//! that links the timeline plot. Pure.
use std::fmt::Write as _;

use crate::verify::Report;

/// The console summary (also the top of the Markdown report).
pub fn summary(scenario: &str, report: &Report) -> String {
    let t = &report.total;
    let mut out = String::new();
    let _ = writeln!(out, "== exercise {scenario}: verifier ==");
    let _ = writeln!(out, "sent        {}", report.sent);
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

/// The Markdown report; `plot` is the SVG's file name beside it.
pub fn markdown(scenario: &str, summary_line: &str, report: &Report, plot: &str) -> String {
    let mut out = String::new();
    let verdict = if report.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        out,
        "# Exercise `{scenario}`: {verdict}\n\n{summary_line}\n"
    );
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
    out.push_str("| link | published | releasable | delivered | lost | duplicated | latency p50 / p99 / max | denied |\n|---|---|---|---|---|---|---|---|\n");
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
        out.push_str("| outage | lasted | messages waiting | all delivered after it ended |\n|---|---|---|---|\n");
        for c in &report.catch_up {
            let _ = writeln!(
                out,
                "| {} | {:.1} s | {} | {} ms |",
                c.outage,
                (c.until_ms - c.from_ms) as f64 / 1000.0,
                c.backlog,
                c.drained_after_ms
            );
        }
    }
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
}
