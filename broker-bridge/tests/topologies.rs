//! Topology-scale acceptance tests: a 3-server nation that loses a server
//! keeps flowing, and a 15-nation ring with chords carries a track across
//! every link.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use coalition_sdk::Topic;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_server_nation_keeps_flowing_when_one_server_is_killed() {
    let mut s = scene(USA_TO_GBR_CLUSTER).await;
    let l = label("USA", "SECRET", &["GBR"]);
    publish(&s.usa, &l, "T1").await;
    assert_eq!(next_delivery(&mut s.gbr_tracks).await.seq, 1);

    // GBR-0 is the first URL everyone dials, so most connections are on it.
    s.mesh.kill_server("GBR", 0).unwrap();
    for i in 2..=30 {
        publish(&s.usa, &l, &format!("T{i}")).await;
    }
    for want in 2..=30u64 {
        assert_eq!(next_delivery(&mut s.gbr_tracks).await.seq, want);
    }
    within("restart", s.mesh.restart_server("GBR", 0))
        .await
        .unwrap();
    within("cluster whole again", s.mesh.wait_ready())
        .await
        .unwrap();
    publish(&s.usa, &l, "T31").await;
    assert_eq!(next_delivery(&mut s.gbr_tracks).await.seq, 31);
    s.bridges.shutdown().await;
}

/// 15 nations, one server each, links both ways around a ring plus chords
/// i -> i+5 for every third nation: 35 directed links.
fn fifteen_nations() -> (String, Vec<(String, String)>) {
    let codes: Vec<String> = (0..15)
        .map(|i| format!("N{}X", (b'A' + i as u8) as char))
        .collect();
    let mut toml = String::from("[mesh]\nname = \"fifteen\"\n");
    for c in &codes {
        let _ = write!(toml, "[[nation]]\ncode = \"{c}\"\n");
    }
    let mut links = Vec::new();
    for i in 0..15 {
        let next = (i + 1) % 15;
        links.push((codes[i].clone(), codes[next].clone()));
        links.push((codes[next].clone(), codes[i].clone()));
        if i % 3 == 0 {
            links.push((codes[i].clone(), codes[(i + 5) % 15].clone()));
        }
    }
    for (from, to) in &links {
        let _ = write!(
            toml,
            "[[link]]\nfrom = \"{from}\"\nto = \"{to}\"\nmax_classification = \"SECRET\"\n"
        );
    }
    for c in &codes {
        let _ = write!(toml, "[[feed]]\nnation = \"{c}\"\nproducer = \"sensor\"\nname = \"tracks\"\nkind = \"track\"\n");
    }
    (toml, links)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifteen_nation_ring_with_chords_carries_a_track_across_every_link() {
    let (toml, links) = fifteen_nations();
    assert_eq!(links.len(), 35);
    let mesh = mesh(&toml).await;
    let bridges = bridges(&mesh).await;
    // Each receiving nation subscribes; each link gets one track addressed
    // to its receiver only.
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in &links {
        expected
            .entry(to.clone())
            .or_default()
            .insert(format!("{from}->{to}"));
    }
    let mut subs = Vec::new();
    for nation in expected.keys() {
        let sub = subscriber(&mesh, nation).await;
        let tracks = within("subscribe", sub.subscribe(Topic::tracks()))
            .await
            .unwrap();
        subs.push((nation.clone(), sub, tracks));
    }
    for nation in mesh.topology().nations.iter().map(|n| n.code.clone()) {
        let p = producer(&mesh, &nation, "sensor").await;
        for (from, to) in links.iter().filter(|(f, _)| *f == nation) {
            publish(&p, &label(from, "SECRET", &[to]), &format!("{from}->{to}")).await;
        }
    }
    for (nation, _sub, tracks) in &mut subs {
        let want = &expected[nation];
        let mut got = BTreeSet::new();
        while got.len() < want.len() {
            let d = next_delivery(tracks).await;
            let id = track_id(&d).to_string();
            assert!(
                id.ends_with(&format!("->{nation}")),
                "{nation} received {id}"
            );
            assert_eq!(d.lineage.admitted_by.as_deref(), Some(nation.as_str()));
            got.insert(id);
        }
        assert_eq!(&got, want);
    }
    bridges.shutdown().await;
}
