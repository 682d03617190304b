//! The timeline plot: an SVG with two panels sharing one time axis.
//!
//! - top: verified deliveries per second on each directed link (what the
//!   alerting subscribers received);
//! - bottom: bytes per second through each link's sidecars, sender to
//!   receiver (what crossed the bearer, heartbeats included);
//! - cuts shaded red, degradations amber, a bridge down grey; notices
//!   (revocation, suspension) as purple lines.
//!
//! Pure: builds the text from the evidence.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ledger::{AlertsRecord, ProducerRecord};
use crate::scenario::Action;
use crate::verify::Evidence;

const WIDTH: f64 = 960.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;
/// The title's characters per line (15 px bold sans-serif across the
/// canvas) and its line height.
const TITLE_CHARS: usize = 95;
const TITLE_LINE: f64 = 19.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// A series: a name and `(seconds since t0, value)` points.
type Series = BTreeMap<String, Vec<(f64, f64)>>;

/// Deliveries per second per `FROM->TO`, in 1 s bins.
pub fn delivery_rates(evidence: &Evidence) -> Series {
    let mut bins: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (receiver, records) in &evidence.delivered {
        for r in records {
            if let AlertsRecord::Delivered { t_ms, origin, .. } = r {
                let bin = (t_ms - evidence.t0_ms).div_euclid(1000);
                *bins
                    .entry(format!("{origin}->{receiver}"))
                    .or_default()
                    .entry(bin)
                    .or_default() += 1.0;
            }
        }
    }
    fill(bins)
}

/// Bytes per second from sender to receiver per `FROM->TO` (sidecars of
/// one link added together), in 1 s bins.
pub fn link_rates(evidence: &Evidence) -> Series {
    let mut bins: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for samples in evidence.links.values() {
        for w in samples.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let link = match a.name.rsplit_once('-') {
                Some((l, _)) => l.replacen('-', "->", 1),
                None => continue,
            };
            // A restarted sidecar starts its counters again.
            let bytes = b.from_upstream.saturating_sub(a.from_upstream) as f64;
            let bin = (b.t_ms - evidence.t0_ms).div_euclid(1000);
            *bins.entry(link).or_default().entry(bin).or_default() += bytes;
        }
    }
    fill(bins)
}

/// Turns sparse bins into points, with zeros for empty seconds.
fn fill(bins: BTreeMap<String, BTreeMap<i64, f64>>) -> Series {
    let lo = bins
        .values()
        .flat_map(|b| b.keys())
        .min()
        .copied()
        .unwrap_or(0);
    let hi = bins
        .values()
        .flat_map(|b| b.keys())
        .max()
        .copied()
        .unwrap_or(0);
    bins.into_iter()
        .map(|(name, b)| {
            let points = (lo..=hi)
                .map(|s| (s as f64 + 0.5, b.get(&s).copied().unwrap_or(0.0)))
                .collect();
            (name, points)
        })
        .collect()
}

/// A shaded interval or a marker, in seconds since t0.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Start.
    pub from_s: f64,
    /// End; equal to `from_s` for a marker line.
    pub until_s: f64,
    /// Fill or stroke colour.
    pub colour: &'static str,
    /// Text shown at the top.
    pub text: String,
}

/// The scenario's intervals (cuts, degradations, bridge down) and markers
/// (notices) from the event ledger.
pub fn marks(evidence: &Evidence, end_s: f64) -> Vec<Mark> {
    let s = |t: i64| (t - evidence.t0_ms) as f64 / 1000.0;
    let mut out = Vec::new();
    for (i, e) in evidence.events.iter().enumerate() {
        let later = &evidence.events[i + 1..];
        // What ends it: a restore or clear of the same bearer, named in
        // either direction, or the bridge's start.
        let until = || {
            later
                .iter()
                .find(|x| x.event.ends(&e.event))
                .map_or(end_s, |x| s(x.t_ms))
        };
        let (colour, until_s, text) = match &e.event {
            Action::Cut { a, b } => ("#f4b6b6", until(), format!("cut {a}-{b}")),
            Action::Degrade { a, b, .. } => ("#f9dd9c", until(), format!("degraded {a}-{b}")),
            Action::KillBridge { nation } => ("#d0d0d0", until(), format!("{nation} bridge down")),
            Action::RevokeTranslator { .. } | Action::Suspend { .. } | Action::Reinstate { .. } => {
                ("#7b2fbf", s(e.t_ms), e.action.clone())
            }
            _ => continue,
        };
        out.push(Mark {
            from_s: s(e.t_ms),
            until_s,
            colour,
            text,
        });
    }
    out
}

