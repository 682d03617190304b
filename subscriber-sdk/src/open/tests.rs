//! Permit/deny table for the payload a record is served with.
use bytes::Bytes;
use coalition_core::batch::{decode_batch, seal_batch, RecordDraft};
use coalition_core::envelope::{MessageType, ProducerIdentity};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::Label;
use coalition_core::schema::transcode_payload;
use coalition_core::DenyReason;
use coalition_schemas::v1::{self, AlertMessageType, AlertReference, AlertV1, AlertV2, TrackV1};
use prost::Message as _;

use super::served_payload;

fn identity() -> ProducerIdentity {
    ProducerIdentity {
        nation: "USA".into(),
        producer_id: "radar-1".into(),
        key: SigningKeyPair::generate(Algorithm::MlDsa65, "test producer"),
        certificate: Bytes::from_static(b"not verified here"),
    }
}

fn draft(version: u32, payload: Vec<u8>) -> RecordDraft {
    RecordDraft {
        schema_version: version,
        label: Label::new("USA", "SECRET", &["GBR"]),
        payload: payload.into(),
        corrects_seq: None,
        product_id: "t-1".into(),
        derived_from: Vec::new(),
        produced_at_ms: 1,
    }
}

/// Decoded records of a sealed batch: [0] a v1 track, [1] the same track
/// with its payload changed after sealing.
fn records(kind: MessageType, payload: Vec<u8>) -> Vec<coalition_core::batch::DecodedRecord> {
    records_in(kind, 1, payload)
}

/// [`records`] of schema `version`.
fn records_in(
    kind: MessageType,
    version: u32,
    payload: Vec<u8>,
) -> Vec<coalition_core::batch::DecodedRecord> {
    let sealed = seal_batch(
        &identity(),
        kind,
        "tracks",
        1,
        &[draft(version, payload.clone()), draft(version, payload)],
        1,
    )
    .expect("seals");
    let mut wire = v1::Batch::decode(sealed.bytes.as_ref()).expect("decodes");
    let mut tampered = wire.records[1].payload.to_vec();
    tampered.push(0x08);
    wire.records[1].payload = tampered.into();
    decode_batch(&wire.encode_to_vec())
        .expect("decodes")
        .records
}

#[test]
fn served_payload_permits_and_denies() {
    let track = TrackV1 {
        track_id: "t-1".into(),
        latitude_deg: 51.5,
        longitude_deg: -0.12,
        speed_mps: 240.0,
        heading_deg: 90.0,
        confidence: 0.9,
        ..Default::default()
    };
    let bytes = track.encode_to_vec();
    let tracks = records(MessageType::Track, bytes.clone());
    let alert = AlertV1::default().encode_to_vec();
    let alerts = records(MessageType::Alert, alert.clone());
    let (alert_v2, _) = transcode_payload(MessageType::Alert, &alert, 1, 2).expect("transcodes");
    let cancel = AlertV2 {
        message_type: AlertMessageType::Cancel as i32,
        references: vec![AlertReference {
            alert_id: "A-1".into(),
            ..Default::default()
        }],
        ..AlertV2::decode(alert_v2.as_ref()).expect("decodes")
    };
    let cancels = records_in(MessageType::Alert, 2, cancel.encode_to_vec());
    let invalid = AlertV2::default().encode_to_vec();
    let invalid_alerts = records_in(MessageType::Alert, 2, invalid);
    let (v2, _) = transcode_payload(MessageType::Track, &bytes, 1, 2).expect("transcodes");
    let mut wrong_v2 = v2.to_vec();
    wrong_v2.push(0x08);
    let none = Bytes::new();
    type Case<'a> = (
        &'static str,
        &'a coalition_core::batch::DecodedRecord,
        MessageType,
        u32,
        Bytes,
        Result<Option<u32>, DenyReason>,
    );
    let cases: Vec<Case> = vec![
        (
            "own version, nothing transcoded",
            &tracks[0],
            MessageType::Track,
            1,
            none.clone(),
            Ok(None),
        ),
        (
            "own version with a second payload",
            &tracks[0],
            MessageType::Track,
            1,
            Bytes::from_static(b"x"),
            Err(DenyReason::PayloadDigestMismatch),
        ),
        (
            "v1 served as v2, transcoded as the SDK does",
            &tracks[0],
            MessageType::Track,
            2,
            v2.clone(),
            Ok(Some(1)),
        ),
        (
            "v1 served as v2, transcoded otherwise",
            &tracks[0],
            MessageType::Track,
            2,
            wrong_v2.into(),
            Err(DenyReason::PayloadDigestMismatch),
        ),
        (
            "v1 served as v2 without a transcoded payload",
            &tracks[0],
            MessageType::Track,
            2,
            none.clone(),
            Err(DenyReason::PayloadDigestMismatch),
        ),
        (
            "a version that does not exist",
            &tracks[0],
            MessageType::Track,
            3,
            v2.clone(),
            Err(DenyReason::UntranscodablePayload),
        ),
        (
            "a v1 alert served as v2, transcoded as the SDK does",
            &alerts[0],
            MessageType::Alert,
            2,
            alert_v2,
            Ok(Some(1)),
        ),
        (
            "a v1 alert served as v2 with a track's payload",
            &alerts[0],
            MessageType::Alert,
            2,
            v2,
            Err(DenyReason::PayloadDigestMismatch),
        ),
        (
            "a v2 cancel served as v1",
            &cancels[0],
            MessageType::Alert,
            1,
            AlertV1::default().encode_to_vec().into(),
            Err(DenyReason::UntranscodablePayload),
        ),
        (
            "an invalid v2 alert served as v1",
            &invalid_alerts[0],
            MessageType::Alert,
            1,
            AlertV1::default().encode_to_vec().into(),
            Err(DenyReason::InvalidPayload),
        ),
        (
            "a payload changed after sealing",
            &tracks[1],
            MessageType::Track,
            1,
            none,
            Err(DenyReason::PayloadDigestMismatch),
        ),
    ];
    for (what, record, kind, version, transcoded, expected) in cases {
        let got = served_payload(record, kind, version, &transcoded).map(|(_, from, _)| from);
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn a_transcoded_payload_reports_what_it_lost() {
    let track = TrackV1 {
        track_id: "t-1".into(),
        confidence: 0.9,
        ..Default::default()
    };
    let bytes = track.encode_to_vec();
    let tracks = records(MessageType::Track, bytes.clone());
    let (v2, lossy) = transcode_payload(MessageType::Track, &bytes, 1, 2).expect("transcodes");
    let (payload, from, ours) =
        served_payload(&tracks[0], MessageType::Track, 2, &v2).expect("served");
    assert_eq!(payload, v2);
    assert_eq!(from, Some(1));
    let expected: Vec<String> = lossy
        .iter()
        .map(|(f, l)| format!("{f}:{}", l.as_str()))
        .collect();
    assert_eq!(ours, expected);
    assert!(!ours.is_empty(), "v1 confidence is semantic in v2");
}
