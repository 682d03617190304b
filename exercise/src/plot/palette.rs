//! Every colour the timeline uses, in one place, with what it means: the
//! legend is drawn from [`LEGEND`], and a test checks that no other colour
//! appears in the picture except the neutral ones and the verdict badge
//! (which says PASS or FAIL in words).

/// Deliveries and latency of a lane's first-named direction (`USA→GBR` in
/// the lane `USA – GBR`).
pub const FORWARD: &str = "#1f5fbf";
/// The other direction.
pub const BACKWARD: &str = "#e07000";
/// A cut bearer (shading).
pub const CUT: &str = "#e34a4a";
/// A degraded bearer, or one a partner floods (shading).
pub const DEGRADED: &str = "#e6a800";
/// A nation's bridge down (shading).
pub const BRIDGE_DOWN: &str = "#7a7a7a";
/// The backlog draining after an outage (shading).
pub const CATCH_UP: &str = "#1a9c8c";
/// Restore, clear, bridge started (line).
pub const RESTORED: &str = "#2e8b3a";
/// A notice published: revocation, suspension, reinstatement (line), and
/// a nation's bridge applying it (diamond).
pub const NOTICE: &str = "#7b2fbf";

/// Text.
pub const INK: &str = "#222222";
/// Secondary text, tick labels.
pub const MUTED: &str = "#666666";
/// Grid lines and panel frames.
pub const GRID: &str = "#dddddd";
/// Panel background.
pub const PANEL: &str = "#f7f7f7";
/// The page.
pub const PAPER: &str = "#ffffff";
/// The verdict badge when every invariant held.
pub const PASS: &str = "#2e7d32";
/// The verdict badge, and a figure that broke its invariant.
pub const FAIL: &str = "#c62828";

/// Colours that need no legend: text, grid, page, and the verdict badge
/// (it says PASS or FAIL in words).
#[cfg(test)]
pub const SELF_EXPLAINED: [&str; 7] = [INK, MUTED, GRID, PANEL, PAPER, PASS, FAIL];

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swatch {
    /// A solid line.
    Line,
    /// A wide, pale line (the first direction, drawn under the second).
    WideLine,
    /// A dashed line.
    Dashed,
    /// A shaded box.
    Shade,
    /// A vertical line.
    Marker,
    /// A vertical dashed line.
    DashedMarker,
    /// A diamond.
    Diamond,
    /// A triangle (a rate above the axis).
    Triangle,
}

/// One legend entry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Its colour.
    pub colour: &'static str,
    /// How it is drawn.
    pub swatch: Swatch,
    /// What it means.
    pub text: &'static str,
}

/// The legend, in reading order.
pub const LEGEND: [Entry; 11] = [
    Entry {
        colour: FORWARD,
        swatch: Swatch::WideLine,
        text: "deliveries/s, first-named nation to second (USA→GBR in USA – GBR), wide",
    },
    Entry {
        colour: BACKWARD,
        swatch: Swatch::Line,
        text: "deliveries/s, the other way (GBR→USA)",
    },
    Entry {
        colour: FORWARD,
        swatch: Swatch::Dashed,
        text: "latency p99 (dashed) and p50 (solid), publish to delivery, log scale",
    },
    Entry {
        colour: BACKWARD,
        swatch: Swatch::Triangle,
        text: "rate above the axis (a catch-up burst), its value written beside it",
    },
    Entry {
        colour: CUT,
        swatch: Swatch::Shade,
        text: "bearer cut",
    },
    Entry {
        colour: DEGRADED,
        swatch: Swatch::Shade,
        text: "bearer degraded (as written) or flooded",
    },
    Entry {
        colour: BRIDGE_DOWN,
        swatch: Swatch::Shade,
        text: "a nation's bridge down (every bearer of that nation)",
    },
    Entry {
        colour: CATCH_UP,
        swatch: Swatch::Shade,
        text: "catch-up: backlog draining after the outage (messages waiting, time)",
    },
    Entry {
        colour: RESTORED,
        swatch: Swatch::Marker,
        text: "restored, cleared or bridge started",
    },
    Entry {
        colour: NOTICE,
        swatch: Swatch::DashedMarker,
        text: "notice published (revocation, suspension, reinstatement)",
    },
    Entry {
        colour: NOTICE,
        swatch: Swatch::Diamond,
        text: "a nation's bridge enforced the notice (+ time after it took effect)",
    },
];
