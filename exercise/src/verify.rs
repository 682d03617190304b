//! The verifier: from an exercise's ledgers alone, what happened and which
//! invariant broke. Pure: takes the parsed [`Evidence`], returns a
//! [`Report`]; reading files is [`Evidence::load`]'s job.
//!
//! For every track published in nation A and every partner B that A
//! releases to, the label decides (independently of the bridge's code, by
//! [`crate::expect`]) whether B may have it. Then:
//!
//! - **delivered**: B's alerting subscriber received it; more than once is
//!   a **duplicate**;
//! - **denied**: A's egress or B's ingress refused it, as their audit logs
//!   say, with the reason;
//! - **lost**: B may have it, and it was neither delivered nor denied;
//! - **leaked**: B received it although the label forbids it, or B admitted
//!   it after B applied a revocation of A's translator or a suspension of
//!   A, or A released it after applying one;
//! - a message the label allows but a bridge denied is fine only for a
//!   reason the scenario explains (`translator_revoked` after a
//!   revocation, `partner_suspended` after a suspension);
//! - a message the label forbids must have a denial record.
//!
//! The invariants: lost = 0, duplicated = 0, leaked = 0, no unexplained or
//! unrecorded denial, no gap reported by the SDK, every producer finished.
mod catch_up;
mod load_windows;
mod notices;

use std::collections::{BTreeMap, BTreeSet};

use coalition_topology::Topology;

pub use catch_up::{catch_up, CatchUp, DirectionCatchUp, WITHHELD_BY_A_NOTICE};
pub use load_windows::{
    AlertsAcross, FloodLatency, Flooded, NarrowDirection, Narrowed, ALERT_BOUND_MS,
};
use notices::{enforcement, policy_leaks};

use crate::expect;
use crate::ledger::{
    AlertsRecord, AuditLine, EventRecord, LabelRecord, LinkSample, ProducerRecord,
};
use crate::scenario::Action;

/// `(origin, producer, feed, seq)`.
pub type MessageKey = (String, String, String, u64);

/// Everything a run left in its ledger folder.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The producers' records, every producer.
    pub published: Vec<ProducerRecord>,
    /// Each nation's subscriber's records.
    pub delivered: BTreeMap<String, Vec<AlertsRecord>>,
    /// Every nation's audit records.
    pub audit: Vec<AuditLine>,
    /// What the driver did.
    pub events: Vec<EventRecord>,
    /// Each sidecar's samples.
    pub links: BTreeMap<String, Vec<LinkSample>>,
    /// The exercise clock's zero, Unix ms.
    pub t0_ms: i64,
    /// What the producers were asked to publish.
    pub load: Option<crate::load::Load>,
}

impl Evidence {
    /// When each subscriber had each delivery (Unix ms), every nation.
    pub fn delivery_times(&self) -> impl Iterator<Item = i64> + '_ {
        self.delivered.values().flatten().filter_map(|r| match r {
            AlertsRecord::Delivered { t_ms, .. } => Some(*t_ms),
            _ => None,
        })
    }
}

/// One published track.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Which.
    pub key: MessageKey,
    /// When it was stored at its origin.
    pub t_ms: i64,
    /// As signed.
    pub label: LabelRecord,
}

/// One delivery at a receiver.
#[derive(Debug, Clone)]
pub struct Received {
    /// Which message.
    pub key: MessageKey,
    /// The receiving nation.
    pub receiver: String,
    /// When the subscriber had it.
    pub t_ms: i64,
    /// Its label as produced.
    pub label: LabelRecord,
    /// Lineage: released at the origin.
    pub released_at_ms: Option<i64>,
    /// Lineage: admitted at the receiver.
    pub admitted_at_ms: Option<i64>,
    /// Lineage: `<id>@<version>`.
    pub translator: Option<String>,
}

/// When a notice was applied by each bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct Enforcement {
    /// What the notice did, e.g. `GBR revokes translator USA-GBR`.
    pub action: String,
    /// `<issuer>#<epoch>`.
    pub notice: String,
    /// Its effective instant, Unix ms.
    pub effective_ms: i64,
    /// Nation -> ms from the effective instant to its bridge applying it.
    pub applied_after_ms: BTreeMap<String, i64>,
}

