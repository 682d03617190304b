//! Gap detection and replay on the subscriber side.
//!
//! **Chains are per batch message.** Every message the bridge stores on an
//! INBOUND subject carries `Coalition-Seq`, the highest record seq in it,
//! and `Coalition-Prev-Seq`, the `Coalition-Seq` of the message it stored
//! before on the same subject (`0`: none). Records and messages refused on
//! the way are not in the chain. A message whose link is above the last seq
//! delivered on its feed means a message is missing. The SDK then replays
//! the feed's subject from INBOUND, from just after the message of the last
//! delivered record, unpacks the batches it finds and hands over their
//! records, in feed order, before the message that revealed the gap. What
//! it still cannot find is reported on the next delivery as
//! [`crate::Delivery::gap`]: missing from this nation, never silently
//! skipped.
//!
//! The SDK reads the chain from the verified records (a message's seqs),
//! and the link from the header, which only says where to look.
use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use coalition_core::envelope::MessageType;
use futures::StreamExt;

/// One chain: an INBOUND subject (each served version of a feed, and each
/// topic of an alert feed, is its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FeedKey {
    pub kind: MessageType,
    pub origin: String,
    pub producer_id: String,
    pub feed: String,
    /// An alert feed's topic; `None` for tracks.
    pub topic: Option<coalition_topology::AlertTopic>,
    /// The schema version served.
    pub version: u32,
}

/// The last delivery on a feed: its record's seq and the INBOUND stream
/// sequence of the message that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub seq: u64,
    pub stream_seq: u64,
}

/// What a subscriber has delivered, per feed; shared by the subscriptions
/// of one [`crate::Subscriber`].
pub(crate) type DeliveredMap = HashMap<FeedKey, Delivered>;

/// Feed seqs missing, first and last.
pub(crate) type Gap = Option<(u64, u64)>;

/// A batch message's place in its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    /// Its lowest record seq.
    pub first: u64,
    /// Its highest record seq (its `Coalition-Seq`).
    pub seq: u64,
    /// Its `Coalition-Prev-Seq`, if it has one.
    pub prev: Option<u64>,
}

/// The seqs missing before a message, given the last seq delivered on its
/// feed. Without a link, every seq skipped before its first record counts.
pub(crate) fn missing_before(last: Option<u64>, link: Link) -> Gap {
    let last = last?;
    if link.seq <= last {
        return None;
    }
    match link.prev {
        Some(prev) if prev > last => Some((last + 1, prev)),
        Some(_) => None,
        None if link.first > last + 1 => Some((last + 1, link.first - 1)),
        None => None,
    }
}

/// Of the messages a replay found, the ones to deliver before `current`
/// (by index into `found`), in feed order, each with the gap still before
/// it; and the gap still before `current`.
pub(crate) fn plan(last: u64, found: &[Link], current: Link) -> (Vec<(usize, Gap)>, Gap) {
    let mut order: Vec<usize> = (0..found.len())
        .filter(|i| found[*i].seq > last && found[*i].seq < current.first)
        .collect();
    order.sort_by_key(|i| found[*i].seq);
    order.dedup_by_key(|i| found[*i].seq);
    let mut running = last;
    let mut planned = Vec::with_capacity(order.len());
    for i in order {
        planned.push((i, missing_before(Some(running), found[i])));
        running = found[i].seq;
    }
    let current_gap = missing_before(Some(running), current);
    (planned, current_gap)
}

/// How long a replay may take before the SDK gives up on it and reports
/// the gap as it stands.
const REPLAY_LIMIT: Duration = Duration::from_secs(30);

/// Reads every message stored on `subject` in `stream` from `from_seq` on,
/// up to the last one stored when the replay started.
pub(crate) async fn replay(
    stream: &jetstream::stream::Stream,
    subject: &str,
    from_seq: u64,
) -> Result<Vec<jetstream::Message>, String> {
    let mut consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.to_string(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from_seq,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| format!("replay consumer on {subject}: {e}"))?;
    let pending = consumer
        .info()
        .await
        .map_err(|e| format!("replay consumer info: {e}"))?
        .num_pending;
    let mut found = Vec::new();
    if pending == 0 {
        return Ok(found);
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("replay of {subject}: {e}"))?;
    let deadline = tokio::time::Instant::now() + REPLAY_LIMIT;
    while (found.len() as u64) < pending {
        match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(Ok(m))) => found.push(m),
            Ok(Some(Err(e))) => tracing::debug!(error = %e, "replay: transient error"),
            Ok(None) => break,
            Err(_) => {
                return Err(format!(
                    "replay of {subject} timed out after {REPLAY_LIMIT:?}"
                ))
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(first: u64, seq: u64, prev: Option<u64>) -> Link {
        Link { first, seq, prev }
    }

    #[test]
    fn missing_before_table() {
        let cases = [
            ("first on the feed", None, link(7, 7, Some(3)), None),
            ("4..6 refused: linked", Some(3), link(7, 7, Some(3)), None),
            ("the next one", Some(3), link(4, 4, Some(3)), None),
            (
                "4..5 missing, 6 refused",
                Some(3),
                link(7, 7, Some(5)),
                Some((4, 5)),
            ),
            ("a duplicate", Some(3), link(3, 3, Some(2)), None),
            ("a batch wholly below", Some(9), link(4, 8, Some(3)), None),
            ("a batch overlapping", Some(5), link(4, 8, Some(3)), None),
            (
                "a batch after a missing one",
                Some(3),
                link(9, 12, Some(8)),
                Some((4, 8)),
            ),
            ("link older than last", Some(6), link(7, 7, Some(5)), None),
            (
                "no link: every skipped seq",
                Some(3),
                link(7, 9, None),
                Some((4, 6)),
            ),
            ("no link, contiguous", Some(3), link(4, 6, None), None),
        ];
        for (what, last, l, expected) in cases {
            assert_eq!(missing_before(last, l), expected, "{what}");
        }
    }

    #[test]
    fn plan_fills_what_the_replay_found_and_reports_the_rest() {
        // Delivered up to 3; the message 9-10 (linked to 8) reveals the gap;
        // the replay found 5 (linked to 4) and 7-8 (linked to 5), plus 1-2
        // and 9-10 again.
        let found = [
            link(7, 8, Some(5)),
            link(5, 5, Some(4)),
            link(1, 2, Some(0)),
            link(9, 10, Some(8)),
        ];
        let (planned, current) = plan(3, &found, link(9, 10, Some(8)));
        assert_eq!(planned, vec![(1, Some((4, 4))), (0, None)]);
        assert_eq!(current, None);
        // Nothing found: the whole gap is reported on the current one.
        assert_eq!(plan(3, &[], link(9, 10, Some(8))), (vec![], Some((4, 8))));
    }

    #[test]
    fn plan_delivers_a_message_found_twice_once() {
        let found = [link(4, 4, Some(3)), link(4, 4, Some(3))];
        let (planned, current) = plan(3, &found, link(5, 6, Some(4)));
        assert_eq!(planned.len(), 1);
        assert_eq!(current, None);
    }
}
