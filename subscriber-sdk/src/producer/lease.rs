//! One writer per feed: before its first batch on a feed, a producer takes
//! the feed in HOME's `FEED_WRITERS` key-value bucket (key
//! `<producer>.<feed>`, value a description of the writer), and renews it
//! while it writes.
//!
//! The bucket keeps one value per key for 10 s after its last write (the
//! bridge creates it with that max age). A writer renews every 2.5 s, so a
//! live writer's entry changes revision at least every few seconds and a
//! dead writer's entry expires 10 s after it died:
//!
//! - **Free**: `create` succeeds; the feed is ours.
//! - **Held**: read the entry, wait 3 s, read again. If its revision moved,
//!   a live writer holds it: [`SdkError::FeedHeld`]. If not, wait for it to
//!   expire and take it (still refusing if it moves meanwhile).
//! - **Lost**: a renewal that finds another writer's value, or no value
//!   (our hold expired while we could not renew it), marks the hold lost;
//!   the feed stops publishing and takes the feed afresh on its next
//!   publish. Before each publish the hold is confirmed if its last renewal
//!   is older than [`STALE`], so a writer cut off for longer than the expiry
//!   never publishes over a writer that took the feed meanwhile.
//!
//! The hold is deleted when the feed stops ([`Lease::release`]), so the next
//! writer need not wait for the expiry.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation};
use bytes::Bytes;
use coalition_topology::streams;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::SdkError;

/// How long a hold lives after its last renewal (the bucket's max age).
pub(crate) const EXPIRY: Duration = Duration::from_secs(10);
/// How often a writer renews its hold.
const RENEW_EVERY: Duration = Duration::from_millis(2_500);
/// How long to watch a held entry for a renewal before calling its writer
/// dead.
const PROBE: Duration = Duration::from_secs(3);
/// Past this age a hold is confirmed before publishing.
const STALE: Duration = Duration::from_secs(5);
/// How long past the expiry to wait for a dead writer's entry to go.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// Why a hold is no longer ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lost {
    /// Another writer holds the feed (its description).
    Held(String),
    /// Our hold expired while we could not renew it.
    Expired,
}

/// A feed held by this producer: what the publisher checks before
/// publishing.
#[derive(Debug)]
pub(crate) struct Hold {
    kv: kv::Store,
    key: String,
    feed: String,
    value: Bytes,
    /// The entry's revision as we last wrote it.
    revision: tokio::sync::Mutex<u64>,
    /// When a renewal last confirmed the hold.
    renewed_at: Mutex<Instant>,
    lost: watch::Sender<Option<Lost>>,
}

/// A held feed, renewed in the background until released or dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    hold: Arc<Hold>,
    renewer: tokio::task::JoinHandle<()>,
}

fn unavailable(detail: String) -> SdkError {
    SdkError::StreamUnavailable {
        source: None,
        stream: streams::FEED_WRITERS_STREAM.into(),
        detail,
    }
}

impl Lease {
    /// Takes `feed` of `producer` for the writer described by `value`.
    pub(crate) async fn take(
        kv: &kv::Store,
        producer: &str,
        feed: &str,
        value: &str,
    ) -> Result<Lease, SdkError> {
        let key = format!("{producer}.{feed}");
        let value = Bytes::copy_from_slice(value.as_bytes());
        let revision = acquire(kv, &key, feed, &value).await?;
        let (lost, _) = watch::channel(None);
        let hold = Arc::new(Hold {
            kv: kv.clone(),
            key,
            feed: feed.to_string(),
            value,
            revision: tokio::sync::Mutex::new(revision),
            renewed_at: Mutex::new(Instant::now()),
            lost,
        });
        let renewer = tokio::spawn(renew_forever(Arc::downgrade(&hold)));
        Ok(Lease { hold, renewer })
    }

    /// The hold, for the publisher.
    pub(crate) fn hold(&self) -> Arc<Hold> {
        self.hold.clone()
    }

    /// Watches for the hold being lost.
    pub(crate) fn lost(&self) -> watch::Receiver<Option<Lost>> {
        self.hold.lost.subscribe()
    }