/// The whole SVG.
pub fn timeline_svg(title: &str, evidence: &Evidence) -> String {
    // The run is from producers' start to its end: not the sidecars'
    // samples before it, nor those after it until `verify` was called.
    let end_s = run_end_s(evidence);
    let within = |series: Series| -> Series {
        series
            .into_iter()
            .map(|(n, p)| {
                (
                    n,
                    p.into_iter()
                        .filter(|(x, _)| (0.0..=end_s).contains(x))
                        .collect(),
                )
            })
            .collect()
    };
    let deliveries = within(delivery_rates(evidence));
    let bytes = within(link_rates(evidence));
    let marks = marks(evidence, end_s);
    let title_lines = wrap(title, TITLE_CHARS);
    let top = TOP + TITLE_LINE * (title_lines.len() as f64 - 1.0);
    let height = top + 2.0 * PANEL + GAP + 50.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    for (i, line) in title_lines.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"{LEFT}\" y=\"{:.0}\" font-size=\"15\" font-weight=\"bold\">{}</text>",
            20.0 + TITLE_LINE * i as f64,
            escape(line)
        );
    }
    let axes = Axes { x0: 0.0, x1: end_s };
    panel(
        &mut out,
        &axes,
        top,
        "verified deliveries / s",
        &deliveries,
        &marks,
    );
    panel(
        &mut out,
        &axes,
        top + PANEL + GAP,
        "bytes / s across the bearer",
        &bytes,
        &marks,
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds since producers started</text>\n</svg>",
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        height - 12.0
    );
    out
}

struct Axes {
    x0: f64,
    x1: f64,
}

impl Axes {
    fn x(&self, s: f64) -> f64 {
        let span = (self.x1 - self.x0).max(1.0);
        LEFT + (s - self.x0) / span * (WIDTH - LEFT - RIGHT)
    }
}

fn panel(out: &mut String, axes: &Axes, top: f64, label: &str, series: &Series, marks: &[Mark]) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let data_max = series
        .values()
        .flat_map(|p| p.iter().map(|(_, y)| *y))
        .fold(0.0_f64, f64::max);
    let y_ticks = ticks(data_max);
    let max = y_ticks.last().map_or(1.0, |t| t.0);
    let y = |v: f64| top + PANEL - v / max * PANEL;
    // A label is drawn only where it does not run into the previous one
    // (a flapping link has many short cuts).
    let mut label_free_from = f64::MIN;
    for m in marks {
        let (x0, x1) = (axes.x(m.from_s), axes.x(m.until_s));
        let text = if x0 >= label_free_from {
            label_free_from = x0 + 6.5 * m.text.len() as f64;
            escape(&m.text)
        } else {
            String::new()
        };
        if m.until_s > m.from_s {
            let _ = writeln!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{PANEL}\" fill=\"{}\" opacity=\"0.6\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{}</text>",
                (x1 - x0).max(1.0),
                m.colour,
                x0 + 3.0,
                top + 12.0,
                text
            );
        } else {
            let _ = writeln!(
                out,
                "<line x1=\"{x0:.1}\" x2=\"{x0:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\">{}</text>",
                top + PANEL,
                m.colour,
                x0 + 3.0,
                top + 26.0,
                m.colour,
                text
            );
        }
    }
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{plot_w}\" height=\"{PANEL}\" fill=\"none\" stroke=\"#333\"/>\
         <text x=\"{LEFT}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
        top - 6.0,
        escape(label)
    );
    for (v, text) in &y_ticks {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{text}</text>",
            LEFT - 6.0,
            y(*v) + 4.0
        );
    }
    for (t, text) in x_ticks(axes.x1) {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text>",
            axes.x(t),
            top + PANEL + 14.0
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(s, v)| format!("{:.1},{:.1}", axes.x(*s), y(*v)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{}</text>",
            path.join(" "),
            WIDTH - RIGHT + 10.0,
            top + 14.0 + 14.0 * i as f64,
            escape(name)
        );
    }
}

