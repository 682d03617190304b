//! The runner's traffic plan and what it expects of the mesh, written
//! independently of the bridge's decision code so the run checks it.
//!
//! Each producer cycles through four labels:
//! 1. low classification, releasable to every partner -> all partners;
//! 2. low classification, releasable to the first partner -> that one;
//! 3. like 1 but with a caveat that forbids foreign release (e.g. NOFORN)
//!    -> nobody;
//! 4. the nation's highest classification, releasable to all -> nobody
//!    (above every link's ceiling).
use std::collections::BTreeSet;

use coalition_sdk::Label;
use coalition_topology::{Nation, Topology};

/// Why a partner is expected not to receive a message; the names match the
/// bridge's `DenyReason::as_str`.
pub fn denial_reason(
    topology: &Topology,
    origin: &str,
    partner: &str,
    label: &Label,
) -> Option<&'static str> {
    let nation = topology.nation(origin)?;
    let link = topology.links_from(origin).find(|l| l.to == partner)?;
    let rank = |c: &str| nation.classifications.iter().position(|x| x == c);
    for caveat in &label.caveats {
        match nation.caveats.iter().find(|(n, _)| n == caveat) {
            None => return Some("unknown_caveat"),
            Some((_, true)) => return Some("caveat_forbids_release"),
            Some((_, false)) => {}
        }
    }
    if !label.releasable_to.contains(partner) {
        return Some("not_releasable_to_destination");
    }
    match (rank(&label.classification), rank(&link.max_classification)) {
        (Some(r), Some(ceiling)) if r <= ceiling => None,
        (Some(_), Some(_)) => Some("classification_above_link"),
        _ => Some("unknown_classification"),
    }
}

/// The partners `origin` releases to.
pub fn partners(topology: &Topology, origin: &str) -> Vec<String> {
    let mut p: Vec<String> = topology.links_from(origin).map(|l| l.to.clone()).collect();
    p.sort();
    p
}

/// Partners expected to receive a message of `origin` with `label`.
pub fn receivers(topology: &Topology, origin: &str, label: &Label) -> BTreeSet<String> {
    partners(topology, origin)
        .into_iter()
        .filter(|p| denial_reason(topology, origin, p, label).is_none())
        .collect()
}

/// The label of `nation`'s message number `seq` (1-based).
pub fn label_for(topology: &Topology, nation: &Nation, seq: u64) -> Label {
    let partners = partners(topology, &nation.code);
    let all: Vec<&str> = partners.iter().map(String::as_str).collect();
    let low = nation
        .classifications
        .get(1)
        .or(nation.classifications.first())
        .cloned()
        .unwrap_or_default();
    let top = nation.classifications.last().cloned().unwrap_or_default();
    let forbidding = nation
        .caveats
        .iter()
        .find(|(_, forbids)| *forbids)
        .map(|(n, _)| n.clone());
    match seq % 4 {
        1 => Label::new(&nation.code, &low, &all),
        2 => Label::new(&nation.code, &low, &all[..all.len().min(1)]),
        3 => match forbidding {
            Some(c) => Label::new(&nation.code, &low, &all).with_caveat(&c),
            None => Label::new(&nation.code, &low, &[]),
        },
        _ => Label::new(&nation.code, &top, &all),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coalition_topology::parse_topology;

    fn topo() -> Topology {
        parse_topology(
            include_str!("../../topologies/coalition-3.toml"),
            "t".as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn the_four_labels_reach_who_they_should() {
        let t = topo();
        let usa = t.nation("USA").unwrap();
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            receivers(&t, "USA", &label_for(&t, usa, 1)),
            set(&["FRA", "GBR"])
        );
        assert_eq!(receivers(&t, "USA", &label_for(&t, usa, 2)), set(&["FRA"]));
        assert_eq!(receivers(&t, "USA", &label_for(&t, usa, 3)), set(&[]));
        assert_eq!(receivers(&t, "USA", &label_for(&t, usa, 4)), set(&[]));
        assert_eq!(
            denial_reason(&t, "USA", "GBR", &label_for(&t, usa, 2)),
            Some("not_releasable_to_destination")
        );
        assert_eq!(
            denial_reason(&t, "USA", "GBR", &label_for(&t, usa, 3)),
            Some("caveat_forbids_release")
        );
        assert_eq!(
            denial_reason(&t, "USA", "GBR", &label_for(&t, usa, 4)),
            Some("classification_above_link")
        );
        let fra = t.nation("FRA").unwrap();
        assert_eq!(label_for(&t, fra, 1).classification, "DIFFUSION RESTREINTE");
    }
}
