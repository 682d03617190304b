//! Rate limits (`[rate_limits]`), with the `governor` crate: per origin
//! partner at ingress, per verified producer at egress.
//!
//! - **Partner, at ingress**: each ingress stage reads one partner's
//!   RELEASED stream, so its limiter ([`PartnerPace`]) is simply consulted
//!   before each message is decided. Excess waits, unacknowledged, in the
//!   partner's stream: it is slowed, never refused, and no other partner's
//!   stage waits for it.
//! - **Producer, at egress**: all producers share one OUTBOUND consumer,
//!   read in stream order, so waiting there would hold every producer
//!   behind the fastest one. Instead the egress decision asks [`pace`]: a
//!   producer within its rate is released now; its excess is *deferred*
//!   (copied into the HOME stream PACED, acknowledged in OUTBOUND) and
//!   released by the paced stage at the producer's rate; once
//!   `producer_max_deferred` of its messages wait, further excess is
//!   refused (`rate_limited`, dead-lettered). While a producer has messages
//!   waiting in PACED, all its messages go there too, so its feeds keep
//!   their order.
//!
//! Limiter keys are authenticated identities only: partner codes from the
//! config, and producer ids taken from a certificate that verified against
//! this nation's root (the egress decision calls [`ProducerPacing::admit`]
//! only after verification; PACED is written only by the bridge). So a
//! flood of spoofed identities creates no entries.
//!
//! No I/O and no tokio here; time comes from a `governor` clock, so tests
//! drive it with a fake one.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use coalition_topology::Rate;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::gate::MAX_BATCH;

/// The governor quota for a configured rate (values were checked to be at
/// least 1 when the config was loaded; 1 is used if not).
pub(crate) fn quota(rate: Rate) -> Quota {
    let one = NonZeroU32::MIN;
    Quota::per_second(NonZeroU32::new(rate.msgs_per_sec).unwrap_or(one))
        .allow_burst(NonZeroU32::new(rate.burst).unwrap_or(one))
}

/// How many batches a rate-limited stage takes, and so pulls, at once: at
/// most one second's worth of records and one burst, counting each batch
/// as at least one record, so nothing it holds waits longer than the
/// consumer's ack wait.
pub(crate) fn window(rate: Rate) -> usize {
    (rate.msgs_per_sec.min(rate.burst) as usize).clamp(1, MAX_BATCH)
}

/// Tokens for `n` records, at most the burst: a batch larger than the
/// burst takes the whole burst (governor refuses more than the burst at
/// once).
fn tokens(n: usize, burst: u32) -> NonZeroU32 {
    let n = u32::try_from(n).unwrap_or(u32::MAX).clamp(1, burst.max(1));
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// What happens to a verified producer's message at egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Within the producer's rate, nothing of it waiting: release now.
    Now,
    /// Over the rate, or behind its own deferred messages: into PACED.
    Defer,
    /// Its PACED backlog is full: refused (`rate_limited`), dead-lettered.
    Refuse,
}

/// The egress rule. `waiting` counts the producer's messages in PACED
/// (including those deferred earlier in the same batch); `within_rate`
/// takes a token from its limiter and is asked only when nothing waits,
/// so a producer's messages never overtake its deferred ones.
pub(crate) fn pace(waiting: u64, max_deferred: u64, within_rate: impl FnOnce() -> bool) -> Pace {
    if waiting >= max_deferred {
        Pace::Refuse
    } else if waiting > 0 || !within_rate() {
        Pace::Defer
    } else {
        Pace::Now
    }
}

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;
type Keyed<C> =
    RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One partner's limit at this bridge's ingress.
pub(crate) struct PartnerPace<C: Clock = DefaultClock> {
    /// The partner (from the config: an authenticated identity).
    pub partner: String,
    /// Batches pulled at once.
    pub window: usize,
    burst: u32,
    limiter: Direct<C>,
    clock: C,
}

impl PartnerPace {
    pub(crate) fn new(partner: &str, rate: Rate) -> Self {
        Self::with_clock(partner, rate, DefaultClock::default())
    }
}

impl<C: Clock + Clone> PartnerPace<C> {
    pub(crate) fn with_clock(partner: &str, rate: Rate, clock: C) -> Self {
        PartnerPace {
            partner: partner.to_string(),
            window: window(rate),
            burst: rate.burst,
            limiter: RateLimiter::direct_with_clock(quota(rate), clock.clone()),
            clock,
        }
    }

    /// Takes tokens for a batch of `n` records, or says how long until
    /// they are free: a batch is admitted whole or waits whole.
    pub(crate) fn try_n(&self, n: usize) -> Result<(), Duration> {
        match self.limiter.check_n(tokens(n, self.burst)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // At most the burst is asked for.
            Err(_insufficient) => Err(Duration::from_secs(1)),
        }
    }
}

/// Which refused control objects are audited, per source (`home` or a
/// partner code from the config): ten at once, then one every six seconds.
/// Past that a refusal is only counted and logged, so a partner storing
/// garbage in its CONTROL stream cannot grow this nation's audit log at
/// will (the reader reads a partner's CONTROL again from its start at every
/// bridge start).
pub(crate) struct RefusalAudit<C: Clock = DefaultClock> {
    limiter: Keyed<C>,
}

