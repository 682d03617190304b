//! The negative control of the no-loss tests: with fsync left at
//! nats-server's default and a crash, messages are lost, and the same kind
//! of ledger the no-loss tests use (`no_loss.rs`: a bitset keyed by
//! (origin, producer, feed, seq)) finds exactly which. If it found nothing,
//! the harness would be too weak to back any "nothing lost" claim.
//!
//! The set-up: USA releases to GBR; USA runs one server with
//! `lazy_fsync = true` (docs/topology.md: its config has no
//! `sync_interval: always`). The link is cut, so what USA's bridge releases
//! waits in USA's RELEASED stream:
//!
//! 1. one track crosses while the link is up (the path works);
//! 2. the link is cut; `HELD` tracks are released and stored;
//! 3. the RELEASED message block sizes are recorded (the "last fsync");
//! 4. `BURST` more tracks are released and stored, all acknowledged;
//! 5. the server is killed with SIGKILL and the machine crash is simulated
//!    ([`common::crash`]): the blocks are cut back to their sizes at step 3
//!    and the stream state file (`index.db`) is removed, as if nothing
//!    written after step 3 had reached the disk, which lazy fsync permits and
//!    `sync_interval: always` does not (every acknowledged write is fsynced
//!    before the acknowledgement). A plain `kill -9` would lose nothing: the
//!    kernel's page cache outlives the process;
//! 6. the server restarts (nats-server 2.15.1 restores the shortened blocks:
//!    RELEASED ends at its step-3 sequence) and the link is restored;
//! 7. `AFTER` more tracks are published; GBR's subscriber receives until
//!    all of those have arrived, then until nothing more comes for
//!    `QUIET`.
//!
//! The test passes only if the ledger finds missing tracks and they are
//! exactly the `BURST` tracks of step 4: the held tracks of step 2 (stored
//! before the snapshot) and the tracks of step 7 all arrive, so the loss is
//! the unsynced tail, not a wrecked stream or a dead mesh.
//!
//! Only RELEASED is cut back. The releasing bridge had acknowledged the
//! burst on OUTBOUND and that acknowledgement is kept: a crash in which the
//! kernel had written the consumer's state but not the RELEASED blocks,
//! which is allowed when nothing is fsynced (write-back order is not program
//! order). Under `sync_interval: always` the release is on disk before
//! OUTBOUND is acknowledged, so that state cannot arise.
//!
//! Limit: this is a simulation of a machine crash (files cut back on a
//! stopped server), not a power cut; it shows that the harness detects
//! loss when loss happens, not how much a real crash would lose.
mod common;

use std::time::{Duration, Instant};

use coalition_topology::{accounts, streams};
use common::crash::{stream_dir, Blocks};
use common::ledger::{feed, Ledger};
use common::*;

/// USA (one server, lazy fsync) releases to GBR.
const TOPOLOGY: &str = r#"
[mesh]
name = "negative-control"
[[nation]]
code = "USA"
lazy_fsync = true
[[nation]]
code = "GBR"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
"#;

/// Tracks released while the link is cut, before the snapshot.
const HELD: u64 = 50;
/// Tracks released after the snapshot: the unsynced tail.
const BURST: u64 = 300;
/// Tracks published after the restart.
const AFTER: u64 = 5;
/// How long the subscriber must stay silent before the ledger is final.
const QUIET: Duration = Duration::from_secs(5);
/// Bound on releasing a batch, and on receiving the tracks of step 7
/// (two shared cores, ML-DSA on every hop).
const SLOW: Duration = Duration::from_secs(180);

/// Receives into `ledger` until `done` holds (failing after `limit`), then
/// until nothing arrives for [`QUIET`].
async fn receive_until(
    ledger: &mut Ledger,
    sub: &mut coalition_sdk::Subscription,
    what: &str,
    limit: Duration,
    done: impl Fn(&Ledger) -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done(ledger) {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        receive_one(ledger, sub, Duration::from_secs(5)).await;
    }
    while receive_one(ledger, sub, QUIET).await {}
}

/// Records the next delivery if one comes within `wait`.
async fn receive_one(
    ledger: &mut Ledger,
    sub: &mut coalition_sdk::Subscription,
    wait: Duration,
) -> bool {
    match tokio::time::timeout(wait, sub.next()).await {
        Ok(Some(Ok(d))) => {
            ledger.record(&d);
            within("ack", d.ack()).await.expect("ack");
            true
        }
        Ok(Some(Err(e))) => panic!("subscription error: {e}"),
        Ok(None) => panic!("subscription ended"),
        Err(_) => false,
    }
}

