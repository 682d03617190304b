//! Certificates travel by reference: a batch naming a certificate not on
//! any CONTROL stream yet is held, then admitted when the certificate
//! arrives, or dead-lettered as `unknown_certificate` once the hold is
//! over, while other producers' batches flow.
mod common;

use std::time::Duration;

use coalition_core::DenyReason;
use coalition_schemas::v1::AuditDecision;
use coalition_topology::{streams, Kind};
use common::attack::*;
use common::forge;
use common::policy::until_audited;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_naming_a_certificate_not_on_control_yet_is_held_then_admitted_when_it_arrives() {
    // A hold far longer than the test watches, so a slow machine cannot
    // turn the hold into a refusal (the default is 10 s).
    let mut s = scene_with_hold(USA_TO_GBR_FEEDS, 40_000).await;
    let radar_3 = forge::identity(&s.mesh, "USA", "radar-3");
    let door = Door::egress(&s.mesh, "radar-3", "tracks");
    let dead_before = dead_letters(&s.mesh, "USA").await;

    // A valid batch of radar-3, whose SDK never connected: its certificate
    // is on no CONTROL stream.
    let held = forge::seal(&radar_3, "tracks", 1, &drafts("HELD", 1, &to_gbr()));
    let (cred, subject) = (door.cred.clone(), door.subject.as_str());
    let seq = forge::publish_stored(&s.mesh, "USA", cred, subject, "held", held).await;
    let outbound = home_stream(&s.mesh, "USA", streams::outbound(Kind::Track)).await;
    let consumer = || async {
        within(
            "egress consumer info",
            outbound.consumer_info(streams::EGRESS_CONSUMER),
        )
        .await
        .expect("egress consumer")
    };
    within("USA's egress reads the batch", async {
        while consumer().await.delivered.stream_sequence < seq {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // Watching for something that must NOT happen, for NOTHING_FOR: no
    // delivery in GBR, no dead letter in USA.
    let (delivered, most_dead) = tokio::join!(
        tokio::time::timeout(NOTHING_FOR, s.gbr_tracks.next()),
        dead_letters_while_watching(&s.mesh, "USA"),
    );
    assert!(
        delivered.is_err(),
        "delivered while its certificate is unknown: {delivered:?}"
    );
    assert_eq!(
        most_dead, dead_before,
        "nothing is dead-lettered while it is held"
    );
    assert!(
        consumer().await.ack_floor.stream_sequence < seq,
        "held: read, not acknowledged"
    );

    // The producer's certificate arrives on HOME's CONTROL (stored with the
    // producer's own credential, as its SDK would on connect).
    forge::store_certificate(&s.mesh, "USA", door.cred.clone(), &radar_3).await;
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!(
        (d.producer_id.as_str(), track_id(&d), d.seq),
        ("radar-3", "HELD-0", 1),
        "admitted once its certificate is known"
    );
    until_audited(&s.mesh, "USA", "USA audits the release", |r| {
        r.decision == AuditDecision::Release as i32
            && r.msg_id == "USA.radar-3.tracks.1"
            && r.source_stream_seq == seq
    })
    .await;
    legitimate(&mut s, "LEGIT-1", 1).await;
    assert_eq!(
        dead_letters(&s.mesh, "USA").await,
        dead_before,
        "nothing was dead-lettered"
    );
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_that_never_arrives_is_unknown_certificate_after_the_hold_and_other_producers_flow(
) {
    let hold = Duration::from_secs(4);
    let mut s = scene_with_hold(USA_TO_GBR_FEEDS, hold.as_millis() as u64).await;
    let radar_3 = forge::identity(&s.mesh, "USA", "radar-3");
    let door = Door::egress(&s.mesh, "radar-3", "tracks");
    let never = forge::seal(&radar_3, "tracks", 1, &drafts("NEVER", 1, &to_gbr()));
    let written = write(&s.mesh, &door, never, DenyReason::UnknownCertificate).await;
    // Another producer's track, published right after it: it waits behind
    // the held batch for at most the hold, then goes.
    legitimate(&mut s, "LEGIT-1", 1).await;
    written
        .refused(&s.mesh, &ids("radar-3", "tracks", [1]))
        .await;

    // The cool-down: for 60 s after that refusal, radar-3's batches naming
    // an unknown certificate are refused at once, not held again, so a
    // producer cannot stall its nation's egress hold after hold. Held, the
    // next batch and the track behind it would wait the whole hold (the
    // bridge times it from when it first holds the batch, after it was
    // written), so a delivery sooner than the hold shows it was not held.
    let started = tokio::time::Instant::now();
    let again = forge::seal(&radar_3, "tracks", 2, &drafts("AGAIN", 1, &to_gbr()));
    let written = write(&s.mesh, &door, again, DenyReason::UnknownCertificate).await;
    legitimate(&mut s, "LEGIT-2", 2).await;
    let waited = started.elapsed();
    assert!(
        waited < hold,
        "refused at once in the cool-down, not held: the next track waited {waited:?}"
    );
    written
        .refused(&s.mesh, &ids("radar-3", "tracks", [2]))
        .await;
    legitimate(&mut s, "LEGIT-3", 3).await;
    s.bridges.shutdown().await;
}
