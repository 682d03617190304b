//! A producer's view of its nation's schema policy, so that publishing a
//! version the policy in force does not accept fails at once with a typed
//! error ([`crate::SdkError::SchemaVersionRefused`]) instead of being
//! dead-lettered by the bridge later.
//!
//! The view follows `ctl.schema.<nation>.*` in the nation's CONTROL stream
//! (HOME) and verifies every policy against the nation's root before it
//! counts. It is a courtesy, not the control: the bridge still decides
//! every message, and a policy that arrives between this check and the
//! bridge's decision is the bridge's to apply.
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use coalition_core::certificate::TrustAnchors;
use coalition_core::envelope::MessageType;
use coalition_core::schema::{check_version, phase, verify_schema_policy, SchemaBook};
use coalition_core::DenyReason;
use coalition_schemas::v1::{control_message::Body, ControlMessage};
use futures::StreamExt;
use prost::Message as _;

use coalition_topology::streams::CONTROL;

use crate::{now_ms, SdkError};

/// The nation's schema policies, kept up to date in the background.
#[derive(Debug, Clone)]
pub(crate) struct SchemaWatch {
    nation: String,
    book: Arc<SchemaBook>,
}

impl SchemaWatch {
    /// Reads every schema policy of `nation` stored so far, then follows
    /// new ones until the connection closes.
    pub(crate) async fn start(
        js: &jetstream::Context,
        nation: &str,
        anchors: TrustAnchors,
    ) -> Result<Self, SdkError> {
        let unavailable = |detail: String| SdkError::StreamUnavailable {
            source: None,
            stream: CONTROL.into(),
            detail,
        };
        let stream = js
            .get_stream(CONTROL)
            .await
            .map_err(|e| unavailable(e.to_string()).with_source(e))?;
        let mut consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: coalition_topology::subjects::control_schema_policies(nation),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(e.to_string()).with_source(e))?;
        let mut pending = consumer
            .info()
            .await
            .map_err(|e| unavailable(e.to_string()).with_source(e))?
            .num_pending;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| unavailable(e.to_string()).with_source(e))?;
        let watch = SchemaWatch {
            nation: nation.to_string(),
            book: Arc::new(SchemaBook::new()),
        };
        // Catch up with what is stored before the first publish.
        while pending > 0 {
            match tokio::time::timeout(Duration::from_secs(30), messages.next()).await {
                Ok(Some(Ok(m))) => {
                    watch.apply(&m.payload, &anchors);
                    pending -= 1;
                }
                Ok(Some(Err(e))) => tracing::debug!(error = %e, "schema policy watch"),
                Ok(None) | Err(_) => {
                    return Err(unavailable(
                        "could not read the nation's schema policies".into(),
                    ))
                }
            }
        }
        let follower = watch.clone();
        tokio::spawn(async move {
            while let Some(m) = messages.next().await {
                match m {
                    Ok(m) => follower.apply(&m.payload, &anchors),
                    Err(e) => tracing::debug!(error = %e, "schema policy watch"),
                }
            }
        });
        Ok(watch)
    }

    /// Verifies and records one control message; anything else is ignored
    /// with a warning (the bridge refuses it too).
    fn apply(&self, bytes: &[u8], anchors: &TrustAnchors) {
        let policy = ControlMessage::decode(bytes)
            .ok()
            .and_then(|m| match m.body {
                Some(Body::SchemaPolicy(object)) => Some(object),
                _ => None,
            })
            .ok_or_else(|| "not a schema policy".to_string())
            .and_then(|o| verify_schema_policy(&o, anchors).map_err(|e| e.to_string()));
        match policy {
            Ok(p) if p.nation == self.nation => {
                if let Err(e) = self.book.insert(p) {
                    tracing::warn!(error = %e, "schema policy not applied");
                }
            }
            Ok(p) => tracing::warn!(nation = %p.nation, "schema policy of another nation ignored"),
            Err(why) => tracing::warn!(%why, "schema policy refused"),
        }
    }

    /// Whether `version` of `kind` is accepted now.
    pub(crate) fn check(&self, kind: MessageType, version: u32) -> Result<(), SdkError> {
        let refused = |reason: DenyReason| SdkError::SchemaVersionRefused {
            message_type: kind.as_str(),
            version,
            reason,
        };
        let rule = self
            .book
            .rule(&self.nation, kind)
            .ok_or(refused(DenyReason::UnknownSchemaVersion))?;
        check_version(&phase(&rule, now_ms()), version).map_err(refused)
    }
}
