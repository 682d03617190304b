//! Drawing one lane: a header naming the bearer and its two directions,
//! a strip of incident labels, the deliveries-per-second panel and the
//! latency panel (log scale), sharing the run's time axis. Pure.
use super::axes::{count, human, millis, text_width, x_ticks};
use super::incidents::{Incident, Kind};
use super::lanes::{Direction, Lane, LatencyBin};
use super::palette::{BACKWARD, FORWARD, GRID, INK, MUTED, PANEL};
use super::svg::{Font, Svg};

/// How a direction is drawn: the first wide and pale under the second,
/// so both show where they run together.
#[derive(Debug, Clone, Copy)]
struct Pen {
    colour: &'static str,
    width: f64,
    opacity: f64,
}

const PENS: [Pen; 2] = [
    Pen {
        colour: FORWARD,
        width: 4.0,
        opacity: 0.55,
    },
    Pen {
        colour: BACKWARD,
        width: 1.6,
        opacity: 1.0,
    },
];

/// Height of the lane's header line.
const HEADER: f64 = 22.0;
/// Height of one row of incident labels.
const LABEL_ROW: f64 = 15.0;
/// At most this many rows of labels; a label that fits in none is left
/// out (its mark is still drawn).
pub const MAX_ROWS: usize = 3;
/// The deliveries panel.
const RATE_H: f64 = 120.0;
/// Between the two panels.
const PANEL_GAP: f64 = 8.0;
/// The latency panel.
const LATENCY_H: f64 = 64.0;
/// The time-axis labels under the lane, and the space after it.
const FOOT: f64 = 34.0;
/// Label text size.
const LABEL_SIZE: f64 = 11.0;

/// The time axis: where second `s` is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// x of second 0.
    pub left: f64,
    /// x of the run's end.
    pub right: f64,
    /// The run's end, seconds since t0.
    pub end_s: f64,
}

impl Frame {
    /// x of second `s` (clamped to the run).
    pub fn x(&self, s: f64) -> f64 {
        let s = s.clamp(0.0, self.end_s);
        self.left + s / self.end_s.max(1.0) * (self.right - self.left)
    }
}

/// The value axes every lane shares, so lanes compare at a glance.
#[derive(Debug, Clone)]
pub struct Scales {
    /// Deliveries/s ticks; the last one is the top of the panel.
    pub rate: Vec<(f64, String)>,
    /// Latency ticks (ms, powers of ten); first and last are the panel's
    /// bottom and top.
    pub latency: Vec<(f64, String)>,
}

impl Scales {
    fn rate_y(&self, top: f64, v: f64) -> f64 {
        let max = self.rate.last().map_or(1.0, |t| t.0);
        top + RATE_H - v.min(max) / max * RATE_H
    }

    fn latency_y(&self, top: f64, ms: f64) -> f64 {
        let lo = self.latency.first().map_or(1.0, |t| t.0).log10();
        let hi = self.latency.last().map_or(1000.0, |t| t.0).log10();
        let v = ms.max(1.0).log10().clamp(lo, hi);
        top + LATENCY_H - (v - lo) / (hi - lo).max(1e-9) * LATENCY_H
    }
}

/// A label's place in the strip above a lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Index into the lane's incidents.
    pub incident: usize,
    /// Row, 0 nearest the panel.
    pub row: usize,
    /// x where the text starts.
    pub x: f64,
}

