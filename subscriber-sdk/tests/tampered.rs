//! The subscriber against a real nats-server, INBOUND written as the
//! bridge would write it, with each message tampered after sealing in one
//! way: each is refused whole with its reason and terminated, and only the
//! intact message is delivered.
mod common;

use bytes::Bytes;
use coalition_core::envelope::MessageType;
use coalition_core::DenyReason;
use coalition_schemas::v1;
use coalition_sdk::{SdkError, Topic};
use coalition_topology::streams;
use common::inbound::{admitted, BridgeWriter};
use common::{ack_pending, delivery, mesh, subscriber, until, within};
use prost::Message as _;

const TRACK: MessageType = MessageType::Track;

type Tamper = fn(&mut v1::InboundBatch, &mut v1::Batch);

fn change_payload(_: &mut v1::InboundBatch, b: &mut v1::Batch) {
    let mut p = b.records[0].payload.to_vec();
    p.push(0x08);
    b.records[0].payload = p.into();
}

fn change_record_header(_: &mut v1::InboundBatch, b: &mut v1::Batch) {
    let mut h = v1::RecordHeader::decode(b.records[0].header.as_ref()).expect("header");
    if let Some(label) = h.label.as_mut() {
        label.classification = "UNCLASSIFIED".into();
    }
    b.records[0].header = h.encode_to_vec().into();
}

fn change_signature(_: &mut v1::InboundBatch, b: &mut v1::Batch) {
    let mut s = b.signature.to_vec();
    s[0] ^= 1;
    b.signature = s.into();
}

fn drop_a_record(i: &mut v1::InboundBatch, b: &mut v1::Batch) {
    b.records.remove(1);
    i.records.remove(1);
}

fn swap_records(_: &mut v1::InboundBatch, b: &mut v1::Batch) {
    b.records.swap(0, 1);
}

fn drop_an_admitted_record(i: &mut v1::InboundBatch, _: &mut v1::Batch) {
    i.records.pop();
}

fn serve_another_version(i: &mut v1::InboundBatch, _: &mut v1::Batch) {
    i.version = 2;
}

fn add_a_transcoded_payload(i: &mut v1::InboundBatch, _: &mut v1::Batch) {
    i.records[0].transcoded_payload = Bytes::from_static(b"\x0a\x01x");
}

#[tokio::test]
async fn a_tampered_message_is_refused_whole_and_never_delivered() {
    let mesh = mesh().await;
    let bridge = BridgeWriter::new(&mesh).await;
    bridge.store_certificate().await;
    let cases: [(&str, Tamper, DenyReason); 8] = [
        (
            "payload changed",
            change_payload,
            DenyReason::PayloadDigestMismatch,
        ),
        (
            "record header changed",
            change_record_header,
            DenyReason::BadProof,
        ),
        (
            "signature changed",
            change_signature,
            DenyReason::BadSignature,
        ),
        (
            "record dropped without proof",
            drop_a_record,
            DenyReason::BadProof,
        ),
        (
            "records reordered",
            swap_records,
            DenyReason::MalformedBatch,
        ),
        (
            "admitted records missing",
            drop_an_admitted_record,
            DenyReason::MalformedBatch,
        ),
        (
            "served version not the subject's",
            serve_another_version,
            DenyReason::SubjectMismatch,
        ),
        (
            "a second payload in the own version",
            add_a_transcoded_payload,
            DenyReason::PayloadDigestMismatch,
        ),
    ];
    let subject = "in.track.USA.radar-1.tracks-2.v1";
    for (i, (_, tamper, _)) in cases.iter().enumerate() {
        let first = 1 + 2 * i as u64;
        let sealed = bridge.seal(TRACK, "tracks-2", first, 2);
        let mut batch = v1::Batch::decode(sealed.encode().as_ref()).expect("batch");
        let mut inbound = v1::InboundBatch {
            batch: Bytes::new(),
            version: 1,
            records: admitted(2),
        };
        tamper(&mut inbound, &mut batch);
        inbound.batch = batch.encode_to_vec().into();
        bridge
            .store_raw(subject, inbound.encode_to_vec().into(), first + 1, 0)
            .await;
    }
    // A batch of another feed, stored on this feed's subject.
    let elsewhere = bridge.seal(TRACK, "tracks", 1, 1);
    let inbound = v1::InboundBatch {
        batch: elsewhere.encode(),
        version: 1,
        records: admitted(1),
    };
    bridge
        .store_raw(subject, inbound.encode_to_vec().into(), 1, 0)
        .await;
    let good = bridge.seal(TRACK, "tracks-2", 100, 2);
    bridge.admit(&good, None, 0).await;

    let subscriber = subscriber(&mesh, "tampered").await;
    let mut sub = within("subscribe", subscriber.subscribe(Topic::tracks()))
        .await
        .expect("subscribed");
    let expected = cases
        .iter()
        .map(|(what, _, reason)| (*what, *reason))
        .chain([("another feed's batch", DenyReason::SubjectMismatch)]);
    for (what, reason) in expected {
        match within(what, sub.next()).await {
            Some(Err(SdkError::Verification { reason: got, .. })) => {
                assert_eq!(got, reason, "{what}")
            }
            other => panic!("{what}: expected {reason}, got {other:?}"),
        }
    }
    let (a, b) = (delivery(&mut sub).await, delivery(&mut sub).await);
    assert_eq!(
        (a.seq, b.seq),
        (100, 101),
        "only the intact message is delivered"
    );
    within("ack", a.ack()).await.expect("acked");
    within("ack", b.ack()).await.expect("acked");
    until(
        "refused messages are terminated, the good one acked",
        || async { ack_pending(&bridge.js, streams::INBOUND, "tampered").await == 0 },
    )
    .await;
}
