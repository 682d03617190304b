//! What a bridge stage is: a pure decision over a cycle of sealed batches
//! read from one durable consumer, and what the decision returns for the
//! shell ([`crate::pipeline`]) to store.
//!
//! Three stages implement [`Stage`]: egress (a lane's OUTBOUND), paced (a
//! lane's PACED) and ingress (a partner's RELEASED, one per partner and
//! lane). The shell pulls, orders, paces, fetches the facts a decision needs
//! (feed positions, producer certificates), calls [`Stage::decide`] on the
//! blocking pool, stores what it returned, and only then acknowledges the
//! inputs.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_nats::HeaderMap;
use bytes::Bytes;
use coalition_core::feed_position::FeedState;
use coalition_core::DenyReason;
use coalition_schemas::v1::AuditRecord;
use coalition_topology::subjects::Subject;
use coalition_topology::{AlertTopic, Kind};

use crate::BridgeError;

/// Where an output is stored: this nation's HOME account, or the release
/// account of a partner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Target {
    /// HOME: INBOUND, PACED, DEADLETTER, CONTROL, POSITIONS.
    Home,
    /// `REL_<partner>`: RELEASED and CONTROL.
    Partner(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Home => f.write_str("HOME"),
            Target::Partner(p) => write!(f, "REL_{p}"),
        }
    }
}

/// One consumed message (one sealed batch), as the decision sees it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub subject: String,
    pub headers: Option<HeaderMap>,
    pub payload: Bytes,
    /// Sequence in the source stream (dead-letter ids, feed positions).
    pub stream_seq: u64,
}

/// One message the decision wants stored.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub target: Target,
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
    /// The highest feed seq the message carries, for a message on a feed's
    /// subject: it is chained ([`crate::continuity`]). `None` for dead
    /// letters and PACED.
    pub chain_seq: Option<u64>,
}

/// What a cycle's decision counts; recorded only once the cycle is stored,
/// so a redelivered cycle is never counted twice. Record counts, not
/// message counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Counted {
    Released {
        partner: String,
        records: u64,
    },
    Denied {
        partner: String,
        reason: DenyReason,
    },
    Admitted {
        partner: String,
        transit_ms: i64,
    },
    Rejected {
        stage: &'static str,
        partner: String,
        reason: DenyReason,
        records: u64,
    },
    /// A verified producer's batch over its rate, stored in PACED.
    Deferred {
        producer: String,
        records: u64,
    },
    /// A verified producer's batch refused because its PACED backlog is
    /// full (also counted as `Rejected` with `rate_limited`).
    Refused {
        producer: String,
        records: u64,
    },
    /// A PACED batch decided (released, denied or refused) and so no longer
    /// waiting.
    Drained {
        producer: String,
    },
    /// One of this nation's alerts decided at egress (whatever was released
    /// of it); `fused` when its lineage names sources of several nations
    /// (`coalition_core::composite::is_fused`).
    Alert {
        fused: bool,
    },
}

/// A feed as a stage keeps its position: (origin, producer, feed).
pub(crate) type FeedKey = (String, String, String);

/// What the shell fetched before a cycle is decided.
#[derive(Debug, Default)]
pub(crate) struct CycleFacts {
    /// The stored state of every feed the cycle's inputs name.
    pub positions: HashMap<FeedKey, FeedState>,
    /// Inputs (by source-stream sequence) that waited for their certificate
    /// as long as they may: refused (`unknown_certificate`), no longer held.
    pub hold_over: HashSet<u64>,
}

/// The outcome of deciding a cycle.
#[derive(Debug, Default)]
pub(crate) struct Decided {
    pub outputs: Vec<Outgoing>,
    pub counted: Vec<Counted>,
    /// One audit record per decision about a record, appended (as one
    /// block) before the inputs are acknowledged.
    pub audit: Vec<AuditRecord>,
    /// Feed positions this cycle moved, stored with the outputs.
    pub positions: Vec<(FeedKey, FeedState)>,
    /// Producer certificates (by digest) a target must hold before the
    /// outputs to it are stored, so its reader can verify them.
    pub certificates: Vec<(Target, [u8; 32])>,
    /// The first input not decided: it names a certificate not known yet,
    /// so it and everything after it wait (unacknowledged) for it.
    pub held_from: Option<usize>,
}

/// Run before a stage places its gate (the egress stage recounts PACED).
pub(crate) type OnOpen =
    Box<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), BridgeError>> + Send + Sync>;

