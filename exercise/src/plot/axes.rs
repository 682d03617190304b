//! Axis ticks, number and text formatting for the timeline. Pure.
//!
//! Every tick is drawn at the value its label states (a label "2" sits at
//! 2, never at 1.65), the time axis runs from 0 to the end of the run, and
//! no label reads "-0".

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

/// Latency-axis ticks (ms) on a log scale: every power of ten from the
/// one at or below `lo` to the one at or above `hi`, at least two
/// decades, at most from 1 ms to 100 s.
pub fn log_ticks(lo_ms: f64, hi_ms: f64) -> Vec<(f64, String)> {
    let decade = |v: f64| v.max(1.0).log10();
    let from = decade(lo_ms).floor().clamp(0.0, 4.0) as i32;
    let to = (decade(hi_ms).ceil().clamp(0.0, 5.0) as i32).max(from + 2);
    (from..=to)
        .map(|d| {
            let v = 10f64.powi(d);
            (v, millis(v))
        })
        .collect()
}

/// A duration given in ms, as an ops team reads it: `12 ms`, `1.5 s`.
pub fn millis(ms: f64) -> String {
    if ms < 1_000.0 {
        format!("{} ms", human(ms.round()))
    } else {
        let s = format!("{:.1}", ms / 1_000.0);
        format!("{} s", s.trim_end_matches(".0"))
    }
}

/// A signed delay in ms: `+12 ms`, `+6.1 s`, `-3 ms`.
pub fn after(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    format!("{sign}{}", millis(ms.unsigned_abs() as f64))
}

/// Rounds away the float noise of `step * i` (0.30000000000000004).
pub fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A value with the fewest digits that state it exactly: `0.5`, `250`,
/// `1.5k`, `2.25M`.
pub fn human(v: f64) -> String {
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

/// A count with thousands separated: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

/// About how wide `text` is in px at `size` px sans-serif (DejaVu Sans
/// averages a little over half an em per character).
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// `text` safe inside an SVG element.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
