//! The scripted scenarios: what happens to the mesh, and when, as plain
//! data. The driver ([`crate::driver`]) carries a scenario out; the
//! verifier reads the actions back from the event ledger. Pure.
//!
//! Every scenario has a full size (what the issue and the runbooks ask
//! for: a 30 s cut, 200 ms ± 50 ms with 5 % loss, ...) and a reduced size
//! for CI (`Size::Reduced`: shorter cuts and runs, the same steps).
use serde::{Deserialize, Serialize};

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
    /// Degrade it: delay ± jitter each way, and packet loss.
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
            (Action::KillBridge { nation }, Action::StartBridge { nation: n }) => nation == n,
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
            } => format!("degrade {a}-{b}: {delay_ms} ms ± {jitter_ms} ms, {loss_percent} % loss"),
            Action::Clear { a, b } => format!("clear {a}-{b}"),
            Action::KillBridge { nation } => format!("kill -9 {nation}'s bridge"),
            Action::StartBridge { nation } => format!("start {nation}'s bridge"),
            Action::RevokeTranslator { by, id } => format!("{by} revokes translator {id}"),
            Action::Suspend { by, partner } => format!("{by} suspends {partner}"),
            Action::Reinstate { by, partner } => format!("{by} reinstates {partner}"),
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
    /// Time between two tracks of one producer.
    pub interval_ms: u64,
    /// In time order.
    pub steps: Vec<Step>,
}

/// Full size (what ops rehearse) or reduced (CI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// As the runbooks describe: 30 s cuts.
    Full,
    /// Shorter cuts and runs for CI.
    Reduced,
}

/// The names of every scenario, in the order `all` returns them.
pub const NAMES: [&str; 6] = [
    "cut-30s",
    "flapping",
    "degraded",
    "bridge-crash",
    "revoke-during-cut",
    "suspend-during-cut",
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

/// The scenario called `name`, at `size`, acting on `pair`.
pub fn scenario(name: &str, size: Size, pair: &Pair) -> Result<Scenario, String> {
    let full = size == Size::Full;
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
            interval_ms: 100,
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
                interval_ms: 100,
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
            interval_ms: 100,
            steps: vec![
                step(
                    lead,
                    Action::Degrade {
                        a: a.clone(),
                        b: b.clone(),
                        delay_ms: 200,
                        jitter_ms: 50,
                        loss_percent: 5,
                    },
                ),
                step(lead + cut_ms, Action::Clear { a: a.clone(), b: b.clone() }),
            ],
        },
        "bridge-crash" => {
            let down = if full { 15_000 } else { 5_000 };
            Scenario {
                name: "bridge-crash",
                summary: format!(
                    "a nation's bridge is killed with SIGKILL mid-stream and started again {} later",
                    secs(down)
                ),
                publish_ms: lead + down + tail,
                interval_ms: 100,
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
            interval_ms: 100,
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
            interval_ms: 100,
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
                let s = scenario(name, size, &pair()).unwrap();
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
        let s = scenario("cut-30s", Size::Full, &pair()).unwrap();
        assert_eq!(s.steps[1].at_ms - s.steps[0].at_ms, 30_000);
        let d = scenario("degraded", Size::Full, &pair()).unwrap();
        assert_eq!(
            d.steps[0].action.describe(),
            "degrade USA-GBR: 200 ms ± 50 ms, 5 % loss"
        );
        let r = scenario("revoke-during-cut", Size::Full, &pair()).unwrap();
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
            let s = scenario(name, size, &pair()).unwrap();
            assert!(s.summary.contains(has), "{name} {size:?}: {}", s.summary);
            assert!(!s.summary.contains(lacks), "{name} {size:?}: {}", s.summary);
        }
        // The duration stated is the one the steps carry out.
        let s = scenario("cut-30s", Size::Reduced, &pair()).unwrap();
        assert_eq!(s.steps[1].at_ms - s.steps[0].at_ms, 6_000);
    }

    #[test]
    fn an_unknown_scenario_lists_the_known_ones() {
        let e = scenario("meteor", Size::Full, &pair()).unwrap_err();
        assert!(e.contains("cut-30s, flapping"), "{e}");
    }
}
