//! What an alerting system asks of alerts beyond their topic, applied after
//! verification: an area (a bounding box) and whether expired alerts are
//! wanted. The rules are `coalition_core::alert_scope`'s; this module keeps
//! what a subscription needs to apply them: which alerts it has given, so
//! that an update or cancel of one always follows it.
//!
//! An alert left out is acknowledged like a delivered one (it is this
//! subscription's answer, not a loss) and counted in
//! `coalition_sdk_filtered_total{reason}` (`outside_area`, `expired`).
//! Tracks and v1 alerts (which have no area or expiry) always pass.
use std::collections::HashSet;

use coalition_core::alert_scope::{keys, wanted, AlertKey, BoundingBox};

use crate::Payload;

/// A subscription's alert scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Scope {
    pub area: Option<BoundingBox>,
    pub include_expired: bool,
}

/// The scope and the alerts given under it.
#[derive(Debug, Default)]
pub(crate) struct ScopeState {
    scope: Scope,
    given: HashSet<AlertKey>,
}

impl ScopeState {
    pub(crate) fn new(scope: Scope) -> Self {
        ScopeState {
            scope,
            given: HashSet::new(),
        }
    }

    /// Whether `payload` is given at `now_ms`; remembers the alerts given.
    pub(crate) fn admits(&mut self, payload: &Payload, now_ms: i64) -> bool {
        let Payload::AlertV2(alert) = payload else {
            return true;
        };
        let (this, referred) = keys(alert);
        let follows = referred.iter().any(|k| self.given.contains(k));
        let area = self.scope.area.as_ref();
        let given = wanted(alert, area, self.scope.include_expired, now_ms, follows);
        if given {
            self.given.insert(this);
        } else {
            let reason = if !self.scope.include_expired
                && coalition_core::alert_scope::is_expired(alert, now_ms)
            {
                "expired"
            } else {
                "outside_area"
            };
            metrics::counter!("coalition_sdk_filtered_total", "reason" => reason).increment(1);
        }
        given
    }
}
