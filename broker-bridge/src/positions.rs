//! Where a stage keeps its position in every feed: in memory, and in the
//! HOME stream POSITIONS (`pos.<stage>_<kind>.<origin>.<producer>.<feed>`,
//! one message kept per subject), written with each cycle's outputs and
//! before its inputs are acknowledged. After a restart or a lease takeover
//! the first cycle that touches a feed looks its position up again, so a
//! replayed, rolled-back or jumping batch is refused then too
//! ([`coalition_core::feed_position`]).
use std::collections::HashMap;

use async_nats::jetstream::{self, stream::LastRawMessageErrorKind};
use async_nats::HeaderMap;
use coalition_core::feed_position::{FeedState, Position};
use coalition_schemas::{headers, v1};
use coalition_topology::{streams, subjects, Kind};
use prost::Message;

use crate::stage::FeedKey;
use crate::BridgeError;

/// A stage's feed positions, as last stored.
#[derive(Debug)]
pub(crate) struct Positions {
    stage: String,
    known: HashMap<FeedKey, FeedState>,
}

impl Positions {
    pub(crate) fn new(stage: &str, kind: Kind) -> Self {
        Positions {
            stage: subjects::position_stage(stage, kind),
            known: HashMap::new(),
        }
    }

    /// Forgets everything (the stage lost its place: another instance may
    /// have moved on since).
    pub(crate) fn forget(&mut self) {
        self.known.clear();
    }

    fn subject(&self, key: &FeedKey) -> String {
        subjects::position(&self.stage, &key.0, &key.1, &key.2)
    }

    /// The state of each of `feeds`, looking up those not known yet.
    pub(crate) async fn load(
        &mut self,
        feeds: impl IntoIterator<Item = FeedKey>,
        home: &jetstream::Context,
    ) -> Result<HashMap<FeedKey, FeedState>, BridgeError> {
        let mut out = HashMap::new();
        for key in feeds {
            if out.contains_key(&key) {
                continue;
            }
            if let Some(state) = self.known.get(&key) {
                out.insert(key, state.clone());
                continue;
            }
            let state = self.fetch(&key, home).await?;
            self.known.insert(key.clone(), state.clone());
            out.insert(key, state);
        }
        Ok(out)
    }

    async fn fetch(
        &self,
        key: &FeedKey,
        home: &jetstream::Context,
    ) -> Result<FeedState, BridgeError> {
        let subject = self.subject(key);
        let stream = home
            .get_stream_no_info(streams::POSITIONS)
            .await
            .map_err(|e| BridgeError::js("stream POSITIONS", e))?;
        match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => decode(&m.payload).map_err(|detail| {
                BridgeError::js(
                    format!("position {subject}"),
                    format!("{detail}; delete the message if POSITIONS was written by hand"),
                )
            }),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {
                Ok(FeedState::default())
            }
            Err(e) => Err(BridgeError::js(format!("position {subject}"), e)),
        }
    }

    /// The messages that store `changed` (subject, headers, payload).
    pub(crate) fn to_store(
        &self,
        changed: &[(FeedKey, FeedState)],
    ) -> Vec<(String, HeaderMap, bytes::Bytes)> {
        changed
            .iter()
            .map(|(key, state)| {
                let subject = self.subject(key);
                let mut hdrs = HeaderMap::new();
                let id = format!("{subject}.{}", state.position.map_or(0, |p| p.last_seq));
                hdrs.insert(headers::MSG_ID, id.as_str());
                (subject, hdrs, encode(state))
            })
            .collect()
    }

    /// Records what a stored cycle changed.
    pub(crate) fn commit(&mut self, changed: Vec<(FeedKey, FeedState)>) {
        self.known.extend(changed);
    }
}

fn encode(state: &FeedState) -> bytes::Bytes {
    let position = state.position.unwrap_or(Position {
        last_seq: 0,
        sealed_at_ms: 0,
    });
    v1::FeedPosition {
        last_seq: position.last_seq,
        sealed_at_ms: position.sealed_at_ms,
        accepted_stream_seqs: state.accepted_stream_seqs.clone(),
        decided_through_stream_seq: state.decided_through,
    }
    .encode_to_vec()
    .into()
}

fn decode(bytes: &[u8]) -> Result<FeedState, String> {
    let v1::FeedPosition {
        last_seq,
        sealed_at_ms,
        accepted_stream_seqs,
        decided_through_stream_seq,
    } = v1::FeedPosition::decode(bytes).map_err(|e| format!("not a FeedPosition: {e}"))?;
    Ok(FeedState {
        position: (last_seq > 0).then_some(Position {
            last_seq,
            sealed_at_ms,
        }),
        accepted_stream_seqs,
        decided_through: decided_through_stream_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_through_its_stored_form() {
        let states = [
            FeedState::default(),
            FeedState {
                position: Some(Position {
                    last_seq: 128,
                    sealed_at_ms: 1_800_000_000_000,
                }),
                accepted_stream_seqs: vec![7, 9],
                decided_through: 9,
            },
        ];
        for state in states {
            assert_eq!(decode(&encode(&state)), Ok(state));
        }
        assert!(decode(b"\xff\xff").is_err());
    }

    #[test]
    fn subjects_name_the_stage_and_lane() {
        let p = Positions::new("ingress", Kind::Alert);
        let key = (
            "USA".to_string(),
            "radar-1".to_string(),
            "alerts".to_string(),
        );
        assert_eq!(p.subject(&key), "pos.ingress_alert.USA.radar-1.alerts");
    }
}