/// Places the lane's labels: most important first (notices, then
/// outages, catch-up, restores), each in the lowest row where it does not
/// overlap another, at most [`MAX_ROWS`] rows; kept inside the frame.
pub fn place_labels(incidents: &[&Incident], frame: &Frame) -> Vec<Placed> {
    let mut order: Vec<usize> = (0..incidents.len()).collect();
    order.sort_by(|a, b| {
        let (ia, ib) = (incidents[*a], incidents[*b]);
        (ia.kind.priority(), ia.from_s)
            .partial_cmp(&(ib.kind.priority(), ib.from_s))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut rows: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MAX_ROWS];
    let mut out = Vec::new();
    for i in order.into_iter().filter(|i| !incidents[*i].text.is_empty()) {
        let w = text_width(&incidents[i].text, LABEL_SIZE) + 8.0;
        let x = (frame.x(incidents[i].from_s) + 2.0)
            .min(frame.right - w)
            .max(frame.left);
        let free = |row: &Vec<(f64, f64)>| row.iter().all(|(a, b)| x + w <= *a || x >= *b);
        if let Some(row) = rows.iter().position(free) {
            rows[row].push((x, x + w));
            out.push(Placed {
                incident: i,
                row,
                x,
            });
        }
    }
    out
}

/// The height of a lane whose labels use `rows` rows.
pub fn lane_height(rows: usize) -> f64 {
    HEADER + LABEL_ROW * rows as f64 + RATE_H + PANEL_GAP + LATENCY_H + FOOT
}

/// Draws `lane` from `top`; returns where the next lane starts.
pub fn lane(
    svg: &mut Svg,
    frame: &Frame,
    scales: &Scales,
    top: f64,
    lane: &Lane,
    incidents: &[&Incident],
) -> f64 {
    let placed = place_labels(incidents, frame);
    let rows = placed.iter().map(|p| p.row + 1).max().unwrap_or(0);
    header(svg, frame, top, lane);
    let rate_top = top + HEADER + LABEL_ROW * rows as f64;
    let lat_top = rate_top + RATE_H + PANEL_GAP;
    let width = frame.right - frame.left;
    svg.rect((frame.left, rate_top, width, RATE_H), PANEL, 1.0);
    svg.rect((frame.left, lat_top, width, LATENCY_H), PANEL, 1.0);
    shades(svg, frame, (rate_top, lat_top + LATENCY_H), incidents);
    grid(svg, frame, scales, rate_top, lat_top);
    for (row, (d, pen)) in lane.directions.iter().zip(PENS).enumerate() {
        rates(svg, frame, scales, (rate_top, row), d, pen);
        latencies(svg, frame, scales, lat_top, d, pen);
    }
    markers(svg, frame, (rate_top, lat_top + LATENCY_H), incidents);
    labels(svg, frame, rate_top, incidents, &placed);
    svg.frame((frame.left, rate_top, width, RATE_H), GRID);
    svg.frame((frame.left, lat_top, width, LATENCY_H), GRID);
    let foot = lat_top + LATENCY_H;
    for (t, text) in x_ticks(frame.end_s) {
        svg.text(
            (frame.x(t), foot + 14.0),
            Font::plain(10.0, MUTED).anchored("middle"),
            &text,
        );
    }
    top + lane_height(rows)
}

/// `USA – GBR   ━ USA→GBR 1,797 delivered, p50 8 ms   ━ GBR→USA ...`
fn header(svg: &mut Svg, frame: &Frame, top: f64, lane: &Lane) {
    let y = top + 15.0;
    let name = lane.bearer.name();
    svg.text(
        (frame.left - 120.0, y),
        Font::plain(15.0, INK).bold(),
        &name,
    );
    let mut x = frame.left;
    for (d, pen) in lane.directions.iter().zip(PENS) {
        let colour = pen.colour;
        let swatch = [(x, y - 4.0), (x + 18.0, y - 4.0)];
        svg.polyline(&swatch, colour, (pen.width, pen.opacity), "");
        let p50 = d.latency.iter().map(|b| b.p50_ms).collect::<Vec<_>>();
        let text = format!(
            "{}  {} delivered{}",
            d.link.replace("->", "→"),
            count(d.delivered),
            median(&p50).map_or(String::new(), |m| format!(
                ", typical p50 {}",
                millis(m as f64)
            ))
        );
        svg.text((x + 24.0, y), Font::plain(12.0, colour).bold(), &text);
        x += 24.0 + text_width(&text, 12.0) + 30.0;
    }
}

/// The median of per-bin medians: the lane's typical latency.
fn median(values: &[i64]) -> Option<i64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Shaded intervals over both panels.
fn shades(svg: &mut Svg, frame: &Frame, (y0, y1): (f64, f64), incidents: &[&Incident]) {
    for i in incidents.iter().filter(|i| i.kind.is_shade()) {
        let (x0, x1) = (frame.x(i.from_s), frame.x(i.until_s));
        let opacity = if i.kind == Kind::CatchUp { 0.28 } else { 0.22 };
        svg.rect(
            (x0, y0, (x1 - x0).max(2.0), y1 - y0),
            i.kind.colour(),
            opacity,
        );
    }
}

/// Gridlines and value-axis labels for both panels.
fn grid(svg: &mut Svg, frame: &Frame, scales: &Scales, rate_top: f64, lat_top: f64) {
    let tick = Font::plain(10.0, MUTED).anchored("end");
    for (v, text) in &scales.rate {
        let y = scales.rate_y(rate_top, *v);
        svg.line((frame.left, y), (frame.right, y), GRID, 1.0, "");
        svg.text((frame.left - 5.0, y + 3.5), tick, text);
    }
    for (v, text) in &scales.latency {
        let y = scales.latency_y(lat_top, *v);
        svg.line((frame.left, y), (frame.right, y), GRID, 1.0, "");
        svg.text((frame.left - 5.0, y + 3.5), tick, text);
    }
    for (t, _) in x_ticks(frame.end_s) {
        let x = frame.x(t);
        svg.line((x, rate_top), (x, rate_top + RATE_H), GRID, 1.0, "");
        svg.line((x, lat_top), (x, lat_top + LATENCY_H), GRID, 1.0, "");
    }
    let side = Font::plain(11.0, MUTED).anchored("middle");
    let x = frame.left - 56.0;
    svg.text_up((x, rate_top + RATE_H / 2.0), side, "deliveries/s");
    svg.text_up((x, lat_top + LATENCY_H / 2.0), side, "latency");
}

/// Deliveries per second; a second above the axis is drawn at the top with
/// a triangle and its value, on one of the direction's own two text lines.
fn rates(
    svg: &mut Svg,
    frame: &Frame,
    scales: &Scales,
    (top, row): (f64, usize),
    d: &Direction,
    pen: Pen,
) {
    let max = scales.rate.last().map_or(1.0, |t| t.0);
    let points: Vec<(f64, f64)> = d
        .rate
        .iter()
        .map(|(s, v)| (frame.x(*s), scales.rate_y(top, *v)))
        .collect();
    svg.polyline(&points, pen.colour, (pen.width, pen.opacity), "");
    // One triangle per run of seconds above the axis, at its highest.
    let mut run: Option<(f64, f64)> = None;
    let mut bursts = 0usize;
    for (s, v) in d.rate.iter().copied().chain([(f64::MAX, 0.0)]) {
        if v > max {
            run = Some(run.map_or((s, v), |(rs, rv)| if v > rv { (s, v) } else { (rs, rv) }));
        } else if let Some((rs, rv)) = run.take() {
            let x = frame.x(rs);
            svg.polygon(
                &[(x - 5.0, top + 8.0), (x + 5.0, top + 8.0), (x, top + 1.0)],
                pen.colour,
            );
            let text = format!("{}/s", human(rv));
            // Beside the triangle, on its left near the right edge.
            let font = Font::plain(10.0, pen.colour).bold();
            // Each direction has two lines of its own, used in turn, so
            // neither two bursts at once nor two close together overlap.
            let y = top + 10.0 + 12.0 * (2 * row + bursts % 2) as f64;
            bursts += 1;
            if x + 7.0 + text_width(&text, 10.0) > frame.right {
                svg.text((x - 7.0, y), font.anchored("end"), &text);
            } else {
                svg.text((x + 7.0, y), font, &text);
            }
        }
    }
}

/// p50 (solid) and p99 (dashed) per bin; a gap where nothing arrived.
fn latencies(svg: &mut Svg, frame: &Frame, scales: &Scales, top: f64, d: &Direction, pen: Pen) {
    let bin = super::lanes::latency_bin_s(frame.end_s);
    let segments = super::lanes::latency_runs(&d.latency, bin);
    for seg in segments {
        let at = |pick: fn(&LatencyBin) -> i64| -> Vec<(f64, f64)> {
            seg.iter()
                .map(|b| (frame.x(b.at_s), scales.latency_y(top, pick(b) as f64)))
                .collect()
        };
        svg.polyline(
            &at(|b| b.p50_ms),
            pen.colour,
            (pen.width * 0.85, pen.opacity),
            "",
        );
        svg.polyline(&at(|b| b.p99_ms), pen.colour, (1.2, 1.0), "4,3");
    }
}

/// Vertical lines (restore, notice) over both panels, and diamonds where a
/// bridge enforced a notice.
fn markers(svg: &mut Svg, frame: &Frame, (y0, y1): (f64, f64), incidents: &[&Incident]) {
    for i in incidents.iter().filter(|i| !i.kind.is_shade()) {
        let x = frame.x(i.from_s);
        match i.kind {
            Kind::Restored => svg.line((x, y0), (x, y1), i.kind.colour(), 2.0, ""),
            Kind::Notice => svg.line((x, y0), (x, y1), i.kind.colour(), 2.0, "6,3"),
            _ => svg.polygon(
                &[(x, y0 - 6.0), (x + 6.0, y0), (x, y0 + 6.0), (x - 6.0, y0)],
                i.kind.colour(),
            ),
        }
    }
}

/// The placed labels, each with a thin leader down to the panel.
fn labels(svg: &mut Svg, frame: &Frame, rate_top: f64, incidents: &[&Incident], placed: &[Placed]) {
    for p in placed {
        let i = incidents[p.incident];
        let y = rate_top - 4.0 - LABEL_ROW * p.row as f64;
        let colour = i.kind.colour();
        let x = frame.x(i.from_s);
        svg.line((x, y + 2.0), (x, rate_top), colour, 1.0, "");
        svg.text((p.x, y), Font::plain(LABEL_SIZE, colour).bold(), &i.text);
    }
}