/// The end of the run in seconds since t0: the last producer finishing,
/// the last delivery or the last action, whichever is latest (at least 1).
pub fn run_end_s(evidence: &Evidence) -> f64 {
    let done = evidence.published.iter().filter_map(|r| match r {
        ProducerRecord::Done { t_ms, .. } => Some(*t_ms),
        _ => None,
    });
    let delivered = evidence
        .delivered
        .values()
        .flatten()
        .filter_map(|r| match r {
            AlertsRecord::Delivered { t_ms, .. } => Some(*t_ms),
            _ => None,
        });
    let acted = evidence.events.iter().map(|e| e.t_ms);
    let last = done
        .chain(delivered)
        .chain(acted)
        .max()
        .unwrap_or(evidence.t0_ms);
    ((last - evidence.t0_ms) as f64 / 1000.0).ceil().max(1.0)
}

/// Value-axis ticks from 0 up to at least `max`: a round step (1, 2 or 5
/// times a power of ten), at most 5 steps; each label states its position
/// exactly.
pub fn ticks(max: f64) -> Vec<(f64, String)> {
    let max = if max > 0.0 { max } else { 1.0 };
    let mut step = 10f64.powf((max / 5.0).log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if (max / (step * m)).ceil() <= 5.0 {
            step *= m;
            break;
        }
    }
    let n = (max / step - 1e-9).ceil().max(1.0) as u32;
    (0..=n)
        .map(|i| {
            let v = round(step * f64::from(i));
            (v, human(v))
        })
        .collect()
}

/// Time-axis ticks from 0 to `end_s`: whole seconds on a round step.
pub fn x_ticks(end_s: f64) -> Vec<(f64, String)> {
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|s| end_s / s <= 12.0)
        .unwrap_or(600.0);
    let n = (end_s / step + 1e-9).floor() as u32;
    (0..=n)
        .map(|i| {
            let t = step * f64::from(i);
            (t, format!("{t:.0}"))
        })
        .collect()
}

