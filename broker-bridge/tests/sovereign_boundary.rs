//! Acceptance tests of the foundation, on a real three-nation mesh:
//! releasability by label, isolation of a third nation, NOFORN, tamper
//! detection with dead-lettering, and lineage.
mod common;

use std::time::Duration;

use coalition_sdk::{Payload, Topic};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn track_released_to_gbr_reaches_gbr_with_lineage_and_nothing_of_it_reaches_fra() {
    let mesh = mesh(THREE_NATIONS).await;
    let bridges = bridges(&mesh).await;
    let fra = watch_everything(&mesh, "FRA").await;
    let gbr_sub = subscriber(&mesh, "GBR").await;
    let mut gbr_tracks = within("subscribe", gbr_sub.subscribe(Topic::tracks()))
        .await
        .unwrap();
    let fra_sub = subscriber(&mesh, "FRA").await;
    let mut fra_tracks = within("subscribe", fra_sub.subscribe(Topic::tracks()))
        .await
        .unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;

    let for_gbr = label("USA", "SECRET", &["GBR"]);
    let receipt = within(
        "publish",
        usa.publish_track("tracks", &for_gbr, &track("TRACK-GBR-ONLY")),
    )
    .await
    .unwrap();
    assert_eq!(receipt.seq, 1);
    // A positive control: this one may go to FRA, so FRA's watchers must see it.
    let for_both = label("USA", "SECRET", &["GBR", "FRA"]);
    within(
        "publish",
        usa.publish_track("tracks", &for_both, &track("TRACK-FOR-BOTH")),
    )
    .await
    .unwrap();

    let first = within("GBR delivery", gbr_tracks.next())
        .await
        .expect("stream open")
        .expect("verified");
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
    let Payload::Track(t) = &first.payload else {
        panic!("expected a track")
    };
    assert_eq!(t.track_id, "TRACK-GBR-ONLY");
    assert_eq!(first.lineage.released_by.as_deref(), Some("USA"));
    assert_eq!(first.lineage.admitted_by.as_deref(), Some("GBR"));
    assert_eq!(first.lineage.decision.as_deref(), Some("admit"));
    assert!(first.lineage.key_id.as_ref().is_some_and(|k| k.len() == 32));
    first.ack().await.unwrap();

    let fra_first = within("FRA delivery", fra_tracks.next())
        .await
        .expect("stream open")
        .expect("verified");
    let Payload::Track(t) = &fra_first.payload else {
        panic!("expected a track")
    };
    assert_eq!(
        t.track_id, "TRACK-FOR-BOTH",
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
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noforn_track_never_leaves_usa() {
    let mesh = mesh(THREE_NATIONS).await;
    let bridges = bridges(&mesh).await;
    let gbr = watch_everything(&mesh, "GBR").await;
    let fra = watch_everything(&mesh, "FRA").await;
    let sub = subscriber(&mesh, "GBR").await;
    let mut tracks = within("subscribe", sub.subscribe(Topic::tracks()))
        .await
        .unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;

    let noforn = label("USA", "UNCLASSIFIED", &["GBR", "FRA"]).with_caveat("NOFORN");
    within(
        "publish",
        usa.publish_track("tracks", &noforn, &track("TRACK-NOFORN")),
    )
    .await
    .unwrap();
    // The bridge decides in feed order, so once seq 2 arrives, seq 1 was decided.
    within(
        "publish",
        usa.publish_track(
            "tracks",
            &label("USA", "SECRET", &["GBR"]),
            &track("TRACK-AFTER"),
        ),
    )
    .await
    .unwrap();
    let d = within("delivery", tracks.next()).await.unwrap().unwrap();
    assert_eq!(d.seq, 2, "the NOFORN track (seq 1) must not be delivered");
    assert_eq!(d.gap, None);

    assert!(!gbr.saw(b"TRACK-NOFORN"), "NOFORN reached a GBR account");
    assert!(!fra.saw(b"TRACK-NOFORN"), "NOFORN reached an FRA account");
    assert!(
        gbr.saw(b"TRACK-AFTER"),
        "control: GBR's watchers see what was released"
    );
    let metrics = coalition_bridge::telemetry::render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("coalition_bridge_denied_total")
                && l.contains("nation=\"USA\"")
                && l.contains("partner=\"GBR\"")
                && l.contains("reason=\"caveat_forbids_release\"")),
        "denial not counted:\n{metrics}"
    );
    bridges.shutdown().await;
}

