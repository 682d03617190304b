//! How a rate-limited stage takes messages from its order gate: in order,
//! only as many as the limiter ([`crate::rate`]) allows now, and reports how
//! long to wait for the next one. Messages not taken stay in the gate,
//! unacknowledged, so they wait durably in the source stream.
//!
//! Used by each ingress stage (one partner's limiter for every message)
//! and by the paced stage (the limiter of the producer named in each
//! PACED subject). Counts `slowed` once per message that had to wait.
use std::sync::Arc;
use std::time::Duration;

use crate::gate::Gate;
use crate::rate::{paced_producer, PartnerPace, ProducerPacing};
use crate::telemetry;

/// Which limiter a stage waits for.
#[derive(Clone)]
pub(crate) enum Limiter {
    /// Ingress from one partner.
    Partner(Arc<PartnerPace>),
    /// The paced stage: the producer of each message.
    Producers(Arc<ProducerPacing>),
}

/// A stage's pacing: its limiter, and the last message it reported slowed.
pub(crate) struct Pacer {
    nation: String,
    stage: &'static str,
    limiter: Limiter,
    last_slowed: Option<u64>,
}

impl Pacer {
    pub(crate) fn new(nation: &str, stage: &'static str, limiter: Limiter) -> Self {
        Pacer {
            nation: nation.to_string(),
            stage,
            limiter,
            last_slowed: None,
        }
    }

    /// How many messages the stage pulls and takes at once.
    pub(crate) fn window(&self) -> usize {
        match &self.limiter {
            Limiter::Partner(p) => p.window,
            Limiter::Producers(p) => p.window,
        }
    }

    /// Takes what may be decided now; if the next message must wait, also
    /// how long.
    pub(crate) fn take<T>(
        &mut self,
        gate: &mut Gate<T>,
        subject: impl Fn(&T) -> &str,
    ) -> (Vec<(u64, T)>, Option<Duration>) {
        let mut wait = None;
        let mut refused = None;
        let limiter = &self.limiter;
        let taken = gate.take_ready_while(self.window(), |seq, m| {
            let (source, verdict) = match limiter {
                Limiter::Partner(p) => (p.partner.as_str(), p.try_one()),
                Limiter::Producers(p) => match paced_producer(subject(m)) {
                    Some(producer) => (producer, p.try_one(producer)),
                    // Not a PACED subject: only the bridge writes PACED, so
                    // this cannot be; let the decision refuse it.
                    None => return true,
                },
            };
            match verdict {
                Ok(()) => true,
                Err(w) => {
                    wait = Some(w.max(Duration::from_millis(1)));
                    refused = Some((seq, source.to_string()));
                    false
                }
            }
        });
        if let Some((seq, source)) = refused {
            if self.last_slowed != Some(seq) {
                self.last_slowed = Some(seq);
                telemetry::rate_limited(&self.nation, self.stage, &source, "slowed");
            }
        }
        (taken, wait)
    }
}
