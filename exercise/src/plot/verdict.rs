//! The verdict banner at the top of the picture and the legend at its
//! foot. The banner's figures are the verifier's report's own (sent,
//! delivered, lost, duplicated, leaked, denied, catch-up, enforcement,
//! PASS/FAIL), read from [`Report`] exactly as the console summary and
//! report.md read them; nothing is counted again here. Pure.
use super::axes::{after, count, millis, text_width, wrap};
use super::palette::{Swatch, FAIL, INK, LEGEND, PAPER, PASS};
use super::svg::{Font, Svg};
use crate::verify::Report;

/// One figure of the banner, red if it broke its invariant.
struct Figure {
    text: String,
    broken: bool,
}

fn figure(text: String, broken: bool) -> Figure {
    Figure { text, broken }
}

/// The banner's first line: the invariants' figures.
fn figures(report: &Report) -> Vec<Figure> {
    let t = &report.total;
    let denied: u64 = t.denied.values().sum();
    vec![
        figure(format!("sent {}", count(report.sent)), report.sent == 0),
        figure(
            format!(
                "delivered {} of {} releasable",
                count(t.delivered),
                count(t.releasable)
            ),
            // Fewer is fine when the scenario explains the denials;
            // `lost` says whether it is not.
            false,
        ),
        figure(format!("lost {}", count(t.lost)), t.lost > 0),
        figure(
            format!("duplicated {}", count(t.duplicated)),
            t.duplicated > 0,
        ),
        figure(
            format!("leaked {}", report.leaked.len()),
            !report.leaked.is_empty(),
        ),
        figure(format!("denied {}", count(denied)), false),
    ]
}

/// `denied: classification_above_link 8,100 · translator_revoked 600`.
fn denials(report: &Report) -> String {
    if report.total.denied.is_empty() {
        return "denied: none".into();
    }
    let by: Vec<String> = report
        .total
        .denied
        .iter()
        .map(|(reason, n)| format!("{reason} {}", count(*n)))
        .collect();
    format!("denied by reason: {}", by.join(" · "))
}

/// The banner's second line: catch-up and enforcement, as the report has
/// them.
pub fn story(report: &Report) -> String {
    let mut parts = Vec::new();
    match report.catch_up.as_slice() {
        [] => {}
        [c] => parts.push(format!(
            "catch-up after {}: {} waiting, all delivered {} after it ended",
            c.outage,
            count(c.backlog),
            millis(c.drained_after_ms as f64)
        )),
        many => {
            let waiting = many.iter().map(|c| c.backlog).max().unwrap_or(0);
            let drain = many.iter().map(|c| c.drained_after_ms).max().unwrap_or(0);
            parts.push(format!(
                "catch-up after {} outages: up to {} waiting, the longest drain {}",
                many.len(),
                count(waiting),
                millis(drain as f64)
            ));
        }
    }
    for e in &report.enforcement {
        let applied: Vec<String> = e
            .applied_after_ms
            .iter()
            .map(|(n, ms)| format!("{n} {}", after(*ms)))
            .collect();
        parts.push(format!(
            "{} ({}) enforced by {}",
            e.action,
            e.notice,
            if applied.is_empty() {
                "no bridge".into()
            } else {
                applied.join(", ")
            }
        ));
    }
    parts.join(" · ")
}

/// The banner's lines under its figures: catch-up and enforcement
/// (wrapped), denials by reason, then what broke.
fn lines(report: &Report, width: f64) -> Vec<(String, bool)> {
    let chars = ((width - 112.0) / (12.0 * 0.56)) as usize;
    let mut out: Vec<(String, bool)> = wrap(&story(report), chars)
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| (l, false))
        .collect();
    out.push((denials(report), false));
    for f in report.failures.iter().take(3) {
        out.push((format!("! {f}"), true));
    }
    out
}

/// The banner's height, `width` wide.
pub fn banner_height(report: &Report, width: f64) -> f64 {
    26.0 + 16.0 * lines(report, width).len() as f64
}

/// Draws the banner at `(x, y)`, `width` wide.
pub fn banner(svg: &mut Svg, (x, y, width): (f64, f64, f64), report: &Report) {
    let (word, colour) = if report.passed() {
        ("PASS", PASS)
    } else {
        ("FAIL", FAIL)
    };
    svg.rect((x, y, 96.0, 44.0), colour, 1.0);
    svg.text(
        (x + 48.0, y + 30.0),
        Font::plain(24.0, PAPER).bold().anchored("middle"),
        word,
    );
    let mut fx = x + 112.0;
    for f in figures(report) {
        let font = Font::plain(15.0, if f.broken { FAIL } else { INK }).bold();
        svg.text((fx, y + 17.0), font, &f.text);
        fx += text_width(&f.text, 15.0) + 22.0;
    }
    for (i, (line, failure)) in lines(report, width).iter().enumerate() {
        let font = if *failure {
            Font::plain(12.0, FAIL).bold()
        } else {
            Font::plain(12.0, INK)
        };
        svg.text((x + 112.0, y + 37.0 + 16.0 * i as f64), font, line);
    }
}

/// Rows of the legend (two columns).
pub fn legend_height() -> f64 {
    26.0 + 18.0 * LEGEND.len().div_ceil(2) as f64
}

/// Draws the legend at `(x, y)`, `width` wide, in the group `legend`.
pub fn legend(svg: &mut Svg, (x, y, width): (f64, f64, f64)) {
    svg.group("legend");
    svg.text((x, y + 12.0), Font::plain(12.0, INK).bold(), "Legend");
    let column = width / 2.0;
    for (i, e) in LEGEND.iter().enumerate() {
        let cx = x + column * (i % 2) as f64;
        let cy = y + 30.0 + 18.0 * (i / 2) as f64;
        match e.swatch {
            Swatch::WideLine => svg.polyline(
                &[(cx, cy - 4.0), (cx + 26.0, cy - 4.0)],
                e.colour,
                (4.0, 0.55),
                "",
            ),
            Swatch::Line => svg.line((cx, cy - 4.0), (cx + 26.0, cy - 4.0), e.colour, 2.5, ""),
            Swatch::Dashed => {
                svg.line((cx, cy - 7.0), (cx + 26.0, cy - 7.0), e.colour, 1.4, "4,3");
                svg.line((cx, cy - 1.0), (cx + 26.0, cy - 1.0), e.colour, 1.6, "");
            }
            Swatch::Shade => svg.rect((cx, cy - 11.0, 26.0, 12.0), e.colour, 0.3),
            Swatch::Marker => svg.line(
                (cx + 13.0, cy - 12.0),
                (cx + 13.0, cy + 2.0),
                e.colour,
                2.0,
                "",
            ),
            Swatch::DashedMarker => svg.line(
                (cx + 13.0, cy - 12.0),
                (cx + 13.0, cy + 2.0),
                e.colour,
                2.0,
                "3,2",
            ),
            Swatch::Diamond => svg.polygon(
                &[
                    (cx + 13.0, cy - 11.0),
                    (cx + 19.0, cy - 5.0),
                    (cx + 13.0, cy + 1.0),
                    (cx + 7.0, cy - 5.0),
                ],
                e.colour,
            ),
            Swatch::Triangle => svg.polygon(
                &[(cx + 8.0, cy), (cx + 18.0, cy), (cx + 13.0, cy - 9.0)],
                e.colour,
            ),
        }
        svg.text((cx + 34.0, cy), Font::plain(11.0, INK), e.text);
    }
    svg.end_group();
}
