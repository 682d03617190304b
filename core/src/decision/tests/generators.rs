//! Proptest generators of decision scenarios over the test world: labels,
//! notices, messages and crossings, biased towards the edges of every rule.
use super::*;

/// DEU last: it has no policy.
pub(super) const NATIONS: [&str; 4] = ["USA", "GBR", "FRA", "DEU"];
pub(super) const INSTANTS: [i64; 9] = [0, 1, NOW, 99_999, T_100K, 499_999, T_500K, 999_999, END];

/// A label in the vocabulary of one of `from`'s versions, sometimes of an
/// unknown version, classification or caveat, or of the other policy.
pub(super) fn arb_label(from: &'static str) -> impl Strategy<Value = Label> {
    use prop::collection::btree_set;
    let policies: Vec<_> = world()
        .policies
        .iter()
        .filter(|p| p.nation == from)
        .collect();
    let latest = policies.iter().max_by_key(|p| p.version).unwrap();
    let versions = select(policies.iter().map(|p| p.version).collect::<Vec<_>>());
    let version = prop_oneof![8 => versions, 1 => Just(0), 1 => Just(3)];
    let odd_class = select(names(&["COSMIC", "OFFICIAL", "CONFIDENTIAL"]));
    let class = prop_oneof![7 => select(latest.classifications.clone()), 1 => odd_class];
    let mut caveats: Vec<String> = latest.caveats.iter().map(|(c, _)| c.clone()).collect();
    caveats.push("EYES-ONLY".into());
    let caveats = prop_oneof![Just(BTreeSet::new()), btree_set(select(caveats), 1..=2)];
    let category = prop_oneof![2 => Just("EXERCISE"), 1 => Just("OPNAME"), 1 => Just("TRAINING")];
    let informative = btree_set(category.prop_map(String::from), 0..=2);
    let some_nations = prop::sample::subsequence(NATIONS.to_vec(), 0..=4);
    let to = prop_oneof![Just(NATIONS.to_vec()), some_nations];
    let other = if from == "USA" { "GBR" } else { "USA" };
    let policy = prop_oneof![7 => Just(from), 1 => Just(other)];
    let parts = (policy, version, class, caveats, informative, to);
    parts.prop_map(|(policy, version, class, caveats, informative, to)| {
        let label = Label::new(policy, &class, &[]).in_version(version);
        let releasable_to = names(&to).into_iter().collect();
        Label {
            releasable_to,
            caveats,
            informative,
            ..label
        }
    })
}

/// Suspensions (at most one per issuer and partner), key revocation,
/// retraction and translator revocations by any nation, at any instant.
pub(super) fn arb_notices() -> impl Strategy<Value = Vec<Notice>> {
    let instant = || select(INSTANTS.to_vec());
    let pair = (0usize..4, 1usize..4).prop_map(|(i, k)| (NATIONS[i], NATIONS[(i + k) % 4]));
    let suspensions = prop::collection::btree_map(pair, instant(), 0..=2);
    let key = prop::option::of(instant().prop_map(revoke_key));
    let retraction = prop::option::of((select(vec!["T-1", "T-9"]), instant()));
    let ids = select(vec!["USA-GBR", "USA-FRA", "GBR-FRA", "GBR-USA"]);
    let translator = (select(NATIONS.to_vec()), ids, 0u32..=2, instant());
    let translators = prop::collection::vec(translator, 0..=3);
    (suspensions, key, retraction, translators).prop_map(|(s, key, retraction, t)| {
        let s = s
            .into_iter()
            .map(|((by, partner), from)| suspend(by, partner, from));
        let r = retraction.map(|(product, from)| retract(product, from));
        let t = t
            .into_iter()
            .map(|(by, id, v, from)| revoke_translator(by, id, v, from));
        s.chain(key).chain(r).chain(t).collect()
    })
}

/// A message of `from`'s nation mostly, sometimes of another origin, of
/// any product, signed with the revoked key one time in four.
pub(super) fn arb_message(from: &'static str) -> impl Strategy<Value = (Header, [u8; 32])> {
    let origin = prop_oneof![7 => Just(from), 1 => select(NATIONS.to_vec())];
    let product = select(vec!["", "T-1", "T-9"]);
    let key = prop_oneof![3 => Just(GOOD_KEY), 1 => Just(REVOKED_KEY)];
    (origin, arb_label(from), product, key).prop_map(|(origin, label, product, key)| {
        let product_id = product.into();
        (
            Header {
                product_id,
                ..header(origin, label)
            },
            key,
        )
    })
}

/// Admit or release, a crossing from USA or GBR (mostly to a nation with a
/// policy, on a link of its scale), a message, and notices.
pub(super) fn arb_scenario() -> impl Strategy<Value = (bool, Input, Vec<Notice>)> {
    select(vec!["USA", "GBR"]).prop_flat_map(|from| {
        let others: Vec<_> = NATIONS[..3]
            .iter()
            .copied()
            .filter(|n| *n != from)
            .collect();
        let to = prop_oneof![6 => select(others), 1 => Just("DEU")];
        let policy = world().policies.iter().find(|p| p.nation == from).unwrap();
        let scale = select(policy.classifications.clone());
        let ceiling = prop_oneof![7 => scale, 1 => Just("X".to_string())];
        let crossing = (to, ceiling, select(INSTANTS.to_vec()), arb_message(from));
        let input = crossing.prop_map(move |(to, ceiling, now_ms, (header, key))| {
            let (from, to) = (from.into(), to.into());
            Input {
                from,
                to,
                ceiling,
                now_ms,
                key,
                header,
            }
        });
        (any::<bool>(), input, arb_notices())
    })
}
