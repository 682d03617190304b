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

use crate::ledger::AlertsRecord;
use crate::scenario::Action;
use crate::verify::Evidence;

const WIDTH: f64 = 960.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;
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
    let deliveries = delivery_rates(evidence);
    let bytes = link_rates(evidence);
    let end_s = deliveries
        .values()
        .chain(bytes.values())
        .flat_map(|p| p.last().map(|(x, _)| *x))
        .fold(1.0_f64, f64::max);
    let start_s = deliveries
        .values()
        .chain(bytes.values())
        .flat_map(|p| p.first().map(|(x, _)| *x - 0.5))
        .fold(0.0_f64, f64::min);
    let marks = marks(evidence, end_s);
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        escape(title)
    );
    let axes = Axes {
        x0: start_s,
        x1: end_s,
    };
    panel(
        &mut out,
        &axes,
        TOP,
        "verified deliveries / s",
        &deliveries,
        &marks,
    );
    panel(
        &mut out,
        &axes,
        TOP + PANEL + GAP,
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
    let max = series
        .values()
        .flat_map(|p| p.iter().map(|(_, y)| *y))
        .fold(1.0_f64, f64::max)
        * 1.1;
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
    for i in 0..=4 {
        let v = max / 4.0 * i as f64;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y(v) + 4.0,
            human(v)
        );
    }
    let step = nice_step(axes.x1 - axes.x0);
    let mut t = (axes.x0 / step).ceil() * step;
    while t <= axes.x1 {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t:.0}</text>",
            axes.x(t),
            top + PANEL + 14.0
        );
        t += step;
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

fn nice_step(span: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|s| span / s <= 12.0)
        .unwrap_or(600.0)
}

fn human(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{:.1}k", v / 1_000.0)
    } else {
        format!("{v:.0}")
    }
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
