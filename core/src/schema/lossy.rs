//! What a conversion loses ([`Loss`], [`Lossy`], named by source field,
//! for lineage) and why a payload cannot be converted or is not valid
//! ([`TranscodeError`], with the bridge's [`DenyReason`] for it). Shared by
//! the track and alert conversions; no conversion here.
use std::collections::BTreeMap;
use std::fmt;

use crate::envelope::MessageType;
use crate::DenyReason;

/// What a conversion did to one source field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Loss {
    /// Rounded to the target's resolution: converting back gives a nearby
    /// value, not the same one (an alert v2 MODERATE comes back SEVERE).
    Rounded,
    /// The target cannot carry it (v2 covariance into v1, a heading of a
    /// stationary v1 track into v2, an alert v2's area into v1).
    Dropped,
    /// Carried, but its meaning changed: a v1 confidence score becomes a v2
    /// calibrated probability it never was.
    Semantic,
}

impl Loss {
    /// The name used in lineage.
    pub fn as_str(self) -> &'static str {
        match self {
            Loss::Rounded => "rounded",
            Loss::Dropped => "dropped",
            Loss::Semantic => "semantic",
        }
    }
}

/// The source fields a conversion did not carry faithfully, by the source
/// version's field names. A field is `Rounded` when converting the result
/// back does not give the source value exactly; a heading normalised into
/// [0, 360) is not a loss. One loss per field: v1 confidence is
/// `Semantic` even though it is also rounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lossy {
    fields: BTreeMap<&'static str, Loss>,
}

impl Lossy {
    /// Whether every source field was carried exactly.
    pub fn is_lossless(&self) -> bool {
        self.fields.is_empty()
    }

    /// What happened to `field`, if anything.
    pub fn get(&self, field: &str) -> Option<Loss> {
        self.fields.get(field).copied()
    }

    /// Every field that lost something, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Loss)> + '_ {
        self.fields.iter().map(|(f, l)| (*f, *l))
    }

    pub(super) fn mark_if(&mut self, changed: bool, field: &'static str, loss: Loss) {
        if changed {
            self.fields.insert(field, loss);
        }
    }
}

/// `field:loss,...` in name order, e.g. `confidence:semantic,latitude_deg:rounded`;
/// `lossless` when nothing was lost.
impl fmt::Display for Lossy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_lossless() {
            return f.write_str("lossless");
        }
        for (i, (field, loss)) in self.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{field}:{}", loss.as_str())?;
        }
        Ok(())
    }
}

/// Why a payload could not be transcoded, or is not valid. The bridge's
/// reason for each is [`TranscodeError::reason`]: `invalid_payload` for
/// [`TranscodeError::InvalidAlert`], `untranscodable_payload` for the rest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// The payload is not a valid message of the version it claims.
    #[error("{} v{version} payload does not decode: {source}", message_type.as_str())]
    Decode {
        /// Track or alert.
        message_type: MessageType,
        /// The version it was decoded as.
        version: u32,
        /// What prost said.
        source: prost::DecodeError,
    },
    /// No transcoder between these two versions.
    #[error("no transcoding from {} v{from} to v{to}", message_type.as_str())]
    UnknownVersions {
        /// Track or alert.
        message_type: MessageType,
        /// The payload's version.
        from: u32,
        /// The version asked for.
        to: u32,
    },
    /// A NaN or infinite number.
    #[error("{field} is not a finite number")]
    NonFinite {
        /// The source field.
        field: &'static str,
    },
    /// A number outside what the field means or the target can hold.
    #[error("{field} = {value} is outside {range}")]
    OutOfRange {
        /// The source field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The range it must be in.
        range: &'static str,
    },
    /// `position_covariance_m2` is not 0 or 6 finite values with
    /// non-negative variances.
    #[error("position_covariance_m2: {0}")]
    BadCovariance(&'static str),
    /// A valid source value that the target version cannot say without
    /// changing its meaning: an alert v2 update, cancel, ack or error, or
    /// an exercise or test alert, would become a v1 alert that reads as a
    /// new, actual alarm; a v1 summary longer than a v2 headline.
    #[error("{field} cannot be converted: {why}")]
    Unrepresentable {
        /// The source field.
        field: &'static str,
        /// Why, with the value.
        why: String,
    },
    /// An alert v2 that breaks the rules of its schema
    /// ([`super::validate_alert_v2`]).
    #[error("invalid alert v2: {field}: {why}")]
    InvalidAlert {
        /// The field that breaks a rule (dotted path inside `area`).
        field: &'static str,
        /// The rule, with the value.
        why: String,
    },
}

impl TranscodeError {
    /// The deny reason for a message that could not be transcoded or is
    /// not valid.
    pub fn reason(&self) -> DenyReason {
        match self {
            TranscodeError::InvalidAlert { .. } => DenyReason::InvalidPayload,
            _ => DenyReason::UntranscodablePayload,
        }
    }
}
