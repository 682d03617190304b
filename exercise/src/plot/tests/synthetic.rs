//! A realistic run, made up: the coalition-3 mesh, each nation publishing
//! 100 tracks/s for 36 s (the four labels of [`crate::expect`], so 25 or
//! 50 tracks/s cross each direction), and on it:
//! - USA–GBR cut from 10 s to 16 s; what waited drains at 120/s after;
//! - USA–FRA degraded from 20 s to 28 s: 200 ms ± 50 ms, 5 % loss (a lost
//!   packet costs a retransmission, 0.6–1.2 s);
//! - FRA revokes translator GBR-FRA at 24 s; FRA applies it after 12 ms,
//!   GBR after 35 ms, USA after 20 ms; later GBR→FRA tracks are rejected.
//!
//! Deterministic (a fixed xorshift), so the tests can state figures.
use coalition_topology::{parse_topology, Topology};

use crate::expect;
use crate::ledger::{AlertsRecord, AuditLine, EventRecord, LabelRecord, ProducerRecord};
use crate::scenario::Action;
use crate::verify::Evidence;

/// 2025-12-06 10:00:00 UTC.
pub const T0: i64 = 1_765_015_200_000;
pub const CUT: (i64, i64) = (10_000, 16_000);
pub const DEGRADED: (i64, i64) = (20_000, 28_000);
pub const REVOKED_AT: i64 = 24_000;
/// FRA's bridge applies the revocation this long after it takes effect.
pub const FRA_APPLIES_AFTER: i64 = 12;

pub fn topology() -> Topology {
    parse_topology(
        include_str!("../../../../topologies/coalition-3.toml"),
        "coalition-3.toml".as_ref(),
    )
    .unwrap()
}

struct Rng(u64);

