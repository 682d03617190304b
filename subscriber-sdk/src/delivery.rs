//! One delivery: a verified record with its label, typed payload and
//! lineage, and its share of its batch message's acknowledgement.
//!
//! Verification happens in [`crate::open`]; this module only says what a
//! delivery holds and how it is acknowledged ([`crate::ack`]).
use coalition_core::envelope::{Header, MessageType, SourceRef};
use coalition_core::label::Label;
use coalition_core::schema::validate_alert_v2;
use coalition_schemas::headers;
use coalition_schemas::v1::{AlertV1, AlertV2, TrackV1, TrackV2};
use prost::Message as _;

use std::time::Duration;

use crate::ack::RecordAck;
use crate::nak::NakHandle;
use crate::SdkError;

/// What a delivery carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A track delta (schema version 1).
    Track(TrackV1),
    /// A track delta in schema version 2.
    TrackV2(TrackV2),
    /// An alert (schema version 1).
    Alert(AlertV1),
    /// An alert in schema version 2 (modelled on CAP 1.2): an alert, or an
    /// update, cancel, ack or error naming the alerts it refers to. Always
    /// valid (`coalition_core::schema::validate_alert_v2`). Boxed: it is
    /// four times the size of the other payloads.
    AlertV2(Box<AlertV2>),
}

/// Where a delivery came from and who let it through. The bridges' batch
/// lineage headers give who released and admitted it; the admitting
/// bridge's record of it (`InboundRecord`) gives its translation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The nation whose bridge released it.
    pub released_by: Option<String>,
    /// When, Unix ms.
    pub released_at_ms: Option<i64>,
    /// The nation whose bridge admitted it.
    pub admitted_by: Option<String>,
    /// When, Unix ms.
    pub admitted_at_ms: Option<i64>,
    /// The producer key's id (hex).
    pub key_id: Option<String>,
    /// The decision recorded by the admitting bridge.
    pub decision: Option<String>,
    /// The label as translated into this nation's vocabulary.
    pub translated_label: Option<String>,
    /// The translator that admitted it, `<id>@<version>`.
    pub translator: Option<String>,
    /// `<origin>/v<n> -> <receiver>/v<m>`: the policy versions decided under.
    pub policy_versions: Option<String>,
    /// The schema version the record was produced in, if it is served in
    /// another one (a dual-run window).
    pub transcoded_from: Option<u32>,
    /// `<source field>:<rounded|dropped|semantic>` for every field the
    /// conversion did not carry exactly, as this SDK computed it.
    pub lossy: Vec<String>,
}

/// One verified record.
#[derive(Debug)]
pub struct Delivery {
    /// The producer's nation.
    pub origin: String,
    /// The producer.
    pub producer_id: String,
    /// The feed.
    pub feed: String,
    /// Position in the feed.
    pub seq: u64,
    /// The schema version the payload is in (the one the subscription asked
    /// for).
    pub schema_version: u32,
    /// If this delta corrects an earlier one, its seq.
    pub corrects_seq: Option<u64>,
    /// The label, as signed by the producer.
    pub label: Label,
    /// The typed payload.
    pub payload: Payload,
    /// Lineage.
    pub lineage: Lineage,
    /// Feed seqs missing before this one (first, last): admitted to this
    /// nation or released to it, but not found in INBOUND even after a
    /// replay. Seqs refused on the way are not gaps; the range may still
    /// include some this nation's bridge refused (its audit log says which).
    pub gap: Option<(u64, u64)>,
    /// True if the delivery came from a replay that filled a gap, not from
    /// the subscription's consumer (acknowledging it is then a no-op: the
    /// consumer's own copy is acknowledged when it arrives).
    pub replayed: bool,
    /// For a composite product (e.g. a fused track), every source it was
    /// derived from, as signed by its producer.
    pub derived_from: Vec<SourceRef>,
    pub(crate) ack: Option<RecordAck>,
    /// Where a nak goes; `None` for an alert read from history
    /// ([`crate::Subscriber::subscribe_in_force`]).
    pub(crate) nak: Option<NakHandle>,
}

impl Delivery {
    /// Acknowledges the delivery. Its batch message is acknowledged once
    /// every record it carries is; until then the message is redelivered
    /// after 30 s (and the records already delivered are then skipped,
    /// with a [`crate::Skipped`] event each). Acknowledging twice is a no-op.
    pub async fn ack(&self) -> Result<(), SdkError> {
        match &self.ack {
            Some(ack) => ack.ack().await,
            None => Ok(()),
        }
    }

    /// Tells the server this delivery is still being worked on, so its
    /// batch message is not redelivered when the ack wait (30 s) runs out;
    /// the wait starts again. A no-op for a replayed delivery.
    pub async fn in_progress(&self) -> Result<(), SdkError> {
        match &self.ack {
            Some(ack) => ack.in_progress().await,
            None => Ok(()),
        }
    }

