//! The scripted scenarios: what happens to the mesh, and when, as plain
//! data. The driver ([`crate::driver`]) carries a scenario out; the
//! verifier reads the actions back from the event ledger. Pure.
//!
//! Every scenario has a full size (what the issue and the runbooks ask
//! for: a 30 s cut, 200 ms ± 50 ms with 5 % loss, ...) and a reduced size
//! for CI (`Size::Reduced`: shorter cuts and runs, the same steps).
use serde::{Deserialize, Serialize};

use crate::load::{Load, Surge};

/// One thing the driver does to the mesh. `a`/`b` name the two nations of
/// a bearer: every leaf connection between them, both directions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Cut the bearer between `a` and `b`.
    Cut {
        /// One nation.
        a: String,
        /// The other.
        b: String,
    },
    /// Restore it.
    Restore {
        /// One nation.
        a: String,
        /// The other.
        b: String,
    },
    /// Degrade it: delay ± jitter each way, packet loss, and a bandwidth
    /// limit on each leaf connection.
    Degrade {
        /// One nation.
        a: String,
        /// The other.
        b: String,
        /// One-way delay, ms.
        delay_ms: u64,
        /// Jitter, ± ms.
        jitter_ms: u64,
        /// Packets dropped, percent.
        loss_percent: u32,
        /// Bandwidth of each leaf connection, each way, kbit/s; 0: not
        /// limited.
        #[serde(default)]
        rate_kbit: u32,
    },
    /// Remove the degradation.
    Clear {
        /// One nation.
        a: String,
        /// The other.
        b: String,
    },
    /// SIGKILL a nation's bridge.
    KillBridge {
        /// The nation.
        nation: String,
    },
    /// Start it again.
    StartBridge {
        /// The nation.
        nation: String,
    },
    /// `by` revokes the translator `id` (all versions), on its own.
    RevokeTranslator {
        /// The revoking nation.
        by: String,
        /// Translator id, e.g. `USA-GBR`.
        id: String,
    },
    /// `by` suspends `partner`.
    Suspend {
        /// The suspending nation.
        by: String,
        /// The partner.
        partner: String,
    },
    /// `by` reinstates `partner`.
    Reinstate {
        /// The reinstating nation.
        by: String,
        /// The partner.
        partner: String,
    },
    /// `nation`'s producers start publishing far above their partners'
    /// quota. The producers follow the scenario's load; the driver only
    /// records the instant.
    Flood {
        /// The flooding nation.
        nation: String,
        /// Its rate meanwhile, tracks/s per producer.
        tracks_per_sec: u32,
    },
    /// They return to the steady rate.
    FloodEnd {
        /// The nation.
        nation: String,
    },
}

/// A bearer's two nations in one order, whichever order they were named
/// in: `USA-GBR` and `GBR-USA` are one bearer.
pub fn bearer<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Action {
    /// True if `self` ends what `start` began: a restore ends a cut, and a
    /// clear a degradation, of the same bearer named in either direction;
    /// a bridge start ends that nation's bridge kill.
    pub fn ends(&self, start: &Action) -> bool {
        match (start, self) {
            (Action::Cut { a, b }, Action::Restore { a: a2, b: b2 })
            | (Action::Degrade { a, b, .. }, Action::Clear { a: a2, b: b2 }) => {
                bearer(a, b) == bearer(a2, b2)
            }
            (Action::KillBridge { nation }, Action::StartBridge { nation: n })
            | (Action::Flood { nation, .. }, Action::FloodEnd { nation: n }) => nation == n,
            _ => false,
        }
    }

    /// A one-line description, e.g. `cut USA-GBR`.
    pub fn describe(&self) -> String {
        match self {
            Action::Cut { a, b } => format!("cut {a}-{b}"),
            Action::Restore { a, b } => format!("restore {a}-{b}"),
            Action::Degrade {
                a,
                b,
                delay_ms,
                jitter_ms,
                loss_percent,
                rate_kbit,
            } => {
                let mut s = format!(
                    "degrade {a}-{b}: {delay_ms} ms ± {jitter_ms} ms, {loss_percent} % loss"
                );
                if *rate_kbit > 0 {
                    s.push_str(&format!(", {rate_kbit} kbit/s"));
                }
                s
            }
            Action::Clear { a, b } => format!("clear {a}-{b}"),
            Action::KillBridge { nation } => format!("kill -9 {nation}'s bridge"),
            Action::StartBridge { nation } => format!("start {nation}'s bridge"),
            Action::RevokeTranslator { by, id } => format!("{by} revokes translator {id}"),
            Action::Suspend { by, partner } => format!("{by} suspends {partner}"),
            Action::Reinstate { by, partner } => format!("{by} reinstates {partner}"),
            Action::Flood {
                nation,
                tracks_per_sec,
            } => format!("{nation} floods at {tracks_per_sec} tracks/s"),
            Action::FloodEnd { nation } => format!("{nation}'s flood ends"),
        }
    }
}

