//! The timeline picture (`timeline.svg`, and `timeline.png` from it): what
//! happened in an exercise, readable at a glance by an ops team.
//!
//! From the top:
//! - the title (the scenario, wrapped to the canvas) and when it ran;
//! - the verdict: PASS or FAIL with the report's own figures (sent,
//!   delivered, lost, duplicated, leaked, denied, catch-up, enforcement);
//! - one lane per bearer (the two nations of a leaf link), both directions
//!   in it: deliveries per second, and p50/p99 latency over time on a log
//!   scale, on one time axis from 0 to the end of the run;
//! - on every lane an incident affects: cut, degradation (with its
//!   figures), bridge down, catch-up (messages waiting, time to drain),
//!   restore, notice published, each nation's enforcement;
//! - a legend for every colour and shading.
//!
//! The rate axis keeps the steady rate readable: a catch-up burst above
//! it is drawn clipped, with its value written, and the catch-up is its
//! own mark. Pure: builds text from the evidence and the verifier's
//! report; [`png`] rasterises it; writing files is the driver's job.
mod axes;
mod draw;
mod incidents;
mod lanes;
mod palette;
pub mod png;
mod svg;
mod verdict;

pub use axes::{log_ticks, ticks, wrap, x_ticks};
pub use incidents::{incidents, Incident, Kind};
pub use lanes::{bearers, lanes, rate_top, run_end_s, Bearer, Direction, Lane, LatencyBin};
pub use png::{Fonts, Png, PngError};

use draw::{Frame, Scales};
use svg::{Font, Svg};

use crate::verify::{Evidence, Report};

/// The canvas's width.
pub const WIDTH: f64 = 1320.0;
/// Left of the plots: lane names and value-axis labels.
const LEFT: f64 = 150.0;
/// Right margin.
const RIGHT: f64 = 30.0;
/// The title's size, px.
const TITLE_SIZE: f64 = 18.0;
/// The title's characters per line: a full line fits the canvas.
const TITLE_CHARS: usize = 110;
/// The PNG's pixels per SVG unit: sharp when pasted into a document.
pub const PNG_SCALE: f32 = 1.5;

/// The whole SVG: `title` on top, then the verdict, the lanes and the
/// legend.
pub fn timeline_svg(title: &str, evidence: &Evidence, report: &Report) -> String {
    let end_s = run_end_s(evidence);
    let lanes = lanes(evidence, report, end_s);
    let bearers: Vec<Bearer> = lanes.iter().map(|l| l.bearer.clone()).collect();
    let marks = incidents(evidence, report, &bearers, end_s);
    let frame = Frame {
        left: LEFT,
        right: WIDTH - RIGHT,
        end_s,
    };
    let scales = scales(&lanes);
    let title_lines = wrap(title, TITLE_CHARS);
    let on_lane = |i: usize| -> Vec<&Incident> { marks.iter().filter(|m| m.lane == i).collect() };
    let lane_heights: f64 = (0..lanes.len())
        .map(|i| draw::lane_height(lane_rows(&on_lane(i), &frame)))
        .sum();
    let head = 24.0 + 24.0 * title_lines.len() as f64 + 8.0;
    let banner_y = head + 6.0;
    let lanes_y = banner_y + verdict::banner_height(report, WIDTH - 48.0) + 14.0;
    let legend_y = lanes_y + lane_heights + 22.0;
    let height = legend_y + verdict::legend_height() + 10.0;
    let mut svg = Svg::new(WIDTH, height);
    for (i, line) in title_lines.iter().enumerate() {
        let font = Font::plain(TITLE_SIZE, palette::INK).bold();
        svg.text((24.0, 30.0 + 24.0 * i as f64), font, line);
    }
    svg.text(
        (24.0, head),
        Font::plain(12.0, palette::MUTED),
        &subtitle(evidence, &lanes, end_s),
    );
    verdict::banner(&mut svg, (24.0, banner_y, WIDTH - 48.0), report);
    let mut y = lanes_y;
    for (i, lane) in lanes.iter().enumerate() {
        y = draw::lane(&mut svg, &frame, &scales, y, lane, &on_lane(i));
    }
    let caption = Font::plain(12.0, palette::MUTED).anchored("middle");
    svg.text(
        ((LEFT + WIDTH - RIGHT) / 2.0, y + 2.0),
        caption,
        "seconds since producers started",
    );
    verdict::legend(&mut svg, (24.0, legend_y, WIDTH - 48.0));
    svg.finish()
}

/// Rows of labels a lane needs.
fn lane_rows(incidents: &[&Incident], frame: &Frame) -> usize {
    draw::place_labels(incidents, frame)
        .iter()
        .map(|p| p.row + 1)
        .max()
        .unwrap_or(0)
}

/// The shared axes: deliveries/s up to the steady rate's scale, latency
/// from the lowest p50 to the highest p99.
fn scales(lanes: &[Lane]) -> Scales {
    let bins = || {
        lanes
            .iter()
            .flat_map(|l| l.directions.iter())
            .flat_map(|d| d.latency.iter())
    };
    let lo = bins().map(|b| b.p50_ms).min().unwrap_or(1) as f64;
    let hi = bins().map(|b| b.p99_ms).max().unwrap_or(1000) as f64;
    Scales {
        rate: ticks(rate_top(lanes)),
        latency: log_ticks(lo, hi),
    }
}

/// `started 2026-12-06 20:50:01 UTC · 69 s · 3 bearers`.
fn subtitle(evidence: &Evidence, lanes: &[Lane], end_s: f64) -> String {
    format!(
        "producers started {} · {} s shown · {} bearer{} · every lane shares its axes",
        coalition_core::clock::utc_seconds(evidence.t0_ms),
        end_s,
        lanes.len(),
        if lanes.len() == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests;
