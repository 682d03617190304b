//! Schema migrations with traffic flowing, on real NATS and real clocks: a
//! window that opens and closes while a producer publishes, and a rollback
//! in the middle of a window. Two GBR subscribers, one per version, record
//! every delivery; the assertions are per message, by the instant GBR's
//! bridge admitted it (`Lineage::admitted_at_ms`).
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use coalition_core::envelope::MessageType;
use coalition_core::schema::{sign_schema_policy, Migration, SchemaPolicy, SchemaRule};
use coalition_sdk::Topic;
use common::*;

fn policy(version: u32, migration: Option<Migration>) -> SchemaPolicy {
    SchemaPolicy {
        nation: "USA".into(),
        version,
        rules: vec![
            SchemaRule {
                message_type: MessageType::Track,
                current_version: 1,
                migration,
            },
            SchemaRule::v1_only(MessageType::Alert),
        ],
        issued_at_ms: now_ms(),
    }
}

async fn publish_policy(mesh: &nats_harness::Mesh, p: &SchemaPolicy) {
    let signed = sign_schema_policy(p, &root_key(mesh, "USA")).expect("signs");
    control(mesh, "USA")
        .await
        .publish_schema_policy("USA", p.version, signed)
        .await
        .expect("published");
    for nation in ["USA", "GBR"] {
        let series = format!(
            r#"coalition_bridge_control_applied_total{{nation="{nation}",kind="schema_policy"}}"#
        );
        until(
            &format!("{nation} applies schema policy v{}", p.version),
            || metric(&series) >= f64::from(p.version),
        )
        .await;
    }
}

/// Per seq: the version it was produced in.
type Produced = BTreeMap<u64, u32>;

/// What one subscriber got: seq -> (admitted at, transcoded from).
#[derive(Default, Debug)]
struct Got {
    by_seq: BTreeMap<u64, (i64, Option<u32>)>,
    gaps: Vec<(u64, (u64, u64))>,
}

/// Receives on `sub` until nothing new arrives for `quiet`.
async fn drain(sub: &mut coalition_sdk::Subscription, got: &mut Got, quiet: Duration) {
    while let Ok(Some(d)) = tokio::time::timeout(quiet, sub.next()).await {
        let d = d.expect("delivery verifies");
        let _ = d.ack().await;
        assert!(
            got.by_seq
                .insert(
                    d.seq,
                    (
                        d.lineage.admitted_at_ms.expect("admitted at"),
                        d.lineage.transcoded_from
                    )
                )
                .is_none(),
            "seq {} delivered twice",
            d.seq
        );
        if let Some(g) = d.gap {
            got.gaps.push((d.seq, g));
        }
    }
}

