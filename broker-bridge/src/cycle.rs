//! One cycle of a stage: the batches the gate released, decided and
//! stored.
//!
//! 1. Peek at each batch's signed header (no record decoding) to learn its
//!    feed and its certificate.
//! 2. Fetch the facts the decision needs: certificates not cached yet
//!    ([`crate::certificates`]) and the feeds' stored positions
//!    ([`crate::positions`]).
//! 3. Decide, on the lane's CPU threads (ML-DSA verification is CPU
//!    work; [`coalition_cpu_lanes`] runs an alert's ahead of tracks').
//! 4. Store, in this order: certificates a target must hold first; then
//!    the outputs (chained, [`crate::continuity`]), the feed positions and
//!    the audit block, all in flight at once; then acknowledge the inputs.
//!
//! Batches after one that waits for its certificate are not decided; they
//! go back to the gate with it.
use std::collections::HashSet;

use async_nats::jetstream;
use coalition_core::batch::peek_header;
use coalition_schemas::headers;
use coalition_topology::subjects::Subject;
use coalition_topology::Kind;

use crate::certificates::{self, Forwarded, HoldBound, Holds};
use crate::continuity::{Break, ChainState};
use crate::positions::Positions;
use crate::shell::Shell;
use crate::stage::{Counted, CycleFacts, FeedKey, Incoming, Stage, Target};
use crate::BridgeError;

/// What a stage keeps between cycles: continuity chains, feed positions,
/// certificates forwarded, and which batch waits for a certificate.
pub(crate) struct CycleState {
    chains: ChainState,
    positions: Positions,
    forwarded: Forwarded,
    holds: Holds,
}

impl CycleState {
    pub(crate) fn new(stage: &str, kind: Kind, hold: HoldBound) -> Self {
        CycleState {
            chains: ChainState::default(),
            positions: Positions::new(stage, kind),
            forwarded: Forwarded::default(),
            holds: Holds::new(hold),
        }
    }

    /// Forgets what another instance may have changed since (after the
    /// lease was lost).
    pub(crate) fn forget(&mut self) {
        self.chains = ChainState::default();
        self.positions.forget();
    }

    /// Whether a batch waits for its certificate.
    pub(crate) fn holding_certificate(&self) -> bool {
        self.holds.is_waiting()
    }
}

/// What a stored cycle did.
pub(crate) struct Done {
    /// The last source sequence stored (and acknowledged), if any.
    pub stored_through: Option<u64>,
    /// Batches not decided (waiting for a certificate), to put back.
    pub waiting: Vec<(u64, jetstream::Message)>,
    pub counted: Vec<Counted>,
    pub breaks: Vec<Break>,
}

/// A failed cycle: the error, and the batches to negatively acknowledge.
pub(crate) type Failed = (BridgeError, Vec<jetstream::Message>);

/// Runs one cycle over `ready` (in source order).
pub(crate) async fn run<S: Stage>(
    stage: &std::sync::Arc<S>,
    shell: &Shell,
    ready: Vec<(u64, jetstream::Message)>,
    state: &mut CycleState,
) -> Result<Done, Failed> {
    let inputs: Vec<Incoming> = ready
        .iter()
        .map(|(seq, m)| Incoming {
            subject: m.subject.to_string(),
            headers: m.headers.clone(),
            payload: m.payload.clone(),
            stream_seq: *seq,
        })
        .collect();
    let facts = match facts(&**stage, shell, &inputs, state).await {
        Ok(f) => f,
        Err(e) => return Err((e, ready.into_iter().map(|(_, m)| m).collect())),
    };
    let (inputs, mut decided) = match decide(stage, inputs, facts).await {
        Ok(d) => d,
        Err(e) => return Err((e, ready.into_iter().map(|(_, m)| m).collect())),
    };
    let split = decided.held_from.unwrap_or(ready.len()).min(ready.len());
    let mut ready = ready;
    let waiting = ready.split_off(split);
    state.holds.held(waiting.first().map(|(seq, _)| *seq));
    let batch: Vec<jetstream::Message> = ready.into_iter().map(|(_, m)| m).collect();
    let stored_through = split.checked_sub(1).map(|i| inputs[i].stream_seq);
    if batch.is_empty() {
        return Ok(Done {
            stored_through,
            waiting,
            counted: Vec::new(),
            breaks: Vec::new(),
        });
    }
    if stage.chains_stale() {
        state.chains.forget_written();
    }
    let chain = state.chains.read_inputs(
        inputs[..split]
            .iter()
            .map(|i| (i.subject.as_str(), i.headers.as_ref())),
        Target::Home,
    );
    let positions = std::mem::take(&mut decided.positions);
    let stored = store(shell, state, &mut decided, chain, &positions).await;
    let chain = match stored {
        Ok(chain) => chain,
        Err(e) => return Err((e, batch)),
    };
    for m in &batch {
        if let Err(e) = m.ack().await {
            return Err((BridgeError::js("ack", e), Vec::new()));
        }
    }
    let breaks = chain.breaks.clone();
    state.chains.commit(chain);
    state.positions.commit(positions);
    Ok(Done {
        stored_through,
        waiting,
        counted: decided.counted,
        breaks,
    })
}