/// Publishes `n` tracks (ids `<prefix><i>`) in batches; returns their seqs.
async fn publish_n(usa: &coalition_sdk::Producer, prefix: &str, n: u64) -> Vec<u64> {
    let l = label("USA", "SECRET", &["GBR"]);
    let mut seqs = Vec::new();
    while (seqs.len() as u64) < n {
        let batch: Vec<_> = (seqs.len() as u64 + 1..=n.min(seqs.len() as u64 + 50))
            .map(|i| (l.clone(), track(&format!("{prefix}{i}"))))
            .collect();
        let receipts = within(
            "publish a batch",
            usa.publish_all(
                "tracks",
                batch
                    .iter()
                    .map(|(l, t)| coalition_sdk::Record::track(l, t))
                    .collect(),
            ),
        )
        .await
        .expect("published");
        assert!(
            receipts.iter().all(|r| !r.duplicate),
            "a fresh track was taken for a duplicate"
        );
        seqs.extend(receipts.iter().map(|r| r.seq));
    }
    seqs
}

/// A JetStream context in USA's release account for GBR (as USA's bridge).
async fn released_js(mesh: &nats_harness::Mesh) -> async_nats::jetstream::Context {
    let cred = mesh
        .bridge_config("USA")
        .expect("USA bridge config")
        .release
        .iter()
        .find(|r| r.partner == "GBR")
        .expect("USA releases to GBR")
        .credential
        .clone();
    jetstream_as(mesh, "USA", cred).await
}

/// RELEASED's state (messages, last sequence), or `None` while the server
/// cannot answer.
async fn released_state(js: &async_nats::jetstream::Context) -> Option<(u64, u64)> {
    let stream = js.get_stream(streams::RELEASED).await.ok()?;
    let info = stream.get_info().await.ok()?;
    Some((info.state.messages, info.state.last_sequence))
}

/// The highest track seq RELEASED holds (`Coalition-Seq` of its last
/// batch on the feed), or `None` while the server cannot answer.
async fn released_track(js: &async_nats::jetstream::Context) -> Option<u64> {
    let stream = js.get_stream(streams::RELEASED).await.ok()?;
    let last = stream
        .get_last_raw_message_by_subject("rel.track.USA.radar-1.tracks")
        .await
        .ok()?;
    last.headers.get("Coalition-Seq")?.as_str().parse().ok()
}

