//! What a stage's shell works with: where it reads (its durable consumer
//! and stream), where it writes (HOME and each partner's release account),
//! where certificates are looked up, the audit log, the lease, and the rate
//! limit it is paced by. Built by the wiring ([`crate::start`]) and owned by
//! the stage's loop ([`crate::pipeline`]).
use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::{self, consumer::PullConsumer};

use crate::audit::Auditor;
use crate::certificates::{Cache, HoldBound};
use crate::lease::Lease;
use crate::pacing::Pacer;
use crate::rate::ProducerPacing;
use crate::stage::Target;
use crate::BridgeError;

/// Where a stage reads from: a durable consumer over a whole stream.
pub(crate) struct Source {
    pub consumer: PullConsumer,
    pub stream: jetstream::stream::Stream,
}

/// Everything a stage's shell reads, writes and reports to.
pub(crate) struct Shell {
    pub nation: String,
    pub source: Source,
    /// JetStream contexts by target: HOME and each partner released to.
    pub targets: HashMap<Target, jetstream::Context>,
    /// The CONTROL stream certificates are looked up in: HOME's at egress,
    /// the partner's at ingress.
    pub certificates_from: jetstream::Context,
    pub cache: Cache,
    pub auditor: Arc<Auditor>,
    pub lease: Arc<Lease>,
    /// Per-producer waiting counts, kept as stored cycles report them.
    pub pacing: Arc<ProducerPacing>,
    pub hold: HoldBound,
    /// The stage's rate limit, if any ([`crate::pacing`]): each ingress
    /// stage (its partner's) and the paced stage (each producer's).
    pub pacer: Option<Pacer>,
}

impl Shell {
    /// HOME's JetStream context.
    pub(crate) fn home(&self) -> Result<&jetstream::Context, BridgeError> {
        self.targets
            .get(&Target::Home)
            .ok_or_else(|| BridgeError::js("stage", "no HOME target"))
    }
}
