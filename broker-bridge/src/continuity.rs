//! Per-feed continuity: every message a bridge writes onto a feed's
//! subject (`rel.…` for a partner, `in.…` for its own subscribers) carries
//! `Coalition-Prev-Seq`, the feed sequence of the message written before it
//! on that subject. A message refused on the way (a label not releasable to
//! this partner, a denial at admission) is simply not in the chain, so a
//! reader that finds the chain broken knows a message is missing, not
//! refused.
//!
//! Two chains are kept, and both are checked:
//! - the releasing bridge's chain on RELEASED (one per partner), checked by
//!   the receiving bridge as it reads ([`check_upstream`]): a break means
//!   released messages never arrived (aged out, or lost by the server);
//! - the admitting bridge's chain on INBOUND, checked by the SDK, which
//!   replays from INBOUND to fill a break and reports what it cannot fill.
//!
//! When the upstream chain breaks, the admitted message's INBOUND link
//! points at the partner's previous release instead of this nation's
//! previous admission, so the break reaches every subscriber.
//!
//! The chain's state is the last message stored on the subject, so it
//! survives a restart: the first write to a subject after start looks the
//! last one up ([`ChainState::load`]).
use std::collections::HashMap;

use async_nats::jetstream;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use coalition_schemas::headers;

use crate::stage::Target;
use crate::BridgeError;

/// The last message written on one subject: its feed seq and the link it
/// carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Link {
    pub seq: u64,
    pub prev: u64,
}

/// The link a message with feed seq `seq` carries, given the last message
/// on its subject and an upstream break to carry (the partner's previous
/// release), and the new last message. Writing the last message again (a
/// batch redelivered after its outputs were stored) gives the link it was
/// stored with; an older message (also a redelivery) keeps the chain as it
/// is and is absorbed by `Nats-Msg-Id` de-duplication.
pub(crate) fn next_link(last: Link, seq: u64, upstream: Option<u64>) -> (u64, Link) {
    if seq == last.seq {
        return (last.prev, last);
    }
    if seq < last.seq {
        return (last.seq, last);
    }
    let prev = upstream.unwrap_or(last.seq);
    (prev, Link { seq, prev })
}

/// What the receiving bridge makes of a released message's upstream link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// Follows the last message read on the subject, or nothing is known
    /// yet (first message since start).
    Continuous,
    /// Already read in this process (a redelivery).
    Again,
    /// Released messages after `after` up to `released_prev` never
    /// arrived.
    Broken { after: u64, released_prev: u64 },
}

/// Checks a released message (`seq`, carrying `released_prev`) against the
/// last one read on its subject in this process.
pub(crate) fn check_upstream(last: Option<Link>, seq: u64, released_prev: Option<u64>) -> Upstream {
    let (Some(last), Some(released_prev)) = (last, released_prev) else {
        return Upstream::Continuous;
    };
    if seq <= last.seq {
        return Upstream::Again;
    }
    if released_prev == last.seq {
        Upstream::Continuous
    } else {
        Upstream::Broken {
            after: last.seq,
            released_prev,
        }
    }
}

/// The stream a chained subject is stored in.
fn stream_for(subject: &str) -> Option<&'static str> {
    use coalition_topology::{streams, subjects::Subject};
    match Subject::parse(subject).ok()? {
        Subject::Released { kind, .. } => Some(streams::released(kind)),
        Subject::Inbound { kind, .. } => Some(streams::inbound(kind)),
        _ => None,
    }
}

/// Reads a numeric header.
pub(crate) fn header_u64(hdrs: Option<&async_nats::HeaderMap>, name: &str) -> Option<u64> {
    hdrs.and_then(|h| h.get(name))
        .and_then(|v| v.as_str().parse().ok())
}

/// A feed (for alerts, one topic of it), whatever the subject it is on
/// (released, or admitted in any schema version): (kind, origin, producer,
/// feed, topic). A break found on one topic's subject is carried on that
/// topic's subjects only, where its subscribers look for it.
type FeedId = (
    coalition_topology::Kind,
    String,
    String,
    String,
    Option<coalition_topology::AlertTopic>,
);

/// The feed of a released or admitted subject.
fn feed_id(subject: &str) -> Option<FeedId> {
    use coalition_topology::subjects::Subject;
    match Subject::parse(subject).ok()? {
        Subject::Released {
            kind,
            origin,
            producer,
            feed,
            topic,
        }
        | Subject::Inbound {
            kind,
            origin,
            producer,
            feed,
            topic,
            ..
        } => Some((kind, origin, producer, feed, topic)),
        _ => None,
    }
}

/// An upstream break to carry on a feed: by every subject (every schema
/// version) of the first message admitted at or after `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Carry {
    from: u64,
    released_prev: u64,
    /// The seq of the message that carries it, once one does.
    by: Option<u64>,
}

