//! The kinds of record, each with its own subjects and lane of streams.

/// Tracks or alerts: the `<kind>` subject token, and the lane of streams
/// and bridge stages a record travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Sensor-track deltas.
    Track,
    /// Alerts.
    Alert,
}

impl Kind {
    /// Both kinds, tracks first.
    pub const ALL: [Kind; 2] = [Kind::Track, Kind::Alert];

    /// The subject token: `track` or `alert`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Alert => "alert",
        }
    }

    /// Parses a subject token.
    pub fn parse(token: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == token)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
