//! Signed schema policies on a real mesh: a policy whose window has ended
//! retires v1, and a v1 track is then refused at egress, dead-lettered,
//! counted and audited; a newer policy rolls the migration back with no
//! restart, and v1 flows again; each phase of a migration accepts exactly
//! its versions and serves every message in the versions in force (both,
//! transcoded, in the dual-run window); downgrades (the signed version
//! edited, a NATS header that lies) are refused and audited.
mod common;

use coalition_core::envelope::MessageType;
use coalition_core::schema::{sign_schema_policy, Migration, SchemaPolicy, SchemaRule};
use coalition_schemas::v1::AuditDecision;
use coalition_sdk::Topic;
use common::*;

/// USA's schema policy `version` with this track rule (alerts stay v1).
fn usa_policy(version: u32, track: SchemaRule) -> SchemaPolicy {
    SchemaPolicy {
        nation: "USA".into(),
        version,
        rules: vec![track, SchemaRule::v1_only(MessageType::Alert)],
        issued_at_ms: now_ms(),
    }
}

async fn publish_schema_policy(mesh: &nats_harness::Mesh, policy: &SchemaPolicy) {
    let signed = sign_schema_policy(policy, &root_key(mesh, "USA")).expect("signs");
    control(mesh, "USA")
        .await
        .publish_schema_policy("USA", policy.version, signed)
        .await
        .expect("published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retired_version_is_refused_at_egress_and_a_rollback_takes_effect_without_restart() {
    let mut s = scene(USA_TO_GBR).await;
    let secret = label("USA", "SECRET", &["GBR"]);
    assert_eq!(publish(&s.usa, &secret, "BEFORE").await, 1);
    assert_eq!(track_id(&next_delivery(&mut s.gbr_tracks).await), "BEFORE");

    // v1 -> v2 with a window that ended an hour ago: v1 is retired.
    let hour = 3_600_000;
    let retired = usa_policy(
        1,
        SchemaRule {
            message_type: MessageType::Track,
            current_version: 1,
            migration: Some(Migration {
                from_version: 1,
                to_version: 2,
                window_start_ms: now_ms() - 2 * hour,
                window_end_ms: now_ms() - hour,
            }),
        },
    );
    publish_schema_policy(&s.mesh, &retired).await;
    let applied = r#"coalition_bridge_control_applied_total{nation="USA",kind="schema_policy"}"#;
    until("USA applies schema policy v1", || metric(applied) >= 1.0).await;

    assert_eq!(publish(&s.usa, &secret, "RETIRED-V1").await, 2);
    let dead = dead_letter(&s.mesh, "USA", "dlq.egress.schema_version_retired").await;
    assert!(
        contains(&dead.payload, b"RETIRED-V1"),
        "the original bytes are kept"
    );
    let rejected = r#"coalition_bridge_rejected_total{nation="USA",stage="egress",partner="-",reason="schema_version_retired"}"#;
    until("the refusal is counted", || metric(rejected) >= 1.0).await;
    let records = audit_records(&s.mesh, "USA").await;
    assert!(
        records
            .iter()
            .any(|r| r.decision == AuditDecision::Reject as i32
                && r.msg_id.ends_with(".2")
                && r.reason == "schema_version_retired"),
        "the refusal is audited"
    );

    // Roll back: v1 only again, as policy version 2, with no restart.
    publish_schema_policy(
        &s.mesh,
        &usa_policy(2, SchemaRule::v1_only(MessageType::Track)),
    )
    .await;
    until("USA applies schema policy v2", || metric(applied) >= 2.0).await;
    assert_eq!(publish(&s.usa, &secret, "AFTER-ROLLBACK").await, 3);
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!(
        (track_id(&d), d.seq, d.gap),
        ("AFTER-ROLLBACK", 3, None),
        "the refused track never reaches GBR; the next one does"
    );
    s.bridges.shutdown().await;
}

/// USA's track rule migrating 1 -> 2 in the window `[start, end)`.
fn migration(start_ms: i64, end_ms: i64) -> SchemaRule {
    SchemaRule {
        message_type: MessageType::Track,
        current_version: 1,
        migration: Some(Migration {
            from_version: 1,
            to_version: 2,
            window_start_ms: start_ms,
            window_end_ms: end_ms,
        }),
    }
}

fn track_v2(id: &str) -> coalition_sdk::TrackV2 {
    coalition_sdk::TrackV2 {
        track_id: id.to_string(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_phase_of_a_migration_accepts_and_serves_exactly_its_versions() {
    let mut s = scene(USA_TO_GBR).await;
    let mut v2_tracks = within("subscribe v2", s.gbr.subscribe(Topic::tracks().version(2)))
        .await
        .expect("subscribes");
    let secret = label("USA", "SECRET", &["GBR"]);
    let applied = r#"coalition_bridge_control_applied_total{nation="USA",kind="schema_policy"}"#;
    let gbr_applied =
        r#"coalition_bridge_control_applied_total{nation="GBR",kind="schema_policy"}"#;
    let hour = 3_600_000;
    let v2 = |id: &str| {
        let (usa, secret) = (&s.usa, secret.clone());
        let id = id.to_string();
        async move {
            within(
                "publish v2",
                usa.publish(
                    "tracks",
                    coalition_sdk::Record::track_v2(&secret, &track_v2(&id)),
                ),
            )
            .await
            .expect("published")
            .seq
        }
    };
    let seen = |d: &coalition_sdk::Delivery| {
        (
            track_id(d).to_string(),
            d.seq,
            d.schema_version,
            d.lineage.transcoded_from,
            d.gap,
        )
    };

    // Before the window: v2 is not yet accepted; v1 is served in v1 only.
    publish_schema_policy(
        &s.mesh,
        &usa_policy(1, migration(now_ms() + hour, now_ms() + 2 * hour)),
    )
    .await;
    until("USA and GBR apply policy v1", || {
        metric(applied) >= 1.0 && metric(gbr_applied) >= 1.0
    })
    .await;
    assert_eq!(v2("EARLY-V2").await, 1);
    let dead = dead_letter(&s.mesh, "USA", "dlq.egress.schema_version_not_yet_accepted").await;
    assert!(contains(&dead.payload, b"EARLY-V2"));
    assert_eq!(publish(&s.usa, &secret, "BEFORE-V1").await, 2);
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!(seen(&d), ("BEFORE-V1".into(), 2, 1, None, None));

    // In the window: both accepted, and every message served in both.
    publish_schema_policy(
        &s.mesh,
        &usa_policy(2, migration(now_ms() - hour, now_ms() + hour)),
    )
    .await;
    until("USA and GBR apply policy v2", || {
        metric(applied) >= 2.0 && metric(gbr_applied) >= 2.0
    })
    .await;
    assert_eq!(publish(&s.usa, &secret, "DURING-V1").await, 3);
    assert_eq!(v2("DURING-V2").await, 4);
    let v1_seen: Vec<_> = vec![
        seen(&next_delivery(&mut s.gbr_tracks).await),
        seen(&next_delivery(&mut s.gbr_tracks).await),
    ];
    assert_eq!(
        v1_seen,
        [
            ("DURING-V1".into(), 3, 1, None, None),
            ("DURING-V2".into(), 4, 1, Some(2), None),
        ],
        "a v1 subscriber gets every message in v1"
    );
    let first_v2 = next_delivery(&mut v2_tracks).await;
    assert!(matches!(
        first_v2.payload,
        coalition_sdk::Payload::TrackV2(_)
    ));
    assert!(
        first_v2
            .lineage
            .lossy
            .iter()
            .any(|l| l.starts_with("confidence:")),
        "v1 confidence has other semantics in v2: {:?}",
        first_v2.lineage.lossy
    );
    let v2_seen = vec![seen(&first_v2), seen(&next_delivery(&mut v2_tracks).await)];
    assert_eq!(
        v2_seen,
        [
            ("DURING-V1".into(), 3, 2, Some(1), None),
            ("DURING-V2".into(), 4, 2, None, None),
        ],
        "a v2 subscriber gets every message in v2"
    );

    // After the window: v1 is retired; v2 is served in v2 only.
    publish_schema_policy(
        &s.mesh,
        &usa_policy(3, migration(now_ms() - 2 * hour, now_ms() - hour)),
    )
    .await;
    until("USA and GBR apply policy v3", || {
        metric(applied) >= 3.0 && metric(gbr_applied) >= 3.0
    })
    .await;
    assert_eq!(publish(&s.usa, &secret, "LATE-V1").await, 5);
    assert_eq!(v2("AFTER-V2").await, 6);
    let d = next_delivery(&mut v2_tracks).await;
    assert_eq!(
        seen(&d),
        ("AFTER-V2".into(), 6, 2, None, None),
        "the retired v1 track is refused, not lost"
    );
    let dead = dead_letter(&s.mesh, "USA", "dlq.egress.schema_version_retired").await;
    assert!(contains(&dead.payload, b"LATE-V1"));
    let nothing =
        tokio::time::timeout(std::time::Duration::from_secs(2), s.gbr_tracks.next()).await;
    assert!(nothing.is_err(), "after the window nothing is served in v1");
    s.bridges.shutdown().await;
}

/// USA's root public key and `radar-1`'s identity.
fn usa_radar(
    mesh: &nats_harness::Mesh,
) -> (
    coalition_core::keys::PublicKey,
    coalition_sdk::ProducerIdentity,
) {
    let root = coalition_sdk::load_trust_anchor(&mesh.root_public_key_path("USA")).expect("root");
    let (key, cert) = mesh.producer_key_paths("USA", "radar-1");
    let identity =
        coalition_sdk::load_producer_identity(&key, &cert, "USA", &root).expect("identity");
    (root, identity)
}

/// Seals a one-track batch as USA's `radar-1` would, outside the SDK.
fn seal_track(mesh: &nats_harness::Mesh, version: u32, seq: u64, id: &str) -> bytes::Bytes {
    use common::forge;
    use prost::Message as _;
    let (_, identity) = usa_radar(mesh);
    let payload = match version {
        1 => track(id).encode_to_vec(),
        _ => track_v2(id).encode_to_vec(),
    };
    let record = forge::record(&label("USA", "SECRET", &["GBR"]), version, id, payload);
    forge::seal(&identity, "tracks", seq, &[record])
}

/// Publishes raw bytes on `subject` as `cred`, with `headers`
/// (`(name, value)`), and waits until they are stored.
async fn publish_as(
    mesh: &nats_harness::Mesh,
    nation: &str,
    cred: coalition_topology::Credential,
    subject: &str,
    headers: &[(&str, &str)],
    bytes: bytes::Bytes,
) {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, *value);
    }
    jetstream_as(mesh, nation, cred)
        .await
        .publish_with_headers(subject.to_string(), map, bytes)
        .await
        .expect("publish")
        .await
        .expect("stored");
}

/// Publishes raw bytes on USA's `radar-1` feed as the producer's user.
async fn publish_raw(
    mesh: &nats_harness::Mesh,
    seq: u64,
    bytes: bytes::Bytes,
    schema_header: &str,
) {
    let cred = mesh.clients("USA").expect("clients").producers["radar-1"].clone();
    let id = format!("USA.radar-1.tracks.{seq}-{seq}");
    let headers = [
        ("Nats-Msg-Id", id.as_str()),
        ("Coalition-Schema", schema_header),
    ];
    publish_as(
        mesh,
        "USA",
        cred,
        "out.track.radar-1.tracks",
        &headers,
        bytes,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downgrades_are_refused_and_audited() {
    use prost::Message as _;
    let s = scene(USA_TO_GBR).await;
    let hour = 3_600_000;
    let applied = r#"coalition_bridge_control_applied_total{nation="USA",kind="schema_policy"}"#;
    // The window ended: v2 only.
    publish_schema_policy(
        &s.mesh,
        &usa_policy(1, migration(now_ms() - 2 * hour, now_ms() - hour)),
    )
    .await;
    until("policy applied", || metric(applied) >= 1.0).await;

    // The signed version edited from 2 to 1: the Merkle root no longer holds.
    let edited =
        common::forge::edit_record(&seal_track(&s.mesh, 2, 100, "SIGNED-EDITED"), 0, |h| {
            h.schema_version = 1
        });
    publish_raw(&s.mesh, 100, edited, "coalition.v1.Track@1").await;
    let dead = dead_letter(&s.mesh, "USA", "dlq.egress.bad_proof").await;
    assert!(contains(&dead.payload, b"SIGNED-EDITED"));

    // A retired v1 track whose NATS header claims v2: the signed version decides.
    let v1 = seal_track(&s.mesh, 1, 101, "HEADER-SAYS-V2");
    publish_raw(&s.mesh, 101, v1, "coalition.v1.Track@2").await;
    let dead = dead_letter(&s.mesh, "USA", "dlq.egress.schema_version_retired").await;
    assert!(contains(&dead.payload, b"HEADER-SAYS-V2"));

    let records = audit_records(&s.mesh, "USA").await;
    for (seq, reason) in [(100, "bad_proof"), (101, "schema_version_retired")] {
        assert!(
            records
                .iter()
                .any(|r| r.decision == AuditDecision::Reject as i32
                    && r.reason == reason
                    && r.msg_id == format!("USA.radar-1.tracks.{seq}")),
            "seq {seq} refused as {reason} and audited"
        );
    }
    // Neither reached GBR; a genuine v2 track does.
    let mut v2_tracks = within("subscribe v2", s.gbr.subscribe(Topic::tracks().version(2)))
        .await
        .expect("subscribes");
    let receipt = within(
        "publish v2",
        s.usa.publish(
            "tracks",
            coalition_sdk::Record::track_v2(
                &label("USA", "SECRET", &["GBR"]),
                &track_v2("GENUINE-V2"),
            ),
        ),
    )
    .await
    .expect("published");
    let d = next_delivery(&mut v2_tracks).await;
    assert_eq!((track_id(&d), d.seq), ("GENUINE-V2", receipt.seq));
    assert!(matches!(d.payload, coalition_sdk::Payload::TrackV2(_)));

    // A "transcoded" copy whose payload is not the transcoding of the
    // signed one (written straight into INBOUND): the SDK refuses it.
    let forged = coalition_schemas::v1::InboundBatch {
        batch: seal_track(&s.mesh, 1, 200, "ORIGINAL"),
        version: 2,
        records: vec![coalition_schemas::v1::InboundRecord {
            translated_label: Some((&label("GBR", "SECRET", &[])).into()),
            translator: "USA-GBR@1".into(),
            source_policy_version: 1,
            target_policy_version: 1,
            transcoded_payload: track_v2("FORGED").encode_to_vec().into(),
            lossy_fields: vec![],
        }],
    };
    let home = s.mesh.bridge_config("GBR").expect("config").home.clone();
    let headers = [("Nats-Msg-Id", "forged.v2")];
    let subject = "in.track.USA.radar-1.tracks.v2";
    publish_as(
        &s.mesh,
        "GBR",
        home,
        subject,
        &headers,
        forged.encode_to_vec().into(),
    )
    .await;
    match within("the forged copy", v2_tracks.next()).await {
        Some(Err(coalition_sdk::SdkError::Verification { reason, .. })) => {
            assert_eq!(reason, coalition_core::DenyReason::PayloadDigestMismatch)
        }
        other => panic!("the forged copy must be refused, got {other:?}"),
    }
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_producer_following_its_nation_s_schema_policy_gets_a_typed_error_for_a_retired_version()
{
    let s = scene(USA_TO_GBR).await;
    let hour = 3_600_000;
    let applied = r#"coalition_bridge_control_applied_total{nation="USA",kind="schema_policy"}"#;
    publish_schema_policy(
        &s.mesh,
        &usa_policy(1, migration(now_ms() - 2 * hour, now_ms() - hour)),
    )
    .await;
    until("policy applied", || metric(applied) >= 1.0).await;

    let (root, identity) = usa_radar(&s.mesh);
    let clients = s.mesh.clients("USA").expect("clients");
    let checked = within(
        "producer connects",
        coalition_sdk::ProducerOptions::from_clients(clients, "radar-1")
            .expect("producer in clients file")
            .nation_root(root)
            .connect(identity),
    )
    .await
    .expect("connects and reads the schema policy");

    let secret = label("USA", "SECRET", &["GBR"]);
    match checked
        .publish(
            "tracks",
            coalition_sdk::Record::track(&secret, &track("RETIRED")),
        )
        .await
    {
        Err(coalition_sdk::SdkError::SchemaVersionRefused {
            message_type,
            version,
            reason,
        }) => {
            assert_eq!((message_type, version), ("track", 1));
            assert_eq!(reason, coalition_core::DenyReason::SchemaVersionRetired);
        }
        other => panic!("a retired version must be refused at publish, got {other:?}"),
    }
    // Nothing was stored: the next (accepted) track takes seq 1.
    let receipt = checked
        .publish(
            "tracks",
            coalition_sdk::Record::track_v2(&secret, &track_v2("ACCEPTED")),
        )
        .await
        .expect("v2 is accepted");
    assert_eq!(receipt.seq, 1);
    s.bridges.shutdown().await;
}
