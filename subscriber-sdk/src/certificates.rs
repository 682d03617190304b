//! Producer certificates for the subscriber: batches name their producer's
//! certificate by SHA-256; the SDK looks it up in its cache and, if it is
//! not there, reads it from HOME's CONTROL stream
//! (`ctl.certificate.<origin>.<producer>.<hex digest>`), where the bridge
//! stores it before the first batch that names it.
//!
//! A certificate is cached only once it verifies against the subscriber's
//! own trust anchors, in its canonical encoding, and its digest is the one
//! named ([`CertificateCache::add`]).
//!
//! A digest looked for in vain is remembered for a while: further batches
//! naming it get one look, not another wait, so a run of them cannot stall
//! the subscription 10 s each. "In vain" means CONTROL answered that it
//! holds no such certificate: while CONTROL cannot answer at all (every
//! server of the nation restarting), the lookup waits and nothing is
//! refused.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream::LastRawMessageErrorKind};
use coalition_core::certificate::{CertificateCache, VerifiedCertificate};
use coalition_core::DenyReason;
use coalition_schemas::v1::{control_message::Body, ControlMessage};
use coalition_topology::subjects;
use prost::Message as _;

/// How long a certificate may take to appear on CONTROL (the bridge stores
/// it before the batch, but a replica may lag).
const WAIT: Duration = Duration::from_secs(10);
/// How often a lookup that CONTROL cannot answer is logged as a warning.
const UNAVAILABLE_WARNING: Duration = Duration::from_secs(30);
/// How long a digest looked for in vain gets one look instead of a wait.
const REMEMBER_MISSING: Duration = Duration::from_secs(60);
/// At most this many missing digests are remembered.
const MISSING_CAPACITY: usize = 1_024;

/// The certificate cache and where to fill it from.
#[derive(Debug)]
pub(crate) struct Certificates {
    cache: Arc<CertificateCache>,
    control: jetstream::stream::Stream<()>,
    /// Digests looked for in vain, and when.
    missing: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Certificates {
    pub(crate) fn new(cache: CertificateCache, control: jetstream::stream::Stream<()>) -> Self {
        Certificates {
            cache: Arc::new(cache),
            control,
            missing: Mutex::new(HashMap::new()),
        }
    }

    /// The verified certificate named `digest` of `origin`'s `producer`:
    /// from the cache, else from CONTROL (waiting up to 10 s for it once
    /// CONTROL answers, and as long as it takes for CONTROL to answer).
    pub(crate) async fn get(
        &self,
        origin: &str,
        producer: &str,
        digest: &[u8; 32],
    ) -> Result<Arc<VerifiedCertificate>, DenyReason> {
        if let Some(hit) = self.cache.get(digest) {
            return Ok(hit);
        }
        let subject = subjects::control_certificate(origin, producer, digest);
        let wait = if self.recently_missing(digest) {
            Duration::ZERO
        } else {
            WAIT
        };
        // The wait counts from CONTROL's first answer that it holds no such
        // certificate. While CONTROL cannot answer at all (its servers
        // restarting), nothing is decided: the lookup is tried again.
        let mut deadline = None;
        let mut pause = Duration::from_millis(100);
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            match self.control.get_last_raw_message_by_subject(&subject).await {
                Ok(message) => return self.add(&message.payload, digest).await,
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {
                    failing_since = None;
                    let at = *deadline.get_or_insert(tokio::time::Instant::now() + wait);
                    if tokio::time::Instant::now() + pause > at {
                        tracing::warn!(%subject, "certificate not found on CONTROL");
                        self.note_missing(digest);
                        return Err(DenyReason::UnknownCertificate);
                    }
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= UNAVAILABLE_WARNING {
                        tracing::warn!(%subject, error = %e, "CONTROL unavailable; still waiting for the certificate");
                        failing_since = Some(tokio::time::Instant::now());
                    } else {
                        tracing::debug!(%subject, error = %e, "certificate lookup failed; retrying");
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    fn missing(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.missing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn recently_missing(&self, digest: &[u8; 32]) -> bool {
        self.missing()
            .get(digest)
            .is_some_and(|at| at.elapsed() < REMEMBER_MISSING)
    }

    fn note_missing(&self, digest: &[u8; 32]) {
        let mut missing = self.missing();
        missing.retain(|_, at| at.elapsed() < REMEMBER_MISSING);
        if missing.len() < MISSING_CAPACITY {
            missing.insert(*digest, Instant::now());
        }
    }

    /// Verifies and caches a certificate read from CONTROL (on the blocking
    /// pool: the root's signature is ML-DSA).
    async fn add(
        &self,
        control_message: &[u8],
        digest: &[u8; 32],
    ) -> Result<Arc<VerifiedCertificate>, DenyReason> {
        let bytes = match ControlMessage::decode(control_message) {
            Ok(ControlMessage {
                body: Some(Body::Certificate(bytes)),
            }) => bytes,
            _ => return Err(DenyReason::BadCertificate),
        };
        let cache = self.cache.clone();
        let verified = tokio::task::spawn_blocking(move || cache.add(&bytes))
            .await
            .map_err(|_| DenyReason::BadCertificate)??;
        if &verified.digest != digest {
            return Err(DenyReason::CertificateMismatch);
        }
        Ok(verified)
    }
}
