//! An alert's topic: its category and severity, the two subject tokens an
//! alert feed's subjects end with (`out.alert.<producer>.<feed>.<category>.<severity>`,
//! and the same two tokens on `paced.`, `rel.` and `in.` before the
//! version). Alerting systems filter on them server-side, with consumer
//! filters ([`TopicFilter::inbound_filters`]).
//!
//! The producer sets them; the bridges check that they are the topic of
//! every record in the batch (the payload, bound by the signed header's
//! digest), and refuse a batch whose subject says otherwise.
use coalition_schemas::v1::AlertSeverity;

/// The longest category token.
pub const MAX_CATEGORY_LEN: usize = 32;

/// An alert's category and severity, as subject tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertTopic {
    category: String,
    severity: AlertSeverity,
}

/// Why a category or severity cannot be a topic token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The category is not 1 to 32 lowercase ASCII letters, digits or `-`.
    #[error(
        "category {0:?} is not 1 to {MAX_CATEGORY_LEN} lowercase ASCII letters, digits or '-'"
    )]
    Category(String),
    /// The severity is unspecified (proto value 0) or unknown to this build.
    #[error("severity {0} is not one of unknown, minor, moderate, severe, extreme")]
    Severity(String),
}

impl AlertTopic {
    /// A topic, if `category` is a category token and `severity` is set.
    pub fn new(category: &str, severity: AlertSeverity) -> Result<Self, TopicError> {
        if !is_category(category) {
            return Err(TopicError::Category(category.to_string()));
        }
        severity_token(severity).ok_or_else(|| TopicError::Severity(format!("{severity:?}")))?;
        Ok(AlertTopic {
            category: category.to_string(),
            severity,
        })
    }

    /// Parses the two tokens of a subject.
    pub fn parse(category: &str, severity: &str) -> Result<Self, TopicError> {
        let severity = parse_severity(severity)
            .ok_or_else(|| TopicError::Severity(format!("{severity:?}")))?;
        AlertTopic::new(category, severity)
    }

    /// The category token.
    pub fn category(&self) -> &str {
        &self.category
    }

    /// The severity.
    pub fn severity(&self) -> AlertSeverity {
        self.severity
    }
}

/// `<category>.<severity>`.
impl std::fmt::Display for AlertTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = severity_token(self.severity).unwrap_or("unspecified");
        write!(f, "{}.{severity}", self.category)
    }
}

/// Whether `category` is a category token: 1 to 32 lowercase ASCII
/// letters, digits or `-`.
pub fn is_category(category: &str) -> bool {
    (1..=MAX_CATEGORY_LEN).contains(&category.len())
        && category
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Every severity a topic may have, least severe first.
pub const SEVERITIES: [AlertSeverity; 5] = [
    AlertSeverity::Unknown,
    AlertSeverity::Minor,
    AlertSeverity::Moderate,
    AlertSeverity::Severe,
    AlertSeverity::Extreme,
];

/// The subject token of a severity; `None` for `Unspecified`.
pub fn severity_token(severity: AlertSeverity) -> Option<&'static str> {
    match severity {
        AlertSeverity::Unspecified => None,
        AlertSeverity::Unknown => Some("unknown"),
        AlertSeverity::Minor => Some("minor"),
        AlertSeverity::Moderate => Some("moderate"),
        AlertSeverity::Severe => Some("severe"),
        AlertSeverity::Extreme => Some("extreme"),
    }
}

/// The severity a subject token names.
pub fn parse_severity(token: &str) -> Option<AlertSeverity> {
    SEVERITIES
        .into_iter()
        .find(|s| severity_token(*s) == Some(token))
}

/// What an alerting system asks of the alert topics: a category (or all)
/// and a minimum severity (or all). The SDK turns it into consumer filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicFilter {
    /// Only this category; `None`: every category.
    pub category: Option<String>,
    /// Only this severity and above (in [`SEVERITIES`] order); `None`: all.
    pub min_severity: Option<AlertSeverity>,
}

