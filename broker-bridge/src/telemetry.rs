//! Prometheus metrics. Every counter carries the bridge's `nation`, so
//! several bridges in one process (tests, the local runner) stay apart.
//!
//! - `coalition_bridge_released_total{nation,partner}`
//! - `coalition_bridge_denied_total{nation,partner,reason}`: egress policy said no
//! - `coalition_bridge_admitted_total{nation,partner}`
//! - `coalition_bridge_rejected_total{nation,stage,partner,reason}`: failed
//!   verification or admission; each one is in the DEADLETTER stream
//! - `coalition_bridge_aged_out_total{nation,stage}`: source messages that
//!   expired before the bridge could read them (a retention shorter than an
//!   outage), or were deleted from the source stream
//! - `coalition_bridge_continuity_breaks_total{nation,stage}` and
//!   `coalition_bridge_missing_upstream_total{nation,stage}`: breaks in a
//!   partner's release chain, and the feed seqs they span (an upper bound:
//!   it includes seqs the partner refused to release)
//! - `coalition_bridge_rate_limited_total{nation,stage,source,action}`:
//!   messages slowed (waited for their rate, at ingress or in the paced
//!   stage), deferred (into PACED) or rejected (`rate_limited`, also in
//!   `rejected_total` and dead-lettered); `source` is the partner or the
//!   producer
//! - `coalition_bridge_batch_seconds{nation,stage}`: time to decide and store a batch
//! - `coalition_bridge_transit_seconds{nation,partner}`: producer seal to admission
//! - `coalition_bridge_control_refused_total{nation,source}`: control objects
//!   that did not verify or were not allowed (kept in their stream); each
//!   is audited (`reject`, stage `control`, reason `control_refused`) up to
//!   10 at once and one per 6 s per source
//! - `coalition_bridge_control_refused_unaudited_total{nation,source}`: the
//!   refusals past that rate, counted and logged only
//! - `coalition_bridge_notices_applied_total{nation,issuer}`
//! - `coalition_bridge_control_applied_total{nation,kind}`: new policy
//!   versions and translators applied from a CONTROL stream
//! - `coalition_bridge_partner_stale{nation,partner}`: 1 while admission is
//!   held because the view of the partner's revocation state is stale
//! - `coalition_bridge_alerts_total{nation}` and
//!   `coalition_bridge_alerts_fused_total{nation}`: this nation's alerts
//!   decided at egress (each record once, whatever was released of it), and
//!   of those the ones fused from sources of more than one nation
//!   (`derived_from` names two origins or more);
//!   `coalition_bridge_alerts_fused_ratio{nation}` is their share since the
//!   bridge started (0 before the first alert). A refused batch (bad
//!   signature, unknown producer, ...) is not counted.
use std::sync::OnceLock;

use coalition_core::DenyReason;
use metrics::{counter, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::BridgeError;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder, serving `/metrics` on `listen` if
/// given. Later calls (more bridges in one process) reuse the first one.
pub fn install(listen: Option<&str>) -> Result<(), BridgeError> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let builder = PrometheusBuilder::new();
    let Some(addr) = listen else {
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            let _ = HANDLE.set(handle);
        }
        return Ok(());
    };
    let error = |detail: String| BridgeError::Metrics {
        addr: addr.into(),
        detail,
    };
    let sock: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| error(format!("not a socket address: {e}")))?;
    let (recorder, exporter) = builder
        .with_http_listener(sock)
        .build()
        .map_err(|e| error(e.to_string()))?;
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        return Ok(());
    }
    let _ = HANDLE.set(handle);
    tokio::spawn(async move {
        if let Err(e) = exporter.await {
            tracing::error!(error = ?e, "metrics endpoint stopped");
        }
    });
    Ok(())
}

/// The current metrics in Prometheus text form (empty before [`install`]).
pub fn render() -> String {
    HANDLE.get().map(|h| h.render()).unwrap_or_default()
}

/// Records what a stored cycle counted (in records).
pub(crate) fn record(nation: &str, counted: &[crate::stage::Counted]) {
    use crate::stage::Counted;
    for c in counted {
        match c {
            Counted::Released { partner, records } => released(nation, partner, *records),
            Counted::Denied { partner, reason } => denied(nation, partner, *reason),
            Counted::Admitted {
                partner,
                transit_ms,
            } => {
                admitted(nation, partner);
                transit_seconds(nation, partner, *transit_ms as f64 / 1000.0);
            }
            Counted::Rejected {
                stage,
                partner,
                reason,
                records,
            } => rejected(nation, stage, partner, *reason, *records),
            Counted::Deferred { producer, records } => {
                rate_limited(nation, "egress", producer, "deferred", *records)
            }
            Counted::Refused { producer, records } => {
                rate_limited(nation, "egress", producer, "rejected", *records)
            }
            Counted::Drained { .. } => {}
            Counted::Alert { fused } => alert(nation, *fused),
        }
    }
}

