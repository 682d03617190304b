//! What a producer reads and writes besides its batches: the last batch
//! stored on a feed (where its next seq starts) and its certificate on the
//! control plane (batches name it by digest).
use async_nats::jetstream::{self, stream::LastRawMessageErrorKind};
use coalition_core::batch::decode_batch;
use coalition_core::envelope::ProducerIdentity;
use coalition_schemas::headers;
use coalition_schemas::v1::{control_message::Body, ControlMessage};
use coalition_topology::{streams, subjects};
use prost::Message;

use crate::SdkError;

/// The last seq of the last batch stored on `subject`, or 0 if none.
pub(crate) async fn last_stored_seq(
    stream: &jetstream::stream::Stream,
    subject: &str,
) -> Result<u64, SdkError> {
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(msg) => decode_batch(&msg.payload)
            .map(|b| b.header.last_seq)
            .map_err(|reason| SdkError::Publish {
                source: None,
                subject: subject.into(),
                detail: format!(
                    "the last message stored on this feed is not a valid batch ({reason}), so the \
                     next sequence number is unknown; only this producer's credentials can write \
                     there, so check for another process using them, then have the nation's ops \
                     purge that message from {} (it is already in DEADLETTER)",
                    stream.cached_info().config.name
                ),
            }),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
        Err(e) => Err(SdkError::Publish {
            source: None,
            subject: subject.into(),
            detail: format!("cannot read the feed's last sequence number: {e}"),
        }
        .with_source(e)),
    }
}

/// The last seq this nation's bridge accepted at egress on the feed
/// (`pos.egress_<kind>.<nation>.<producer>.<feed>` in POSITIONS), or 0 if
/// none. It outlives OUTBOUND's retention: after a producer was away longer
/// than that, its next seq must still follow what the bridge accepted, or
/// the bridge refuses it as a replay.
pub(crate) async fn accepted_seq(
    js: &jetstream::Context,
    nation: &str,
    kind: coalition_topology::Kind,
    producer: &str,
    feed: &str,
) -> Result<u64, SdkError> {
    let stage = subjects::position_stage("egress", kind);
    let subject = subjects::position(&stage, nation, producer, feed);
    let error = |detail: String| SdkError::Publish {
        source: None,
        subject: subject.clone(),
        detail: format!("cannot read the bridge's position in the feed: {detail}"),
    };
    let stream = js
        .get_stream_no_info(coalition_topology::streams::POSITIONS)
        .await
        .map_err(|e| error(e.to_string()).with_source(e))?;
    match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(msg) => coalition_schemas::v1::FeedPosition::decode(msg.payload.as_ref())
            .map(|p| p.last_seq)
            .map_err(|e| error(format!("not a FeedPosition: {e}")).with_source(e)),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
        Err(e) => Err(error(e.to_string()).with_source(e)),
    }
}

/// Publishes the producer's certificate on HOME's CONTROL stream, where
/// bridges and subscribers look it up by digest, and waits until it is
/// stored. CONTROL is append-only: a subject takes one message, so after a
/// restart the certificate is found already stored, which is fine; anything
/// else stored under its digest's subject is an error.
pub(crate) async fn publish_certificate(
    js: &jetstream::Context,
    identity: &ProducerIdentity,
) -> Result<(), SdkError> {
    let subject = subjects::control_certificate(
        &identity.nation,
        &identity.producer_id,
        &identity.certificate_sha256(),
    );
    let payload = ControlMessage {
        body: Some(Body::Certificate(identity.certificate.clone())),
    }
    .encode_to_vec();
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert(headers::MSG_ID, subject.as_str());
    let error = |detail: String| SdkError::Publish {
        source: None,
        subject: subject.clone(),
        detail,
    };
    let stored = async {
        js.publish_with_headers(subject.clone(), hdrs, payload.clone().into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let Err(refused) = stored else {
        return Ok(());
    };
    let existing = match js.get_stream(streams::CONTROL).await {
        Ok(stream) => stream.get_last_raw_message_by_subject(&subject).await.ok(),
        Err(_) => None,
    };
    match existing {
        Some(m) if m.payload.as_ref() == payload.as_slice() => Ok(()),
        Some(_) => Err(error(format!(
            "CONTROL already holds a different object under this certificate's subject, \
             and a stored control object is never overwritten; report it to the nation's \
             operators ({refused})"
        ))),
        None => Err(error(format!(
            "{refused} (is the nation's bridge running? it creates the CONTROL stream)"
        ))),
    }
}