/// An action at an instant of the exercise clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Milliseconds after producers start.
    pub at_ms: u64,
    /// What to do.
    pub action: Action,
}

/// A scripted exercise.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it rehearses, with the figures of its size ("cut for 6 s").
    pub summary: String,
    /// How long producers publish.
    pub publish_ms: u64,
    /// How many tracks each producer publishes, and when.
    pub load: Load,
    /// An ingress quota the scenario sets, on top of the topology's.
    pub quota: Option<PartnerQuota>,
    /// In time order.
    pub steps: Vec<Step>,
}

/// An ingress quota on one partner: every nation that receives from it
/// admits at most this many of its records per second (and as many at
/// once), set in their bridge configs (`[rate_limits] partners`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerQuota {
    /// The partner limited.
    pub partner: String,
    /// Records per second.
    pub tracks_per_sec: u32,
}

/// Tracks per second per producer at full size: what an ops team would see
/// (issue 18 asks for at least 1,000 per nation).
pub const FULL_RATE: u32 = 1_000;
/// At reduced size (CI).
pub const REDUCED_RATE: u32 = 100;

/// The narrow bearer of `narrow-satcom`: a tactical satellite link.
pub const SATCOM: SatcomFigures = SatcomFigures {
    rate_kbit: 256,
    delay_ms: 300,
    loss_percent: 1,
};

/// A narrow bearer's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SatcomFigures {
    /// kbit/s each way, per leaf connection.
    pub rate_kbit: u32,
    /// One-way delay, ms (the round trip is twice this).
    pub delay_ms: u64,
    /// Packet loss, percent.
    pub loss_percent: u32,
}

/// `partner-flood`: the partner quota other nations hold, and how many
/// times it the flooding nation publishes.
pub const FLOOD_QUOTA: u32 = 200;
/// The flood's multiple of the quota.
pub const FLOOD_FACTOR: u32 = 10;

/// Full size (what ops rehearse) or reduced (CI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// As the runbooks describe: 30 s cuts.
    Full,
    /// Shorter cuts and runs for CI.
    Reduced,
}

/// The names of every scenario, in the order `all` returns them.
pub const NAMES: [&str; 8] = [
    "cut-30s",
    "flapping",
    "degraded",
    "narrow-satcom",
    "bridge-crash",
    "revoke-during-cut",
    "suspend-during-cut",
    "partner-flood",
];

/// The nations every scenario acts on: the first two of the topology
/// file's links, by convention `USA` and `GBR` in `coalition-3`.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The releasing nation whose bearer is cut.
    pub a: String,
    /// The other one; it revokes and suspends.
    pub b: String,
}

/// A duration for a label: `30 s`, `1.5 s`.
pub fn secs(ms: u64) -> String {
    if ms.is_multiple_of(1_000) {
        format!("{} s", ms / 1_000)
    } else {
        format!("{:.1} s", ms as f64 / 1_000.0)
    }
}