/// A bridge stage: what it reads, how it decides, and its own needs of the
/// shell.
pub(crate) trait Stage: Send + Sync + 'static {
    /// For logs: e.g. `USA egress (track)`.
    fn name(&self) -> &str;

    /// The stage's label in metrics, audit records and dead letters:
    /// `egress`, `paced` or `ingress`.
    fn label(&self) -> &'static str;

    /// The partner it reads from (ingress), for metrics and holds.
    fn partner(&self) -> Option<&str> {
        None
    }

    /// The lane.
    fn kind(&self) -> Kind;

    /// Whether it keeps feed positions (egress and ingress do; the paced
    /// stage releases batches egress already placed).
    fn keeps_positions(&self) -> bool;

    /// Whether it may decide now; `Err(why)` holds every message
    /// (unacknowledged, so nothing is lost) until it may.
    fn ready(&self) -> Result<(), String>;

    /// The pure decision over a cycle, in source-stream order.
    fn decide(&self, inputs: &[Incoming], facts: &CycleFacts) -> Decided;

    /// Held while a cycle is decided, stored and counted (the paced stage,
    /// so that the egress stage's recount of PACED never sees half a cycle).
    fn guard(&self) -> Option<Arc<tokio::sync::Mutex<()>>> {
        None
    }

    /// Asked after each decision: whether another stage wrote on this
    /// stage's output subjects since, so their continuity state must be
    /// looked up again ([`crate::rate`]).
    fn chains_stale(&self) -> bool {
        false
    }

    /// Run before the gate is placed: at start and after a lease takeover.
    fn on_open(&self) -> futures::future::BoxFuture<'static, Result<(), BridgeError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Unix ms now: a stage asks per record, just before it reads the policy
/// state (tests pass their own).
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Decodes a batch, checks where it arrived (before anything that may wait
/// for a certificate: a misfiled or foreign batch is refused at once), then
/// finds its certificate and verifies it at `now_ms`. `subject` is the
/// subject the batch's header says it belongs on; `origin` whether its
/// origin may come from this source.
pub(crate) fn open_on(
    input: &Incoming,
    cache: &coalition_core::certificate::CertificateCache,
    now_ms: i64,
    subject: impl Fn(&coalition_core::batch::BatchHeader, Option<&AlertTopic>) -> Option<String>,
    origin: impl Fn(&str) -> bool,
) -> Result<coalition_core::batch::VerifiedBatch, DenyReason> {
    use coalition_core::batch::{decode_batch, verify_batch, VerifiedBatch};
    let batch = decode_batch(&input.payload)?;
    let topic = subject_topic(&input.subject);
    // An alert's subject names its topic; a track's has none.
    let topic_shape_ok = (lane(batch.header.message_type) == Kind::Alert) == topic.is_some();
    if !topic_shape_ok
        || subject(&batch.header, topic.as_ref()).as_deref() != Some(input.subject.as_str())
    {
        return Err(DenyReason::SubjectMismatch);
    }
    if !origin(&batch.header.origin) {
        return Err(DenyReason::OriginMismatch);
    }
    let certificate = cache
        .get(&batch.header.producer_cert_sha256)
        .ok_or(DenyReason::UnknownCertificate)?;
    verify_batch(&batch, &certificate, now_ms)?;
    Ok(VerifiedBatch { batch, certificate })
}

/// The topic an alert feed subject ends with; `None` for a track subject
/// or one that does not parse.
pub(crate) fn subject_topic(subject: &str) -> Option<AlertTopic> {
    Subject::parse(subject).ok()?.topic().cloned()
}

/// Whether a record belongs on a subject of `topic`: an alert's payload
/// must have exactly that category and severity (`subject_mismatch`
/// otherwise, also for a payload with no topic at all). Tracks have none.
pub(crate) fn check_topic(
    kind: Kind,
    topic: Option<&AlertTopic>,
    record: &coalition_core::batch::DecodedRecord,
) -> Result<(), DenyReason> {
    if kind == Kind::Track {
        return Ok(());
    }
    let of_payload =
        coalition_core::alert_topic::alert_topic(record.header.schema_version, &record.payload);
    match (topic, of_payload) {
        (Some(t), Some((category, severity)))
            if t.category() == category && t.severity() == severity =>
        {
            Ok(())
        }
        _ => Err(DenyReason::SubjectMismatch),
    }
}

/// The lane of a message type.
pub(crate) fn lane(t: coalition_core::envelope::MessageType) -> Kind {
    match t {
        coalition_core::envelope::MessageType::Track => Kind::Track,
        coalition_core::envelope::MessageType::Alert => Kind::Alert,
    }
}
