//! Bad input on the wire, at each place a bridge or the SDK reads it, on a
//! real mesh: what a partner releases (ingress), what arrives on a CONTROL
//! stream (from this nation and from a partner), and what a subscriber
//! reads from INBOUND. Each is refused with where and why, kept (dead
//! letter, or left in its stream), and what follows it still flows: the
//! bridge neither panics nor stalls. (Garbage from a producer at egress is
//! `sovereign_boundary.rs::garbage_from_a_producer_is_dead_lettered_at_egress_and_the_feed_goes_on`.)
mod common;

use std::sync::{Arc, Mutex, OnceLock};

use coalition_core::revocation::{Notice, NoticeSigner, ProductKey, Revoked};
use coalition_core::signed::{sign_object, ObjectKind};
use coalition_core::DenyReason;
use coalition_schemas::v1::{control_message::Body, AuditDecision, ControlMessage};
use common::policy::{applied_at, authority, until_audited};
use common::*;
use prost::Message;

/// What the bridges in this test process log, kept for assertions: the
/// log is where a refused control object's "where and why" goes.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    /// Installs the capture once per test process and returns it.
    fn capture() -> Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let _ = tracing_subscriber::fmt()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::WARN)
                .try_init();
            logs
        })
        .clone()
    }

    /// The first captured line containing every one of `parts`.
    fn line_with(&self, parts: &[&str]) -> Option<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).to_string();
        text.lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_string)
    }
}

/// A genuine batch of one track sealed by USA's `radar-1` on feed `tracks`.
fn sealed(mesh: &nats_harness::Mesh, seq: u64, id: &str) -> bytes::Bytes {
    use common::forge;
    let identity = forge::identity(mesh, "USA", "radar-1");
    forge::seal(
        &identity,
        "tracks",
        seq,
        &[forge::track_record(&label("USA", "SECRET", &["GBR"]), id)],
    )
}

/// Publishes `payload` on `subject` into a JetStream stream of `nation`'s
/// cluster as `cred`, and waits until it is stored.
async fn store(
    mesh: &nats_harness::Mesh,
    nation: &str,
    cred: coalition_topology::Credential,
    subject: &str,
    payload: bytes::Bytes,
) {
    let js = jetstream_as(mesh, nation, cred).await;
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert("Nats-Msg-Id", format!("wire-edges.{subject}").as_str());
    within(&format!("store on {subject}"), async {
        js.publish_with_headers(subject.to_string(), hdrs, payload)
            .await
            .expect("published")
            .await
            .expect("stored")
    })
    .await;
}

/// USA's bridge's credential in its release account for GBR: what a faulty
/// or hostile USA bridge would write with.
fn usa_release_to_gbr(mesh: &nats_harness::Mesh) -> coalition_topology::Credential {
    let cfg = mesh.bridge_config("USA").expect("USA config");
    let link = cfg.release.iter().find(|l| l.partner == "GBR").unwrap();
    link.credential.clone()
}

