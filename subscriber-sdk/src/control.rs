//! Publishing signed control objects into a nation's CONTROL stream: what
//! ops use to issue revocation notices (unilaterally), and to put new
//! policy documents and translators on the mesh. The nation's bridge
//! verifies, applies and forwards them to its partners.
//!
//! Writing `ctl.>` in HOME needs the bridge's HOME credentials (from the
//! generated bridge config); no producer or subscriber user may.
use async_nats::jetstream;
use coalition_core::revocation::{sign_notice, Notice, NoticeSigner, Revoked};
use coalition_schemas::v1::{control_message::Body, ControlMessage, SignedObject};
use coalition_topology::{streams, subjects};
use prost::Message;

use crate::connect::ConnectSpec;
use crate::{now_ms, SdkError};

/// A connection to one nation's CONTROL stream.
#[derive(Debug)]
pub struct ControlPublisher {
    js: jetstream::Context,
    nation: String,
}

impl ControlPublisher {
    /// Connects to `nation`'s servers as `operator` (the clients file's
    /// operator user), over mutual TLS with its certificate.
    pub async fn connect<S: AsRef<str>>(
        servers: impl IntoIterator<Item = S>,
        nation: &str,
        operator: &coalition_topology::Credential,
    ) -> Result<Self, SdkError> {
        let mut spec = ConnectSpec::new(servers, &format!("{nation}-control"));
        spec.tls = Some(operator.tls.clone());
        let client = spec.connect().await?;
        Ok(ControlPublisher {
            js: jetstream::new(client),
            nation: nation.to_string(),
        })
    }

    /// Publishes a signed object of the given kind under `subject` and waits
    /// until it is stored. `expect_new` refuses to overwrite an existing
    /// object on that subject.
    async fn publish(&self, subject: String, body: Body, expect_new: bool) -> Result<(), SdkError> {
        let bytes = ControlMessage { body: Some(body) }.encode_to_vec();
        let mut hdrs = async_nats::HeaderMap::new();
        if expect_new {
            hdrs.insert("Nats-Expected-Last-Subject-Sequence", "0");
        }
        let error = |detail: String| SdkError::Publish {
            source: None,
            subject: subject.clone(),
            detail,
        };
        self.js
            .publish_with_headers(subject.clone(), hdrs, bytes.into())
            .await
            .map_err(|e| error(e.to_string()).with_source(e))?
            .await
            .map_err(|e| {
                error(format!(
                    "{e} (is the nation's bridge running? it creates the CONTROL stream)"
                ))
            })?;
        Ok(())
    }

    /// Publishes a signed policy document (`version` of `nation`).
    pub async fn publish_policy(
        &self,
        nation: &str,
        version: u32,
        signed: SignedObject,
    ) -> Result<(), SdkError> {
        self.publish(
            subjects::control_policy(nation, version),
            Body::Policy(signed),
            false,
        )
        .await
    }

    /// Publishes a signed schema policy: in force on every bridge that reads
    /// it if its version is the nation's highest, with no restart.
    pub async fn publish_schema_policy(
        &self,
        nation: &str,
        version: u32,
        signed: SignedObject,
    ) -> Result<(), SdkError> {
        self.publish(
            subjects::control_schema_policy(nation, version),
            Body::SchemaPolicy(signed),
            false,
        )
        .await
    }

    /// Publishes a co-signed translator.
    pub async fn publish_translator(
        &self,
        id: &str,
        version: u32,
        signed: SignedObject,
    ) -> Result<(), SdkError> {
        self.publish(
            subjects::control_translator(id, version),
            Body::Translator(signed),
            false,
        )
        .await
    }

    /// The highest notice epoch this nation has issued (0 if none).
    pub async fn last_epoch(&self) -> Result<u64, SdkError> {
        let unavailable = |detail: String| SdkError::StreamUnavailable {
            source: None,
            stream: streams::CONTROL.into(),
            detail,
        };
        let stream = self
            .js
            .get_stream(streams::CONTROL)
            .await
            .map_err(|e| unavailable(e.to_string()).with_source(e))?;
        let info = stream
            .info_with_subjects(subjects::control_notices(&self.nation))
            .await
            .map_err(|e| unavailable(e.to_string()).with_source(e))?;
        use futures::TryStreamExt;
        let subjects: Vec<(String, usize)> = info
            .try_collect()
            .await
            .map_err(|e| unavailable(e.to_string()).with_source(e))?;
        Ok(subjects
            .iter()
            .filter_map(|(s, _)| match subjects::Subject::parse(s) {
                Ok(subjects::Subject::Control(subjects::ControlSubject::Notice {
                    issuer,
                    epoch,
                })) if issuer == self.nation => Some(epoch),
                _ => None,
            })
            .max()
            .unwrap_or(0))
    }

    /// Signs and publishes a revocation notice with `signer` (this
    /// nation's revocation authority, or its root in an emergency), at the
    /// next epoch, in force from `effective_from_ms` (now if `None`).
    /// Returns the notice as published.
    pub async fn revoke(
        &self,
        signer: NoticeSigner<'_>,
        revoked: Revoked,
        effective_from_ms: Option<i64>,
        reason: &str,
    ) -> Result<Notice, SdkError> {
        let now = now_ms();
        let notice = Notice {
            issuer: self.nation.clone(),
            epoch: self.last_epoch().await? + 1,
            effective_from_ms: effective_from_ms.unwrap_or(now),
            issued_at_ms: now,
            reason: reason.to_string(),
            revoked,
        };
        let signed = sign_notice(&notice, signer).map_err(|e| SdkError::Identity(e.to_string()))?;
        self.publish(
            subjects::control_notice(&notice.issuer, notice.epoch),
            Body::Notice(signed),
            true,
        )
        .await?;
        Ok(notice)
    }
}
