//! Active/standby: several bridge instances may run for one nation, and
//! exactly one of them decides at a time.
//!
//! The instances compete for a lease, a key in the HOME key-value bucket
//! `BRIDGE_LEASE` whose entries expire `ttl` after their last write. The
//! holder renews it every `ttl / 4` with a compare-and-set on its revision;
//! a standby tries to create it every `ttl / 4` and succeeds only once it
//! has expired. The holder considers itself active only while its last
//! renewal is younger than `ttl / 2`, so it stops deciding well before a
//! standby can take over. Stages of an inactive instance do not even read
//! their sources ([`crate::pipeline`]). Should two instances ever decide
//! the same message (a holder stalled for longer than the margin), the
//! stores' `Nats-Msg-Id` de-duplication still keeps it from being released
//! or admitted twice.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use tokio::sync::{watch, Mutex};

use crate::time::pause;
use crate::BridgeError;

/// The key-value bucket holding the lease.
pub(crate) const LEASE_BUCKET: &str = "BRIDGE_LEASE";
const LEASE_KEY: &str = "active";

/// One instance's view of the nation's lease.
#[derive(Debug)]
pub(crate) struct Lease {
    instance: String,
    ttl: Duration,
    /// The revision of the lease entry while held.
    revision: Mutex<Option<u64>>,
    /// When the lease was last written by this instance, as milliseconds
    /// after `started` plus one; 0 = not held. Read without locking, so a
    /// renewal that hangs cannot keep the instance active.
    renewed_ms: AtomicU64,
    started: Instant,
    active_tx: watch::Sender<bool>,
}

/// Whether an instance holding a lease renewed at `renewed` may still
/// decide at `now` (pure).
pub(crate) fn may_act(renewed: Option<Instant>, now: Instant, ttl: Duration) -> bool {
    renewed.is_some_and(|r| now.saturating_duration_since(r) < ttl / 2)
}

impl Lease {
    pub(crate) fn new(instance: String, ttl: Duration) -> Arc<Self> {
        Arc::new(Lease {
            instance,
            ttl,
            revision: Mutex::new(None),
            renewed_ms: AtomicU64::new(0),
            started: Instant::now(),
            active_tx: watch::channel(false).0,
        })
    }

    /// This instance's id.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    fn renewed(&self) -> Option<Instant> {
        match self.renewed_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.started + Duration::from_millis(ms - 1)),
        }
    }

    /// Whether this instance may decide now.
    pub(crate) fn is_active(&self) -> bool {
        may_act(self.renewed(), Instant::now(), self.ttl)
    }

    /// Opens the bucket (creating it if missing).
    pub(crate) async fn bucket(
        js: &jetstream::Context,
        ttl: Duration,
        replicas: usize,
    ) -> Result<kv::Store, BridgeError> {
        if let Ok(store) = js.get_key_value(LEASE_BUCKET).await {
            return Ok(store);
        }
        js.create_key_value(kv::Config {
            bucket: LEASE_BUCKET.into(),
            history: 1,
            max_age: ttl,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| BridgeError::js("create lease bucket", e))
    }

    /// Competes for and renews the lease until shutdown.
    pub(crate) async fn run(
        self: Arc<Self>,
        store: kv::Store,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let active = self.attempt(&store).await;
            if active != *self.active_tx.borrow() {
                tracing::warn!(instance = %self.instance, active, "bridge instance {}", if active { "is now active" } else { "is standby" });
                // No receiver is kept, so `send` would drop the value (and this
                // would log on every round): replace it.
                self.active_tx.send_replace(active);
            }
            if pause(&mut shutdown, self.ttl / 4).await {
                self.active_tx.send_replace(false);
                return;
            }
        }
    }

    /// One round: renew if held, else try to take it. Returns whether this
    /// instance is active afterwards.
    async fn attempt(&self, store: &kv::Store) -> bool {
        let mut held = self.revision.lock().await;
        let value = bytes::Bytes::from(self.instance.clone());
        let attempted_at = Instant::now();
        let result = match *held {
            Some(revision) => store
                .update(LEASE_KEY, value, revision)
                .await
                .map_err(|e| e.to_string()),
            None => store
                .create(LEASE_KEY, value)
                .await
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(revision) => {
                *held = Some(revision);
                // Counted from before the write: the entry's expiry is later.
                let ms = attempted_at.duration_since(self.started).as_millis() as u64;
                self.renewed_ms.store(ms + 1, Ordering::Release);
            }
            Err(e) => {
                if held.is_some() {
                    tracing::warn!(instance = %self.instance, error = %e, "lease lost");
                }
                *held = None;
                self.renewed_ms.store(0, Ordering::Release);
            }
        }
        self.is_active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_acts_only_within_half_the_ttl_of_its_last_renewal() {
        let ttl = Duration::from_secs(6);
        let t0 = Instant::now();
        let cases = [
            ("never held", None, t0, false),
            ("just renewed", Some(t0), t0, true),
            (
                "2.9 s later",
                Some(t0),
                t0 + Duration::from_millis(2_900),
                true,
            ),
            (
                "at half the ttl",
                Some(t0),
                t0 + Duration::from_secs(3),
                false,
            ),
            ("long after", Some(t0), t0 + Duration::from_secs(60), false),
        ];
        for (name, renewed, now, expected) in cases {
            assert_eq!(may_act(renewed, now, ttl), expected, "{name}");
        }
    }
}