/// Released messages that never arrived on one feed subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Break {
    pub subject: String,
    /// The last message read on the subject.
    pub after: u64,
    /// The partner's previous release, as the next message states it.
    pub released_prev: u64,
}

/// What one batch reads and writes, applied to the state only once the
/// batch is stored (a batch redelivered is checked again from the same
/// state).
#[derive(Debug, Default)]
pub(crate) struct ChainBatch {
    written: HashMap<(Target, String), Link>,
    read: HashMap<String, Link>,
    /// Breaks to carry per (target, feed), as this batch leaves them.
    carries: HashMap<(Target, FeedId), Carry>,
    /// Upstream breaks found in the batch's inputs.
    pub breaks: Vec<Break>,
}

/// The chain state of one stage: the last message read per source subject,
/// the last written per (target, subject), and breaks not yet carried by
/// an admitted message. Reset whenever the stage loses its place (another
/// instance may have read and written since).
#[derive(Debug, Default)]
pub(crate) struct ChainState {
    written: HashMap<(Target, String), Link>,
    read: HashMap<String, Link>,
    uncarried: HashMap<(Target, FeedId), Carry>,
}

impl ChainState {
    /// Checks the upstream links of a batch's inputs (`(subject, headers)`,
    /// in stream order). A break is carried by the next message admitted on
    /// the feed at or after the one that revealed it: it links to the
    /// partner's previous release, which this nation never stored, so the
    /// SDK reports the gap (`home` is the target index of INBOUND).
    pub(crate) fn read_inputs<'a>(
        &self,
        inputs: impl IntoIterator<Item = (&'a str, Option<&'a async_nats::HeaderMap>)>,
        home: Target,
    ) -> ChainBatch {
        let mut batch = ChainBatch::default();
        for (subject, hdrs) in inputs {
            let Some(seq) = header_u64(hdrs, headers::SEQ) else {
                continue;
            };
            let released_prev = header_u64(hdrs, headers::PREV_SEQ);
            let last = batch
                .read
                .get(subject)
                .or_else(|| self.read.get(subject))
                .copied();
            match check_upstream(last, seq, released_prev) {
                Upstream::Again => continue,
                Upstream::Continuous => {}
                Upstream::Broken {
                    after,
                    released_prev,
                } => {
                    if let Some(feed) = feed_id(subject) {
                        let carry = Carry {
                            from: seq,
                            released_prev,
                            by: None,
                        };
                        batch.carries.insert((home.clone(), feed), carry);
                    }
                    batch.breaks.push(Break {
                        subject: subject.to_string(),
                        after,
                        released_prev,
                    });
                }
            }
            let prev = released_prev.unwrap_or(0);
            batch.read.insert(subject.to_string(), Link { seq, prev });
        }
        batch
    }

    /// Looks up the last stored message of every `(target, subject)` not
    /// yet known.
    pub(crate) async fn load(
        &mut self,
        wanted: Vec<(Target, String)>,
        targets: &std::collections::HashMap<Target, jetstream::Context>,
    ) -> Result<(), BridgeError> {
        for key in wanted {
            if self.written.contains_key(&key) {
                continue;
            }
            let (Some(ctx), Some(stream)) = (targets.get(&key.0), stream_for(&key.1)) else {
                continue;
            };
            let stream = ctx
                .get_stream_no_info(stream)
                .await
                .map_err(|e| BridgeError::js(format!("stream {stream}"), e))?;
            let link = match stream.get_last_raw_message_by_subject(&key.1).await {
                Ok(m) => Link {
                    seq: header_u64(Some(&m.headers), headers::SEQ).unwrap_or(0),
                    prev: header_u64(Some(&m.headers), headers::PREV_SEQ).unwrap_or(0),
                },
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Link::default(),
                Err(e) => return Err(BridgeError::js(format!("last message on {}", key.1), e)),
            };
            self.written.insert(key, link);
        }
        Ok(())
    }

    /// The link `seq` carries on `(target, subject)` in this batch; call
    /// in output order, after [`ChainState::load`].
    pub(crate) fn link(
        &self,
        batch: &mut ChainBatch,
        target: &Target,
        subject: &str,
        seq: u64,
    ) -> u64 {
        let key = (target.clone(), subject.to_string());
        let last = batch
            .written
            .get(&key)
            .or_else(|| self.written.get(&key))
            .copied()
            .unwrap_or_default();
        let feed = feed_id(subject).map(|f| (target.clone(), f));
        let carry = feed
            .as_ref()
            .and_then(|f| batch.carries.get(f).or_else(|| self.uncarried.get(f)))
            .copied();
        let mut upstream = None;
        if let Some(mut c) = carry {
            if seq > last.seq && seq >= c.from && c.by.is_none_or(|by| by == seq) {
                upstream = Some(c.released_prev);
                c.by = Some(seq);
                if let Some(feed) = feed {
                    batch.carries.insert(feed, c);
                }
            }
        }
        let (prev, new_last) = next_link(last, seq, upstream);
        batch.written.insert(key, new_last);
        prev
    }

    /// Forgets the last message written on every subject, so the next write
    /// looks it up again: another stage wrote on the same subjects.
    pub(crate) fn forget_written(&mut self) {
        self.written.clear();
    }

    /// Records what a stored batch read and wrote.
    pub(crate) fn commit(&mut self, batch: ChainBatch) {
        self.written.extend(batch.written);
        self.read.extend(batch.read);
        for (feed, carry) in batch.carries {
            if carry.by.is_some() {
                self.uncarried.remove(&feed);
            } else {
                self.uncarried.insert(feed, carry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(seq: u64, prev: u64) -> Link {
        Link { seq, prev }
    }

    #[test]
    fn next_link_table() {
        let cases = [
            // (last, seq, upstream break, expected link carried, expected new last)
            (l(0, 0), 1, None, 0, l(1, 0)),
            (l(4, 3), 5, None, 4, l(5, 4)),
            (l(4, 3), 9, None, 4, l(9, 4)), // 5..8 refused: not a break
            (l(4, 3), 4, None, 3, l(4, 3)), // redelivery of the last
            (l(9, 4), 5, None, 9, l(9, 4)), // older redelivery: unchanged
            (l(4, 3), 9, Some(7), 7, l(9, 7)), // upstream lost up to 7
            (l(4, 3), 4, Some(7), 3, l(4, 3)), // a redelivery carries no break
        ];
        for (last, seq, upstream, carried, new_last) in cases {
            assert_eq!(
                next_link(last, seq, upstream),
                (carried, new_last),
                "{last:?} {seq} {upstream:?}"
            );
        }
    }

    #[test]
    fn check_upstream_table() {
        let cases = [
            (None, 5, Some(4), Upstream::Continuous),
            (Some(l(4, 3)), 5, None, Upstream::Continuous),
            (Some(l(4, 3)), 9, Some(4), Upstream::Continuous),
            (Some(l(4, 3)), 4, Some(3), Upstream::Again),
            (Some(l(4, 3)), 2, Some(1), Upstream::Again),
            (
                Some(l(4, 3)),
                9,
                Some(7),
                Upstream::Broken {
                    after: 4,
                    released_prev: 7,
                },
            ),
        ];
        for (last, seq, prev, expected) in cases {
            assert_eq!(
                check_upstream(last, seq, prev),
                expected,
                "{last:?} {seq} {prev:?}"
            );
        }
    }

    fn hdrs(seq: u64, prev: u64) -> async_nats::HeaderMap {
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::SEQ, seq.to_string().as_str());
        h.insert(headers::PREV_SEQ, prev.to_string().as_str());
        h
    }

    #[test]
    fn an_upstream_break_reaches_the_next_admitted_message_even_if_the_broken_one_is_refused() {
        const REL: &str = "rel.track.USA.radar-1.tracks";
        const IN: &str = "in.track.USA.radar-1.tracks.v1";
        let mut state = ChainState::default();
        // 1 and 2 read and admitted.
        let (h1, h2) = (hdrs(1, 0), hdrs(2, 1));
        let mut batch = state.read_inputs([(REL, Some(&h1)), (REL, Some(&h2))], Target::Home);
        assert!(batch.breaks.is_empty());
        assert_eq!(state.link(&mut batch, &Target::Home, IN, 1), 0);
        assert_eq!(state.link(&mut batch, &Target::Home, IN, 2), 1);
        state.commit(batch);
        // 3 and 4 never arrive; 5 (released after 4) is refused here.
        let h5 = hdrs(5, 4);
        let batch = state.read_inputs([(REL, Some(&h5))], Target::Home);
        assert_eq!(
            batch.breaks,
            vec![Break {
                subject: REL.into(),
                after: 2,
                released_prev: 4
            }]
        );
        state.commit(batch);
        // 6 is admitted: it links to 4, which INBOUND never held.
        let h6 = hdrs(6, 5);
        let mut batch = state.read_inputs([(REL, Some(&h6))], Target::Home);
        assert!(batch.breaks.is_empty());
        assert_eq!(state.link(&mut batch, &Target::Home, IN, 6), 4);
    }

    #[test]
    fn a_break_is_carried_from_the_message_that_revealed_it_not_before() {
        const REL: &str = "rel.track.USA.radar-1.tracks";
        const IN: &str = "in.track.USA.radar-1.tracks.v1";
        let mut state = ChainState::default();
        let h1 = hdrs(1, 0);
        let mut batch = state.read_inputs([(REL, Some(&h1))], Target::Home);
        state.link(&mut batch, &Target::Home, IN, 1);
        state.commit(batch);
        // One batch: 2 and 3 follow on; 352 reveals that 4..351 were lost.
        let (h2, h3, h352) = (hdrs(2, 1), hdrs(3, 2), hdrs(352, 351));
        let mut batch = state.read_inputs(
            [(REL, Some(&h2)), (REL, Some(&h3)), (REL, Some(&h352))],
            Target::Home,
        );
        assert_eq!(batch.breaks.len(), 1);
        assert_eq!(state.link(&mut batch, &Target::Home, IN, 2), 1);
        assert_eq!(state.link(&mut batch, &Target::Home, IN, 3), 2);
        assert_eq!(state.link(&mut batch, &Target::Home, IN, 352), 351);
        state.commit(batch);
        let h353 = hdrs(353, 352);
        let mut batch = state.read_inputs([(REL, Some(&h353))], Target::Home);
        assert_eq!(
            state.link(&mut batch, &Target::Home, IN, 353),
            352,
            "carried once only"
        );
    }

    #[test]
    fn a_break_is_carried_by_every_version_a_message_is_served_in() {
        const REL: &str = "rel.track.USA.radar-1.tracks";
        const V1: &str = "in.track.USA.radar-1.tracks.v1";
        const V2: &str = "in.track.USA.radar-1.tracks.v2";
        let mut state = ChainState::default();
        let h1 = hdrs(1, 0);
        let mut batch = state.read_inputs([(REL, Some(&h1))], Target::Home);
        state.link(&mut batch, &Target::Home, V1, 1);
        state.link(&mut batch, &Target::Home, V2, 1);
        state.commit(batch);
        let (h9, h10) = (hdrs(9, 8), hdrs(10, 9));
        let mut batch = state.read_inputs([(REL, Some(&h9)), (REL, Some(&h10))], Target::Home);
        assert_eq!(state.link(&mut batch, &Target::Home, V1, 9), 8);
        assert_eq!(state.link(&mut batch, &Target::Home, V2, 9), 8);
        assert_eq!(state.link(&mut batch, &Target::Home, V1, 10), 9);
        assert_eq!(state.link(&mut batch, &Target::Home, V2, 10), 9);
    }

    #[test]
    fn a_batch_not_committed_is_checked_again_from_the_same_state() {
        const REL: &str = "rel.alert.USA.ops.alerts.air.severe";
        let mut state = ChainState::default();
        let h1 = hdrs(1, 0);
        state.commit(state.read_inputs([(REL, Some(&h1))], Target::Home));
        let h4 = hdrs(4, 3);
        let first = state.read_inputs([(REL, Some(&h4))], Target::Home);
        assert_eq!(first.breaks.len(), 1);
        // Not committed (the batch was not stored): the redelivery breaks again.
        let again = state.read_inputs([(REL, Some(&h4))], Target::Home);
        assert_eq!(again.breaks.len(), 1);
    }

    #[test]
    fn only_feed_subjects_are_chained() {
        assert_eq!(stream_for("rel.track.USA.radar-1.tracks"), Some("RELEASED"));
        assert_eq!(
            stream_for("in.track.USA.radar-1.tracks.v1"),
            Some("INBOUND")
        );
        assert_eq!(stream_for("dlq.ingress.bad_signature"), None);
        assert_eq!(
            stream_for("rel.alert.USA.radar-1.alerts.air.minor"),
            Some("RELEASED_ALERTS")
        );
        assert_eq!(stream_for("rel.alert.USA.radar-1.alerts"), None);
        let feed = Some((
            coalition_topology::Kind::Track,
            "USA".to_string(),
            "radar-1".to_string(),
            "tracks".to_string(),
            None,
        ));
        assert_eq!(feed_id("rel.track.USA.radar-1.tracks"), feed);
        assert_eq!(feed_id("in.track.USA.radar-1.tracks.v12"), feed);
        assert_eq!(feed_id("in.track.USA.radar-1.tracks.v1"), feed);
        assert_eq!(feed_id("in.track.USA.radar-1.tracks"), None);
        assert_eq!(feed_id("dlq.ingress.bad_proof"), None);
        // An alert feed's topics are chained, and carry breaks, apart.
        let air = feed_id("rel.alert.USA.cell.alerts.air.severe").unwrap();
        assert_eq!(
            feed_id("in.alert.USA.cell.alerts.air.severe.v2"),
            Some(air.clone())
        );
        assert_ne!(feed_id("in.alert.USA.cell.alerts.sea.severe.v2"), Some(air));
    }
}