/// Counts of one directed link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTally {
    /// Tracks published at the origin.
    pub published: u64,
    /// Tracks the label releases to the receiver.
    pub releasable: u64,
    /// Distinct tracks delivered.
    pub delivered: u64,
    /// Releasable, neither delivered nor denied.
    pub lost: u64,
    /// Extra deliveries.
    pub duplicated: u64,
    /// Denials by reason.
    pub denied: BTreeMap<String, u64>,
    /// Publish (JetStream ack at the origin) to verified delivery, ms:
    /// 50th, 99th percentile and maximum over first deliveries.
    pub latency_ms: Option<(i64, i64, i64)>,
}

/// What the verifier found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Tracks published, all producers: each counted once, however many
    /// links it is offered to.
    pub sent: u64,
    /// When the first and the last track were stored (Unix ms), if any.
    pub window_ms: Option<(i64, i64)>,
    /// `FROM->TO` -> counts.
    pub links: BTreeMap<String, LinkTally>,
    /// Totals over every link.
    pub total: LinkTally,
    /// Leaks, described.
    pub leaked: Vec<String>,
    /// Lost messages, described (the first 50).
    pub lost: Vec<String>,
    /// Notices and how soon each bridge enforced them.
    pub enforcement: Vec<Enforcement>,
    /// Backlogs after each outage.
    pub catch_up: Vec<CatchUp>,
    /// What the producers were asked to publish.
    pub load: Option<crate::load::Load>,
    /// What crossed each narrow (bandwidth-limited) bearer.
    pub narrowed: Vec<Narrowed>,
    /// What each flood did to the others' latency, and its own backlog.
    pub flooded: Vec<Flooded>,
    /// `FROM->TO` -> `(when, ms from publish)` of each track's first
    /// delivery, in publish order: the latency figures above and the
    /// timeline's rates and latencies are all computed from these.
    pub first_deliveries: BTreeMap<String, Vec<(i64, i64)>>,
    /// The same for alerts (kept apart: the figures above are of tracks).
    pub alert_deliveries: BTreeMap<String, Vec<(i64, i64)>>,
    /// Gaps the SDK reported.
    pub gaps: u64,
    /// Deliveries that came from a gap replay.
    pub replayed: u64,
    /// Every broken invariant.
    pub failures: Vec<String>,
}

impl Report {
    /// True if no invariant broke.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The reasons a scenario's own actions explain for the link `from -> to`.
fn explained_reasons(events: &[EventRecord], from: &str, to: &str) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for e in events {
        match &e.event {
            Action::RevokeTranslator { id, .. } if *id == format!("{from}-{to}") => {
                out.insert("translator_revoked");
            }
            Action::Suspend { by, partner }
                if (by == from && partner == to) || (by == to && partner == from) =>
            {
                out.insert("partner_suspended");
            }
            _ => {}
        }
    }
    out
}

/// Verifies a run of `topology`.
pub fn verify(topology: &Topology, evidence: &Evidence) -> Report {
    let mut report = Report::default();
    let sent = sent_messages(evidence, &mut report);
    let received = received_messages(evidence, &mut report);
    let denials = denials(evidence);
    report.enforcement = enforcement(evidence);
    let deliveries = Deliveries::of(&received);
    let alert_feeds: BTreeSet<(&str, &str, &str)> = topology
        .feeds
        .iter()
        .filter(|f| f.kind == coalition_topology::FeedKind::Alert)
        .map(|f| (f.nation.as_str(), f.producer.as_str(), f.name.as_str()))
        .collect();
    for m in &sent {
        let origin = m.key.0.as_str();
        let label = m.label.to_label(origin);
        for partner in expect::partners(topology, origin) {
            let outcome = Outcome {
                model_reason: expect::denial_reason(topology, origin, &partner, &label),
                delivered: deliveries.count(&m.key, &partner),
                denied: denials.get(&(m.key.clone(), partner.clone())),
            };
            if let Some(t) = deliveries.first(&m.key, &partner) {
                let firsts = if alert_feeds.contains(&(origin, m.key.1.as_str(), m.key.2.as_str()))
                {
                    &mut report.alert_deliveries
                } else {
                    &mut report.first_deliveries
                };
                firsts
                    .entry(format!("{origin}->{partner}"))
                    .or_default()
                    .push((t, t - m.t_ms));
            }
            account(&mut report, &evidence.events, m, &partner, outcome);
        }
    }
    for (link, firsts) in &report.first_deliveries {
        let mut l: Vec<i64> = firsts.iter().map(|(_, ms)| *ms).collect();
        if let Some(tally) = report.links.get_mut(link) {
            tally.latency_ms = percentiles(&mut l);
        }
    }
    report
        .leaked
        .extend(policy_leaks(&received, &report.enforcement, evidence));
    report.catch_up = catch_up(evidence, &sent, &received, &denials);
    report.load = evidence.load.clone();
    report.narrowed =
        load_windows::narrowed(evidence, &report.first_deliveries, &report.alert_deliveries);
    report.flooded = load_windows::flooded(evidence, &report.first_deliveries);
    totals(&mut report);
    invariants(&mut report, evidence);
    report
}

