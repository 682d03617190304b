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
mod tests {
    use super::*;

    fn pair() -> Pair {
        Pair {
            a: "USA".into(),
            b: "GBR".into(),
        }
    }

    #[test]
    fn every_named_scenario_exists_in_both_sizes_with_steps_in_order_inside_the_run() {
        for name in NAMES {
            for size in [Size::Full, Size::Reduced] {
                let s = scenario(name, size, &pair(), None).unwrap();
                assert_eq!(s.name, name);
                assert!(!s.steps.is_empty());
                assert!(
                    s.steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
                    "{name}"
                );
                let last = s.steps.last().unwrap().at_ms;
                assert!(
                    last < s.publish_ms,
                    "{name}: tracks still flow after the last step"
                );
            }
        }
    }

    #[test]
    fn the_full_cut_lasts_30_s_and_the_degradation_is_the_one_asked_for() {
        let s = scenario("cut-30s", Size::Full, &pair(), None).unwrap();
        assert_eq!(s.steps[1].at_ms - s.steps[0].at_ms, 30_000);
        let d = scenario("degraded", Size::Full, &pair(), None).unwrap();
        assert_eq!(
            d.steps[0].action.describe(),
            "degrade USA-GBR: 200 ms ± 50 ms, 5 % loss"
        );
        let r = scenario("revoke-during-cut", Size::Full, &pair(), None).unwrap();
        assert_eq!(
            r.steps[1].action.describe(),
            "GBR revokes translator USA-GBR"
        );
        assert!(r.steps[0].at_ms < r.steps[1].at_ms && r.steps[1].at_ms < r.steps[2].at_ms);
    }

    #[test]
    fn a_restore_or_clear_ends_the_cut_or_degradation_of_its_bearer_named_either_way() {
        let cut = |a: &str, b: &str| Action::Cut {
            a: a.into(),
            b: b.into(),
        };
        let restore = |a: &str, b: &str| Action::Restore {
            a: a.into(),
            b: b.into(),
        };
        let degrade = |a: &str, b: &str| Action::Degrade {
            a: a.into(),
            b: b.into(),
            delay_ms: 200,
            jitter_ms: 50,
            loss_percent: 5,
            rate_kbit: 0,
        };
        let clear = |a: &str, b: &str| Action::Clear {
            a: a.into(),
            b: b.into(),
        };
        let kill = |n: &str| Action::KillBridge { nation: n.into() };
        let start = |n: &str| Action::StartBridge { nation: n.into() };
        // (what began, what followed, does it end it)
        let table = [
            (cut("USA", "GBR"), restore("USA", "GBR"), true),
            (cut("USA", "GBR"), restore("GBR", "USA"), true),
            (cut("GBR", "USA"), restore("USA", "GBR"), true),
            (cut("USA", "GBR"), restore("USA", "FRA"), false),
            (cut("USA", "GBR"), restore("FRA", "GBR"), false),
            (cut("USA", "GBR"), clear("USA", "GBR"), false),
            (degrade("USA", "GBR"), clear("GBR", "USA"), true),
            (degrade("USA", "GBR"), clear("USA", "FRA"), false),
            (degrade("USA", "GBR"), restore("USA", "GBR"), false),
            (kill("GBR"), start("GBR"), true),
            (kill("GBR"), start("USA"), false),
            (restore("USA", "GBR"), cut("USA", "GBR"), false),
        ];
        for (began, followed, ends) in table {
            assert_eq!(
                followed.ends(&began),
                ends,
                "{} then {}",
                began.describe(),
                followed.describe()
            );
        }
    }

    #[test]
    fn each_size_s_summary_states_its_own_figures() {
        // (scenario, size, in the summary, not in it)
        let table = [
            ("cut-30s", Size::Full, "cut for 30 s", "6 s"),
            ("cut-30s", Size::Reduced, "cut for 6 s", "30 s"),
            (
                "flapping",
                Size::Full,
                "cut for 3 s, restored for 3 s, 8 times",
                "1.5 s",
            ),
            (
                "flapping",
                Size::Reduced,
                "cut for 1.5 s, restored for 1.5 s, 3 times",
                "3 s",
            ),
            ("degraded", Size::Full, "bearer for 30 s", "6 s"),
            ("degraded", Size::Reduced, "bearer for 6 s", "30 s"),
            ("bridge-crash", Size::Full, "again 15 s later", "again 5 s"),
            ("bridge-crash", Size::Reduced, "again 5 s later", "15 s"),
            ("revoke-during-cut", Size::Reduced, "cut for 6 s", "30 s"),
            ("suspend-during-cut", Size::Reduced, "cut for 6 s", "30 s"),
        ];
        for (name, size, has, lacks) in table {
            let s = scenario(name, size, &pair(), None).unwrap();
            assert!(s.summary.contains(has), "{name} {size:?}: {}", s.summary);
            assert!(!s.summary.contains(lacks), "{name} {size:?}: {}", s.summary);
        }
        // The duration stated is the one the steps carry out.
        let s = scenario("cut-30s", Size::Reduced, &pair(), None).unwrap();
        assert_eq!(s.steps[1].at_ms - s.steps[0].at_ms, 6_000);
    }

    #[test]
    fn the_load_is_the_size_s_unless_a_rate_is_given() {
        let full = scenario("cut-30s", Size::Full, &pair(), None).unwrap();
        assert_eq!(full.load, Load::steady(FULL_RATE));
        let reduced = scenario("cut-30s", Size::Reduced, &pair(), None).unwrap();
        assert_eq!(reduced.load, Load::steady(REDUCED_RATE));
        let given = scenario("flapping", Size::Full, &pair(), Some(400)).unwrap();
        assert_eq!(given.load, Load::steady(400));
        assert!(given.quota.is_none());
    }

    #[test]
    fn narrow_satcom_narrows_the_bearer_to_the_satellite_figures_then_clears_it() {
        let s = scenario("narrow-satcom", Size::Full, &pair(), None).unwrap();
        assert_eq!(
            s.steps[0].action.describe(),
            "degrade USA-GBR: 300 ms ± 0 ms, 1 % loss, 256 kbit/s"
        );
        assert!(s.steps[1].action.ends(&s.steps[0].action));
        assert!(
            s.summary.contains("256 kbit/s") && s.summary.contains("600 ms round trip"),
            "{}",
            s.summary
        );
    }

    #[test]
    fn partner_flood_surges_ten_times_the_quota_it_sets_with_a_steady_load_inside_it() {
        for size in [Size::Full, Size::Reduced] {
            let s = scenario("partner-flood", size, &pair(), None).unwrap();
            let quota = s.quota.clone().unwrap();
            assert_eq!(
                (quota.partner.as_str(), quota.tracks_per_sec),
                ("USA", FLOOD_QUOTA)
            );
            let surge = &s.load.surges[0];
            assert_eq!(surge.nation, "USA");
            assert_eq!(surge.tracks_per_sec, FLOOD_FACTOR * FLOOD_QUOTA);
            assert!(s.load.tracks_per_sec < FLOOD_QUOTA, "{size:?}");
            assert_eq!(
                (s.steps[0].at_ms, s.steps[1].at_ms),
                (surge.from_ms, surge.until_ms)
            );
            assert!(s.steps[1].action.ends(&s.steps[0].action));
            assert!(s.summary.contains("10×"), "{}", s.summary);
            assert!(s.load.check().is_ok());
        }
    }

    #[test]
    fn an_unknown_scenario_lists_the_known_ones() {
        let e = scenario("meteor", Size::Full, &pair(), None).unwrap_err();
        assert!(e.contains("cut-30s, flapping"), "{e}");
    }
}
