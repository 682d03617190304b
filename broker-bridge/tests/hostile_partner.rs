//! A partner acting against the sender, as it would: with its own cluster,
//! its own bridge's credentials and certificates, across its leaf link into
//! the sender's release account (docs/security.md, attacker A4).
//!
//! - It cannot create, change or delete a consumer on what it was released,
//!   so it cannot start a push consumer whose deliveries would be stored in
//!   the sender's RELEASED or CONTROL streams (issue 17, item 1). Such a
//!   call gets no responder: the leaf user's permissions keep it from
//!   reaching the sender's JetStream API.
//! - The release account refuses streams and consumers beyond its limits,
//!   and memory storage, whoever asks (item 2).
//! - Monitoring answers on loopback only (item 3).
//!
//! Item 4 (a producer named `bridge`) is a nation's own producer, not a
//! partner: see `topology/tests/parse_errors.rs`, `cli/tests/bad_input.rs`
//! and `core/tests/batch_tamper.rs`.
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream;
use coalition_topology::{release_limits, streams, Credential};
use common::*;
use futures::StreamExt;

/// GBR's credential in its FROM_USA account: what GBR's bridge uses to read
/// what USA released to it, across the leaf link.
fn gbr_from_usa(mesh: &nats_harness::Mesh) -> Credential {
    let cfg = mesh.bridge_config("GBR").expect("GBR bridge config");
    let link = cfg
        .ingress
        .iter()
        .find(|l| l.partner == "USA")
        .expect("GBR reads USA");
    link.credential.clone()
}

/// USA's bridge credential in its REL_GBR account: the only user there that
/// may create anything.
fn usa_rel_gbr(mesh: &nats_harness::Mesh) -> Credential {
    let cfg = mesh.bridge_config("USA").expect("USA bridge config");
    let link = cfg
        .release
        .iter()
        .find(|l| l.partner == "GBR")
        .expect("USA releases to GBR");
    link.credential.clone()
}

/// GBR's client in FROM_USA, as GBR's bridge connects.
async fn as_gbr(mesh: &nats_harness::Mesh) -> async_nats::Client {
    let options = mesh
        .connect_options(&gbr_from_usa(mesh))
        .expect("TLS options");
    within("GBR connects", options.connect(mesh.client_urls("GBR")))
        .await
        .expect("GBR's bridge user connects to GBR's cluster")
}

/// Sends `body` to `subject` as a request and checks that nothing on
/// USA's side answered: the leaf user's permissions keep the call from
/// reaching USA's JetStream API, so GBR's server has no responder for it.
async fn refused(client: &async_nats::Client, subject: &str, body: &str) {
    use async_nats::client::RequestErrorKind;
    let request = client.request(subject.to_string(), body.to_string().into());
    match tokio::time::timeout(Duration::from_secs(10), request).await {
        Err(_) => {}
        Ok(Err(e)) => assert!(
            matches!(
                e.kind(),
                RequestErrorKind::NoResponders | RequestErrorKind::TimedOut
            ),
            "{subject}: {e}"
        ),
        Ok(Ok(reply)) => panic!(
            "{subject} reached USA's JetStream API, which answered {}",
            String::from_utf8_lossy(&reply.payload)
        ),
    }
}