/// How many times, and first when, each message reached each receiver.
struct Deliveries<'a> {
    by_receiver: BTreeMap<(&'a MessageKey, &'a str), (u64, i64)>,
}

impl<'a> Deliveries<'a> {
    fn of(received: &'a [Received]) -> Self {
        let mut by_receiver: BTreeMap<(&MessageKey, &str), (u64, i64)> = BTreeMap::new();
        for r in received {
            let slot = by_receiver
                .entry((&r.key, r.receiver.as_str()))
                .or_insert((0, r.t_ms));
            slot.0 += 1;
            slot.1 = slot.1.min(r.t_ms);
        }
        Deliveries { by_receiver }
    }

    fn count(&self, key: &MessageKey, receiver: &str) -> u64 {
        self.by_receiver.get(&(key, receiver)).map_or(0, |d| d.0)
    }

    fn first(&self, key: &MessageKey, receiver: &str) -> Option<i64> {
        self.by_receiver.get(&(key, receiver)).map(|d| d.1)
    }
}

/// What became of one message for one partner.
struct Outcome<'a> {
    /// Why the label forbids it, if it does (the independent model).
    model_reason: Option<&'static str>,
    /// Deliveries at the partner.
    delivered: u64,
    /// The first denial a bridge recorded, with its reason.
    denied: Option<&'a String>,
}

/// Counts `m`'s outcome for `partner` and records what it breaks.
fn account(report: &mut Report, events: &[EventRecord], m: &Sent, partner: &str, o: Outcome) {
    let origin = m.key.0.as_str();
    let id = describe(&m.key);
    let tally = report
        .links
        .entry(format!("{origin}->{partner}"))
        .or_default();
    tally.published += 1;
    tally.delivered += o.delivered.min(1);
    tally.duplicated += o.delivered.saturating_sub(1);
    if let Some(reason) = o.denied {
        *tally.denied.entry(reason.clone()).or_default() += 1;
    }
    match (o.model_reason, o.delivered, o.denied) {
        (Some(reason), 1.., _) => report.leaked.push(format!(
            "{id} reached {partner} although its label forbids it ({reason})"
        )),
        (Some(reason), 0, None) => report.failures.push(format!(
            "{id} to {partner}: its label forbids it ({reason}) but no bridge recorded a denial"
        )),
        (Some(_), 0, Some(_)) => {}
        (None, delivered, denied) => {
            tally.releasable += 1;
            match (delivered, denied) {
                (1.., _) => {}
                (0, None) => {
                    tally.lost += 1;
                    if report.lost.len() < 50 {
                        report.lost.push(format!(
                            "{id} [{}] to {partner}: neither delivered nor denied",
                            m.label.display()
                        ));
                    }
                }
                (0, Some(reason)) => {
                    if !explained_reasons(events, origin, partner).contains(reason.as_str()) {
                        report.failures.push(format!(
                            "{id} to {partner}: its label allows it, but it was denied ({reason}) and the scenario does not explain that"
                        ));
                    }
                }
            }
        }
    }
}

/// (p50, p99, max) of `values` (nearest rank; sorts them), none if empty.
pub fn percentiles(values: &mut [i64]) -> Option<(i64, i64, i64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some((at(0.5), at(0.99), values[values.len() - 1]))
}

fn describe(key: &MessageKey) -> String {
    format!("{}/{}/{}#{}", key.0, key.1, key.2, key.3)
}

