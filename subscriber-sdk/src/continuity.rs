//! Gap detection and replay on the subscriber side.
//!
//! Every message the bridge admits carries `Coalition-Prev-Seq`: the feed
//! seq admitted before it on the same subject (messages refused on the way
//! are not in that chain). A delivery whose link does not match the last
//! seq delivered on its feed means something is missing. The SDK then
//! replays the feed's subject from INBOUND, from just after the last
//! delivered message, and hands over whatever it finds there, in feed
//! order, before the delivery that revealed the gap. What it still cannot
//! find is reported on the delivery as [`crate::Delivery::gap`]: missing
//! from this nation, never silently skipped.
use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use futures::StreamExt;

/// (origin, producer, feed, schema version served): each version of a feed
/// is its own chain (its own INBOUND subject).
pub(crate) type FeedKey = (String, String, String, u32);

/// The last delivery on a feed: its feed seq and where it is in INBOUND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub seq: u64,
    pub stream_seq: u64,
}

/// What a subscriber has delivered, per feed; shared by the subscriptions
/// of one [`crate::Subscriber`].
pub(crate) type DeliveredMap = HashMap<FeedKey, Delivered>;

/// The seqs missing before a message with `seq` and link `prev`, given the
/// last seq delivered on its feed. Without a link (a message written by an
/// older bridge) every skipped seq counts.
pub(crate) fn missing_before(last: Option<u64>, seq: u64, prev: Option<u64>) -> Gap {
    let last = last?;
    if seq <= last {
        return None;
    }
    match prev {
        Some(prev) if prev > last => Some((last + 1, prev)),
        Some(_) => None,
        None if seq > last + 1 => Some((last + 1, seq - 1)),
        None => None,
    }
}

/// Feed seqs missing, first and last.
pub(crate) type Gap = Option<(u64, u64)>;

/// Of the messages a replay found (`(seq, prev)`), the ones to deliver
/// before `current` (by index into `found`), in feed order, each with the
/// gap still before it; and the gap still before `current`.
pub(crate) fn plan(
    last: u64,
    found: &[(u64, Option<u64>)],
    current: (u64, Option<u64>),
) -> (Vec<(usize, Gap)>, Gap) {
    let mut order: Vec<usize> = (0..found.len())
        .filter(|i| found[*i].0 > last && found[*i].0 < current.0)
        .collect();
    order.sort_by_key(|i| found[*i].0);
    order.dedup_by_key(|i| found[*i].0);
    let mut running = last;
    let mut planned = Vec::with_capacity(order.len());
    for i in order {
        let (seq, prev) = found[i];
        planned.push((i, missing_before(Some(running), seq, prev)));
        running = seq;
    }
    let current_gap = missing_before(Some(running), current.0, current.1);
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
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.to_string(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from_seq,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| format!("replay consumer on {subject}: {e}"))?;
    let mut consumer = consumer;
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
        let next = tokio::time::timeout_at(deadline, messages.next()).await;
        match next {
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

    #[test]
    fn missing_before_table() {
        let cases = [
            (None, 7, Some(3), None),    // first on the feed
            (Some(3), 7, Some(3), None), // 4..6 refused: linked
            (Some(3), 4, Some(3), None),
            (Some(3), 7, Some(5), Some((4, 5))), // 4..5 missing, 6 refused
            (Some(3), 3, Some(2), None),         // a duplicate
            (Some(6), 7, Some(5), None),         // link older than last: nothing missing
            (Some(3), 7, None, Some((4, 6))),    // no link: every skipped seq
            (Some(3), 4, None, None),
        ];
        for (last, seq, prev, expected) in cases {
            assert_eq!(
                missing_before(last, seq, prev),
                expected,
                "{last:?} {seq} {prev:?}"
            );
        }
    }

    #[test]
    fn plan_fills_what_the_replay_found_and_reports_the_rest() {
        // Delivered up to 3; 9 (linked to 8) reveals the gap; the replay
        // found 5 (linked to 4) and 8 (linked to 5), plus 2 and 9 again.
        let found = [(8, Some(5)), (5, Some(4)), (2, Some(1)), (9, Some(8))];
        let (planned, current) = plan(3, &found, (9, Some(8)));
        assert_eq!(planned, vec![(1, Some((4, 4))), (0, None)]);
        assert_eq!(current, None);
        // Nothing found: the whole gap is reported on the current one.
        assert_eq!(plan(3, &[], (9, Some(8))), (vec![], Some((4, 8))));
    }

    #[test]
    fn plan_delivers_a_seq_found_twice_once() {
        let found = [(4, Some(3)), (4, Some(3))];
        let (planned, current) = plan(3, &found, (5, Some(4)));
        assert_eq!(planned.len(), 1);
        assert_eq!(current, None);
    }
}
