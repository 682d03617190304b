//! [`Record`]: what an application hands [`crate::Producer::publish`]: a
//! payload of any kind and version with its label, and optionally what it
//! corrects and what it was derived from. One publish method for every
//! kind; the kind and schema version come from the payload's type.
use coalition_core::envelope::{MessageType, SourceRef};
use coalition_core::label::Label;
use coalition_schemas::v1::{AlertV1, AlertV2, TrackV1, TrackV2};

use super::item::Item;

/// One record to publish.
///
/// ```
/// use coalition_sdk::{Label, Record, TrackV1};
/// let label = Label::new("USA", "SECRET", &["GBR"]);
/// let delta = Record::track(&label, &TrackV1::default());
/// let correction = Record::track(&label, &TrackV1::default()).corrects(7);
/// ```
#[derive(Debug, Clone)]
pub struct Record {
    pub(crate) kind: MessageType,
    pub(crate) item: Item,
}

impl Record {
    /// A track delta (schema version 1).
    pub fn track(label: &Label, track: &TrackV1) -> Self {
        Self::of(MessageType::Track, Item::track(label, track))
    }

    /// A track delta in schema version 2. The nation's schema policy
    /// decides whether v2 is accepted yet: a bridge refuses (and
    /// dead-letters) a version outside it (docs/schemas.md).
    pub fn track_v2(label: &Label, track: &TrackV2) -> Self {
        Self::of(MessageType::Track, Item::track_v2(label, track))
    }

    /// An alert (schema version 1). Alerts are sealed at once, never held
    /// back for a linger, and published on their topic's subject.
    pub fn alert(label: &Label, alert: &AlertV1) -> Self {
        Self::of(MessageType::Alert, Item::alert(label, alert))
    }

    /// An alert in schema version 2. Its nation's bridge refuses an invalid
    /// one (`invalid_payload`, dead-lettered; the rules are
    /// `coalition_core::schema::validate_alert_v2`); the SDK refuses one
    /// whose category and severity are not a topic
    /// ([`crate::SdkError::InvalidTopic`]).
    pub fn alert_v2(label: &Label, alert: &AlertV2) -> Self {
        Self::of(MessageType::Alert, Item::alert_v2(label, alert))
    }

    /// A composite product (e.g. fused from several nations' sources):
    /// the label must be at least as restrictive as the composite of the
    /// sources' labels (see `coalition_core::composite`), and every
    /// source's lineage is carried in the signed record header.
    pub fn derived_from(mut self, sources: Vec<SourceRef>) -> Self {
        self.item.derived_from = sources;
        self
    }

    /// A correction of the record at `seq` of the same feed.
    pub fn corrects(mut self, seq: u64) -> Self {
        self.item.corrects_seq = Some(seq);
        self
    }

    fn of(kind: MessageType, item: Item) -> Self {
        Record { kind, item }
    }
}