fn sent_messages(evidence: &Evidence, report: &mut Report) -> Vec<Sent> {
    let mut out = Vec::new();
    for r in &evidence.published {
        if let ProducerRecord::Published {
            t_ms,
            origin,
            producer,
            feed,
            seq,
            label,
        } = r
        {
            out.push(Sent {
                key: (origin.clone(), producer.clone(), feed.clone(), *seq),
                t_ms: *t_ms,
                label: label.clone(),
            });
        }
    }
    report.sent = out.len() as u64;
    let times = out.iter().map(|s| s.t_ms);
    report.window_ms = times.clone().min().zip(times.max());
    out
}

fn received_messages(evidence: &Evidence, report: &mut Report) -> Vec<Received> {
    let mut out = Vec::new();
    for (receiver, records) in &evidence.delivered {
        for r in records {
            if let AlertsRecord::Delivered {
                t_ms,
                origin,
                producer,
                feed,
                seq,
                label,
                released_at_ms,
                admitted_at_ms,
                translator,
                gap,
                replayed,
            } = r
            {
                report.gaps += u64::from(gap.is_some());
                report.replayed += u64::from(*replayed);
                out.push(Received {
                    key: (origin.clone(), producer.clone(), feed.clone(), *seq),
                    receiver: receiver.clone(),
                    t_ms: *t_ms,
                    label: label.clone(),
                    released_at_ms: *released_at_ms,
                    admitted_at_ms: *admitted_at_ms,
                    translator: translator.clone(),
                });
            }
        }
    }
    out
}

/// `(message, partner)` -> the reason of the first denial recorded for it,
/// at the origin's egress or the partner's ingress.
fn denials(evidence: &Evidence) -> BTreeMap<(MessageKey, String), String> {
    let mut out = BTreeMap::new();
    let mut records: Vec<&AuditLine> = evidence
        .audit
        .iter()
        .filter(|a| a.decision == "deny" || a.decision == "reject")
        .collect();
    records.sort_by_key(|a| a.decided_at_ms);
    for a in records {
        let Some(key) = parse_msg_id(&a.msg_id) else {
            continue;
        };
        let partner = match a.stage.as_str() {
            "egress" if a.nation == key.0 => a.partner.clone(),
            "ingress" if a.partner == key.0 => a.nation.clone(),
            _ => continue,
        };
        out.entry((key, partner))
            .or_insert_with(|| a.reason.clone());
    }
    out
}

/// `<origin>.<producer>.<feed>.<seq>`; a feed or producer never holds a dot.
pub fn parse_msg_id(id: &str) -> Option<MessageKey> {
    let parts: Vec<&str> = id.split('.').collect();
    match parts.as_slice() {
        [origin, producer, feed, seq] => Some((
            origin.to_string(),
            producer.to_string(),
            feed.to_string(),
            seq.parse().ok()?,
        )),
        _ => None,
    }
}

fn totals(report: &mut Report) {
    let mut total = LinkTally::default();
    for t in report.links.values() {
        total.published += t.published;
        total.releasable += t.releasable;
        total.delivered += t.delivered;
        total.lost += t.lost;
        total.duplicated += t.duplicated;
        for (r, n) in &t.denied {
            *total.denied.entry(r.clone()).or_default() += n;
        }
    }
    report.total = total;
}

fn invariants(report: &mut Report, evidence: &Evidence) {
    let t = report.total.clone();
    if report.sent == 0 {
        report.failures.push("no track was published".into());
    }
    if t.lost > 0 {
        report.failures.push(format!("{} message(s) lost", t.lost));
    }
    if t.duplicated > 0 {
        report
            .failures
            .push(format!("{} duplicate deliveries", t.duplicated));
    }
    if !report.leaked.is_empty() {
        report
            .failures
            .push(format!("{} leak(s)", report.leaked.len()));
    }
    if report.gaps > 0 {
        report
            .failures
            .push(format!("the SDK reported {} gap(s)", report.gaps));
    }
    let done = evidence
        .published
        .iter()
        .filter(|r| matches!(r, ProducerRecord::Done { .. }))
        .count();
    let ready = evidence
        .published
        .iter()
        .filter(|r| matches!(r, ProducerRecord::Ready { .. }))
        .count();
    if done < ready {
        report.failures.push(format!(
            "{} of {ready} producers did not finish publishing",
            ready - done
        ));
    }
    for e in &report.enforcement {
        if e.applied_after_ms.is_empty() {
            report.failures.push(format!(
                "no bridge recorded applying {} ({})",
                e.notice, e.action
            ));
        }
    }
}

#[cfg(test)]
mod tests;
