//! The operator's users hold only what their job needs (issue 17, item 5):
//! the auditor reads the AUDIT stream and nothing else; the operator
//! publishes signed control objects on `ctl.>` and nothing else. Neither is
//! the bridge's user. Checked on a real server, by what it refuses.
mod common;

use async_nats::jetstream;
use coalition_topology::{streams, Credential};
use common::*;
use tokio::sync::mpsc;

/// A client of USA as `user`, with the server's error lines (permission
/// violations) passed to the returned receiver.
async fn as_user(
    mesh: &nats_harness::Mesh,
    user: &Credential,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let options = coalition_tls::connect_options(&user.tls)
        .expect("TLS options")
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        });
    let client = within("connect", options.connect(mesh.client_urls("USA")))
        .await
        .expect("connects");
    (client, rx)
}

/// Publishes to `subject` and waits for the server to refuse it as a
/// permissions violation naming that subject.
async fn refused(
    client: &async_nats::Client,
    errors: &mut mpsc::UnboundedReceiver<String>,
    subject: &str,
) {
    client
        .publish(subject.to_string(), "{}".into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
    within(&format!("a permissions violation for {subject}"), async {
        loop {
            let line = errors.recv().await.expect("events open");
            if line.to_lowercase().contains("permissions violation") && line.contains(subject) {
                return;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_auditor_only_reads_audit_and_the_operator_only_publishes_control() {
    let s = scene(USA_TO_GBR).await;
    let clients = s.mesh.clients("USA").expect("USA's clients file").clone();
    let bridge_user = &s.mesh.bridge_config("USA").unwrap().home.user;
    assert_ne!(&clients.auditor.user, bridge_user);
    assert_ne!(&clients.operator.user, bridge_user);

    // The auditor reads AUDIT...
    let (auditor, mut errors) = as_user(&s.mesh, &clients.auditor).await;
    let audit = jetstream::new(auditor.clone())
        .get_stream(streams::AUDIT)
        .await
        .expect("the auditor reads AUDIT's info");
    assert_eq!(audit.cached_info().config.name, streams::AUDIT);
    // ...and nothing else: no control object, no track, no other stream.
    for subject in [
        "ctl.notice.USA.999",
        "out.track.USA.radar-1.tracks",
        "$JS.API.STREAM.INFO.INBOUND",
        "$JS.API.STREAM.DELETE.AUDIT",
        "$JS.API.STREAM.PURGE.AUDIT",
        "audit.USA",
    ] {
        refused(&auditor, &mut errors, subject).await;
    }

    // The operator publishes a control object, stored in CONTROL...
    let (operator, mut errors) = as_user(&s.mesh, &clients.operator).await;
    let js = jetstream::new(operator.clone());
    js.publish("ctl.policy.USA.990", "x".into())
        .await
        .expect("publish")
        .await
        .expect("CONTROL stores it");
    // ...and nothing else: no certificate, heartbeat or other nation's
    // notice, no track, no audit, no delivery, no stream API.
    for subject in [
        "ctl.certificate.USA.radar-1.00",
        "ctl.heartbeat.USA",
        "ctl.notice.GBR.7",
        "ctl.test.USA.operator",
        "out.track.USA.radar-1.tracks",
        "in.track.USA.radar-1.tracks",
        "audit.USA",
        "$JS.API.STREAM.INFO.AUDIT",
        "$JS.API.CONSUMER.CREATE.AUDIT",
        "$JS.API.STREAM.DELETE.CONTROL",
    ] {
        refused(&operator, &mut errors, subject).await;
    }
    s.bridges.shutdown().await;
}

/// HOME's CONTROL is append-only (issue 17, item 5): once a subject holds
/// an object, the server refuses another on it, whoever publishes it, and
/// nothing may delete or purge it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stored_control_object_cannot_be_overwritten_deleted_or_purged() {
    let s = scene(USA_TO_GBR).await;
    let clients = s.mesh.clients("USA").expect("USA's clients file").clone();
    let (operator, _errors) = as_user(&s.mesh, &clients.operator).await;
    let js = jetstream::new(operator);
    let subject = "ctl.policy.USA.991";
    js.publish(subject, "first".into())
        .await
        .expect("publish")
        .await
        .expect("CONTROL stores the first object on a subject");
    let second = js
        .publish(subject, "second".into())
        .await
        .expect("publish")
        .await;
    let refusal = second
        .expect_err("a second object on the same subject is refused")
        .to_string();
    assert!(
        refusal.contains("maximum messages per subject"),
        "the server names why: {refusal}"
    );

    // What is stored is still the first, read as the bridge would.
    let home = s.mesh.bridge_config("USA").unwrap().clone();
    let (bridge, _errors) = as_user(&s.mesh, &home.home).await;
    let control = jetstream::new(bridge.clone())
        .get_stream(streams::CONTROL)
        .await
        .expect("CONTROL");
    let stored = control
        .get_last_raw_message_by_subject(subject)
        .await
        .expect("the first object is still there");
    assert_eq!(stored.payload.as_ref(), b"first");
    // Not even the bridge's user may delete or purge it.
    let seq = stored.sequence;
    assert!(
        control.delete_message(seq).await.is_err(),
        "deleting from CONTROL is refused"
    );
    assert!(control.purge().await.is_err(), "purging CONTROL is refused");
    drop(bridge);
    let config = control.cached_info().config.clone();
    assert!(config.discard_new_per_subject && config.deny_delete && config.deny_purge);
    s.bridges.shutdown().await;
}