    /// Stops renewing and deletes the hold if it is still ours, so the next
    /// writer need not wait for it to expire.
    pub(crate) async fn release(self) {
        self.renewer.abort();
        let revision = *self.hold.revision.lock().await;
        if self.hold.lost.borrow().is_some() {
            return;
        }
        let delete = self
            .hold
            .kv
            .delete_expect_revision(&self.hold.key, Some(revision));
        match tokio::time::timeout(Duration::from_secs(5), delete).await {
            Ok(Ok(())) => tracing::debug!(key = %self.hold.key, "feed released"),
            Ok(Err(e)) => {
                tracing::warn!(key = %self.hold.key, error = %e, "feed not released; it expires in 10 s")
            }
            Err(_) => {
                tracing::warn!(key = %self.hold.key, "feed release timed out; it expires in 10 s")
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Takes the key: at once if free, after a dead writer's entry expired, or
/// not at all if a live writer renews it.
async fn acquire(kv: &kv::Store, key: &str, feed: &str, value: &Bytes) -> Result<u64, SdkError> {
    let deadline = Instant::now() + PROBE + EXPIRY + EXPIRY_MARGIN;
    let mut seen: Option<kv::Entry> = None;
    loop {
        if Instant::now() >= deadline {
            return Err(match &seen {
                Some(entry) => SdkError::FeedHeld {
                    feed: feed.to_string(),
                    holder: String::from_utf8_lossy(&entry.value).into_owned(),
                },
                None => unavailable(format!("could not take feed {feed} in time")),
            });
        }
        match kv.create(key, value.clone()).await {
            Ok(revision) => return Ok(revision),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(unavailable(format!("cannot take feed {feed}: {e}")).with_source(e))
            }
        }
        let entry = match kv.entry(key).await {
            Ok(Some(entry)) if entry.operation == Operation::Put => entry,
            // Gone since: try to create it again.
            Ok(_) => continue,
            Err(e) => {
                return Err(unavailable(format!("cannot read who holds {feed}: {e}")).with_source(e))
            }
        };
        if entry.value == value {
            // This producer's own hold, left by a feed task that stopped.
            return Ok(entry.revision);
        }
        let held = || SdkError::FeedHeld {
            feed: feed.to_string(),
            holder: String::from_utf8_lossy(&entry.value).into_owned(),
        };
        let wait = match &seen {
            Some(s) if s.revision != entry.revision => return Err(held()),
            Some(_) if Instant::now() >= deadline => return Err(held()),
            Some(_) => Duration::from_secs(1),
            None => PROBE,
        };
        tracing::info!(%feed, holder = %String::from_utf8_lossy(&entry.value), "feed held; waiting to see whether its writer is alive");
        seen = Some(entry);
        tokio::time::sleep(wait).await;
    }
}

/// Renews the hold until it is lost or its lease dropped.
async fn renew_forever(hold: std::sync::Weak<Hold>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let Some(hold) = hold.upgrade() else { return };
        match hold.renew().await {
            Ok(()) => {}
            Err(e) if hold.lost.borrow().is_some() => {
                tracing::warn!(error = %e, "feed hold lost; the feed stops publishing");
                return;
            }
            Err(e) => tracing::debug!(error = %e, "feed hold not renewed; retrying"),
        }
    }
}

impl Hold {
    /// Fails if the hold is lost.
    pub(crate) fn check(&self) -> Result<(), SdkError> {
        match &*self.lost.borrow() {
            None => Ok(()),
            Some(Lost::Held(holder)) => Err(SdkError::FeedHeld {
                feed: self.feed.clone(),
                holder: holder.clone(),
            }),
            Some(Lost::Expired) => Err(SdkError::Publish {
                source: None,
                subject: self.key.clone(),
                detail: format!(
                    "this producer's hold on feed {} expired while it could not renew it; \
                     publish again to take the feed afresh",
                    self.feed
                ),
            }),
        }
    }

    /// Confirms the hold before a publish: renews it now unless a renewal
    /// confirmed it recently.
    pub(crate) async fn confirm(&self) -> Result<(), SdkError> {
        self.check()?;
        let renewed_at = *self
            .renewed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if renewed_at.elapsed() < STALE {
            return Ok(());
        }
        self.renew().await
    }

    fn renewed(&self) {
        *self
            .renewed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// Writes the hold again at its last revision.
    async fn renew(&self) -> Result<(), SdkError> {
        self.check()?;
        let mut revision = self.revision.lock().await;
        let update = self
            .kv
            .update(&self.key, self.value.clone(), *revision)
            .await;
        let error = match update {
            Ok(new) => {
                *revision = new;
                self.renewed();
                return Ok(());
            }
            Err(e) => e.to_string(),
        };
        // Did our write land (its acknowledgement lost), or did someone
        // else write, or did the hold expire?
        match self.kv.entry(&self.key).await {
            Ok(Some(e)) if e.operation == Operation::Put && e.value == self.value => {
                if e.revision != *revision {
                    *revision = e.revision;
                    self.renewed();
                    return Ok(());
                }
            }
            Ok(Some(e)) if e.operation == Operation::Put => {
                let holder = String::from_utf8_lossy(&e.value).into_owned();
                self.lost.send_replace(Some(Lost::Held(holder)));
            }
            Ok(_) => {
                self.lost.send_replace(Some(Lost::Expired));
            }
            Err(_) => {}
        }
        self.check()?;
        Err(unavailable(format!(
            "cannot renew the hold on feed {}: {error}",
            self.feed
        )))
    }
}