/// Seals a real envelope as USA's radar-1, then rewrites its label (what an
/// attacker on the path, or a faulty sending bridge, could do).
fn tampered_envelope(mesh: &nats_harness::Mesh, seq: u64) -> bytes::Bytes {
    use coalition_core::envelope::{seal, MessageType, SealRequest};
    use coalition_schemas::v1;
    use prost::Message;
    let root = coalition_sdk::load_trust_anchor(&mesh.root_public_key_path("USA")).unwrap();
    let (key, cert) = mesh.producer_key_paths("USA", "radar-1");
    let identity = coalition_sdk::load_producer_identity(&key, &cert, "USA", &root).unwrap();
    let signed_for = label("USA", "SECRET", &["FRA"]);
    let sealed = seal(
        &identity,
        &SealRequest {
            message_type: MessageType::Track,
            schema_version: 1,
            label: &signed_for,
            feed: "tracks",
            seq,
            corrects_seq: None,
            payload: track("TRACK-TAMPERED").encode_to_vec().into(),
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
        },
    )
    .unwrap();
    let mut env = v1::Envelope::decode(sealed.as_ref()).unwrap();
    let mut header = v1::SignedHeader::decode(env.signed_header.as_ref()).unwrap();
    header.label.as_mut().unwrap().releasable_to = vec!["GBR".into()];
    env.signed_header = header.encode_to_vec().into();
    env.encode_to_vec().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn label_changed_after_signing_is_rejected_counted_and_dead_lettered() {
    use async_nats::jetstream;
    let mesh = mesh(THREE_NATIONS).await;
    let bridges = bridges(&mesh).await;
    let sub = subscriber(&mesh, "GBR").await;
    let mut tracks = within("subscribe", sub.subscribe(Topic::tracks()))
        .await
        .unwrap();

    // Inject straight into USA's release account for GBR, bypassing USA's
    // egress checks: GBR's bridge is the last line and must refuse it.
    let rel = mesh
        .bridge_config("USA")
        .unwrap()
        .release
        .iter()
        .find(|l| l.partner == "GBR")
        .unwrap()
        .credential
        .clone();
    let client = async_nats::ConnectOptions::with_user_and_password(rel.user, rel.password)
        .connect(mesh.client_urls("USA"))
        .await
        .unwrap();
    let js = jetstream::new(client);
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert("Nats-Msg-Id", "USA.radar-1.tracks.100");
    within("inject", async {
        js.publish_with_headers(
            "rel.track.USA.radar-1.tracks",
            hdrs,
            tampered_envelope(&mesh, 100),
        )
        .await
        .unwrap()
        .await
        .unwrap()
    })
    .await;

    // It lands in GBR's dead-letter stream with its reason.
    let home = mesh.bridge_config("GBR").unwrap().home.clone();
    let gbr = async_nats::ConnectOptions::with_user_and_password(home.user, home.password)
        .connect(mesh.client_urls("GBR"))
        .await
        .unwrap();
    let gbr_js = jetstream::new(gbr);
    let dlq = gbr_js.get_stream("DEADLETTER").await.unwrap();
    let dead = within("dead letter", async {
        loop {
            match dlq
                .get_last_raw_message_by_subject("dlq.ingress.bad_signature")
                .await
            {
                Ok(m) => break m,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert!(
        contains(&dead.payload, b"TRACK-TAMPERED"),
        "the dead letter keeps the original bytes"
    );
    let reason = dead.headers.get("Coalition-Reason").map(|v| v.to_string());
    assert_eq!(reason.as_deref(), Some("bad_signature"));
    assert_eq!(
        dead.headers
            .get("Coalition-Partner")
            .map(|v| v.to_string())
            .as_deref(),
        Some("USA")
    );
    let metrics = coalition_bridge::telemetry::render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("coalition_bridge_rejected_total")
                && l.contains("nation=\"GBR\"")
                && l.contains("reason=\"bad_signature\"")
                && l.ends_with(" 1")),
        "rejection not counted once:\n{metrics}"
    );
    // Nothing was delivered: a valid track published after it is the first delivery.
    let usa = producer(&mesh, "USA", "radar-1").await;
    within(
        "publish",
        usa.publish_track(
            "tracks",
            &label("USA", "SECRET", &["GBR"]),
            &track("TRACK-VALID"),
        ),
    )
    .await
    .unwrap();
    let d = within("delivery", tracks.next()).await.unwrap().unwrap();
    let Payload::Track(t) = &d.payload else {
        panic!("expected a track")
    };
    assert_eq!(t.track_id, "TRACK-VALID");
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cut_link_holds_releases_and_delivers_them_when_restored() {
    let mesh = mesh(THREE_NATIONS).await;
    let bridges = bridges(&mesh).await;
    let sub = subscriber(&mesh, "GBR").await;
    let mut tracks = within("subscribe", sub.subscribe(Topic::tracks()))
        .await
        .unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;
    let rel_gbr = label("USA", "SECRET", &["GBR"]);
    within(
        "publish",
        usa.publish_track("tracks", &rel_gbr, &track("BEFORE-CUT")),
    )
    .await
    .unwrap();
    assert_eq!(
        within("delivery", tracks.next())
            .await
            .unwrap()
            .unwrap()
            .seq,
        1
    );

    mesh.cut_link("USA", "GBR").unwrap();
    within("link down", mesh.wait_link("USA", "GBR", false))
        .await
        .unwrap();
    for i in 0..20 {
        within(
            "publish",
            usa.publish_track("tracks", &rel_gbr, &track(&format!("DURING-CUT-{i}"))),
        )
        .await
        .unwrap();
    }
    mesh.restore_link("USA", "GBR").unwrap();
    within("link up", mesh.wait_link("USA", "GBR", true))
        .await
        .unwrap();
    for want in 2..=21u64 {
        let d = within("delivery after restore", tracks.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.seq, want, "in order, none lost");
        assert_eq!(d.gap, None);
        d.ack().await.unwrap();
    }
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_from_a_producer_is_dead_lettered_at_egress_and_the_feed_goes_on() {
    use async_nats::jetstream;
    let mesh = mesh(THREE_NATIONS).await;
    let bridges = bridges(&mesh).await;
    let sub = subscriber(&mesh, "GBR").await;
    let mut tracks = within("subscribe", sub.subscribe(Topic::tracks()))
        .await
        .unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;
    let rel_gbr = label("USA", "SECRET", &["GBR"]);
    within(
        "publish",
        usa.publish_track("tracks", &rel_gbr, &track("BEFORE-GARBAGE")),
    )
    .await
    .unwrap();
    // The producer's own NATS user, publishing bytes that are no envelope.
    let cred = mesh.clients("USA").unwrap().producers["radar-1"].clone();
    let raw = async_nats::ConnectOptions::with_user_and_password(cred.user, cred.password)
        .connect(mesh.client_urls("USA"))
        .await
        .unwrap();
    let js = jetstream::new(raw);
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
            "in.track.USA.radar-1.tracks",
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
    within(
        "publish",
        usa.publish_track("tracks", &rel_gbr, &track("AFTER-GARBAGE")),
    )
    .await
    .unwrap();
    for want in ["BEFORE-GARBAGE", "AFTER-GARBAGE"] {
        let d = within("delivery", tracks.next()).await.unwrap().unwrap();
        let Payload::Track(t) = &d.payload else {
            panic!("expected a track")
        };
        assert_eq!(t.track_id, want);
        d.ack().await.unwrap();
    }
    let home = mesh.bridge_config("USA").unwrap().home.clone();
    let usa_js = jetstream::new(
        async_nats::ConnectOptions::with_user_and_password(home.user, home.password)
            .connect(mesh.client_urls("USA"))
            .await
            .unwrap(),
    );
    let dead = usa_js
        .get_stream("DEADLETTER")
        .await
        .unwrap()
        .get_last_raw_message_by_subject("dlq.egress.malformed_envelope")
        .await
        .unwrap();
    assert_eq!(dead.payload.as_ref(), b"\xde\xad\xbe\xef");
    bridges.shutdown().await;
}