/// The names of the consumers on `stream` in the account of `js`.
async fn consumer_names(js: &jetstream::Context, stream: &str) -> BTreeSet<String> {
    let stream = js.get_stream(stream).await.expect("stream");
    let mut names = stream.consumer_names();
    let mut out = BTreeSet::new();
    while let Some(name) = names.next().await {
        out.insert(name.expect("consumer name"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_can_create_change_or_delete_no_consumer_in_the_senders_release_account() {
    let mut s = scene(USA_TO_GBR_AND_FRA).await;
    // Something released, so RELEASED holds a message a copy would add to.
    let label = label("USA", "SECRET", &["GBR"]);
    publish(&s.usa, &label, "t-1").await;
    next_delivery(&mut s.gbr_tracks).await;
    let usa = jetstream_as(&s.mesh, "USA", usa_rel_gbr(&s.mesh)).await;
    let stored_before = |name: &'static str| {
        let usa = usa.clone();
        async move {
            let mut stream = usa.get_stream(name).await.expect("stream");
            stream.info().await.expect("info").state.messages
        }
    };
    let (released, control) = (
        stored_before(streams::RELEASED).await,
        stored_before(streams::CONTROL).await,
    );

    let gbr = as_gbr(&s.mesh).await;
    let api = "$JS.USA.API";
    let ours = streams::ingress_consumer("GBR");
    // The partner's own consumer answers: the connection and the domain
    // work, so the refusals below are permissions, not a broken link.
    let partner_js = jetstream::with_domain(gbr.clone(), "USA");
    let rel = partner_js
        .get_stream(streams::RELEASED)
        .await
        .expect("RELEASED info");
    rel.consumer_info(&ours)
        .await
        .expect("its own consumer's info");

    let push_into_released = r#"{"stream_name":"CONTROL","config":{"name":"evil","deliver_subject":"rel.track.USA.usa-radar-1.x","filter_subject":"ctl.>","deliver_policy":"last_per_subject","ack_policy":"none"}}"#.to_string();
    let push_into_control = r#"{"stream_name":"RELEASED","config":{"durable_name":"evil2","deliver_subject":"ctl.evil","ack_policy":"none"}}"#.to_string();
    let take_over_ours = format!(
        r#"{{"stream_name":"RELEASED","config":{{"durable_name":"{ours}","deliver_subject":"ctl.evil","ack_policy":"none"}}}}"#
    );
    let attempts = [
        (
            format!("{api}.CONSUMER.CREATE.CONTROL.evil"),
            push_into_released.clone(),
        ),
        (format!("{api}.CONSUMER.CREATE.CONTROL"), push_into_released),
        (
            format!("{api}.CONSUMER.CREATE.RELEASED.evil2"),
            push_into_control.clone(),
        ),
        (
            format!("{api}.CONSUMER.DURABLE.CREATE.RELEASED.evil2"),
            push_into_control,
        ),
        (
            format!("{api}.CONSUMER.CREATE.RELEASED.{ours}"),
            take_over_ours,
        ),
        (
            format!("{api}.CONSUMER.DELETE.RELEASED.{ours}"),
            String::new(),
        ),
        (
            format!("{api}.CONSUMER.CREATE.RELEASED_ALERTS"),
            r#"{"stream_name":"RELEASED_ALERTS","config":{}}"#.into(),
        ),
        (format!("{api}.CONSUMER.LIST.RELEASED"), "{}".into()),
        (format!("{api}.STREAM.PURGE.RELEASED"), "{}".into()),
    ];
    for (subject, body) in &attempts {
        refused(&gbr, subject, body).await;
    }

    // USA's side, as USA's bridge sees it: only the consumers it made.
    for (stream, expected) in [
        (streams::RELEASED, BTreeSet::from([ours.clone()])),
        (streams::RELEASED_ALERTS, BTreeSet::from([ours.clone()])),
        (streams::CONTROL, BTreeSet::new()),
    ] {
        assert_eq!(consumer_names(&usa, stream).await, expected, "{stream}");
    }
    let info = usa
        .get_stream(streams::RELEASED)
        .await
        .expect("RELEASED")
        .consumer_info(&ours)
        .await
        .expect("ingress_GBR");
    assert!(
        info.config.deliver_subject.is_none(),
        "still a pull consumer"
    );
    assert_eq!(stored_before(streams::RELEASED).await, released);
    // CONTROL only grows by heartbeats and the like, never by a rel. copy.
    let usa_control = usa.get_stream(streams::CONTROL).await.expect("CONTROL");
    let seen = stored_before(streams::CONTROL).await;
    assert!(seen >= control);
    let leaked = usa_control.get_last_raw_message_by_subject("rel.>").await;
    assert!(leaked.is_err(), "a release copied into CONTROL: {leaked:?}");
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_account_refuses_streams_consumers_and_storage_beyond_its_limits() {
    let s = scene(USA_TO_GBR_AND_FRA).await;
    // Even USA's own bridge user, the only one that may create anything
    // there, is held to the account's limits.
    let usa = jetstream_as(&s.mesh, "USA", usa_rel_gbr(&s.mesh)).await;
    let account = usa.query_account().await.expect("account info");
    let limits = &account.limits;
    assert_eq!(limits.max_streams, Some(i64::from(release_limits::STREAMS)));
    assert_eq!(
        limits.max_consumers,
        Some(i64::from(release_limits::CONSUMERS))
    );
    assert_eq!(limits.max_memory, Some(0));
    assert_eq!(limits.max_storage, Some(release_limits::FILE_BYTES));
    assert_eq!(account.streams, 3, "RELEASED, RELEASED_ALERTS, CONTROL");

    let fourth = usa
        .create_stream(jetstream::stream::Config {
            name: "EXTRA".into(),
            subjects: vec!["extra.>".into()],
            ..Default::default()
        })
        .await;
    let why = fourth.expect_err("a fourth stream is refused").to_string();
    assert!(why.contains("maximum number of streams"), "{why}");
    let in_memory = usa
        .create_stream(jetstream::stream::Config {
            name: "EXTRA".into(),
            subjects: vec!["extra.>".into()],
            storage: jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await;
    assert!(in_memory.is_err(), "memory storage is refused");

    // nats-server applies the account's consumer limit to each stream: on
    // RELEASED the bridge's own `ingress_GBR` counts against it.
    for (stream, room) in [
        (streams::RELEASED, release_limits::CONSUMERS - 1),
        (streams::CONTROL, release_limits::CONSUMERS),
    ] {
        let stream = usa.get_stream(stream).await.expect("stream");
        let mut made = 0u32;
        let refusal = loop {
            let attempt = stream
                .create_consumer(jetstream::consumer::pull::Config {
                    durable_name: Some(format!("extra-{made}")),
                    ..Default::default()
                })
                .await;
            match attempt {
                Ok(_) => made += 1,
                Err(e) => break e.to_string(),
            }
            assert!(made <= release_limits::CONSUMERS, "no limit on consumers");
        };
        assert_eq!(made, room, "refused after the limit: {refusal}");
        assert!(refusal.contains("maximum consumers limit"), "{refusal}");
    }
    s.bridges.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monitoring_answers_on_loopback_only() {
    let s = scene(USA_TO_GBR_AND_FRA).await;
    for nation in ["USA", "GBR", "FRA"] {
        let port = s.mesh.monitor_port(nation, 0).expect("monitor port");
        let varz = within("varz", nats_harness::get_json(port, "/varz"))
            .await
            .expect("varz");
        assert_eq!(
            varz["http_host"],
            coalition_topology::MONITOR_HOST,
            "{nation}: {varz}"
        );
    }
    s.bridges.shutdown().await;
}