    /// Gives up on this delivery for good: its batch message is terminated,
    /// never redelivered, so every record of that message not acknowledged
    /// yet is given up with it (records are acknowledged per batch message
    /// on the bus). Use it for a record the application can never process.
    /// A no-op for a replayed delivery. To have a record again later, use
    /// [`Delivery::nak`].
    pub async fn term(&self) -> Result<(), SdkError> {
        match &self.ack {
            Some(ack) => ack.term().await,
            None => Ok(()),
        }
    }

    /// Hands the record back: it is delivered again after `delay`, and so
    /// is every record after it on its feed, in feed order, even those
    /// already delivered (records are delivered once per subscriber and in
    /// order, so the feed rewinds to it). Other feeds go on meanwhile.
    ///
    /// On the bus, the batch message that carried the record is naked with
    /// the delay; records of it acknowledged before stay acknowledged and
    /// are skipped when it comes back ([`crate::SkipReason::Redelivered`]),
    /// and acknowledging a record of it after the nak is a no-op. Use it for
    /// a record the application cannot process yet (a downstream system
    /// down); use [`Delivery::term`] for one it can never process.
    ///
    /// Naking several records of a feed rewinds it to the earliest. A
    /// replayed delivery is handed back too (the consumer's own copy of its
    /// message is held until the delay is over). A no-op for an alert read
    /// from history by [`crate::Subscriber::subscribe_in_force`]: subscribe
    /// again to read it again.
    ///
    /// ```no_run
    /// # async fn demo(mut alerts: coalition_sdk::Subscription) -> Result<(), coalition_sdk::SdkError> {
    /// use std::time::Duration;
    /// while let Some(delivery) = alerts.next().await {
    ///     let delivery = delivery?;
    ///     let pager_is_up = false; // e.g. the downstream paging system
    ///     if pager_is_up {
    ///         delivery.ack().await?;
    ///     } else {
    ///         delivery.nak(Duration::from_secs(5)).await?;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn nak(&self, delay: Duration) -> Result<(), SdkError> {
        let Some(handle) = &self.nak else {
            return Ok(());
        };
        // The hold first: the message must not come back before it.
        handle.hold(self.seq, delay);
        match &self.ack {
            Some(ack) => ack.nak(delay).await,
            None => Ok(()),
        }
    }
}

/// A verified record: its header, payload as served, and lineage.
#[derive(Debug)]
pub(crate) struct OpenedRecord {
    pub header: Header,
    pub served_version: u32,
    pub payload: Payload,
    pub lineage: Lineage,
}

impl OpenedRecord {
    pub(crate) fn into_delivery(
        self,
        ack: Option<RecordAck>,
        nak: Option<NakHandle>,
        gap: Option<(u64, u64)>,
        replayed: bool,
    ) -> Delivery {
        let h = self.header;
        Delivery {
            origin: h.origin,
            producer_id: h.producer_id,
            feed: h.feed,
            seq: h.seq,
            schema_version: self.served_version,
            corrects_seq: h.corrects_seq,
            label: h.label,
            payload: self.payload,
            lineage: self.lineage,
            gap,
            replayed,
            derived_from: h.derived_from,
            ack,
            nak,
        }
    }
}

/// Decodes a payload of `kind` in schema `version`.
pub(crate) fn decode_payload(
    kind: MessageType,
    version: u32,
    bytes: &[u8],
) -> Result<Payload, String> {
    match (kind, version) {
        (MessageType::Track, 1) => TrackV1::decode(bytes).map(Payload::Track),
        (MessageType::Track, 2) => TrackV2::decode(bytes).map(Payload::TrackV2),
        (MessageType::Alert, 1) => AlertV1::decode(bytes).map(Payload::Alert),
        (MessageType::Alert, 2) => {
            // Its bridges checked it already; an invalid one is refused
            // here too rather than handed to an alerting system.
            let alert = AlertV2::decode(bytes).map_err(|e| e.to_string())?;
            validate_alert_v2(&alert).map_err(|e| e.to_string())?;
            return Ok(Payload::AlertV2(Box::new(alert)));
        }
        (kind, version) => {
            return Err(format!(
                "{} version {version} is not known to this SDK",
                kind.as_str()
            ))
        }
    }
    .map_err(|e| e.to_string())
}

/// The batch-level lineage the bridges' headers carry (who released and
/// admitted the message, and when).
pub(crate) fn batch_lineage(hdrs: Option<&async_nats::HeaderMap>) -> Lineage {
    let get = |name: &str| {
        hdrs.and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let ms = |name: &str| get(name).and_then(|v| v.parse().ok());
    Lineage {
        released_by: get(headers::RELEASED_BY),
        released_at_ms: ms(headers::RELEASED_AT),
        admitted_by: get(headers::ADMITTED_BY),
        admitted_at_ms: ms(headers::ADMITTED_AT),
        key_id: get(headers::KEY_ID),
        decision: get(headers::DECISION),
        ..Lineage::default()
    }
}
