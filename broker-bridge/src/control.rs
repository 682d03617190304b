//! The control plane: signed policy documents, translators, revocation
//! notices and heartbeats travelling on the mesh itself.
//!
//! - At start the bridge announces the control objects of its config into
//!   HOME's CONTROL stream (`ctl.>`).
//! - It follows HOME's CONTROL from the first message: everything there is
//!   verified and applied, and this nation's own objects are forwarded into
//!   each partner's release account (`REL_<partner>`, stream CONTROL), which
//!   the partner reads over its leaf link.
//! - It reads each partner's CONTROL stream in order too, message by
//!   message, since it may create no consumer there
//!   ([`crate::partner_control`]).
//! - Every `heartbeat_interval` it sends each partner a heartbeat signed by
//!   its bridge key, with the highest notice epoch it has forwarded.
//!
//! Stages wait until HOME's CONTROL has been read up to where it stood at
//! start ([`ControlPlane::home_caught_up`]); an ingress stage also waits
//! while its view of the partner is stale ([`ControlPlane::freshness`]).
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use async_nats::HeaderMap;
use coalition_core::revocation::{sign_heartbeat, Freshness, Heartbeat};
use coalition_core::signed::CertifiedKey;
use coalition_schemas::headers;
use coalition_schemas::v1::{control_message::Body, AuditDecision, AuditRecord, ControlMessage};
use coalition_topology::{streams, subjects};
use futures::StreamExt;
use prost::Message;
use sha2::Digest;
use tokio::sync::watch;

use crate::audit::Auditor;
use crate::policy_state::{ControlApplied, PolicyState};
use crate::time::now_ms;
use crate::time::pause;
use crate::{telemetry, BridgeError};

/// Which CONTROL stream: HOME's, which operators and producers write, or a
/// release account's, which only this bridge writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlStream {
    /// HOME's: append-only. Every object has a subject of its own (version,
    /// epoch or digest in it), and once a subject holds a message the
    /// server refuses another on it, so no holder of CONTROL-publishing
    /// credentials can overwrite a stored object; nothing deletes or purges.
    Home,
    /// A release account's: only this bridge publishes there (the partner
    /// may only read), and heartbeats reuse their subject, latest kept.
    Release,
}

