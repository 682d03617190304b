//! How a rate-limited stage takes messages from its order gate: in order,
//! only as many as the limiter ([`crate::rate`]) allows now, and reports how
//! long to wait for the next one. Messages not taken stay in the gate,
//! unacknowledged, so they wait durably in the source stream.
//!
//! Used by each ingress stage (one partner's limiter for every message)
//! and by the paced stage (the limiter of the producer named in each
//! PACED subject). Counts as `slowed` the messages that had to wait (at a
//! partner's stage, the batch ready when its head first waited).
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
    /// how long. A partner's stage takes all that is ready (up to its
    /// window) if the tokens are there, else waits for a small batch's
    /// worth ([`crate::rate::batch`]); the paced stage
    /// takes messages while each one's producer has a token.
    pub(crate) fn take<T>(
        &mut self,
        gate: &mut Gate<T>,
        subject: impl Fn(&T) -> &str,
    ) -> (Vec<(u64, T)>, Option<Duration>) {
        let window = self.window();
        let (taken, refused) = match &self.limiter {
            Limiter::Partner(p) => {
                let ready = gate.ready_len(window);
                if ready == 0 {
                    return (Vec::new(), None);
                }
                // Within the rate, all that is ready; over it, small batches.
                let ready = match p.try_n(ready) {
                    Ok(()) => return (gate.take_ready_while(ready, |_, _| true), None),
                    Err(_) => ready.min(p.batch),
                };
                match p.try_n(ready) {
                    Ok(()) => (gate.take_ready_while(ready, |_, _| true), None),
                    Err(w) => (
                        Vec::new(),
                        Some((gate.expected(), p.partner.clone(), w, ready)),
                    ),
                }
            }
            Limiter::Producers(p) => {
                let mut refused = None;
                let taken = gate.take_ready_while(window, |seq, m| {
                    // Only the bridge writes PACED: a subject that names no
                    // producer cannot be; the decision refuses it.
                    let Some(producer) = paced_producer(subject(m)) else {
                        return true;
                    };
                    match p.try_one(producer) {
                        Ok(()) => true,
                        Err(w) => {
                            refused = Some((seq, producer.to_string(), w, 1));
                            false
                        }
                    }
                });
                (taken, refused)
            }
        };
        let Some((seq, source, wait, n)) = refused else {
            return (taken, None);
        };
        if self.last_slowed != Some(seq) {
            self.last_slowed = Some(seq);
            telemetry::rate_limited(&self.nation, self.stage, &source, "slowed", n as u64);
        }
        (taken, Some(wait.max(Duration::from_millis(1))))
    }
}