fn header(m: &async_nats::jetstream::message::StreamMessage, name: &str) -> Option<String> {
    m.headers.get(name).map(|v| v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_and_misfiled_releases_are_dead_lettered_at_ingress_and_inbound_garbage_is_refused_by_the_sdk(
) {
    let mut s = scene(USA_TO_GBR).await;
    let rel = usa_release_to_gbr(&s.mesh);
    // Bytes that are no batch, on the feed's own release subject.
    let garbage = bytes::Bytes::from_static(b"\x00\x01 not a batch");
    store(
        &s.mesh,
        "USA",
        rel.clone(),
        "rel.track.USA.radar-1.tracks",
        garbage.clone(),
    )
    .await;
    // A genuine batch of feed `tracks`, released on another subject.
    let misfiled = sealed(&s.mesh, 50, "MISFILED");
    store(
        &s.mesh,
        "USA",
        rel,
        "rel.track.USA.radar-1.decoy",
        misfiled.clone(),
    )
    .await;

    for (reason, payload) in [
        ("malformed_batch", &garbage),
        ("subject_mismatch", &misfiled),
    ] {
        let dead = dead_letter(&s.mesh, "GBR", &format!("dlq.ingress.{reason}")).await;
        assert_eq!(
            &dead.payload, payload,
            "{reason}: the original bytes are kept"
        );
        assert_eq!(header(&dead, "Coalition-Reason").as_deref(), Some(reason));
        assert_eq!(header(&dead, "Coalition-Partner").as_deref(), Some("USA"));
        until_audited(&s.mesh, "GBR", &format!("GBR audits {reason}"), |r| {
            r.decision == AuditDecision::Reject as i32
                && r.stage == "ingress"
                && r.partner == "USA"
                && r.reason == reason
        })
        .await;
    }
    // The feed goes on: the next genuine track is the first delivery.
    publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "AFTER-INGRESS").await;
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!((track_id(&d), d.seq), ("AFTER-INGRESS", 1));

    // Garbage written straight into GBR's INBOUND (past the bridge): the
    // SDK refuses it with the subject and the reason, then goes on.
    let subject = "in.track.USA.radar-1.tracks.v1";
    let home = s.mesh.bridge_config("GBR").unwrap().home.clone();
    store(&s.mesh, "GBR", home, subject, garbage.clone()).await;
    match within("the garbage delivery", s.gbr_tracks.next()).await {
        Some(Err(e @ coalition_sdk::SdkError::Verification { .. })) => {
            let text = e.to_string();
            assert!(text.contains(subject), "names the subject: {text}");
            assert!(text.contains("malformed_batch"), "says why: {text}");
            let coalition_sdk::SdkError::Verification { reason, .. } = e else {
                unreachable!()
            };
            assert_eq!(reason, DenyReason::MalformedBatch);
        }
        other => panic!("garbage in INBOUND must be refused, got {other:?}"),
    }
    publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "AFTER-INBOUND").await;
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!((track_id(&d), d.seq), ("AFTER-INBOUND", 2));
    s.bridges.shutdown().await;
}

