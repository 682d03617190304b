//! What every stage of one bridge shares: the nation, the lease, the
//! control plane (policy state, certificates), the audit log, the HOME
//! account and each partner's release account, and the limits from the
//! config.
use std::sync::Arc;

use async_nats::jetstream;
use coalition_core::feed_position::ForwardWindow;

use crate::audit::Auditor;
use crate::certificates::HoldBound;
use crate::control::ControlPlane;
use crate::lease::Lease;
use crate::rate::ProducerPacing;

/// What every stage shares.
pub(crate) struct Shared {
    pub(crate) nation: String,
    pub(crate) lease: Arc<Lease>,
    pub(crate) control: Arc<ControlPlane>,
    pub(crate) auditor: Arc<Auditor>,
    pub(crate) home_js: jetstream::Context,
    /// (partner, link ceiling, its release account) for every partner
    /// released to.
    pub(crate) release: Vec<(String, String, jetstream::Context)>,
    pub(crate) replicas: usize,
    /// Per-producer rate limits (egress and paced stages).
    pub(crate) pacing: Arc<ProducerPacing>,
    /// Every feed's forward window.
    pub(crate) window: ForwardWindow,
    /// How long a batch waits for its certificate, at egress (with a
    /// per-producer cool-down) and at ingress.
    pub(crate) hold_at_egress: HoldBound,
    pub(crate) hold_at_ingress: HoldBound,
}
