//! How a rate-limited stage takes sealed batches from its order gate: in
//! order, only as many as the limiter ([`crate::rate`]) allows now, counted
//! in records, and reports how long to wait for the next one. Batches not
//! taken stay in the gate, unacknowledged, so they wait durably in the
//! source stream.
//!
//! Used by each ingress stage (one partner's limiter for every batch) and
//! by the paced stage (the limiter of the producer named in each PACED
//! subject). Counts as `slowed` the records that had to wait.
//!
//! A batch's record count is read from its bytes ([`batch::scan`]), never
//! from a header a partner could set; a batch that does not scan counts as
//! one record (the decision refuses it).
use std::sync::Arc;
use std::time::Duration;

use coalition_core::batch;

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

    /// Takes what may be decided now; if the next batch must wait, also
    /// how long. `parts` gives a message's subject and payload. Both kinds
    /// of stage take batches in order while their records' tokens are
    /// there: a partner's from the partner's limiter, a paced one's from
    /// the limiter of the producer its PACED subject names.
    pub(crate) fn take<T>(
        &mut self,
        gate: &mut Gate<T>,
        parts: impl Fn(&T) -> (&str, &[u8]),
    ) -> (Vec<(u64, T)>, Option<Duration>) {
        let window = self.window();
        let mut refused = None;
        let taken = match &self.limiter {
            Limiter::Partner(p) => gate.take_ready_while(window, |seq, m| {
                let n = records(parts(m).1);
                match p.try_n(n) {
                    Ok(()) => true,
                    Err(w) => {
                        refused = Some((seq, p.partner.clone(), w, n));
                        false
                    }
                }
            }),
            Limiter::Producers(p) => gate.take_ready_while(window, |seq, m| {
                let (subject, payload) = parts(m);
                // Only the bridge writes PACED: a subject that names no
                // producer cannot be; the decision refuses it.
                let Some(producer) = paced_producer(subject) else {
                    return true;
                };
                let n = records(payload);
                match p.try_n(producer, n) {
                    Ok(()) => true,
                    Err(w) => {
                        refused = Some((seq, producer.to_string(), w, n));
                        false
                    }
                }
            }),
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

/// The records a batch carries (at least 1).
fn records(payload: &[u8]) -> usize {
    batch::scan(payload).map_or(1, |(_, n)| n.max(1))
}