/// Polls RELEASED until it holds track seq `track` (batches carry many
/// tracks); returns its state (messages, last stream sequence) then.
async fn wait_released(js: &async_nats::jetstream::Context, track: u64) -> (u64, u64) {
    match tokio::time::timeout(SLOW, async {
        loop {
            if released_track(js).await.is_some_and(|t| t >= track) {
                if let Some(state) = released_state(js).await {
                    return state;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    {
        Ok(state) => state,
        Err(_) => panic!("RELEASED did not reach track seq {track} within {SLOW:?}"),
    }
}

/// `1 2 3 7 9 10` as `1-3, 7, 9-10`.
fn ranges(seqs: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let mut j = i;
        while j + 1 < seqs.len() && seqs[j + 1] == seqs[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            seqs[i].to_string()
        } else {
            format!("{}-{}", seqs[i], seqs[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_without_fsync_loses_the_unsynced_releases_and_the_ledger_names_each_one() {
    let t0 = Instant::now();
    let mut s = scene(TOPOLOGY).await;
    let usa_conf = s.mesh.dir().join("nats").join("USA-0.conf");
    let usa_conf = std::fs::read_to_string(&usa_conf).expect("USA-0.conf");
    assert!(
        !usa_conf.contains("sync_interval"),
        "the premise: USA runs with nats-server's default fsync"
    );
    let rel = released_js(&s.mesh).await;
    let mut ledger = Ledger::default();

    // 1. The path works: one track crosses while the link is up.
    let first = publish_n(&s.usa, "NC-FIRST-", 1).await;
    receive_until(
        &mut ledger,
        &mut s.gbr_tracks,
        "the first track reaches GBR",
        SLOW,
        |l| l.has(&feed(), first[0]),
    )
    .await;
    let up = t0.elapsed();

    // 2. Cut the link; held releases accumulate in USA's RELEASED.
    s.mesh.cut_link("USA", "GBR").unwrap();
    within("link down", s.mesh.wait_link("USA", "GBR", false))
        .await
        .unwrap();
    wait_released(&rel, first[0]).await;
    let held = publish_n(&s.usa, "NC-HELD-", HELD).await;
    let (snap_msgs, snap_last) = wait_released(&rel, *held.last().unwrap()).await;

    // 3. The last moment that reached the disk.
    let dir = stream_dir(
        &s.mesh,
        "USA",
        0,
        &accounts::release_to("GBR"),
        streams::RELEASED,
    );
    let snapshot = Blocks::snapshot(&dir);
    assert_eq!(
        released_state(&rel).await,
        Some((snap_msgs, snap_last)),
        "RELEASED changed while its blocks were measured"
    );

    // 4. The burst: released, stored and acknowledged, not yet fsynced
    // (nats-server's default syncs every 2 minutes).
    let burst_started = Instant::now();
    let burst = publish_n(&s.usa, "NC-BURST-", BURST).await;
    let (_, burst_last) = wait_released(&rel, *burst.last().unwrap()).await;
    let burst_took = burst_started.elapsed();
    let ingress = rel
        .get_stream(streams::RELEASED)
        .await
        .expect("RELEASED")
        .consumer_info(streams::ingress_consumer("GBR"))
        .await
        .expect("GBR's ingress consumer");
    // Its `delivered` may already be past the snapshot: a pull request GBR
    // left before the cut is still served, into the void, and those messages
    // wait unacknowledged for redelivery. None may have been acknowledged.
    assert!(
        ingress.ack_floor.stream_sequence <= snap_last,
        "the cut did not hold: GBR acknowledged RELEASED seq {} past the snapshot's {snap_last}",
        ingress.ack_floor.stream_sequence
    );

    // 5. Machine crash: SIGKILL, then lose what was not on disk.
    s.mesh.kill_server("USA", 0).unwrap();
    let lost = snapshot.lose_unsynced_writes();
    assert!(
        lost.bytes > 0,
        "the burst wrote nothing to RELEASED's blocks"
    );

    // 6. Restart; RELEASED ends where the snapshot did.
    let restart_started = Instant::now();
    within("USA restarts", s.mesh.restart_server("USA", 0))
        .await
        .unwrap();
    let after_crash = within("RELEASED readable after the restart", async {
        loop {
            if let Some(state) = released_state(&rel).await {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(
        after_crash,
        (snap_msgs, snap_last),
        "after the simulated crash RELEASED should hold exactly what it held at the snapshot \
         (messages, last seq); it held ({snap_msgs}, {burst_last}) before the crash"
    );
    s.mesh.restore_link("USA", "GBR").unwrap();
    within("link up", s.mesh.wait_link("USA", "GBR", true))
        .await
        .unwrap();
    let restarted = restart_started.elapsed();

    // 7. The mesh still works: tracks published now arrive.
    let after = publish_n(&s.usa, "NC-AFTER-", AFTER).await;
    let collect_started = Instant::now();
    let last_after = *after.last().unwrap();
    receive_until(
        &mut ledger,
        &mut s.gbr_tracks,
        "the tracks published after the restart reach GBR",
        SLOW,
        |l| l.has(&feed(), last_after),
    )
    .await;
    let collected = collect_started.elapsed();

    let published: Vec<u64> = [&first, &held, &burst, &after]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    let missing = ledger.missing(&feed(), published.iter().copied());
    eprintln!(
        "negative control: {} tracks published (1 before the cut, {HELD} held, {BURST} in the \
         burst, {AFTER} after the restart); crash cut {} bytes from RELEASED (blocks at snapshot: \
         {} bytes; {} blocks deleted; index.db removed: {}); RELEASED last seq {burst_last} -> {}",
        published.len(),
        lost.bytes,
        snapshot.total(),
        lost.blocks_deleted,
        lost.state_removed,
        after_crash.1
    );
    eprintln!(
        "negative control: {} missing: {} ({:?})",
        missing.len(),
        ranges(&missing),
        missing
    );
    eprintln!(
        "negative control: (seq, gap) the SDK reported: {:?}; duplicates {}, out of order {}",
        ledger.gaps, ledger.duplicates, ledger.out_of_order
    );
    eprintln!(
        "negative control: timings: mesh up and first track {up:?}, burst released in \
         {burst_took:?}, restart and link {restarted:?}, collection {collected:?}, total {:?}",
        t0.elapsed()
    );
    assert!(
        !missing.is_empty(),
        "the ledger found no missing track after a crash that cut {} bytes of acknowledged \
         releases: the harness cannot detect loss and is too weak",
        lost.bytes
    );
    assert_eq!(
        missing,
        burst,
        "the loss should be exactly the burst released after the snapshot ({}), found {}",
        ranges(&burst),
        ranges(&missing)
    );
    assert_eq!(ledger.duplicates, 0, "duplicates delivered");
    assert_eq!(ledger.out_of_order, 0, "deliveries out of order");
    // The mesh detects it too: the receiving bridge finds USA's release
    // chain broken, and the first track after the loss carries exactly the
    // lost range to the subscriber (docs/reliability.md, continuity).
    let (first_lost, last_lost) = (burst[0], burst[burst.len() - 1]);
    assert_eq!(
        ledger.gaps,
        [(last_lost + 1, (first_lost, last_lost))],
        "the SDK must report the loss once, on the first track after it, and nothing else"
    );
    s.bridges.shutdown().await;
}