/// A notice "issued by USA" at `epoch`, signed as USA with `key` (another
/// nation's when forged) and its `certificate` (none for a root key).
fn notice_bytes(
    key: &coalition_core::keys::SigningKeyPair,
    certificate: Option<bytes::Bytes>,
    epoch: u64,
) -> bytes::Bytes {
    let notice = Notice {
        issuer: "USA".into(),
        epoch,
        effective_from_ms: now_ms(),
        issued_at_ms: now_ms(),
        reason: "wire-edges test".into(),
        revoked: Revoked::SuspendPartner("GBR".into()),
    };
    let body = notice.to_wire().encode_to_vec();
    let signed = sign_object(ObjectKind::Notice, body, "USA", key, certificate).unwrap();
    ControlMessage {
        body: Some(Body::Notice(signed)),
    }
    .encode_to_vec()
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_control_objects_from_home_and_from_a_partner_are_refused_with_where_and_why_and_the_plane_goes_on(
) {
    let logs = Logs::capture();
    let mut s = scene(USA_TO_GBR).await;
    let refused = |source: &str| {
        metric(&format!(
            "coalition_bridge_control_refused_total{{nation=\"GBR\",source=\"{source}\"}}"
        ))
    };
    let (from_usa, from_home) = (refused("USA"), refused("home"));
    let rel = usa_release_to_gbr(&s.mesh);
    let forged_by_gbr = notice_bytes(&root_key(&s.mesh, "GBR"), None, 900);
    let gbr_authority = authority(&s.mesh, "GBR");
    let forged_by_gbr_authority = notice_bytes(
        &gbr_authority.key,
        Some(gbr_authority.certificate.clone()),
        901,
    );
    let empty = ControlMessage { body: None }.encode_to_vec().into();
    let cases: [(&str, bytes::Bytes, &str); 4] = [
        (
            "ctl.notice.USA.899",
            b"\xff\xfe not protobuf"[..].into(),
            "not a control object",
        ),
        (
            "ctl.notice.USA.900",
            forged_by_gbr,
            "signed neither by USA's revocation authority nor by its root key",
        ),
        (
            "ctl.notice.USA.901",
            forged_by_gbr_authority,
            "is for GBR/revocation-authority, expected USA/revocation-authority",
        ),
        ("ctl.policy.USA.99", empty, "empty: it holds no object"),
    ];
    for (subject, payload, _) in &cases {
        store(&s.mesh, "USA", rel.clone(), subject, payload.clone()).await;
    }
    let home = s.mesh.bridge_config("GBR").unwrap().home.clone();
    let home_garbage = bytes::Bytes::from_static(b"\x08\x96\x01 half a message");
    store(
        &s.mesh,
        "GBR",
        home.clone(),
        "ctl.notice.GBR.899",
        home_garbage,
    )
    .await;

    until("GBR counts the partner's four refusals", || {
        refused("USA") >= from_usa + 4.0
    })
    .await;
    until("GBR counts its own refusal", || {
        refused("home") >= from_home + 1.0
    })
    .await;
    for (subject, _, why) in &cases {
        let line = logs.line_with(&["control object refused", "source=USA", subject]);
        let line = line.unwrap_or_else(|| panic!("no refusal logged for {subject}"));
        assert!(line.contains("nation=GBR") && line.contains(why), "{line}");
    }
    let line = logs
        .line_with(&[
            "control object refused",
            "source=home",
            "ctl.notice.GBR.899",
        ])
        .expect("the home refusal is logged");
    assert!(line.contains("not a control object"), "{line}");
    // Each refusal is audited at GBR: reject, stage control, the subject as
    // its id, the partner it came from (none for home), and why.
    let audited = |records: &[coalition_schemas::v1::AuditRecord], subject: &str| {
        records
            .iter()
            .find(|r| r.stage == "control" && r.msg_id == subject && r.reason == "control_refused")
            .cloned()
    };
    let expected: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|(subject, _, why)| (*subject, "USA", *why))
        .chain([("ctl.notice.GBR.899", "", "not a control object")])
        .collect();
    within("GBR audits every refusal", async {
        loop {
            let records = audit_records(&s.mesh, "GBR").await;
            if expected
                .iter()
                .all(|(subject, _, _)| audited(&records, subject).is_some())
            {
                for (subject, partner, why) in &expected {
                    let r = audited(&records, subject).unwrap();
                    assert_eq!(r.decision, AuditDecision::Reject as i32, "{subject}");
                    assert_eq!(r.partner, *partner, "{subject}");
                    assert!(r.detail.contains(why), "{subject}: {}", r.detail);
                }
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    // Nothing is lost: each refused object is still in its stream.
    let usa_control = jetstream_as(&s.mesh, "USA", rel)
        .await
        .get_stream("CONTROL")
        .await
        .expect("USA's CONTROL for GBR");
    for (subject, payload, _) in &cases {
        let kept = usa_control.get_last_raw_message_by_subject(subject).await;
        assert_eq!(&kept.expect("kept").payload, payload);
    }

    // The forged suspension did not take: a track still crosses. And the
    // plane goes on: a genuine notice published after the garbage applies.
    publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "AFTER-FORGERY").await;
    assert_eq!(
        track_id(&next_delivery(&mut s.gbr_tracks).await),
        "AFTER-FORGERY"
    );
    let product = ProductKey {
        origin: "USA".into(),
        producer_id: "radar-1".into(),
        feed: "tracks".into(),
        product_id: "UNRELATED".into(),
    };
    let notice = control(&s.mesh, "USA")
        .await
        .revoke(
            NoticeSigner::Authority(&authority(&s.mesh, "USA")),
            Revoked::Product(product),
            None,
            "test",
        )
        .await
        .expect("genuine notice published");
    applied_at(&s.mesh, "GBR", &notice.name()).await;
    s.bridges.shutdown().await;
}
