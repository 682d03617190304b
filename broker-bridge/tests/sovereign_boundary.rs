//! Acceptance tests of the foundation, on a real three-nation mesh:
//! releasability by label, isolation of a third nation, NOFORN, tamper
//! detection with dead-lettering, garbage on the wire, and a link cut.
mod common;

use std::time::Duration;

use coalition_sdk::Topic;
use common::*;

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

/// Polls the metrics until a line has all of `parts`, or fails.
async fn wait_for_metric(parts: &[&str]) {
    within(&format!("metric {parts:?}"), async {
        loop {
            let text = coalition_bridge::telemetry::render();
            if text.lines().any(|l| parts.iter().all(|p| l.contains(p))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn track_released_to_gbr_reaches_gbr_with_lineage_and_nothing_of_it_reaches_fra() {
    let mut s = scene(THREE_NATIONS).await;
    let fra = watch_everything(&s.mesh, "FRA").await;
    let fra_sub = subscriber(&s.mesh, "FRA").await;
    let mut fra_tracks = within("subscribe", fra_sub.subscribe(Topic::tracks()))
        .await
        .unwrap();

    let for_gbr = label("USA", "SECRET", &["GBR"]);
    assert_eq!(publish(&s.usa, &for_gbr, "TRACK-GBR-ONLY").await, 1);
    // A positive control: this one may go to FRA, so FRA's watchers must see it.
    publish(
        &s.usa,
        &label("USA", "SECRET", &["GBR", "FRA"]),
        "TRACK-FOR-BOTH",
    )
    .await;

    let first = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!(
        (
            first.origin.as_str(),
            first.producer_id.as_str(),
            first.feed.as_str(),
            first.seq
        ),
        ("USA", "radar-1", "tracks", 1)
    );
    assert_eq!(first.label, for_gbr);
    assert_eq!(track_id(&first), "TRACK-GBR-ONLY");
    assert_eq!(first.lineage.released_by.as_deref(), Some("USA"));
    assert_eq!(first.lineage.admitted_by.as_deref(), Some("GBR"));
    assert_eq!(first.lineage.decision.as_deref(), Some("admit"));
    assert!(first.lineage.key_id.as_ref().is_some_and(|k| k.len() == 32));

    let fra_first = next_delivery(&mut fra_tracks).await;
    assert_eq!(
        track_id(&fra_first),
        "TRACK-FOR-BOTH",
        "FRA's first delivery must be the one released to it"
    );
    assert_eq!(fra_first.seq, 2);
    assert_eq!(
        fra_first.gap, None,
        "seq 1 was never FRA's to see; the SDK only reports gaps within what it saw"
    );

    // The control reached FRA's accounts, so the watchers work; the GBR-only
    // track must be in none of them.
    within("watchers see the control", async {
        while !fra.saw(b"TRACK-FOR-BOTH") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        !fra.saw(b"TRACK-GBR-ONLY"),
        "the GBR-only track reached an FRA account"
    );
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noforn_track_never_leaves_usa() {
    let mut s = scene(THREE_NATIONS).await;
    let gbr = watch_everything(&s.mesh, "GBR").await;
    let fra = watch_everything(&s.mesh, "FRA").await;

    let noforn = label("USA", "UNCLASSIFIED", &["GBR", "FRA"]).with_caveat("NOFORN");
    publish(&s.usa, &noforn, "TRACK-NOFORN").await;
    // The bridge decides in feed order, so once seq 2 arrives, seq 1 was decided.
    publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "TRACK-AFTER").await;
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!(d.seq, 2, "the NOFORN track (seq 1) must not be delivered");
    assert_eq!(d.gap, None);

    assert!(!gbr.saw(b"TRACK-NOFORN"), "NOFORN reached a GBR account");
    assert!(!fra.saw(b"TRACK-NOFORN"), "NOFORN reached an FRA account");
    wait_for_metric(&[
        "coalition_bridge_denied_total",
        "nation=\"USA\"",
        "partner=\"GBR\"",
        "reason=\"caveat_forbids_release\"",
    ])
    .await;
    wait_for_metric(&[
        "coalition_bridge_denied_total",
        "nation=\"USA\"",
        "partner=\"FRA\"",
        "reason=\"caveat_forbids_release\"",
    ])
    .await;
    assert!(
        gbr.saw(b"TRACK-AFTER"),
        "control: GBR's watchers see what was released"
    );
    s.bridges.shutdown().await;
}

/// Seals a real batch as USA's radar-1, then rewrites a record's label
/// (what an attacker on the path, or a faulty sending bridge, could do).
fn tampered_batch(mesh: &nats_harness::Mesh, seq: u64) -> bytes::Bytes {
    use common::forge;
    let identity = forge::identity(mesh, "USA", "radar-1");
    let sealed = forge::seal(
        &identity,
        "tracks",
        seq,
        &[forge::track_record(
            &label("USA", "SECRET", &["FRA"]),
            "TRACK-TAMPERED",
        )],
    );
    forge::edit_record(&sealed, 0, |h| {
        h.label.as_mut().unwrap().releasable_to = vec!["GBR".into()];
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn label_changed_after_signing_is_rejected_counted_and_dead_lettered() {
    let mut s = scene(THREE_NATIONS).await;
    // Inject straight into USA's release account for GBR, bypassing USA's
    // egress checks: GBR's bridge is the last line and must refuse it.
    let rel = s
        .mesh
        .bridge_config("USA")
        .unwrap()
        .release
        .iter()
        .find(|l| l.partner == "GBR")
        .unwrap()
        .credential
        .clone();
    let identity = common::forge::identity(&s.mesh, "USA", "radar-1");
    common::forge::store_certificate(&s.mesh, "USA", rel.clone(), &identity).await;
    common::forge::publish_raw(
        &s.mesh,
        "USA",
        rel,
        "rel.track.USA.radar-1.tracks",
        "USA.radar-1.tracks.100-100",
        tampered_batch(&s.mesh, 100),
    )
    .await;

    let dead = dead_letter(&s.mesh, "GBR", "dlq.ingress.bad_proof").await;
    assert!(
        contains(&dead.payload, b"TRACK-TAMPERED"),
        "the dead letter keeps the original bytes"
    );
    assert_eq!(
        dead.headers
            .get("Coalition-Reason")
            .map(|v| v.to_string())
            .as_deref(),
        Some("bad_proof")
    );
    assert_eq!(
        dead.headers
            .get("Coalition-Partner")
            .map(|v| v.to_string())
            .as_deref(),
        Some("USA")
    );
    wait_for_metric(&[
        "coalition_bridge_rejected_total",
        "nation=\"GBR\"",
        "reason=\"bad_proof\"",
        "} 1",
    ])
    .await;
    // Nothing was delivered: a valid track published after it is the first delivery.
    publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "TRACK-VALID").await;
    assert_eq!(
        track_id(&next_delivery(&mut s.gbr_tracks).await),
        "TRACK-VALID"
    );
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cut_link_holds_releases_and_delivers_them_when_restored() {
    let mut s = scene(THREE_NATIONS).await;
    let rel_gbr = label("USA", "SECRET", &["GBR"]);
    publish(&s.usa, &rel_gbr, "BEFORE-CUT").await;
    assert_eq!(next_delivery(&mut s.gbr_tracks).await.seq, 1);

    s.mesh.cut_link("USA", "GBR").unwrap();
    within("link down", s.mesh.wait_link("USA", "GBR", false))
        .await
        .unwrap();
    for i in 0..20 {
        publish(&s.usa, &rel_gbr, &format!("DURING-CUT-{i}")).await;
    }
    s.mesh.restore_link("USA", "GBR").unwrap();
    within("link up", s.mesh.wait_link("USA", "GBR", true))
        .await
        .unwrap();
    for want in 2..=21u64 {
        let d = next_delivery(&mut s.gbr_tracks).await;
        assert_eq!(d.seq, want, "in order, none lost");
        assert_eq!(d.gap, None);
    }
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_from_a_producer_is_dead_lettered_at_egress_and_the_feed_goes_on() {
    let mut s = scene(THREE_NATIONS).await;
    let rel_gbr = label("USA", "SECRET", &["GBR"]);
    publish(&s.usa, &rel_gbr, "BEFORE-GARBAGE").await;
    // The producer's own NATS user, publishing bytes that are no batch.
    let cred = s.mesh.clients("USA").unwrap().producers["radar-1"].clone();
    let js = jetstream_as(&s.mesh, "USA", cred).await;
    within("garbage", async {
        js.publish(
            "out.track.radar-1.tracks",
            bytes::Bytes::from_static(b"\xde\xad\xbe\xef"),
        )
        .await
        .unwrap()
        .await
        .unwrap()
    })
    .await;
    // Nor may it publish on a delivery subject: the server refuses.
    if let Ok(ack) = js
        .publish(
            "in.track.USA.radar-1.tracks.v1",
            bytes::Bytes::from_static(b"x"),
        )
        .await
    {
        assert!(
            within("no ack", std::future::IntoFuture::into_future(ack))
                .await
                .is_err(),
            "a producer must not publish delivery subjects"
        );
    }
    publish(&s.usa, &rel_gbr, "AFTER-GARBAGE").await;
    assert_eq!(
        track_id(&next_delivery(&mut s.gbr_tracks).await),
        "BEFORE-GARBAGE"
    );
    assert_eq!(
        track_id(&next_delivery(&mut s.gbr_tracks).await),
        "AFTER-GARBAGE"
    );
    let dead = dead_letter(&s.mesh, "USA", "dlq.egress.malformed_batch").await;
    assert_eq!(dead.payload.as_ref(), b"\xde\xad\xbe\xef");
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pipelined_batch_is_delivered_whole_and_in_order_and_continues_the_sequence() {
    let mut s = scene(THREE_NATIONS).await;
    assert_eq!(
        publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "SINGLE").await,
        1
    );
    let batch: Vec<_> = (0..300)
        .map(|i| {
            // Every third one is NOFORN: the batch mixes releasable and not.
            let l = if i % 3 == 2 {
                label("USA", "SECRET", &["GBR"]).with_caveat("NOFORN")
            } else {
                label("USA", "SECRET", &["GBR"])
            };
            (l, track(&format!("B{i}")))
        })
        .collect();
    let receipts = within(
        "batch",
        s.usa.publish_all(
            "tracks",
            batch
                .iter()
                .map(|(l, t)| coalition_sdk::Record::track(l, t))
                .collect(),
        ),
    )
    .await
    .unwrap();
    let seqs: Vec<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (2..=301).collect::<Vec<_>>());
    assert!(receipts.iter().all(|r| !r.duplicate));
    assert_eq!(track_id(&next_delivery(&mut s.gbr_tracks).await), "SINGLE");
    for i in (0..300).filter(|i| i % 3 != 2) {
        let d = next_delivery(&mut s.gbr_tracks).await;
        assert_eq!(track_id(&d), format!("B{i}"));
        assert_eq!(d.seq, i + 2);
    }
    assert_eq!(
        publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "AFTER").await,
        302
    );
    let d = next_delivery(&mut s.gbr_tracks).await;
    // Seq 301 was NOFORN, so GBR never sees it; it was refused, not lost,
    // so it is no gap: the release chain links 302 to 300.
    assert_eq!((track_id(&d), d.seq, d.gap), ("AFTER", 302, None));
    s.bridges.shutdown().await;
}