/// Publishes one track every `every` until `until`, in v1 while
/// `v2_from` has not passed, then in v2.
async fn produce(
    usa: &coalition_sdk::Producer,
    until_ms: i64,
    v2_from_ms: i64,
    every: Duration,
) -> Produced {
    let secret = label("USA", "SECRET", &["GBR"]);
    let mut produced = Produced::new();
    while now_ms() < until_ms {
        let (seq, version) = if now_ms() < v2_from_ms {
            (publish(usa, &secret, "T").await, 1)
        } else {
            let t = coalition_sdk::TrackV2 {
                track_id: "T".into(),
                ..Default::default()
            };
            let r = within(
                "publish v2",
                usa.publish("tracks", coalition_sdk::Record::track_v2(&secret, &t)),
            )
            .await
            .expect("published");
            (r.seq, 2)
        };
        produced.insert(seq, version);
        tokio::time::sleep(every).await;
    }
    produced
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migration_runs_from_v1_only_through_the_window_to_v2_only_while_tracks_flow() {
    let mut s = scene(USA_TO_GBR).await;
    let mut v2 = s
        .gbr
        .subscribe(Topic::tracks().version(2))
        .await
        .expect("subscribes");
    // The window opens in 4 s and lasts 8 s; the producer moves to v2 in
    // its middle. The policy is published before the window, as it should be.
    let start = now_ms() + 4_000;
    let end = start + 8_000;
    publish_policy(
        &s.mesh,
        &policy(
            1,
            Some(Migration {
                from_version: 1,
                to_version: 2,
                window_start_ms: start,
                window_end_ms: end,
            }),
        ),
    )
    .await;
    let started = Instant::now();
    let produced = produce(
        &s.usa,
        end + 3_000,
        start + 4_000,
        Duration::from_millis(40),
    )
    .await;
    let (mut got_v1, mut got_v2) = (Got::default(), Got::default());
    drain(&mut s.gbr_tracks, &mut got_v1, Duration::from_secs(5)).await;
    drain(&mut v2, &mut got_v2, Duration::from_secs(5)).await;
    eprintln!(
        "migration: {} tracks in {:?}; v1 subscriber got {}, v2 subscriber got {}",
        produced.len(),
        started.elapsed(),
        got_v1.by_seq.len(),
        got_v2.by_seq.len()
    );
    assert!(produced.values().any(|v| *v == 1) && produced.values().any(|v| *v == 2));
    for (seq, version) in &produced {
        // Nothing lost: each track reaches the subscriber of its own version.
        let own = if *version == 1 { &got_v1 } else { &got_v2 };
        let (admitted, transcoded) = own
            .by_seq
            .get(seq)
            .copied()
            .unwrap_or_else(|| panic!("seq {seq} (v{version}) lost"));
        assert_eq!(transcoded, None);
        // In the window, the other subscriber gets it too, transcoded;
        // outside it, never.
        let other = if *version == 1 { &got_v2 } else { &got_v1 };
        let in_window = (start..end).contains(&admitted);
        match other.by_seq.get(seq) {
            Some((_, from)) => {
                assert!(
                    in_window,
                    "seq {seq} admitted at {admitted} served outside [{start}, {end})"
                );
                assert_eq!(*from, Some(*version));
            }
            None => assert!(
                !in_window,
                "seq {seq} admitted in the window but not served in both"
            ),
        }
    }
    assert_eq!(got_v1.gaps, [], "v1 subscriber saw gaps");
    assert_eq!(got_v2.gaps, [], "v2 subscriber saw gaps");
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_in_the_middle_of_the_window_stops_the_v2_copies_and_loses_nothing() {
    let mut s = scene(USA_TO_GBR).await;
    let mut v2 = s
        .gbr
        .subscribe(Topic::tracks().version(2))
        .await
        .expect("subscribes");
    let window = Migration {
        from_version: 1,
        to_version: 2,
        window_start_ms: now_ms(),
        window_end_ms: now_ms() + 3_600_000,
    };
    publish_policy(&s.mesh, &policy(1, Some(window))).await;
    // v1 tracks flow; half way through, USA rolls the migration back.
    let producing = produce(
        &s.usa,
        now_ms() + 6_000,
        i64::MAX,
        Duration::from_millis(40),
    );
    let rollback = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        publish_policy(&s.mesh, &policy(2, None)).await;
        now_ms()
    };
    let (produced, rolled_back_by) = futures::future::join(producing, rollback).await;
    let (mut got_v1, mut got_v2) = (Got::default(), Got::default());
    drain(&mut s.gbr_tracks, &mut got_v1, Duration::from_secs(5)).await;
    drain(&mut v2, &mut got_v2, Duration::from_secs(5)).await;
    eprintln!(
        "rollback: {} v1 tracks; v2 copies {} (all admitted before {rolled_back_by})",
        produced.len(),
        got_v2.by_seq.len()
    );
    let lost: Vec<_> = produced
        .keys()
        .filter(|s| !got_v1.by_seq.contains_key(s))
        .collect();
    assert!(lost.is_empty(), "v1 tracks lost: {lost:?}");
    assert!(
        !got_v2.by_seq.is_empty(),
        "before the rollback v2 copies are served"
    );
    let last_copy = got_v2.by_seq.values().map(|(at, _)| *at).max().unwrap_or(0);
    assert!(
        last_copy <= rolled_back_by,
        "a v2 copy admitted at {last_copy}, after the rollback was applied by {rolled_back_by}"
    );
    let after: Vec<_> = got_v1
        .by_seq
        .iter()
        .filter(|(_, (at, _))| *at > rolled_back_by)
        .collect();
    assert!(!after.is_empty(), "tracks flowed after the rollback");
    assert_eq!(got_v1.gaps, [], "v1 subscriber saw gaps");
    assert_eq!(got_v2.gaps, [], "v2 subscriber saw gaps");
    s.bridges.shutdown().await;
}
