//! Producer certificates travel by reference: a batch names its producer's
//! certificate by SHA-256, and the certificate itself is a signed control
//! object (`ctl.certificate.<nation>.<producer>.<hex digest>`, stream
//! CONTROL). This module is the shell around that:
//!
//! - **Lookup**: before a cycle is decided, every certificate its batches
//!   name that is not cached yet is fetched by subject from the CONTROL
//!   stream the stage's source pairs with (HOME's for egress, the
//!   partner's across the leaf link for ingress), verified against the
//!   trust anchors and cached ([`CertificateCache::add`]).
//! - **Hold**: a batch whose certificate is still unknown is held, with
//!   everything after it (unacknowledged, so nothing is lost), and looked
//!   up again until the certificate arrives or the hold bound passes; then
//!   it is refused as `unknown_certificate` and dead-lettered. So that a
//!   producer cannot stall its nation's egress by naming certificates it
//!   never published, once one of its batches was refused so its later
//!   unknown ones are refused at once for a cool-down.
//! - **Forward**: before a batch is stored where another reader will verify
//!   it (a partner's RELEASED, this nation's INBOUND), its certificate is
//!   stored in that account's CONTROL stream, once per target and digest.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::HeaderMap;
use coalition_core::batch::BatchHeader;
use coalition_core::certificate::CertificateCache;
use coalition_schemas::headers;
use coalition_schemas::v1::{control_message::Body, ControlMessage};
use coalition_topology::{streams, subjects};
use prost::Message;

use crate::stage::Target;
use crate::BridgeError;

/// Fetches the certificate `header` names from the CONTROL stream of `js`
/// and caches it if it verifies. True if it is cached now.
pub(crate) async fn fetch(
    js: &jetstream::Context,
    header: &BatchHeader,
    cache: &CertificateCache,
) -> bool {
    let digest = header.producer_cert_sha256;
    if cache.get(&digest).is_some() {
        return true;
    }
    let subject = subjects::control_certificate(&header.origin, &header.producer_id, &digest);
    let Ok(stream) = js.get_stream_no_info(streams::CONTROL).await else {
        return false;
    };
    let message = match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(%subject, error = %e, "certificate not in CONTROL (yet)");
            return false;
        }
    };
    let Ok(ControlMessage {
        body: Some(Body::Certificate(bytes)),
    }) = ControlMessage::decode(message.payload.as_ref())
    else {
        tracing::warn!(%subject, "not a certificate control object; ignored");
        return false;
    };
    match cache.add(&bytes) {
        Ok(cert) if cert.digest == digest => true,
        Ok(_) => {
            tracing::warn!(%subject, "the certificate stored under this subject has another digest; ignored");
            false
        }
        Err(reason) => {
            tracing::warn!(%subject, %reason, "certificate refused");
            false
        }
    }
}

/// The control object that carries a certificate, and its subject.
pub(crate) fn control_object(
    nation: &str,
    producer: &str,
    digest: &[u8; 32],
    encoded: bytes::Bytes,
) -> (String, HeaderMap, bytes::Bytes) {
    let subject = subjects::control_certificate(nation, producer, digest);
    let mut hdrs = HeaderMap::new();
    hdrs.insert(headers::MSG_ID, subject.as_str());
    let payload = ControlMessage {
        body: Some(Body::Certificate(encoded)),
    }
    .encode_to_vec()
    .into();
    (subject, hdrs, payload)
}

/// Stores certificates where the next reader needs them, once each.
#[derive(Debug, Default)]
pub(crate) struct Forwarded {
    stored: HashSet<(Target, [u8; 32])>,
}

impl Forwarded {
    /// Stores each of `wanted` in its target's CONTROL stream (awaiting
    /// the store) unless done before by this stage.
    pub(crate) async fn ensure(
        &mut self,
        wanted: &[(Target, [u8; 32])],
        targets: &HashMap<Target, jetstream::Context>,
        cache: &CertificateCache,
    ) -> Result<(), BridgeError> {
        for (target, digest) in wanted {
            if self.stored.contains(&(target.clone(), *digest)) {
                continue;
            }
            let cert = cache.get(digest).ok_or_else(|| {
                BridgeError::js("forward certificate", "a decided certificate is not cached")
            })?;
            let js = targets
                .get(target)
                .ok_or_else(|| BridgeError::js("forward certificate", format!("no {target}")))?;
            let (subject, hdrs, payload) = control_object(
                &cert.nation,
                &cert.producer_id,
                digest,
                cert.encoded.clone(),
            );
            js.publish_with_headers(subject.clone(), hdrs, payload)
                .await
                .map_err(|e| BridgeError::js(format!("publish {subject}"), e))?
                .await
                .map_err(|e| BridgeError::js(format!("store {subject}"), e))?;
            self.stored.insert((target.clone(), *digest));
        }
        Ok(())
    }
}

/// How long a batch may wait for its certificate, and the cool-down.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HoldBound {
    /// How long one batch is held.
    pub hold: Duration,
    /// After a refusal, how long the same producer's unknown certificates
    /// are refused at once (egress only: a partner's stage stalls only
    /// that partner).
    pub cool_down: Option<Duration>,
}

/// Which batch waits for its certificate, since when; and producers in
/// their cool-down.
#[derive(Debug)]
pub(crate) struct Holds {
    bound: HoldBound,
    waiting: Option<(u64, Instant)>,
    cooling: HashMap<String, Instant>,
}

impl Holds {
    pub(crate) fn new(bound: HoldBound) -> Self {
        Holds {
            bound,
            waiting: None,
            cooling: HashMap::new(),
        }
    }

    /// The source sequences, among `inputs` (`(stream seq, producer)`), to
    /// refuse rather than hold: the one held past the bound, and those of
    /// producers cooling down.
    pub(crate) fn over(&mut self, inputs: &[(u64, String)]) -> HashSet<u64> {
        let now = Instant::now();
        self.cooling.retain(|_, until| *until > now);
        let mut over = HashSet::new();
        if let Some((seq, since)) = self.waiting {
            if now.duration_since(since) >= self.bound.hold {
                over.insert(seq);
            }
        }
        for (seq, producer) in inputs {
            if self.cooling.contains_key(producer) {
                over.insert(*seq);
            }
        }
        over
    }

    /// The cycle held the input at `seq`; `None` if nothing was held.
    pub(crate) fn held(&mut self, seq: Option<u64>) {
        self.waiting = match (self.waiting, seq) {
            (Some((s, since)), Some(seq)) if s == seq => Some((s, since)),
            (_, Some(seq)) => Some((seq, Instant::now())),
            (_, None) => None,
        };
    }

    /// `producer`'s batch was refused as `unknown_certificate`.
    pub(crate) fn refused(&mut self, producer: &str) {
        if let Some(cool) = self.bound.cool_down {
            self.cooling
                .insert(producer.to_string(), Instant::now() + cool);
        }
    }

    /// Whether a batch is waiting (the stage should look again soon).
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }
}

/// The cache every stage and the control plane share.
pub(crate) type Cache = Arc<CertificateCache>;