/// The scenario called `name`, at `size`, acting on `pair`; `rate` (tracks
/// per second per producer) replaces the size's default load.
pub fn scenario(
    name: &str,
    size: Size,
    pair: &Pair,
    rate: Option<u32>,
) -> Result<Scenario, String> {
    let full = size == Size::Full;
    let load = Load::steady(rate.unwrap_or(if full { FULL_RATE } else { REDUCED_RATE }));
    let cut_ms = if full { 30_000 } else { 6_000 };
    // Traffic before the first step and after the last one.
    let (lead, tail) = if full {
        (10_000, 10_000)
    } else {
        (6_000, 6_000)
    };
    let s = |ms: u64| ms;
    let (a, b) = (pair.a.clone(), pair.b.clone());
    let step = |at_ms: u64, action: Action| Step { at_ms, action };
    let cut = || Action::Cut {
        a: a.clone(),
        b: b.clone(),
    };
    let restore = || Action::Restore {
        a: a.clone(),
        b: b.clone(),
    };
    let scenario = match name {
        "cut-30s" => Scenario {
            name: "cut-30s",
            summary: format!(
                "the bearer between two nations is cut for {} while tracks flow, then restored",
                secs(cut_ms)
            ),
            publish_ms: s(lead) + cut_ms + tail,
            load: load.clone(),
            quota: None,
            steps: vec![step(lead, cut()), step(lead + cut_ms, restore())],
        },
        "flapping" => {
            let (down, up, cycles) = if full { (3_000, 3_000, 8) } else { (1_500, 1_500, 3) };
            let mut steps = Vec::new();
            for i in 0..cycles {
                let at = lead + i * (down + up);
                steps.push(step(at, cut()));
                steps.push(step(at + down, restore()));
            }
            Scenario {
                name: "flapping",
                summary: format!(
                    "the bearer flaps: cut for {}, restored for {}, {cycles} times",
                    secs(down),
                    secs(up)
                ),
                publish_ms: lead + cycles * (down + up) + tail,
                load: load.clone(),
            quota: None,
                steps,
            }
        }
        "degraded" => Scenario {
            name: "degraded",
            summary: format!(
                "a degraded satellite bearer for {}: 200 ms ± 50 ms each way and 5 % packet loss",
                secs(cut_ms)
            ),
            publish_ms: lead + cut_ms + tail,
            load: load.clone(),
            quota: None,
            steps: vec![
                step(
                    lead,
                    Action::Degrade {
                        a: a.clone(),
                        b: b.clone(),
                        delay_ms: 200,
                        jitter_ms: 50,
                        loss_percent: 5,
                        rate_kbit: 0,
                    },
                ),
                step(lead + cut_ms, Action::Clear { a: a.clone(), b: b.clone() }),
            ],
        },
        "narrow-satcom" => Scenario {
            name: "narrow-satcom",
            summary: format!(
                "the bearer narrows to a tactical satellite link for {}: {} kbit/s each way per leaf connection, {} ms round trip, {} % packet loss",
                secs(cut_ms),
                SATCOM.rate_kbit,
                2 * SATCOM.delay_ms,
                SATCOM.loss_percent
            ),
            publish_ms: lead + cut_ms + tail,
            load: load.clone(),
            quota: None,
            steps: vec![
                step(
                    lead,
                    Action::Degrade {
                        a: a.clone(),
                        b: b.clone(),
                        delay_ms: SATCOM.delay_ms,
                        jitter_ms: 0,
                        loss_percent: SATCOM.loss_percent,
                        rate_kbit: SATCOM.rate_kbit,
                    },
                ),
                step(lead + cut_ms, Action::Clear { a: a.clone(), b: b.clone() }),
            ],
        },
        "partner-flood" => {
            let flood_ms = if full { 5_000 } else { 2_000 };
            let flood = FLOOD_QUOTA * FLOOD_FACTOR;
            // The steady load stays inside the quota, so only the flood is
            // excess.
            let steady = load.tracks_per_sec.min(FLOOD_QUOTA / 2);
            Scenario {
                name: "partner-flood",
                summary: format!(
                    "{a} publishes {flood} tracks/s for {}, {FLOOD_FACTOR}× the {FLOOD_QUOTA} tracks/s its partners admit from it",
                    secs(flood_ms)
                ),
                publish_ms: lead + flood_ms + tail,
                load: Load {
                    tracks_per_sec: steady,
                    surges: vec![Surge {
                        nation: a.clone(),
                        from_ms: lead,
                        until_ms: lead + flood_ms,
                        tracks_per_sec: flood,
                    }],
                },
                quota: Some(PartnerQuota {
                    partner: a.clone(),
                    tracks_per_sec: FLOOD_QUOTA,
                }),
                steps: vec![step(
                    lead,
                    Action::Flood {
                        nation: a.clone(),
                        tracks_per_sec: flood,
                    },
                ), step(
                    lead + flood_ms,
                    Action::FloodEnd { nation: a.clone() },
                )],
            }
        }
        "bridge-crash" => {
            let down = if full { 15_000 } else { 5_000 };
            Scenario {
                name: "bridge-crash",
                summary: format!(
                    "a nation's bridge is killed with SIGKILL mid-stream and started again {} later",
                    secs(down)
                ),
                publish_ms: lead + down + tail,
                load: load.clone(),
            quota: None,
                steps: vec![
                    step(lead, Action::KillBridge { nation: b.clone() }),
                    step(lead + down, Action::StartBridge { nation: b.clone() }),
                ],
            }
        }
        "revoke-during-cut" => Scenario {
            name: "revoke-during-cut",
            summary: format!(
                "while the bearer is cut for {}, the receiving nation revokes the sender's translator on its own",
                secs(cut_ms)
            ),
            publish_ms: lead + cut_ms + tail,
            load: load.clone(),
            quota: None,
            steps: vec![
                step(lead, cut()),
                step(
                    lead + cut_ms / 3,
                    Action::RevokeTranslator {
                        by: b.clone(),
                        id: format!("{a}-{b}"),
                    },
                ),
                step(lead + cut_ms, restore()),
            ],
        },
        "suspend-during-cut" => Scenario {
            name: "suspend-during-cut",
            summary: format!(
                "while the bearer is cut for {}, one nation suspends its partner; it reinstates it after the link returns",
                secs(cut_ms)
            ),
            publish_ms: lead + cut_ms + 2 * tail,
            load: load.clone(),
            quota: None,
            steps: vec![
                step(lead, cut()),
                step(
                    lead + cut_ms / 3,
                    Action::Suspend {
                        by: b.clone(),
                        partner: a.clone(),
                    },
                ),
                step(lead + cut_ms, restore()),
                step(
                    lead + cut_ms + tail,
                    Action::Reinstate {
                        by: b.clone(),
                        partner: a.clone(),
                    },
                ),
            ],
        },
        other => {
            return Err(format!(
                "no scenario {other:?}; the scenarios are {}",
                NAMES.join(", ")
            ))
        }
    };
    Ok(scenario)
}

#[cfg(test)]
mod tests;
