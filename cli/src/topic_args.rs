//! The topic flags of `coalition subscribe` and `coalition forward`: what
//! to receive (kind, origin, schema version) and, for alerts, the topic
//! (category, minimum severity; filtered by the server) and the scope
//! (area, expired alerts; filtered by the SDK after verification).
use clap::{Args, ValueEnum};
use coalition_sdk::{BoundingBox, Topic};

use crate::error::CliError;

/// Which lane to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Tracks only.
    Track,
    /// Alerts only.
    Alert,
    /// Tracks and alerts.
    All,
}

/// Topic flags.
#[derive(Debug, Args, Default)]
pub struct TopicArgs {
    /// Only from this nation.
    #[arg(long)]
    pub from: Option<String>,
    /// In this schema version (during a dual-run window, the other
    /// version's records too, transcoded).
    #[arg(long, default_value_t = 1)]
    pub schema_version: u32,
    /// Alerts of this category only, e.g. `air` (filtered by the server).
    #[arg(long)]
    pub category: Option<String>,
    /// Alerts of this severity or worse: unknown, minor, moderate, severe
    /// or extreme (filtered by the server).
    #[arg(long)]
    pub min_severity: Option<String>,
    /// Alerts whose area touches this box, `SOUTH,WEST,NORTH,EAST` in
    /// degrees (filtered by the SDK; alerts with no area always pass).
    #[arg(long)]
    pub area: Option<String>,
    /// Also alerts that have expired (left out by default).
    #[arg(long)]
    pub include_expired: bool,
}

impl TopicArgs {
    /// The SDK topic these flags ask for, on `kind`'s lanes. Alert flags
    /// on a track-only topic are refused: they could never match.
    pub fn topic(&self, kind: KindArg) -> Result<Topic, CliError> {
        let usage = |m: String| CliError::Usage(m);
        let alert_flags = self.category.is_some()
            || self.min_severity.is_some()
            || self.area.is_some()
            || self.include_expired;
        let mut topic = match kind {
            KindArg::Track if alert_flags => {
                return Err(usage(
                    "--category, --min-severity, --area and --include-expired are for alerts; \
                     use --kind alert (or all)"
                        .into(),
                ))
            }
            KindArg::Track => Topic::tracks(),
            KindArg::Alert => Topic::alerts(),
            KindArg::All => Topic::all(),
        };
        if let Some(origin) = &self.from {
            topic = topic.from_nation(origin);
        }
        topic = topic.version(self.schema_version);
        if let Some(category) = &self.category {
            if !coalition_topology::is_category(category) {
                return Err(usage(format!(
                    "--category {category:?}: a category is 1 to 32 lowercase ASCII letters, \
                     digits or '-', e.g. air"
                )));
            }
            topic = topic.category(category);
        }
        if let Some(severity) = &self.min_severity {
            let parsed = coalition_topology::parse_severity(severity).ok_or_else(|| {
                usage(format!(
                    "--min-severity {severity:?}: one of unknown, minor, moderate, severe, extreme"
                ))
            })?;
            topic = topic.min_severity(parsed);
        }
        if let Some(area) = &self.area {
            topic = topic.area(parse_area(area)?);
        }
        if self.include_expired {
            topic = topic.include_expired();
        }
        Ok(topic)
    }
}

/// `SOUTH,WEST,NORTH,EAST` in degrees.
pub fn parse_area(text: &str) -> Result<BoundingBox, CliError> {
    let error = |why: String| {
        CliError::Usage(format!(
            "--area {text:?}: {why}; give SOUTH,WEST,NORTH,EAST in degrees, e.g. 51,-1,52,1"
        ))
    };
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|e| error(format!("not a number ({e})")))?;
    let [south, west, north, east] = parts[..] else {
        return Err(error(format!("{} numbers, not 4", parts.len())));
    };
    BoundingBox::new(south, west, north, east).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_parse_or_say_why_not() {
        assert_eq!(
            parse_area("51,-1,52,1").unwrap(),
            BoundingBox::new(51.0, -1.0, 52.0, 1.0).unwrap()
        );
        assert!(parse_area(" -20 , 175 , -15 , -178 ").is_ok(), "spans 180");
        for (bad, why) in [
            ("51,-1,52", "3 numbers"),
            ("51,-1,52,1,0", "5 numbers"),
            ("a,b,c,d", "not a number"),
            ("52,-1,51,1", "north"),
            ("91,0,92,1", "within -90..=90"),
        ] {
            let e = parse_area(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("--area"), "{bad}: {e}");
        }
    }

    #[test]
    fn flags_that_cannot_match_are_refused_naming_the_flag() {
        let with = |f: fn(&mut TopicArgs)| {
            let mut a = TopicArgs::default();
            f(&mut a);
            a
        };
        let cases: [(TopicArgs, KindArg, Option<&str>); 6] = [
            (
                with(|a| a.category = Some("air".into())),
                KindArg::Alert,
                None,
            ),
            (
                with(|a| a.category = Some("Air".into())),
                KindArg::Alert,
                Some("--category"),
            ),
            (
                with(|a| a.min_severity = Some("severe".into())),
                KindArg::All,
                None,
            ),
            (
                with(|a| a.min_severity = Some("fatal".into())),
                KindArg::Alert,
                Some("--min-severity"),
            ),
            (
                with(|a| a.category = Some("air".into())),
                KindArg::Track,
                Some("--kind alert"),
            ),
            (with(|a| a.include_expired = true), KindArg::Alert, None),
        ];
        for (args, kind, error) in cases {
            let got = args.topic(kind).err().map(|e| e.to_string());
            match error {
                None => assert_eq!(got, None, "{args:?}"),
                Some(needle) => assert!(
                    got.as_deref().is_some_and(|e| e.contains(needle)),
                    "{args:?}: {got:?}"
                ),
            }
        }
    }
}