/// The config of a CONTROL stream.
pub(crate) fn control_stream_config(which: ControlStream, replicas: usize) -> stream::Config {
    let append_only = which == ControlStream::Home;
    stream::Config {
        name: streams::CONTROL.into(),
        subjects: vec!["ctl.>".into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        max_messages_per_subject: 1,
        discard: if append_only {
            stream::DiscardPolicy::New
        } else {
            stream::DiscardPolicy::Old
        },
        discard_new_per_subject: append_only,
        deny_delete: append_only,
        deny_purge: append_only,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// Creates a CONTROL stream if missing, and brings one made by an earlier
/// version (HOME's, not yet append-only) to the current config.
pub(crate) async fn ensure_control_stream(
    js: &jetstream::Context,
    which: ControlStream,
    replicas: usize,
) -> Result<stream::Stream, BridgeError> {
    let config = control_stream_config(which, replicas);
    let mut stream = js
        .get_or_create_stream(config.clone())
        .await
        .map_err(|e| BridgeError::js("create stream CONTROL", e))?;
    let current = &stream.cached_info().config;
    if current.discard_new_per_subject != config.discard_new_per_subject
        || current.discard != config.discard
        || current.deny_delete != config.deny_delete
        || current.deny_purge != config.deny_purge
    {
        js.update_stream(config)
            .await
            .map_err(|e| BridgeError::js("update stream CONTROL to append-only", e))?;
        stream = js
            .get_stream(streams::CONTROL)
            .await
            .map_err(|e| BridgeError::js("stream CONTROL", e))?;
    }
    Ok(stream)
}

/// The control plane of one bridge.
pub(crate) struct ControlPlane {
    pub state: Arc<PolicyState>,
    home_js: jetstream::Context,
    /// (partner, its release account) for every partner released to.
    release: Vec<(String, jetstream::Context)>,
    auditor: Arc<Auditor>,
    bridge_key: Arc<CertifiedKey>,
    forwarded_epoch: AtomicU64,
    caught_up: AtomicBool,
    staleness_ms: i64,
    heartbeat_every: Duration,
    heartbeats_paused: watch::Receiver<bool>,
    /// Held while a heartbeat is being signed and sent.
    pub sending: Arc<tokio::sync::Mutex<()>>,
    /// Which refusals are audited (the rest are counted and logged).
    refusal_audit: crate::rate::RefusalAudit,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("nation", &self.state.nation)
            .finish()
    }
}

/// What the control plane is built from.
pub(crate) struct ControlParts {
    pub state: Arc<PolicyState>,
    pub home_js: jetstream::Context,
    pub release: Vec<(String, jetstream::Context)>,
    pub auditor: Arc<Auditor>,
    pub bridge_key: Arc<CertifiedKey>,
    pub staleness_ms: i64,
    pub heartbeat_every: Duration,
    pub heartbeats_paused: watch::Receiver<bool>,
}

impl ControlPlane {
    pub(crate) fn new(parts: ControlParts) -> Self {
        ControlPlane {
            state: parts.state,
            home_js: parts.home_js,
            release: parts.release,
            auditor: parts.auditor,
            bridge_key: parts.bridge_key,
            forwarded_epoch: AtomicU64::new(0),
            caught_up: AtomicBool::new(false),
            staleness_ms: parts.staleness_ms,
            heartbeat_every: parts.heartbeat_every,
            heartbeats_paused: parts.heartbeats_paused,
            sending: Arc::new(tokio::sync::Mutex::new(())),
            refusal_audit: crate::rate::RefusalAudit::new(),
        }
    }

    /// Whether HOME's CONTROL stream has been applied up to where it stood
    /// when the bridge started; no stage decides anything before.
    pub(crate) fn home_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Whether this bridge's view of `partner`'s revocation state is fresh.
    pub(crate) fn freshness(&self, partner: &str) -> Freshness {
        if !self.home_caught_up() {
            return Freshness::Stale("this nation's CONTROL stream is still being read".into());
        }
        self.state
            .revocations
            .freshness(partner, now_ms(), self.staleness_ms)
    }

    /// Publishes the configured objects (already verified and applied, see
    /// `BridgeSettings::initial_state`) into HOME's CONTROL stream, each
    /// under its subject.
    pub(crate) async fn announce(
        &self,
        objects: &[ControlMessage],
        subjects: &[String],
    ) -> Result<(), BridgeError> {
        for (object, subject) in objects.iter().zip(subjects) {
            publish(&self.home_js, subject, object.encode_to_vec()).await?;
        }
        Ok(())
    }

    /// Follows HOME's CONTROL stream until shutdown.
    pub(crate) async fn follow_home(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let js = self.home_js.clone();
        let this = self.clone();
        follow("home CONTROL".into(), js, shutdown, move |event| {
            let this = this.clone();
            async move {
                match event {
                    Follow::Message(m) => this.on_home_message(&m).await,
                    Follow::CaughtUp => {
                        this.caught_up.store(true, Ordering::Release);
                        tracing::info!(nation = %this.state.nation, "control state caught up");
                        Ok(())
                    }
                }
            }
        })
        .await;
    }

    async fn on_home_message(&self, message: &jetstream::Message) -> Result<(), BridgeError> {
        let Some(applied) = self
            .apply(&message.subject, &message.payload, "home")
            .await?
        else {
            return Ok(());
        };
        let home = &self.state.nation;
        for (partner, js) in &self.release {
            if applied.forward_to(home, partner) {
                publish(js, &applied.subject(), message.payload.to_vec()).await?;
            }
        }
        if let ControlApplied::Notice { notice, .. } = &applied {
            if notice.issuer == *home {
                self.forwarded_epoch
                    .fetch_max(notice.epoch, Ordering::AcqRel);
            }
        }
        Ok(())
    }

    /// Follows `partner`'s CONTROL stream (over the leaf link) until shutdown.
    pub(crate) async fn follow_partner(
        self: Arc<Self>,
        partner: String,
        js: jetstream::Context,
        shutdown: watch::Receiver<bool>,
    ) {
        let this = self.clone();
        let from = partner.clone();
        // A partner beats every second or so, and each beat wakes the
        // reader; the poll is for a wake-up lost with a link.
        crate::partner_control::follow_by_sequence(
            format!("{partner} CONTROL"),
            js,
            self.heartbeat_every,
            shutdown,
            move |read| {
                let (this, from) = (this.clone(), from.clone());
                async move {
                    this.apply(&read.subject, &read.payload, &from).await?;
                    Ok(())
                }
            },
        )
        .await;
    }

    /// Verifies and applies one control message; refusals are logged and
    /// counted (the message stays in its stream). New notices are audited.
    async fn apply(
        &self,
        subject: &str,
        payload: &[u8],
        source: &str,
    ) -> Result<Option<ControlApplied>, BridgeError> {
        let nation = &self.state.nation;
        let decoded = ControlMessage::decode(payload)
            .map_err(|e| format!("not a control object (protobuf ControlMessage): {e}"));
        let applied =
            decoded.and_then(|m| self.state.apply(&m, now_ms()).map_err(|e| e.to_string()));
        let applied = match applied {
            Ok(a) => a,
            Err(why) => {
                tracing::warn!(%nation, %source, %subject, %why, "control object refused");
                telemetry::control_refused(nation, source);
                if self.refusal_audit.audit(source) {
                    self.auditor
                        .append(vec![refused_record(source, subject, &why)])
                        .await?;
                } else {
                    telemetry::control_refused_unaudited(nation, source);
                }
                return Ok(None);
            }
        };
        match &applied {
            ControlApplied::Notice { notice, new: true } => {
                tracing::warn!(%nation, %source, notice = %notice.summary(), "revocation notice applied");
                telemetry::notice_applied(nation, &notice.issuer);
                self.auditor
                    .append(vec![revoke_record(source, notice)])
                    .await?;
            }
            ControlApplied::Policy {
                new: true,
                nation: n,
                version,
            } => {
                tracing::info!(%nation, %source, policy = %format!("{n} v{version}"), "policy document applied");
                telemetry::control_applied(nation, "policy");
            }
            ControlApplied::Translator {
                new: true,
                id,
                version,
                ..
            } => {
                tracing::info!(%nation, %source, translator = %format!("{id}@{version}"), "translator applied");
                telemetry::control_applied(nation, "translator");
            }
            ControlApplied::SchemaPolicy {
                new: true,
                nation: n,
                version,
            } => {
                tracing::warn!(%nation, %source, schema_policy = %format!("{n} v{version}"), "schema policy in force");
                telemetry::control_applied(nation, "schema_policy");
            }
            _ => {}
        }
        Ok(Some(applied))
    }

    /// Sends heartbeats to every partner until shutdown.
    pub(crate) async fn heartbeats(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let nation = self.state.nation.clone();
        loop {
            let sending = self.sending.lock().await;
            if !*self.heartbeats_paused.borrow() && self.home_caught_up() {
                let beat = Heartbeat {
                    epoch: announced_epoch(
                        self.forwarded_epoch.load(Ordering::Acquire),
                        self.state.revocations.epoch(&nation),
                    ),
                    issued_at_ms: now_ms(),
                };
                let key = &self.bridge_key;
                match sign_heartbeat(&nation, beat, &key.key, key.certificate.clone()) {
                    Ok(signed) => {
                        let bytes = ControlMessage {
                            body: Some(Body::Heartbeat(signed)),
                        }
                        .encode_to_vec();
                        for (partner, js) in &self.release {
                            let subject = subjects::control_heartbeat(&nation);
                            if let Err(e) = publish(js, &subject, bytes.clone()).await {
                                tracing::debug!(%nation, %partner, error = %e, "heartbeat not stored");
                            }
                        }
                    }
                    Err(e) => tracing::error!(%nation, error = %e, "cannot sign heartbeat"),
                }
            }
            drop(sending);
            if pause(&mut shutdown, self.heartbeat_every).await {
                return;
            }
        }
    }
}

/// The audit record of an applied notice.
/// The reason of an audited refused control object.
pub(crate) const CONTROL_REFUSED: &str = "control_refused";

/// The audit record of a control object refused from `source`, stored
/// under `subject`, with why.
fn refused_record(source: &str, subject: &str, why: &str) -> AuditRecord {
    AuditRecord {
        decision: AuditDecision::Reject as i32,
        stage: "control".into(),
        partner: if source == "home" {
            String::new()
        } else {
            source.to_string()
        },
        msg_id: subject.to_string(),
        reason: CONTROL_REFUSED.into(),
        decided_at_ms: now_ms(),
        detail: why.to_string(),
        ..Default::default()
    }
}

fn revoke_record(source: &str, notice: &coalition_core::revocation::Notice) -> AuditRecord {
    AuditRecord {
        decision: AuditDecision::Revoke as i32,
        stage: "control".into(),
        partner: if source == "home" {
            String::new()
        } else {
            source.to_string()
        },
        msg_id: notice.name(),
        decided_at_ms: now_ms(),
        detail: format!(
            "{} (issued {}, reason: {})",
            notice.summary(),
            notice.issued_at_ms,
            notice.reason
        ),
        ..Default::default()
    }
}

/// The revocation epoch a heartbeat announces: the highest this nation
/// forwarded, but never past the last epoch up to which every one of its
/// notices was applied here. A notice this bridge refused (garbage, or
/// signed by a revoked authority key) leaves a hole at its epoch that no
/// notice can fill, since HOME's CONTROL is append-only; announcing past it
/// would hold every partner stale for good, waiting for an epoch that will
/// never come. Notices after a hole still reach partners, in stream order
/// before any later heartbeat.
fn announced_epoch(forwarded: u64, applied_without_gaps: u64) -> u64 {
    forwarded.min(applied_without_gaps)
}

/// Publishes a control object under `subject` and waits until it is stored.
/// On HOME's append-only CONTROL a subject takes one message only: an
/// object already stored there byte for byte (announced at an earlier
/// start) is fine; a different one is an error naming the subject.
pub(crate) async fn publish(
    js: &jetstream::Context,
    subject: &str,
    bytes: Vec<u8>,
) -> Result<(), BridgeError> {
    let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    let mut hdrs = HeaderMap::new();
    hdrs.insert(
        headers::MSG_ID,
        format!("{subject}.{}", hex::encode(&digest[..8])).as_str(),
    );
    let stored = async {
        js.publish_with_headers(subject.to_string(), hdrs, bytes.clone().into())
            .await
            .map_err(|e| BridgeError::js(format!("publish {subject}"), e))?
            .await
            .map_err(|e| BridgeError::js(format!("store {subject}"), e))
    }
    .await;
    let Err(refused) = stored else {
        return Ok(());
    };
    let existing = match js.get_stream(streams::CONTROL).await {
        Ok(stream) => stream.get_last_raw_message_by_subject(subject).await.ok(),
        Err(_) => None,
    };
    match existing {
        Some(m) if m.payload.as_ref() == bytes.as_slice() => Ok(()),
        Some(_) => Err(BridgeError::Config(format!(
            "CONTROL already holds a different object under {subject}, and a stored \
             control object is never overwritten: give the new one a new version \
             (or epoch) ({refused})"
        ))),
        None => Err(refused),
    }
}

/// What a follower sees.
enum Follow {
    /// The next message of the stream, in order.
    Message(Box<jetstream::Message>),
    /// Everything stored when following began has been handled.
    CaughtUp,
}

/// Reads a CONTROL stream of this nation's own from its first message, in
/// order, forever: reconnects and resumes after the last handled sequence
/// on any error.
async fn follow<F, Fut>(
    name: String,
    js: jetstream::Context,
    mut shutdown: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(Follow) -> Fut,
    Fut: std::future::Future<Output = Result<(), BridgeError>>,
{
    let mut next_seq = 1u64;
    let mut caught_up = false;
    loop {
        let mut position = Position {
            next_seq: &mut next_seq,
            caught_up: &mut caught_up,
        };
        let result = follow_once(&js, &mut position, &handle, &mut shutdown).await;
        match result {
            Ok(()) => return,
            Err(e) => tracing::info!(stream = %name, error = %e, "control follower restarting"),
        }
        if pause(&mut shutdown, Duration::from_millis(500)).await {
            return;
        }
    }
}

/// Where a follower stands: the next sequence to read, and whether it has
/// reached the end of the stream as it was when it started.
struct Position<'a> {
    next_seq: &'a mut u64,
    caught_up: &'a mut bool,
}

async fn follow_once<F, Fut>(
    js: &jetstream::Context,
    position: &mut Position<'_>,
    handle: &F,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), BridgeError>
where
    F: Fn(Follow) -> Fut,
    Fut: std::future::Future<Output = Result<(), BridgeError>>,
{
    let mut stream = js
        .get_stream(streams::CONTROL)
        .await
        .map_err(|e| BridgeError::js("CONTROL stream", e))?;
    let last = stream
        .info()
        .await
        .map_err(|e| BridgeError::js("CONTROL stream info", e))?
        .state
        .last_sequence;
    let Position {
        next_seq,
        caught_up,
    } = position;
    if !**caught_up && last < **next_seq {
        **caught_up = true;
        handle(Follow::CaughtUp).await?;
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: **next_seq,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| BridgeError::js("CONTROL consumer", e))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| BridgeError::js("CONTROL messages", e))?;
    loop {
        let item = tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            item = messages.next() => item,
        };
        let message = match item {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(BridgeError::js("CONTROL messages", e)),
            None => return Err(BridgeError::js("CONTROL messages", "stream ended")),
        };
        let seq = message.info().map_or(**next_seq, |i| i.stream_sequence);
        handle(Follow::Message(Box::new(message))).await?;
        **next_seq = seq + 1;
        if !**caught_up && seq >= last {
            **caught_up = true;
            handle(Follow::CaughtUp).await?;
        }
    }
}