/// Alerts and fused alerts per nation, and the fused share since start.
fn alert(nation: &str, fused: bool) {
    static COUNTS: OnceLock<dashmap::DashMap<String, (u64, u64)>> = OnceLock::new();
    let counts = COUNTS.get_or_init(Default::default);
    let (total, fused_total) = {
        let mut entry = counts.entry(nation.to_string()).or_default();
        entry.0 += 1;
        entry.1 += u64::from(fused);
        *entry
    };
    counter!("coalition_bridge_alerts_total", "nation" => nation.to_string()).increment(1);
    if fused {
        counter!("coalition_bridge_alerts_fused_total", "nation" => nation.to_string())
            .increment(1);
    }
    metrics::gauge!("coalition_bridge_alerts_fused_ratio", "nation" => nation.to_string())
        .set(fused_total as f64 / total as f64);
}

fn released(nation: &str, partner: &str, records: u64) {
    counter!("coalition_bridge_released_total", "nation" => nation.to_string(), "partner" => partner.to_string()).increment(records);
}

fn denied(nation: &str, partner: &str, reason: DenyReason) {
    counter!("coalition_bridge_denied_total", "nation" => nation.to_string(), "partner" => partner.to_string(), "reason" => reason.as_str()).increment(1);
}

fn admitted(nation: &str, partner: &str) {
    counter!("coalition_bridge_admitted_total", "nation" => nation.to_string(), "partner" => partner.to_string()).increment(1);
}

fn rejected(nation: &str, stage: &'static str, partner: &str, reason: DenyReason, records: u64) {
    counter!("coalition_bridge_rejected_total", "nation" => nation.to_string(), "stage" => stage, "partner" => partner.to_string(), "reason" => reason.as_str()).increment(records);
}

/// A message slowed (it waited for its partner's or producer's rate),
/// deferred (into PACED) or rejected (its producer's PACED backlog was full).
/// `source` is the partner code or the producer id, both authenticated.
pub(crate) fn rate_limited(
    nation: &str,
    stage: &'static str,
    source: &str,
    action: &'static str,
    n: u64,
) {
    counter!("coalition_bridge_rate_limited_total", "nation" => nation.to_string(), "stage" => stage, "source" => source.to_string(), "action" => action).increment(n);
}

pub(crate) fn batch_seconds(nation: &str, stage: &'static str, seconds: f64) {
    histogram!("coalition_bridge_batch_seconds", "nation" => nation.to_string(), "stage" => stage)
        .record(seconds);
}

fn transit_seconds(nation: &str, partner: &str, seconds: f64) {
    histogram!("coalition_bridge_transit_seconds", "nation" => nation.to_string(), "partner" => partner.to_string()).record(seconds);
}

pub(crate) fn aged_out(nation: &str, stage: &'static str, n: u64) {
    counter!("coalition_bridge_aged_out_total", "nation" => nation.to_string(), "stage" => stage)
        .increment(n);
}

/// A partner's release chain broke: released messages never arrived.
pub(crate) fn continuity_break(nation: &str, stage: &'static str, b: &crate::continuity::Break) {
    tracing::error!(
        %nation, stage, subject = %b.subject, after = b.after, released_prev = b.released_prev,
        "released messages never arrived: the partner's release chain is broken; subscribers see the gap"
    );
    counter!("coalition_bridge_continuity_breaks_total", "nation" => nation.to_string(), "stage" => stage)
        .increment(1);
    counter!("coalition_bridge_missing_upstream_total", "nation" => nation.to_string(), "stage" => stage)
        .increment(b.released_prev.saturating_sub(b.after));
}

/// A control object failed verification or was not allowed.
/// A refused control object past the audit's rate (counted, not audited).
pub(crate) fn control_refused_unaudited(nation: &str, source: &str) {
    counter!("coalition_bridge_control_refused_unaudited_total", "nation" => nation.to_string(), "source" => source.to_string()).increment(1);
}

pub(crate) fn control_refused(nation: &str, source: &str) {
    counter!("coalition_bridge_control_refused_total", "nation" => nation.to_string(), "source" => source.to_string()).increment(1);
}

/// A new policy version or translator was applied from a CONTROL stream.
pub(crate) fn control_applied(nation: &str, kind: &'static str) {
    counter!("coalition_bridge_control_applied_total", "nation" => nation.to_string(), "kind" => kind).increment(1);
}

/// A revocation notice was applied.
pub(crate) fn notice_applied(nation: &str, issuer: &str) {
    counter!("coalition_bridge_notices_applied_total", "nation" => nation.to_string(), "issuer" => issuer.to_string()).increment(1);
}

/// 1 while admission from `partner` is held because the view of its
/// revocation state is stale, else 0.
pub(crate) fn partner_stale(nation: &str, partner: &str, stale: bool) {
    metrics::gauge!("coalition_bridge_partner_stale", "nation" => nation.to_string(), "partner" => partner.to_string())
        .set(if stale { 1.0 } else { 0.0 });
}
