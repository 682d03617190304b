//! Acceptance tests of the foundation, on a real three-nation mesh:
//! releasability by label, isolation of a third nation, NOFORN, tamper
//! detection with dead-lettering, and lineage.
mod common;

use std::time::Duration;

use common::*;
use coalition_sdk::{Payload, Topic};

const THREE_NATIONS: &str = r#"
[mesh]
name = "three"

[[nation]]
code = "USA"
[[nation]]
code = "GBR"
[[nation]]
code = "FRA"

[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[link]]
from = "USA"
to = "FRA"
max_classification = "SECRET"
[[link]]
from = "GBR"
to = "FRA"
max_classification = "SECRET"

[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn track_released_to_gbr_reaches_gbr_with_lineage_and_nothing_of_it_reaches_fra() {
    let mesh = mesh(THREE_NATIONS).await;
    let bridges = bridges(&mesh).await;
    let fra = watch_everything(&mesh, "FRA").await;
    let gbr_sub = subscriber(&mesh, "GBR").await;
    let mut gbr_tracks = within("subscribe", gbr_sub.subscribe(Topic::tracks())).await.unwrap();
    let fra_sub = subscriber(&mesh, "FRA").await;
    let mut fra_tracks = within("subscribe", fra_sub.subscribe(Topic::tracks())).await.unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;

    let for_gbr = label("USA", "SECRET", &["GBR"]);
    let receipt = within("publish", usa.publish_track("tracks", &for_gbr, &track("TRACK-GBR-ONLY"))).await.unwrap();
    assert_eq!(receipt.seq, 1);
    // A positive control: this one may go to FRA, so FRA's watchers must see it.
    let for_both = label("USA", "SECRET", &["GBR", "FRA"]);
    within("publish", usa.publish_track("tracks", &for_both, &track("TRACK-FOR-BOTH"))).await.unwrap();

    let first = within("GBR delivery", gbr_tracks.next()).await.expect("stream open").expect("verified");
    assert_eq!((first.origin.as_str(), first.producer_id.as_str(), first.feed.as_str(), first.seq), ("USA", "radar-1", "tracks", 1));
    assert_eq!(first.label, for_gbr);
    let Payload::Track(t) = &first.payload else { panic!("expected a track") };
    assert_eq!(t.track_id, "TRACK-GBR-ONLY");
    assert_eq!(first.lineage.released_by.as_deref(), Some("USA"));
    assert_eq!(first.lineage.admitted_by.as_deref(), Some("GBR"));
    assert_eq!(first.lineage.decision.as_deref(), Some("admit"));
    assert!(first.lineage.key_id.as_ref().is_some_and(|k| k.len() == 32));
    first.ack().await.unwrap();

    let fra_first = within("FRA delivery", fra_tracks.next()).await.expect("stream open").expect("verified");
    let Payload::Track(t) = &fra_first.payload else { panic!("expected a track") };
    assert_eq!(t.track_id, "TRACK-FOR-BOTH", "FRA's first delivery must be the one released to it");
    assert_eq!(fra_first.seq, 2);
    assert_eq!(fra_first.gap, None, "seq 1 was never FRA's to see; the SDK only reports gaps within what it saw");

    // The control reached FRA's accounts, so the watchers work; the GBR-only
    // track must be in none of them.
    within("watchers see the control", async {
        while !fra.saw(b"TRACK-FOR-BOTH") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(!fra.saw(b"TRACK-GBR-ONLY"), "the GBR-only track reached an FRA account");
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noforn_track_never_leaves_usa() {
    let mesh = mesh(THREE_NATIONS).await;
    let bridges = bridges(&mesh).await;
    let gbr = watch_everything(&mesh, "GBR").await;
    let fra = watch_everything(&mesh, "FRA").await;
    let sub = subscriber(&mesh, "GBR").await;
    let mut tracks = within("subscribe", sub.subscribe(Topic::tracks())).await.unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;

    let noforn = label("USA", "UNCLASSIFIED", &["GBR", "FRA"]).with_caveat("NOFORN");
    within("publish", usa.publish_track("tracks", &noforn, &track("TRACK-NOFORN"))).await.unwrap();
    // The bridge decides in feed order, so once seq 2 arrives, seq 1 was decided.
    within("publish", usa.publish_track("tracks", &label("USA", "SECRET", &["GBR"]), &track("TRACK-AFTER"))).await.unwrap();
    let d = within("delivery", tracks.next()).await.unwrap().unwrap();
    assert_eq!(d.seq, 2, "the NOFORN track (seq 1) must not be delivered");
    assert_eq!(d.gap, None);

    assert!(!gbr.saw(b"TRACK-NOFORN"), "NOFORN reached a GBR account");
    assert!(!fra.saw(b"TRACK-NOFORN"), "NOFORN reached an FRA account");
    assert!(gbr.saw(b"TRACK-AFTER"), "control: GBR's watchers see what was released");
    let metrics = coalition_bridge::telemetry::render();
    assert!(
        metrics.lines().any(|l| l.starts_with("coalition_bridge_denied_total")
            && l.contains("nation=\"USA\"")
            && l.contains("partner=\"GBR\"")
            && l.contains("reason=\"caveat_forbids_release\"")),
        "denial not counted:\n{metrics}"
    );
    bridges.shutdown().await;
}
