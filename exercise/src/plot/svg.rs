//! A small SVG writer: the few elements the timeline draws, with text
//! escaped and numbers rounded to a tenth of a pixel. Pure.
use std::fmt::Write as _;

use super::axes::escape;

/// Text attributes: size, weight, anchor, colour.
#[derive(Debug, Clone, Copy)]
pub struct Font {
    /// px.
    pub size: f64,
    /// Bold.
    pub bold: bool,
    /// `start`, `middle` or `end`.
    pub anchor: &'static str,
    /// Fill colour.
    pub colour: &'static str,
}

impl Font {
    /// Regular, left-aligned.
    pub const fn plain(size: f64, colour: &'static str) -> Font {
        Font {
            size,
            bold: false,
            anchor: "start",
            colour,
        }
    }

    /// The same, bold.
    pub const fn bold(self) -> Font {
        Font { bold: true, ..self }
    }

    /// The same, anchored at `anchor`.
    pub const fn anchored(self, anchor: &'static str) -> Font {
        Font { anchor, ..self }
    }
}

/// An SVG document being written.
#[derive(Debug, Default)]
pub struct Svg {
    out: String,
}

impl Svg {
    /// Opens a `width` × `height` document on a white page.
    pub fn new(width: f64, height: f64) -> Svg {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
        );
        Svg { out }
    }

    /// Opens a group with an id (the legend is one, so tests can find it).
    pub fn group(&mut self, id: &str) {
        let _ = writeln!(self.out, "<g id=\"{id}\">");
    }

    /// Closes the group.
    pub fn end_group(&mut self) {
        self.out.push_str("</g>\n");
    }

    /// A filled rectangle.
    pub fn rect(&mut self, (x, y, w, h): (f64, f64, f64, f64), fill: &str, opacity: f64) {
        let _ = writeln!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" fill-opacity=\"{opacity}\"/>",
            w.max(0.0),
            h.max(0.0)
        );
    }

    /// A rectangle's outline.
    pub fn frame(&mut self, (x, y, w, h): (f64, f64, f64, f64), stroke: &str) {
        let _ = writeln!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"none\" stroke=\"{stroke}\"/>"
        );
    }

    /// A line; `dash` like `"5,3"` or empty for solid.
    pub fn line(
        &mut self,
        (x1, y1): (f64, f64),
        (x2, y2): (f64, f64),
        stroke: &str,
        width: f64,
        dash: &str,
    ) {
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        let _ = writeln!(
            self.out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}/>"
        );
    }

    /// An open path through `points`, `(width, opacity)`.
    pub fn polyline(
        &mut self,
        points: &[(f64, f64)],
        stroke: &str,
        (width, opacity): (f64, f64),
        dash: &str,
    ) {
        if points.is_empty() {
            return;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        let _ = writeln!(
            self.out,
            "<polyline fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\" stroke-opacity=\"{opacity}\" stroke-linejoin=\"round\"{dash} points=\"{}\"/>",
            pts.join(" ")
        );
    }

    /// Text reading upwards, centred on `(x, y)`.
    pub fn text_up(&mut self, (x, y): (f64, f64), font: Font, text: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" transform=\"rotate(-90 {x:.1} {y:.1})\" font-size=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
            font.size,
            font.colour,
            escape(text)
        );
    }

    /// A filled polygon (markers: diamonds, triangles).
    pub fn polygon(&mut self, points: &[(f64, f64)], fill: &str) {
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            self.out,
            "<polygon fill=\"{fill}\" points=\"{}\"/>",
            pts.join(" ")
        );
    }

    /// Text at `(x, y)` (its baseline).
    pub fn text(&mut self, (x, y): (f64, f64), font: Font, text: &str) {
        let weight = if font.bold {
            " font-weight=\"bold\""
        } else {
            ""
        };
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{}\"{weight} text-anchor=\"{}\" fill=\"{}\">{}</text>",
            font.size,
            font.anchor,
            font.colour,
            escape(text)
        );
    }

    /// Closes the document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}