impl Rng {
    /// Uniform in `[0, 1)`.
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn event(at: i64, event: Action, notice: Option<(String, i64)>) -> EventRecord {
    EventRecord {
        t_ms: T0 + at,
        action: event.describe(),
        event,
        notice,
    }
}

fn audit(
    nation: &str,
    decision: &str,
    stage: &str,
    partner: &str,
    id: &str,
    reason: &str,
    at: i64,
) -> AuditLine {
    AuditLine {
        nation: nation.into(),
        decision: decision.into(),
        stage: stage.into(),
        partner: partner.into(),
        msg_id: id.into(),
        reason: reason.into(),
        translator: String::new(),
        decided_at_ms: at,
        detail: String::new(),
    }
}

fn events() -> Vec<EventRecord> {
    let (usa, gbr, fra) = ("USA".to_string(), "GBR".to_string(), "FRA".to_string());
    vec![
        event(
            CUT.0,
            Action::Cut {
                a: usa.clone(),
                b: gbr.clone(),
            },
            None,
        ),
        event(
            CUT.1,
            Action::Restore {
                a: usa.clone(),
                b: gbr,
            },
            None,
        ),
        event(
            DEGRADED.0,
            Action::Degrade {
                a: usa.clone(),
                b: fra.clone(),
                delay_ms: 200,
                jitter_ms: 50,
                loss_percent: 5,
                rate_kbit: 0,
            },
            None,
        ),
        event(
            REVOKED_AT,
            Action::RevokeTranslator {
                by: fra.clone(),
                id: "GBR-FRA".into(),
            },
            Some(("FRA#1".into(), T0 + REVOKED_AT)),
        ),
        event(DEGRADED.1, Action::Clear { a: usa, b: fra }, None),
    ]
}

/// A FIFO per direction: a track is ready to cross `base` ms after it was
/// stored (more while degraded), waits while the bearer is cut, and the
/// bearer passes at most 120 tracks/s.
struct Direction {
    last_ms: i64,
}

impl Direction {
    fn deliver(&mut self, rng: &mut Rng, bearer: (&str, &str), published: i64) -> i64 {
        let is = |a: &str, b: &str| (bearer == (a, b)) || (bearer == (b, a));
        let mut ready = published + 6 + (rng.next() * 10.0) as i64;
        let at = ready - T0;
        if is("USA", "FRA") && (DEGRADED.0..DEGRADED.1).contains(&at) {
            ready += 150 + (rng.next() * 100.0) as i64;
            if rng.next() < 0.05 {
                ready += 600 + (rng.next() * 600.0) as i64;
            }
        }
        if is("USA", "GBR") && (CUT.0..CUT.1).contains(&at) {
            ready = T0 + CUT.1 + 300;
        }
        self.last_ms = ready.max(self.last_ms + 1000 / 120);
        self.last_ms
    }
}

/// The evidence of the run.
pub fn evidence() -> Evidence {
    let topo = topology();
    let mut run = Run {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        queues: Default::default(),
        e: Evidence {
            t0_ms: T0,
            events: events(),
            ..Default::default()
        },
    };
    for (n, after) in [("FRA", FRA_APPLIES_AFTER), ("GBR", 35), ("USA", 20)] {
        let at = T0 + REVOKED_AT + after;
        let applied = audit(n, "revoke", "control", "", "FRA#1", "", at);
        run.e.audit.push(applied);
    }
    for nation in &topo.nations {
        let origin = nation.code.as_str();
        run.e
            .published
            .push(ProducerRecord::Ready { t_ms: T0 - 500 });
        for seq in 1..=3_600u64 {
            let t = T0 + (seq as i64 - 1) * 10 + 3;
            let label = expect::label_for(&topo, nation, seq);
            run.e.published.push(ProducerRecord::Published {
                t_ms: t,
                origin: origin.into(),
                producer: "radar-1".into(),
                feed: "tracks".into(),
                seq,
                label: LabelRecord::of(&label),
            });
            for partner in expect::partners(&topo, origin) {
                let denied = expect::denial_reason(&topo, origin, &partner, &label);
                run.offer(origin, &partner, seq, t, &label, denied);
            }
        }
        run.e.published.push(ProducerRecord::Done {
            t_ms: T0 + 36_000,
            published: 3_600,
        });
    }
    for records in run.e.delivered.values_mut() {
        records.sort_by_key(|r| match r {
            AlertsRecord::Delivered { t_ms, .. } => *t_ms,
            _ => 0,
        });
    }
    run.e
}

/// The run being made up.
struct Run {
    rng: Rng,
    queues: std::collections::BTreeMap<(String, String), Direction>,
    e: Evidence,
}

impl Run {
    /// Track `seq` of `origin`, stored at `t`, offered to `partner`: denied
    /// at the origin's egress if its label forbids it, rejected at FRA's
    /// ingress after FRA revoked GBR-FRA, or delivered.
    fn offer(
        &mut self,
        origin: &str,
        partner: &str,
        seq: u64,
        t: i64,
        label: &coalition_sdk::Label,
        denied: Option<&str>,
    ) {
        let id = format!("{origin}.radar-1.tracks.{seq}");
        if let Some(reason) = denied {
            let record = audit(origin, "deny", "egress", partner, &id, reason, t + 1);
            self.e.audit.push(record);
            return;
        }
        let queue = self
            .queues
            .entry((origin.to_string(), partner.to_string()))
            .or_insert(Direction { last_ms: 0 });
        let at = queue.deliver(&mut self.rng, (origin, partner), t);
        let fra_applied = T0 + REVOKED_AT + FRA_APPLIES_AFTER;
        if (origin, partner) == ("GBR", "FRA") && at - 2 >= fra_applied {
            let reason = "translator_revoked";
            let record = audit("FRA", "reject", "ingress", "GBR", &id, reason, at - 2);
            self.e.audit.push(record);
            return;
        }
        let delivered = AlertsRecord::Delivered {
            t_ms: at,
            origin: origin.into(),
            producer: "radar-1".into(),
            feed: "tracks".into(),
            seq,
            label: LabelRecord::of(label),
            released_at_ms: Some(t + 1),
            admitted_at_ms: Some(at - 2),
            translator: Some(format!("{origin}-{partner}@1")),
            gap: None,
            replayed: false,
        };
        self.e
            .delivered
            .entry(partner.to_string())
            .or_default()
            .push(delivered);
    }
}
