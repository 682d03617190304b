//! The bridge's rate limits (`[rate_limits]` in a bridge config): how many
//! records per second each origin partner may have admitted at ingress, and
//! each verified producer released at egress, and how much excess may wait
//! durably before it is refused. (The field is named `msgs_per_sec` for
//! configs written before records travelled in batches; it counts records.)
//!
//! Plain data with defaults and one check; the bridge enforces it
//! (`broker-bridge/src/rate.rs`). Nothing here knows about time or NATS.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A rate: a steady number of records per second and a burst (how many may
/// pass at once after a quiet spell). A batch takes one token per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Records per second, sustained. At least 1.
    pub msgs_per_sec: u32,
    /// Records that may pass at once. At least 1.
    pub burst: u32,
}

/// `[rate_limits]`: every field is optional; an absent section means the
/// defaults, which are far above what one producer or partner normally
/// sends, so they only bite on a flood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Per origin partner, at this bridge's ingress: excess waits in the
    /// partner's RELEASED stream (it is slowed, never refused).
    #[serde(default = "default_partner")]
    pub partner: Rate,
    /// Per partner code, replacing `partner` for that partner.
    #[serde(default)]
    pub partners: BTreeMap<String, Rate>,
    /// Per verified producer of this nation, at egress: excess is deferred
    /// into the HOME stream PACED and released at this rate.
    #[serde(default = "default_producer")]
    pub producer: Rate,
    /// How many of one producer's batches may wait in PACED; beyond this
    /// the excess is refused (`rate_limited`), counted and dead-lettered,
    /// so a runaway producer cannot fill the nation's disk.
    #[serde(default = "default_max_deferred")]
    pub producer_max_deferred: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            partner: default_partner(),
            partners: BTreeMap::new(),
            producer: default_producer(),
            producer_max_deferred: default_max_deferred(),
        }
    }
}

// Defaults in records: a coalition air picture is about 10,000 tracks a
// second, so a partner may send five times that and one producer half of
// it before the limits bite.
fn default_partner() -> Rate {
    Rate {
        msgs_per_sec: 50_000,
        burst: 100_000,
    }
}

fn default_producer() -> Rate {
    Rate {
        msgs_per_sec: 20_000,
        burst: 40_000,
    }
}

// Batches: at the SDK's default 64 records, 640,000 records.
fn default_max_deferred() -> u32 {
    10_000
}

impl RateLimits {
    /// The rate for records admitted from `partner`.
    pub fn for_partner(&self, partner: &str) -> Rate {
        self.partners.get(partner).copied().unwrap_or(self.partner)
    }

    /// Checks every value; the error names the field
    /// (`rate_limits.partners.USA.burst`) and what is wrong. `ingress`
    /// lists the partners this bridge receives from: an override for any
    /// other code is a typo.
    pub fn check<'a>(&self, ingress: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
        check_rate("rate_limits.partner", self.partner)?;
        check_rate("rate_limits.producer", self.producer)?;
        let known: Vec<&str> = ingress.into_iter().collect();
        for (code, rate) in &self.partners {
            if !known.contains(&code.as_str()) {
                return Err(format!(
                    "rate_limits.partners.{code}: {code} is not a partner this bridge receives from ({})",
                    known.join(", ")
                ));
            }
            check_rate(&format!("rate_limits.partners.{code}"), *rate)?;
        }
        if self.producer_max_deferred == 0 {
            return Err("rate_limits.producer_max_deferred must be at least 1".into());
        }
        Ok(())
    }
}

pub(crate) fn check_rate(field: &str, rate: Rate) -> Result<(), String> {
    if rate.msgs_per_sec == 0 {
        return Err(format!(
            "{field}.msgs_per_sec must be at least 1 (a partner or producer cannot be stopped by a rate limit; suspend or revoke it instead)"
        ));
    }
    if rate.burst == 0 {
        return Err(format!("{field}.burst must be at least 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(msgs_per_sec: u32, burst: u32) -> Rate {
        Rate {
            msgs_per_sec,
            burst,
        }
    }

    #[test]
    fn check_table() {
        let ok = RateLimits::default();
        let with = |f: &dyn Fn(&mut RateLimits)| {
            let mut r = RateLimits::default();
            f(&mut r);
            r
        };
        let cases: Vec<(&str, RateLimits, Option<&str>)> = vec![
            ("defaults", ok.clone(), None),
            (
                "an override for a partner",
                with(&|r| {
                    r.partners.insert("USA".into(), rate(20, 20));
                }),
                None,
            ),
            (
                "zero partner rate",
                with(&|r| r.partner = rate(0, 5)),
                Some("rate_limits.partner.msgs_per_sec"),
            ),
            (
                "zero producer burst",
                with(&|r| r.producer = rate(5, 0)),
                Some("rate_limits.producer.burst"),
            ),
            (
                "zero override burst",
                with(&|r| {
                    r.partners.insert("USA".into(), rate(5, 0));
                }),
                Some("rate_limits.partners.USA.burst"),
            ),
            (
                "override for a stranger",
                with(&|r| {
                    r.partners.insert("XYZ".into(), rate(5, 5));
                }),
                Some("rate_limits.partners.XYZ: XYZ is not a partner"),
            ),
            (
                "zero max deferred",
                with(&|r| r.producer_max_deferred = 0),
                Some("rate_limits.producer_max_deferred"),
            ),
        ];
        for (name, limits, want) in cases {
            let got = limits.check(["USA", "FRA"]);
            match (want, got) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) => assert!(e.contains(w), "{name}: {e}"),
                (w, g) => panic!("{name}: wanted {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn an_override_replaces_the_default_for_its_partner_only() {
        let mut r = RateLimits::default();
        r.partners.insert("USA".into(), rate(20, 30));
        assert_eq!(r.for_partner("USA"), rate(20, 30));
        assert_eq!(r.for_partner("FRA"), r.partner);
    }
}