/// Rounds away the float noise of `step * i` (0.30000000000000004).
fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A value with the fewest digits that state it exactly: `0.5`, `250`,
/// `1.5k`, `2.25M`.
fn human(v: f64) -> String {
    let (scaled, unit) = if v >= 1_000_000.0 {
        (v / 1_000_000.0, "M")
    } else if v >= 1_000.0 {
        (v / 1_000.0, "k")
    } else {
        (v, "")
    };
    let text = format!("{:.3}", round(scaled));
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// Splits `text` at spaces into lines of at most `width` characters (a
/// longer word is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let rest: String = line.chars().skip(width).collect();
            lines.push(line.chars().take(width).collect());
            line = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{EventRecord, LabelRecord, LinkSample};

    fn evidence() -> Evidence {
        let label = LabelRecord {
            classification: "SECRET".into(),
            releasable_to: Default::default(),
            caveats: Default::default(),
        };
        let delivered = |t_ms| AlertsRecord::Delivered {
            t_ms,
            origin: "USA".into(),
            producer: "p".into(),
            feed: "tracks".into(),
            seq: 1,
            label: label.clone(),
            released_at_ms: None,
            admitted_at_ms: None,
            translator: None,
            gap: None,
            replayed: false,
        };
        let sample = |t_ms, bytes| LinkSample {
            t_ms,
            name: "USA-GBR-0".into(),
            open: true,
            live: 1,
            to_upstream: 0,
            from_upstream: bytes,
            delay_ms: 0,
            jitter_ms: 0,
        };
        let event = |t_ms, event: Action| EventRecord {
            t_ms,
            action: event.describe(),
            event,
            notice: None,
        };
        Evidence {
            delivered: [(
                "GBR".into(),
                vec![delivered(10_100), delivered(10_200), delivered(13_500)],
            )]
            .into(),
            links: [(
                "USA-GBR-0".into(),
                vec![sample(10_000, 0), sample(11_000, 500), sample(12_000, 500)],
            )]
            .into(),
            events: vec![
                event(
                    11_000,
                    Action::Cut {
                        a: "USA".into(),
                        b: "GBR".into(),
                    },
                ),
                event(
                    12_500,
                    Action::Restore {
                        a: "USA".into(),
                        b: "GBR".into(),
                    },
                ),
            ],
            t0_ms: 10_000,
            ..Default::default()
        }
    }

    #[test]
    fn rates_are_binned_per_second_with_empty_seconds_as_zero() {
        let e = evidence();
        let d = delivery_rates(&e);
        let values: Vec<f64> = d["USA->GBR"].iter().map(|(_, v)| *v).collect();
        assert_eq!(values, vec![2.0, 0.0, 0.0, 1.0]);
        let b = link_rates(&e);
        assert_eq!(
            b["USA->GBR"].iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            vec![500.0, 0.0]
        );
    }

    #[test]
    fn the_cut_is_shaded_from_cut_to_restore() {
        let e = evidence();
        let m = marks(&e, 4.0);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].from_s, m[0].until_s, m[0].text.as_str()),
            (1.0, 2.5, "cut USA-GBR")
        );
        let svg = timeline_svg("cut-30s <test>", &e);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("cut-30s &lt;test&gt;"));
        assert!(svg.contains("fill=\"#f4b6b6\""), "the cut window is drawn");
        assert_eq!(svg.matches("<polyline").count(), 2);
    }

    #[test]
    fn value_ticks_are_round_and_each_label_states_its_position() {
        // (largest value, tick labels)
        let table: [(f64, &[&str]); 8] = [
            (0.0, &["0", "0.2", "0.4", "0.6", "0.8", "1"]),
            (1.65, &["0", "0.5", "1", "1.5", "2"]),
            (3.0, &["0", "1", "2", "3"]),
            (30.0, &["0", "10", "20", "30"]),
            (31.0, &["0", "10", "20", "30", "40"]),
            (1_234.0, &["0", "500", "1k", "1.5k"]),
            (9_000.0, &["0", "2k", "4k", "6k", "8k", "10k"]),
            (2_500_000.0, &["0", "500k", "1M", "1.5M", "2M", "2.5M"]),
        ];
        for (max, want) in table {
            let t = ticks(max);
            let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
            assert_eq!(labels, want, "max {max}");
            assert!(t.last().unwrap().0 >= max, "the axis covers {max}");
            for (v, label) in &t {
                let (n, unit) = match label.strip_suffix('M') {
                    Some(n) => (n, 1e6),
                    None => label
                        .strip_suffix('k')
                        .map_or((label.as_str(), 1.0), |n| (n, 1e3)),
                };
                let stated: f64 = n.parse::<f64>().unwrap() * unit;
                assert!((stated - v).abs() < 1e-9, "{label} drawn at {v}");
            }
        }
    }

    #[test]
    fn time_ticks_start_at_0_never_say_minus_0_and_stop_at_the_end() {
        // (end of the run, s; tick labels)
        let table: [(f64, &[&str]); 3] = [
            (4.0, &["0", "1", "2", "3", "4"]),
            (26.0, &["0", "5", "10", "15", "20", "25"]),
            (70.0, &["0", "10", "20", "30", "40", "50", "60", "70"]),
        ];
        for (end, want) in table {
            let t = x_ticks(end);
            let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
            assert_eq!(labels, want, "end {end}");
            for (v, l) in &t {
                assert_eq!(format!("{v:.0}"), *l);
            }
        }
    }

    #[test]
    fn the_time_axis_runs_from_0_to_the_run_s_end_not_to_the_last_sample() {
        let mut e = evidence();
        // A sidecar sample long after the run (verify called late), and
        // one before the producers started.
        let first = e.links["USA-GBR-0"][0].clone();
        let samples = e.links.get_mut("USA-GBR-0").unwrap();
        samples.push(LinkSample {
            t_ms: 60_000,
            ..first.clone()
        });
        samples.insert(
            0,
            LinkSample {
                t_ms: -2_000,
                ..first
            },
        );
        assert_eq!(run_end_s(&e), 4.0, "the last delivery, at 3.5 s");
        let svg = timeline_svg("t", &e);
        assert!(!svg.contains(">-"), "no negative tick");
        assert!(!svg.contains(">5</text>"), "no tick after the run's end");
        assert!(svg.contains(">4</text>"));
    }

    #[test]
    fn a_long_title_is_wrapped_to_fit_the_canvas() {
        let title = "exercise suspend-during-cut: while the bearer is cut for 30 s, one nation suspends its partner; it reinstates it after the link returns";
        let lines = wrap(title, TITLE_CHARS);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.chars().count() <= TITLE_CHARS));
        assert_eq!(lines.join(" "), title);
        assert_eq!(wrap("short", 10), vec!["short"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        let svg = timeline_svg(title, &evidence());
        assert_eq!(svg.matches("font-size=\"15\"").count(), 2);
    }

    #[test]
    fn a_restore_named_in_the_reverse_direction_ends_the_shading() {
        let mut e = evidence();
        e.events[1].event = Action::Restore {
            a: "GBR".into(),
            b: "USA".into(),
        };
        let m = marks(&e, 4.0);
        assert_eq!((m[0].from_s, m[0].until_s), (1.0, 2.5));
    }
}
