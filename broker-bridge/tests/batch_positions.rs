//! Feed positions are enforced, not trusted: a replay after the duplicate
//! window or a restart, a rollback (new content under used seqs) and a
//! jump far beyond the forward window, each by a hostile producer and by a
//! hostile sending bridge, are refused with their own reason,
//! dead-lettered, audited and counted (`common::attack`), and the feed
//! goes on. The pure rule is `core/src/feed_position.rs`.
mod common;

use coalition_core::DenyReason;
use coalition_topology::{streams, Kind};
use common::attack::*;
use common::forge;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_released_batch_replayed_after_the_duplicate_window_or_a_restart_is_feed_replay() {
    let mut s = scene(USA_TO_GBR_FEEDS).await;
    let egress = Door::egress(&s.mesh, "radar-1", "tracks");
    let ingress = Door::ingress(&s.mesh, "GBR", "radar-1", "tracks");
    let home = s.mesh.bridge_config("USA").expect("config").home.clone();
    let one = ids("radar-1", "tracks", [1]);
    let two = ids("radar-1", "tracks", [2]);

    legitimate(&mut s, "LEGIT-1", 1).await;
    // The exact bytes of seq 1 as the producer stored them, and as USA's
    // bridge released them to GBR (the test reads them; the attackers kept
    // what they wrote or saw).
    let outbound = streams::outbound(Kind::Track);
    let released = streams::released(Kind::Track);
    let out_1 = stored_bytes(&s.mesh, home.clone(), outbound, &egress.subject).await;
    let rel_1 = stored_bytes(&s.mesh, ingress.cred.clone(), released, &ingress.subject).await;

    // "After the duplicate window": the 2-minute window's only effect is
    // that JetStream drops a message whose Nats-Msg-Id it stored within
    // it. Once it has passed, the same bytes are stored again as a new
    // message, exactly as they are now under a Nats-Msg-Id never used:
    // so a new id now is that replay, without waiting two minutes.
    let replay = DenyReason::FeedReplay;
    refused(&s.mesh, &egress, out_1.clone(), replay, &one).await;
    refused(&s.mesh, &ingress, rel_1, DenyReason::FeedReplay, &one).await;
    legitimate(&mut s, "LEGIT-2", 2).await;

    // After a restart of both bridges the positions come from POSITIONS:
    // seq 2's batch, the last accepted, and seq 1's are replays still.
    let out_2 = stored_bytes(&s.mesh, home, outbound, &egress.subject).await;
    let rel_2 = stored_bytes(&s.mesh, ingress.cred.clone(), released, &ingress.subject).await;
    let Scene {
        mesh,
        bridges: before,
        gbr,
        gbr_tracks,
        usa,
    } = s;
    before.shutdown().await;
    let mut s = Scene {
        bridges: bridges(&mesh).await,
        mesh,
        gbr,
        gbr_tracks,
        usa,
    };
    refused(&s.mesh, &egress, out_2, DenyReason::FeedReplay, &two).await;
    refused(&s.mesh, &egress, out_1, DenyReason::FeedReplay, &one).await;
    refused(&s.mesh, &ingress, rel_2, DenyReason::FeedReplay, &two).await;

    legitimate(&mut s, "LEGIT-3", 3).await;
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_content_signed_under_used_seqs_is_feed_rollback_at_egress_and_ingress() {
    let mut s = scene(USA_TO_GBR_FEEDS).await;
    let radar_1 = forge::identity(&s.mesh, "USA", "radar-1");
    legitimate(&mut s, "LEGIT-1", 1).await;
    legitimate(&mut s, "LEGIT-2", 2).await;

    // The producer's own key signs new content for seqs 2..=4: it starts
    // at the last accepted seq and ends above it.
    let egress = Door::egress(&s.mesh, "radar-1", "tracks");
    let rollback = forge::seal(&radar_1, "tracks", 2, &drafts("ROLLBACK", 3, &to_gbr()));
    let used = ids("radar-1", "tracks", 2..=4);
    let rollback_by = DenyReason::FeedRollback;
    refused(&s.mesh, &egress, rollback, rollback_by, &used).await;
    // New content for seqs 1..=2, all at or below it: old seqs signed again.
    let resigned = forge::seal(&radar_1, "tracks", 1, &drafts("RESIGNED", 2, &to_gbr()));
    let old = ids("radar-1", "tracks", 1..=2);
    refused(&s.mesh, &egress, resigned, DenyReason::FeedReplay, &old).await;
    legitimate(&mut s, "LEGIT-3", 3).await;

    // After that legitimate release (GBR's ingress accepted seq 3), a
    // hostile USA bridge writes new content signed for seqs 3..=5 straight
    // into the release account.
    let ingress = Door::ingress(&s.mesh, "GBR", "radar-1", "tracks");
    forge::store_certificate(&s.mesh, "USA", ingress.cred.clone(), &radar_1).await;
    let rollback = forge::seal(&radar_1, "tracks", 3, &drafts("ROLLIN", 3, &to_gbr()));
    let used = ids("radar-1", "tracks", 3..=5);
    refused(&s.mesh, &ingress, rollback, rollback_by, &used).await;

    legitimate(&mut s, "LEGIT-4", 4).await;
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seq_far_beyond_the_forward_window_is_feed_jump_and_the_feed_goes_on_for_every_partner() {
    let mesh = mesh(USA_TO_GBR_AND_FRA).await;
    let running = bridges(&mesh).await;
    let (gbr, fra) = (
        subscriber(&mesh, "GBR").await,
        subscriber(&mesh, "FRA").await,
    );
    let mut gbr_tracks = within("subscribe", gbr.subscribe(coalition_sdk::Topic::tracks()))
        .await
        .expect("subscribes");
    let mut fra_tracks = within("subscribe", fra.subscribe(coalition_sdk::Topic::tracks()))
        .await
        .expect("subscribes");
    let usa = producer(&mesh, "USA", "radar-1").await;
    let radar_1 = forge::identity(&mesh, "USA", "radar-1");
    let to_both = label("USA", "SECRET", &["GBR", "FRA"]);

    assert_eq!(publish(&usa, &to_both, "LEGIT-1").await, 1);
    // Seq 1 + 10^6, sealed now (within a second or so of seq 1): the window
    // allows 100,000 seqs plus 50,000 per second between the two seals.
    let jump = 1 + 1_000_000;
    let far = forge::seal(&radar_1, "tracks", jump, &drafts("JUMP", 1, &to_both));
    let egress = Door::egress(&mesh, "radar-1", "tracks");
    let far_seq = ids("radar-1", "tracks", [jump]);
    refused(&mesh, &egress, far.clone(), DenyReason::FeedJump, &far_seq).await;
    next_is(&mut gbr_tracks, "LEGIT-1", 1).await;
    next_is(&mut fra_tracks, "LEGIT-1", 1).await;

    // And written straight into USA's release account for GBR, once GBR's
    // ingress holds seq 1.
    let ingress = Door::ingress(&mesh, "GBR", "radar-1", "tracks");
    forge::store_certificate(&mesh, "USA", ingress.cred.clone(), &radar_1).await;
    refused(&mesh, &ingress, far, DenyReason::FeedJump, &far_seq).await;

    // Neither moved the feed: the next legitimate records reach both.
    for (id, seq) in [("LEGIT-2", 2), ("LEGIT-3", 3)] {
        assert_eq!(publish(&usa, &to_both, id).await, seq);
        next_is(&mut gbr_tracks, id, seq).await;
        next_is(&mut fra_tracks, id, seq).await;
    }
    running.shutdown().await;
}