/// Runs the stage's pure decision on its lane's CPU threads: an alert
/// stage's verification runs ahead of a track stage's
/// ([`coalition_cpu_lanes`]).
async fn decide<S: Stage>(
    stage: &std::sync::Arc<S>,
    inputs: Vec<Incoming>,
    facts: CycleFacts,
) -> Result<(Vec<Incoming>, crate::stage::Decided), BridgeError> {
    let lane = coalition_cpu_lanes::Lane::from(stage.kind());
    let stage = stage.clone();
    coalition_cpu_lanes::run(lane, move || {
        let decided = stage.decide(&inputs, &facts);
        (inputs, decided)
    })
    .await
    .map_err(|e| BridgeError::js("decision task", e))
}

/// Certificates looked up and feed positions loaded for `inputs`.
async fn facts<S: Stage>(
    stage: &S,
    shell: &Shell,
    inputs: &[Incoming],
    state: &mut CycleState,
) -> Result<CycleFacts, BridgeError> {
    let mut feeds: Vec<FeedKey> = Vec::new();
    let mut producers: Vec<(u64, String)> = Vec::new();
    let mut looked_up = HashSet::new();
    for input in inputs {
        let Ok(header) = peek_header(&input.payload) else {
            continue;
        };
        if looked_up.insert(header.producer_cert_sha256) {
            certificates::fetch(&shell.certificates_from, &header, &shell.cache).await;
        }
        // The producer a cool-down applies to: the subject's, which NATS
        // permissions bind to the publisher at egress.
        let producer = match Subject::parse(&input.subject) {
            Ok(Subject::Outbound { producer, .. }) => producer,
            _ => header.producer_id.clone(),
        };
        producers.push((input.stream_seq, producer));
        feeds.push((header.origin, header.producer_id, header.feed));
    }
    let positions = if stage.keeps_positions() {
        state.positions.load(feeds, shell.home()?).await?
    } else {
        Default::default()
    };
    let hold_over = state.holds.over(&producers);
    for (seq, producer) in &producers {
        if hold_over.contains(seq) {
            state.holds.refused(producer);
        }
    }
    Ok(CycleFacts {
        positions,
        hold_over,
    })
}

/// Stores a decided cycle: certificates first, then outputs, positions and
/// the audit block together. Returns the chain links used, to commit once
/// the inputs are acknowledged.
async fn store(
    shell: &Shell,
    state: &mut CycleState,
    decided: &mut crate::stage::Decided,
    mut chain: crate::continuity::ChainBatch,
    positions: &[(FeedKey, coalition_core::feed_position::FeedState)],
) -> Result<crate::continuity::ChainBatch, BridgeError> {
    state
        .forwarded
        .ensure(&decided.certificates, &shell.targets, &shell.cache)
        .await?;
    let chained: Vec<(Target, String)> = decided
        .outputs
        .iter()
        .filter(|o| o.chain_seq.is_some())
        .map(|o| (o.target.clone(), o.subject.clone()))
        .collect();
    state.chains.load(chained, &shell.targets).await?;
    let mut pending = Vec::with_capacity(decided.outputs.len() + positions.len());
    for mut out in std::mem::take(&mut decided.outputs) {
        let ctx = shell
            .targets
            .get(&out.target)
            .ok_or_else(|| BridgeError::js("publish", format!("no target {}", out.target)))?;
        if let Some(seq) = out.chain_seq {
            let prev = state
                .chains
                .link(&mut chain, &out.target, &out.subject, seq);
            out.headers
                .insert(headers::PREV_SEQ, prev.to_string().as_str());
        }
        let ack = ctx
            .publish_with_headers(out.subject.clone(), out.headers, out.payload)
            .await
            .map_err(|e| BridgeError::js(format!("publish to {}", out.subject), e))?;
        pending.push((out.subject, ack));
    }
    let home = shell.home()?;
    for (subject, hdrs, payload) in state.positions.to_store(positions) {
        let ack = home
            .publish_with_headers(subject.clone(), hdrs, payload)
            .await
            .map_err(|e| BridgeError::js(format!("publish to {subject}"), e))?;
        pending.push((subject, ack));
    }
    let acks = async {
        for (subject, ack) in pending {
            ack.await
                .map_err(|e| BridgeError::js(format!("store of {subject}"), e))?;
        }
        Ok::<(), BridgeError>(())
    };
    let audit = shell.auditor.append(std::mem::take(&mut decided.audit));
    let (stored, audited) = tokio::join!(acks, audit);
    stored?;
    audited?;
    Ok(chain)
}
