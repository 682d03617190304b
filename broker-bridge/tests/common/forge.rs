//! Batches made outside the SDK, as a hostile producer, partner or
//! on-path attacker would: sealed with a real producer key from the mesh,
//! then edited field by field, and published raw with any credential.
use bytes::Bytes;
use coalition_core::batch::{seal_batch, RecordDraft};
use coalition_core::envelope::{MessageType, ProducerIdentity};
use coalition_core::label::Label;
use coalition_schemas::v1;
use coalition_topology::{subjects, Credential};
use prost::Message;

use super::{jetstream_as, now_ms, within};

/// The identity of `producer` of `nation`, from the mesh's key files.
pub fn identity(mesh: &nats_harness::Mesh, nation: &str, producer: &str) -> ProducerIdentity {
    let root = coalition_sdk::load_trust_anchor(&mesh.root_public_key_path(nation)).expect("root");
    let (key, cert) = mesh.producer_key_paths(nation, producer);
    coalition_sdk::load_producer_identity(&key, &cert, nation, &root).expect("identity")
}

/// One track record for [`seal`]: `payload` in schema `version`.
pub fn record(label: &Label, version: u32, product_id: &str, payload: Vec<u8>) -> RecordDraft {
    RecordDraft {
        schema_version: version,
        label: label.clone(),
        payload: payload.into(),
        corrects_seq: None,
        product_id: product_id.into(),
        derived_from: Vec::new(),
        produced_at_ms: now_ms(),
    }
}

/// A v1 track record with track id `id`.
pub fn track_record(label: &Label, id: &str) -> RecordDraft {
    record(label, 1, id, super::track(id).encode_to_vec())
}

/// Seals `records` as seqs `first..` of `feed`, as `identity`, now.
pub fn seal(identity: &ProducerIdentity, feed: &str, first: u64, records: &[RecordDraft]) -> Bytes {
    seal_at(identity, feed, first, records, now_ms())
}

/// Seals as [`seal`], with the seal time given.
pub fn seal_at(
    identity: &ProducerIdentity,
    feed: &str,
    first: u64,
    records: &[RecordDraft],
    sealed_at_ms: i64,
) -> Bytes {
    seal_batch(
        identity,
        MessageType::Track,
        feed,
        first,
        records,
        sealed_at_ms,
    )
    .expect("seals")
    .bytes
}

/// The batch with its signed header edited by `f` (the signature unchanged).
pub fn edit_header(batch: &[u8], f: impl FnOnce(&mut v1::BatchHeader)) -> Bytes {
    let mut b = v1::Batch::decode(batch).expect("a batch");
    let mut header = v1::BatchHeader::decode(b.header.as_ref()).expect("a header");
    f(&mut header);
    b.header = header.encode_to_vec().into();
    b.encode_to_vec().into()
}

/// The batch with record `index`'s header edited by `f` (the proof and the
/// signature unchanged).
pub fn edit_record(batch: &[u8], index: usize, f: impl FnOnce(&mut v1::RecordHeader)) -> Bytes {
    edit(batch, |b| {
        let mut header =
            v1::RecordHeader::decode(b.records[index].header.as_ref()).expect("a record");
        f(&mut header);
        b.records[index].header = header.encode_to_vec().into();
    })
}

/// The batch edited as a whole by `f` (records moved, proofs changed, ...).
pub fn edit(batch: &[u8], f: impl FnOnce(&mut v1::Batch)) -> Bytes {
    let mut b = v1::Batch::decode(batch).expect("a batch");
    f(&mut b);
    b.encode_to_vec().into()
}

/// Publishes `bytes` on `subject` as `cred` of `nation`, with
/// `Nats-Msg-Id: msg_id`, and waits until it is stored.
pub async fn publish_raw(
    mesh: &nats_harness::Mesh,
    nation: &str,
    cred: Credential,
    subject: &str,
    msg_id: &str,
    bytes: Bytes,
) {
    let js = jetstream_as(mesh, nation, cred).await;
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert("Nats-Msg-Id", msg_id);
    within(&format!("publish to {subject}"), async {
        js.publish_with_headers(subject.to_string(), hdrs, bytes)
            .await
            .expect("publish")
            .await
            .expect("stored")
    })
    .await;
}

/// Publishes as [`publish_raw`] does and returns the sequence the message
/// was stored at in its stream: what the reading stage's dead letter
/// (`dlq.<stage>.<partner>.<stream seq>`) and audit records
/// (`source_stream_seq`) name it by.
pub async fn publish_stored(
    mesh: &nats_harness::Mesh,
    nation: &str,
    cred: Credential,
    subject: &str,
    msg_id: &str,
    bytes: Bytes,
) -> u64 {
    let js = jetstream_as(mesh, nation, cred).await;
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert("Nats-Msg-Id", msg_id);
    let ack = within(&format!("publish to {subject}"), async {
        js.publish_with_headers(subject.to_string(), hdrs, bytes)
            .await
            .expect("publish")
            .await
            .expect("stored")
    })
    .await;
    assert!(
        !ack.duplicate,
        "{subject}: {msg_id} was taken for a duplicate"
    );
    ack.sequence
}

/// Stores `identity`'s certificate in the CONTROL stream of the account
/// `cred` belongs to (as a producer does in HOME, and a bridge does in a
/// partner's release account before releasing).
pub async fn store_certificate(
    mesh: &nats_harness::Mesh,
    nation: &str,
    cred: Credential,
    identity: &ProducerIdentity,
) {
    let subject = subjects::control_certificate(
        &identity.nation,
        &identity.producer_id,
        &identity.certificate_sha256(),
    );
    let bytes = v1::ControlMessage {
        body: Some(v1::control_message::Body::Certificate(
            identity.certificate.clone(),
        )),
    }
    .encode_to_vec();
    publish_raw(mesh, nation, cred, &subject, &subject, bytes.into()).await;
}

/// The credential of `from`'s bridge in its release account for `to`.
pub fn release_credential(mesh: &nats_harness::Mesh, from: &str, to: &str) -> Credential {
    mesh.bridge_config(from)
        .expect("config")
        .release
        .iter()
        .find(|l| l.partner == to)
        .expect("a link")
        .credential
        .clone()
}

/// The credential of `producer` of `nation`.
pub fn producer_credential(mesh: &nats_harness::Mesh, nation: &str, producer: &str) -> Credential {
    mesh.clients(nation).expect("clients").producers[producer].clone()
}