impl RefusalAudit {
    pub(crate) fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl<C: Clock + Clone> RefusalAudit<C> {
    /// Refusals audited at once per source.
    pub(crate) const BURST: u32 = 10;
    /// Then one per this long.
    pub(crate) const EVERY: Duration = Duration::from_secs(6);

    pub(crate) fn with_clock(clock: C) -> Self {
        let burst = NonZeroU32::new(Self::BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Self::EVERY)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        RefusalAudit {
            limiter: RateLimiter::dashmap_with_clock(quota, clock),
        }
    }

    /// Whether the next refusal from `source` is audited.
    pub(crate) fn audit(&self, source: &str) -> bool {
        self.limiter.check_key(&source.to_string()).is_ok()
    }
}

/// Producers' batches waiting in PACED, and a counter of paced cycles
/// stored (the egress stage reloads its continuity state when it moves,
/// because the paced stage wrote on the same subjects).
#[derive(Debug, Default)]
struct Waiting {
    by_producer: HashMap<String, i64>,
    epoch: u64,
}

/// Per-producer limits at egress: the limiter, and how many of each
/// producer's messages wait in PACED.
pub(crate) struct ProducerPacing<C: Clock = DefaultClock> {
    /// Batches the paced stage takes at once.
    pub window: usize,
    burst: u32,
    limiter: Keyed<C>,
    clock: C,
    max_deferred: u64,
    waiting: Mutex<Waiting>,
}

impl ProducerPacing {
    pub(crate) fn new(rate: Rate, max_deferred: u32) -> Self {
        Self::with_clock(rate, max_deferred, DefaultClock::default())
    }
}

impl<C: Clock + Clone> ProducerPacing<C> {
    pub(crate) fn with_clock(rate: Rate, max_deferred: u32, clock: C) -> Self {
        ProducerPacing {
            window: window(rate),
            burst: rate.burst,
            limiter: RateLimiter::dashmap_with_clock(quota(rate), clock.clone()),
            clock,
            max_deferred: u64::from(max_deferred.max(1)),
            waiting: Mutex::new(Waiting::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The egress decision for a batch of `records` records of
    /// `producer`, whose certificate and signature verified;
    /// `deferred_in_cycle` of its batches were deferred earlier in the same
    /// (not yet stored) cycle.
    pub(crate) fn admit(&self, producer: &str, deferred_in_cycle: u64, records: usize) -> Pace {
        let stored = self
            .lock()
            .by_producer
            .get(producer)
            .copied()
            .unwrap_or(0)
            .max(0) as u64;
        pace(stored + deferred_in_cycle, self.max_deferred, || {
            self.limiter
                .check_key_n(&producer.to_string(), tokens(records, self.burst))
                .is_ok_and(|r| r.is_ok())
        })
    }

    /// The paced stage: takes tokens for a batch of `records` records of
    /// `producer` (its id from a PACED subject, which only the bridge
    /// writes after verification), or says how long until they are free.
    pub(crate) fn try_n(&self, producer: &str, records: usize) -> Result<(), Duration> {
        match self
            .limiter
            .check_key_n(&producer.to_string(), tokens(records, self.burst))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            Err(_insufficient) => Err(Duration::from_secs(1)),
        }
    }

    /// Egress stored `n` of `producer`'s batches in PACED.
    pub(crate) fn deferred(&self, producer: &str, n: u64) {
        let mut w = self.lock();
        *w.by_producer.entry(producer.to_string()).or_default() += n as i64;
        w.by_producer.retain(|_, v| *v != 0);
    }

    /// The paced stage stored the outcome of `n` of `producer`'s batches.
    /// May run before egress counted them (it stores first): the count
    /// goes negative for that moment only, since egress counts its batch
    /// before it decides the next one.
    pub(crate) fn drained(&self, producer: &str, n: u64) {
        let mut w = self.lock();
        w.epoch += 1;
        *w.by_producer.entry(producer.to_string()).or_default() -= n as i64;
        w.by_producer.retain(|_, v| *v != 0);
    }

    /// Replaces the counts with what PACED holds (after a start or a lease
    /// takeover, while the paced stage is not storing).
    pub(crate) fn reset(&self, counts: HashMap<String, i64>) {
        let mut w = self.lock();
        w.epoch += 1;
        w.by_producer = counts;
        w.by_producer.retain(|_, v| *v != 0);
    }

    /// Changes whenever the paced stage stored something.
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Entries in the limiter and in the waiting counts (for tests of the
    /// memory bound).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> (usize, usize) {
        (self.limiter.len(), self.lock().by_producer.len())
    }
}

/// The producer id in a PACED subject `paced.<kind>.<producer>.<feed>`.
pub(crate) fn paced_producer(subject: &str) -> Option<&str> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next()) {
        (Some("paced"), Some(_kind), Some(producer)) => Some(producer),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
