//! Translation, lineage and audit on a real mesh: two translator versions
//! in use at once, the audit log of a running bridge, and a fused track
//! with its composite label and sources.
mod common;

use std::collections::BTreeMap;

use coalition_core::audit::verify_chain;
use coalition_core::translator::{cosign_translator, sign_translator};
use coalition_schemas::v1::AuditDecision;
use common::policy::*;
use common::*;
use nats_harness::{dev_policy, dev_translator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_translator_versions_serve_two_source_policy_versions_at_once() {
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let gbr_sub = subscriber(&mesh, "GBR").await;
    let mut sub = gbr_sub
        .subscribe(coalition_sdk::Topic::tracks().from_nation("USA"))
        .await
        .unwrap();
    // USA policy v2 (one more caveat) and translator v2 for it only.
    let t = mesh.topology();
    let mut v2 = dev_policy(t.nation("USA").unwrap());
    v2.version = 2;
    v2.caveats.push(("REL-EXERCISE".into(), false));
    let signed =
        coalition_core::policy::sign_policy(&v2, &root_key(&mesh, "USA"), now_ms()).unwrap();
    let usa_control = control(&mesh, "USA").await;
    usa_control
        .publish_policy("USA", 2, signed)
        .await
        .expect("policy published");
    let mut tr = dev_translator(&v2, &dev_policy(t.nation("GBR").unwrap()), now_ms());
    tr.version = 2;
    tr.source_versions = 2..=2;
    let mut signed = sign_translator(&tr, "USA", &root_key(&mesh, "USA")).unwrap();
    cosign_translator(&mut signed, "GBR", &root_key(&mesh, "GBR")).unwrap();
    usa_control
        .publish_translator("USA-GBR", 2, signed)
        .await
        .expect("translator published");

    let usa = producer(&mesh, "USA", "radar-1").await;
    let old = label("USA", "SECRET", &["GBR"]);
    let new = label("USA", "SECRET", &["GBR"]).in_version(2);
    // The first v2 message may meet a bridge that has not read the new
    // objects yet; it is then denied and kept, so wait for one to pass.
    let mut tracks = Vec::new();
    for i in 0..10 {
        let l = if i % 2 == 0 { &old } else { &new };
        tracks.push((l.clone(), track(&format!("COHAB-{i}"))));
    }
    for nation in ["USA", "GBR"] {
        for kind in ["policy", "translator"] {
            let series = format!(
                r#"coalition_bridge_control_applied_total{{nation="{nation}",kind="{kind}"}}"#
            );
            until(&format!("{nation} applies the new {kind}"), || {
                metric(&series) >= 1.0
            })
            .await;
        }
    }
    let receipts = within(
        "publish",
        usa.publish_all(
            "tracks",
            tracks
                .iter()
                .map(|(l, t)| coalition_sdk::Record::track(l, t))
                .collect(),
        ),
    )
    .await
    .unwrap();
    let mut by_translator: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for _ in 0..receipts.len() {
        let d = next_delivery(&mut sub).await;
        let translator = d.lineage.translator.clone().expect("translator in lineage");
        let versions = d
            .lineage
            .policy_versions
            .clone()
            .expect("policy versions in lineage");
        assert!(
            versions.starts_with(&format!("USA/v{}", d.label.policy_version)),
            "{versions}"
        );
        by_translator
            .entry(translator)
            .or_default()
            .push(d.label.policy_version);
    }
    assert_eq!(by_translator["USA-GBR@1"], vec![1; 5]);
    assert_eq!(by_translator["USA-GBR@2"], vec![2; 5]);
    bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_of_a_running_bridge_verifies_answers_who_admitted_and_shows_a_deletion() {
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let (_gbr, at_gbr) = receive(&mesh, "GBR", "USA").await;
    let usa = producer(&mesh, "USA", "radar-1").await;
    for round in 0..6 {
        until_received(
            &at_gbr,
            &publish_n(&usa, &format!("AUDIT-{round}"), &["GBR"], 5).await,
        )
        .await;
    }
    let anchors = anchors(&mesh);
    let blocks = audit_blocks(&mesh, "GBR").await;
    let report = verify_chain("GBR", blocks.iter().cloned(), &anchors, now_ms());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(
        report.checkpoints_verified >= 1,
        "no signed checkpoint verified"
    );
    let id = "USA.radar-1.tracks.3";
    let decoded: Vec<_> = blocks
        .iter()
        .map(|(_, raw)| coalition_core::audit::decode_block(raw).expect("block decodes"))
        .collect();
    let found = coalition_core::audit::records_for(&decoded, id);
    let admit = found
        .iter()
        .find(|r| is(r.record, AuditDecision::Admit))
        .expect("admission of seq 3 audited");
    assert_eq!(admit.record.translator, "USA-GBR@1");
    assert_eq!(
        (
            admit.record.source_policy_version,
            admit.record.target_policy_version
        ),
        (1, 1)
    );
    assert_eq!(admit.record.key_id.len(), 64, "key id is a hex SHA-256");

    // Someone with the nation's admin rights deletes a block: the chain shows where.
    let (victim_seq, _) = blocks[blocks.len() / 2];
    let cred = mesh.bridge_config("GBR").unwrap().home.clone();
    let js = jetstream_as(&mesh, "GBR", cred).await;
    let stream = js.get_stream("AUDIT").await.unwrap();
    stream.delete_message(victim_seq).await.expect("deleted");
    bridges.shutdown().await;
    let after = audit_blocks(&mesh, "GBR").await;
    let report = verify_chain("GBR", after.iter().cloned(), &anchors, now_ms());
    assert!(!report.is_clean());
    let first = &report.problems[0];
    assert_eq!(first.stream_seq, victim_seq + 1, "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fused_track_carries_the_composite_label_and_every_sources_lineage_across() {
    use coalition_core::composite::{composite_label, derived_from, AdmittedSource};
    let mesh = mesh(DUPLEX).await;
    let bridges = bridges(&mesh).await;
    let gbr_sub = subscriber(&mesh, "GBR").await;
    let mut at_gbr = gbr_sub
        .subscribe(coalition_sdk::Topic::tracks())
        .await
        .unwrap();
    let usa_sub = subscriber(&mesh, "USA").await;
    let mut at_usa = usa_sub
        .subscribe(coalition_sdk::Topic::tracks().from_nation("GBR"))
        .await
        .unwrap();
    let usa = producer(&mesh, "USA", "radar-1").await;
    let gbr = producer(&mesh, "GBR", "radar-2").await;
    publish(&usa, &label("USA", "SECRET", &["GBR", "USA"]), "USA-SOURCE").await;
    let from_usa = next_delivery(&mut at_gbr).await;
    assert_eq!(from_usa.lineage.translator.as_deref(), Some("USA-GBR@1"));
    // The source as admitted into GBR, in GBR's vocabulary.
    let usa_as_admitted = label("GBR", "SECRET", &["GBR", "USA"]);
    let own = label("GBR", "CONFIDENTIAL", &["FRA", "GBR", "USA"]).with_caveat("ORCON");
    let own_header = coalition_core::envelope::Header {
        message_type: coalition_core::envelope::MessageType::Track,
        schema_version: 1,
        label: own.clone(),
        origin: "GBR".into(),
        producer_id: "radar-2".into(),
        feed: "tracks".into(),
        seq: publish(&gbr, &label("GBR", "CONFIDENTIAL", &["GBR"]), "GBR-SOURCE").await,
        payload_sha256: [0; 32],
        produced_at_ms: 0,
        producer_cert_sha256: [0; 32],
        corrects_seq: None,
        product_id: "GBR-SOURCE".into(),
        derived_from: Vec::new(),
    };
    let usa_header = coalition_core::envelope::Header {
        origin: "USA".into(),
        producer_id: "radar-1".into(),
        seq: from_usa.seq,
        label: usa_as_admitted.clone(),
        ..own_header.clone()
    };
    let gbr_policy = dev_policy(mesh.topology().nation("GBR").unwrap());
    let fused = composite_label(&gbr_policy, &[&usa_as_admitted, &own]).expect("composite");
    assert_eq!(fused.classification, "SECRET", "highest");
    assert_eq!(
        fused.releasable_to,
        ["GBR", "USA"].map(String::from).into(),
        "intersection"
    );
    assert!(fused.caveats.contains("ORCON"), "union");
    let sources = derived_from(&[
        AdmittedSource {
            header: &usa_header,
            label: &usa_as_admitted,
            translator: Some("USA-GBR@1"),
        },
        AdmittedSource {
            header: &own_header,
            label: &own,
            translator: None,
        },
    ]);
    within(
        "publish fused",
        gbr.publish(
            "tracks",
            coalition_sdk::Record::track(&fused, &track("FUSED")).derived_from(sources),
        ),
    )
    .await
    .expect("published");
    let d = next_delivery(&mut at_usa).await;
    assert_eq!(track_id(&d), "FUSED");
    assert_eq!(d.label, fused, "signed with the composite label");
    assert_eq!(d.lineage.translator.as_deref(), Some("GBR-USA@1"));
    assert_eq!(d.derived_from.len(), 2);
    assert_eq!(
        d.derived_from[0].msg_id(),
        format!("USA.radar-1.tracks.{}", from_usa.seq)
    );
    assert_eq!(d.derived_from[0].translator.as_deref(), Some("USA-GBR@1"));
    assert_eq!(d.derived_from[1].label, own);
    bridges.shutdown().await;
}