impl TopicFilter {
    /// The severities the filter lets through, least severe first.
    pub fn severities(&self) -> Vec<AlertSeverity> {
        SEVERITIES
            .into_iter()
            .filter(|s| self.min_severity.is_none_or(|min| *s as i32 >= min as i32))
            .collect()
    }

    /// Whether an alert of `topic` passes.
    pub fn admits(&self, topic: &AlertTopic) -> bool {
        self.category.as_deref().is_none_or(|c| c == topic.category)
            && self.severities().contains(&topic.severity)
    }

    /// The two topic tokens of each consumer filter subject, e.g.
    /// `["air.severe", "air.extreme"]`, or `["*.*"]` with no filter.
    pub fn token_pairs(&self) -> Vec<String> {
        let category = self.category.as_deref().unwrap_or("*");
        if self.min_severity.is_none() {
            return vec![format!("{category}.*")];
        }
        self.severities()
            .into_iter()
            .filter_map(severity_token)
            .map(|s| format!("{category}.{s}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_tokens() {
        #[rustfmt::skip]
        let cases = [
            ("air", true), ("uas-incursion", true), ("c2", true),
            ("", false), ("Air", false), ("air.defence", false), ("air_defence", false),
            ("a*", false), (">", false), ("x y", false),
            ("abcdefghijklmnopqrstuvwxyz012345", true),
            ("abcdefghijklmnopqrstuvwxyz0123456", false),
        ];
        for (category, want) in cases {
            assert_eq!(is_category(category), want, "{category:?}");
        }
    }

    #[test]
    fn topics_parse_what_they_print_and_refuse_the_rest() {
        let topic = AlertTopic::new("air", AlertSeverity::Severe).unwrap();
        assert_eq!(topic.to_string(), "air.severe");
        assert_eq!(AlertTopic::parse("air", "severe"), Ok(topic));
        for s in SEVERITIES {
            let token = severity_token(s).unwrap();
            assert_eq!(parse_severity(token), Some(s));
        }
        assert!(matches!(
            AlertTopic::new("air", AlertSeverity::Unspecified),
            Err(TopicError::Severity(_))
        ));
        assert!(matches!(
            AlertTopic::parse("air", "unspecified"),
            Err(TopicError::Severity(_))
        ));
        assert!(matches!(
            AlertTopic::parse("AIR", "minor"),
            Err(TopicError::Category(_))
        ));
    }

    #[test]
    fn filters_by_category_and_minimum_severity() {
        let air_severe = TopicFilter {
            category: Some("air".into()),
            min_severity: Some(AlertSeverity::Severe),
        };
        assert_eq!(air_severe.token_pairs(), ["air.severe", "air.extreme"]);
        let topic = |c: &str, s| AlertTopic::new(c, s).unwrap();
        #[rustfmt::skip]
        let cases = [
            (topic("air", AlertSeverity::Severe), true),
            (topic("air", AlertSeverity::Extreme), true),
            (topic("air", AlertSeverity::Moderate), false),
            (topic("air", AlertSeverity::Unknown), false),
            (topic("sea", AlertSeverity::Extreme), false),
        ];
        for (t, want) in cases {
            assert_eq!(air_severe.admits(&t), want, "{t}");
        }
        let everything = TopicFilter::default();
        assert_eq!(everything.token_pairs(), ["*.*"]);
        assert!(everything.admits(&topic("sea", AlertSeverity::Unknown)));
        let any_minor = TopicFilter {
            category: None,
            min_severity: Some(AlertSeverity::Minor),
        };
        assert_eq!(
            any_minor.token_pairs(),
            ["*.minor", "*.moderate", "*.severe", "*.extreme"]
        );
        assert!(!any_minor.admits(&topic("sea", AlertSeverity::Unknown)));
    }
}
