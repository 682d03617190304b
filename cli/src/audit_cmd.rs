//! `coalition audit verify|show|tail|dump`: reads a nation's audit log (the
//! `AUDIT` stream of its HOME account, subject `audit.<NATION>`) as the
//! nation's auditor user of its clients file (a mesh folder's, or a
//! deployed nation's with `--clients`: [`crate::attach`]), and checks or
//! prints it. Only `verify` reads keys (the roots that certify the
//! checkpoints' signers).
//!
//! Read-only: it reads with ordered (ephemeral) consumers and direct
//! message gets, and leaves no durable consumer behind. The checks
//! themselves are `coalition_core::audit`; this file connects, reads and
//! formats.
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use clap::{Args, Subcommand};
use coalition_core::audit::{decision_name, decode_block, records_for, verify_chain, RecordRef};
use coalition_core::label::Label;
use coalition_schemas::v1;
use coalition_topology::ClientsConfig;
use futures::StreamExt;

use crate::attach::{AttachArgs, Keys};
use crate::error::CliError;

/// The audit stream (as the bridge creates it).
const AUDIT_STREAM: &str = "AUDIT";
/// Bound on connecting and on each wait for a stored message.
const IO_LIMIT: Duration = Duration::from_secs(30);

/// Check or print a nation's audit log.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the signed checkpoints; exit 1 on any problem.
    Verify(VerifyArgs),
    /// Every record about one message: decision, labels, translator,
    /// policy versions, key.
    Show(ShowArgs),
    /// The latest records, one line each.
    Tail(TailArgs),
    /// Every record as one JSON object per line (for scripts, exercises and
    /// incident review); the chain is not checked here, `verify` does that.
    Dump(DumpArgs),
}

/// `audit dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    #[command(flatten)]
    attach: AttachArgs,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    attach: AttachArgs,
    /// First block index to check (its link to the block before is taken
    /// as given).
    #[arg(long)]
    from_index: Option<u64>,
    /// Last block index to check.
    #[arg(long)]
    to_index: Option<u64>,
}

/// `audit show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    attach: AttachArgs,
    /// `<origin>.<producer>.<feed>.<seq>` (or a notice's `<issuer>#<epoch>`).
    #[arg(long)]
    msg_id: String,
}

/// `audit tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    attach: AttachArgs,
    /// How many of the latest records.
    #[arg(long, default_value_t = 20)]
    count: usize,
    /// Keep printing new records until Ctrl-C.
    #[arg(long)]
    follow: bool,
}

/// Runs one `audit` subcommand.
pub async fn run(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify(args) => verify(args).await,
        AuditCommand::Show(args) => show(args).await,
        AuditCommand::Tail(args) => tail(args).await,
        AuditCommand::Dump(args) => dump(args).await,
    }
}

async fn dump(args: DumpArgs) -> Result<(), CliError> {
    let config = args.attach.resolve_for(Keys::Unused)?.clients()?;
    let log = AuditLog::open(&config).await?;
    let blocks = decoded(log.read_all().await?);
    let mut text = String::new();
    let mut count = 0usize;
    for block in &blocks {
        for r in &block.records {
            let line = coalition_exercise::ledger::AuditLine {
                nation: config.nation.clone(),
                decision: decision_name(r.decision).to_string(),
                stage: r.stage.clone(),
                partner: r.partner.clone(),
                msg_id: r.msg_id.clone(),
                reason: r.reason.clone(),
                translator: r.translator.clone(),
                decided_at_ms: r.decided_at_ms,
                detail: r.detail.clone(),
            };
            let json = serde_json::to_string(&line)
                .map_err(|e| CliError::Runtime(format!("cannot encode a record: {e}")))?;
            text.push_str(&json);
            text.push('\n');
            count += 1;
        }
    }
    match &args.out {
        None => print!("{text}"),
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))?;
            eprintln!(
                "{} records of {} blocks of {}'s audit log written to {}",
                count,
                blocks.len(),
                config.nation,
                path.display()
            );
        }
    }
    Ok(())
}

async fn verify(args: VerifyArgs) -> Result<(), CliError> {
    let range = IndexRange::new(args.from_index, args.to_index)?;
    let attach = args.attach.resolve()?;
    let config = attach.clients()?;
    let anchors = attach.trust_anchors()?;
    let log = AuditLog::open(&config).await?;
    let stored = log.read_all().await?;
    let total = stored.len();
    let selected = range.select(stored);
    if selected.is_empty() && total > 0 {
        return Err(CliError::CheckFailed(format!(
            "no block of {}'s audit log has an index from {range}",
            config.nation
        )));
    }
    let report = verify_chain(&config.nation, selected, &anchors, crate::now_ms());
    println!(
        "{} audit log: {} blocks, {} records, {} checkpoints verified{}; last verified block {}",
        config.nation,
        report.blocks_checked,
        report.records_checked,
        report.checkpoints_verified,
        report
            .last_checkpoint_index
            .map_or(String::new(), |i| format!(" (last at block {i})")),
        report
            .last_verified_index
            .map_or("none".to_string(), |i| i.to_string()),
    );
    for problem in &report.problems {
        println!("{problem}");
    }
    match report.problems.len() {
        0 => Ok(()),
        n => Err(CliError::CheckFailed(format!(
            "{n} problem(s) in {}'s audit log",
            config.nation
        ))),
    }
}

async fn show(args: ShowArgs) -> Result<(), CliError> {
    let config = args.attach.resolve_for(Keys::Unused)?.clients()?;
    let log = AuditLog::open(&config).await?;
    let blocks = decoded(log.read_all().await?);
    let found = records_for(&blocks, &args.msg_id);
    if found.is_empty() {
        return Err(CliError::CheckFailed(format!(
            "no record in {}'s audit log is about {} ({} blocks searched)",
            config.nation,
            args.msg_id,
            blocks.len()
        )));
    }
    for (i, r) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", describe(r));
    }
    Ok(())
}

async fn tail(args: TailArgs) -> Result<(), CliError> {
    let config = args.attach.resolve_for(Keys::Unused)?.clients()?;
    let log = AuditLog::open(&config).await?;
    let (blocks, last_seq) = log.read_latest(args.count).await?;
    let lines: Vec<String> = blocks
        .iter()
        .flat_map(|b| b.records.iter().map(|r| one_line(b.index, r)))
        .collect();
    for line in &lines[lines.len().saturating_sub(args.count)..] {
        println!("{line}");
    }
    if args.follow {
        log.follow(last_seq + 1).await?;
    }
    Ok(())
}

/// The blocks that decode, in stream order.
fn decoded<B: AsRef<[u8]>>(stored: Vec<(u64, B)>) -> Vec<v1::AuditBlock> {
    stored
        .iter()
        .filter_map(|(_, raw)| decode_block(raw.as_ref()).ok())
        .collect()
}

/// `--from-index` / `--to-index`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexRange {
    from: Option<u64>,
    to: Option<u64>,
}

impl std::fmt::Display for IndexRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = self.from.map_or("1".to_string(), |a| a.to_string());
        let to = self.to.map_or("the last".to_string(), |b| b.to_string());
        write!(f, "{from} to {to}")
    }
}

impl IndexRange {
    fn new(from: Option<u64>, to: Option<u64>) -> Result<Self, CliError> {
        match (from, to) {
            (Some(a), Some(b)) if a > b => Err(CliError::Usage(format!(
                "--from-index {a} is after --to-index {b}"
            ))),
            _ => Ok(IndexRange { from, to }),
        }
    }

    fn contains(&self, index: u64) -> bool {
        self.from.is_none_or(|a| a <= index) && self.to.is_none_or(|b| index <= b)
    }

    /// The stored messages from the first block in range to the last one,
    /// including whatever lies between (undecodable or out of place
    /// messages there are for the verifier to report).
    fn select<B: AsRef<[u8]>>(&self, stored: Vec<(u64, B)>) -> Vec<(u64, B)> {
        if self.from.is_none() && self.to.is_none() {
            return stored;
        }
        let in_range: Vec<usize> = stored
            .iter()
            .enumerate()
            .filter(|(_, (_, raw))| {
                decode_block(raw.as_ref()).is_ok_and(|b| self.contains(b.index))
            })
            .map(|(i, _)| i)
            .collect();
        match (in_range.first(), in_range.last()) {
            (Some(&first), Some(&last)) => stored
                .into_iter()
                .skip(first)
                .take(last - first + 1)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A nation's AUDIT stream, opened as the nation's auditor (a user that may
/// only read it; `clients/<NATION>.toml`).
struct AuditLog {
    stream: stream::Stream,
    subject: String,
    nation: String,
}

impl AuditLog {
    async fn open(config: &ClientsConfig) -> Result<Self, CliError> {
        let auditor = &config.auditor;
        let servers = config.servers.join(",");
        let options = coalition_tls::connect_options(&auditor.tls)
            .map_err(|e| CliError::Usage(format!("[auditor.tls] of the clients file: {e}")))?;
        let client = options
            .name(format!("coalition-audit-{}", config.nation))
            .connection_timeout(Duration::from_secs(5))
            .connect(config.servers.as_slice());
        let client = tokio::time::timeout(IO_LIMIT, client)
            .await
            .map_err(|_| format!("no answer within {}s", IO_LIMIT.as_secs()))
            .and_then(|c| c.map_err(|e| e.to_string()))
            .map_err(|why| {
                CliError::Runtime(format!(
                    "cannot connect to {}'s servers {servers} as {}: {why}",
                    config.nation, auditor.user
                ))
            })?;
        let stream = jetstream::new(client)
            .get_stream(AUDIT_STREAM)
            .await
            .map_err(|e| {
                CliError::Runtime(format!(
                    "cannot open {}'s {AUDIT_STREAM} stream at {servers} (has its bridge run?): {e}",
                    config.nation
                ))
            })?;
        Ok(AuditLog {
            stream,
            subject: coalition_topology::subjects::audit(&config.nation),
            nation: config.nation.clone(),
        })
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> CliError {
        CliError::Runtime(format!(
            "{} of {}'s {AUDIT_STREAM} stream: {e}",
            what, self.nation
        ))
    }

    /// The stream sequence of the newest block; none if there is none.
    async fn last_seq(&self) -> Result<Option<u64>, CliError> {
        match self
            .stream
            .get_last_raw_message_by_subject(&self.subject)
            .await
        {
            Ok(m) => Ok(Some(m.sequence)),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(self.failed("reading the last block", e)),
        }
    }

    /// Every stored block message, (stream seq, payload), in stream order.
    async fn read_all(&self) -> Result<Vec<(u64, impl AsRef<[u8]>)>, CliError> {
        let Some(last) = self.last_seq().await? else {
            return Ok(Vec::new());
        };
        let mut messages = self.ordered_from(1).await?;
        let mut stored = Vec::new();
        loop {
            let message = tokio::time::timeout(IO_LIMIT, messages.next())
                .await
                .map_err(|_| self.failed("reading", format!("nothing for {IO_LIMIT:?}")))?
                .ok_or_else(|| self.failed("reading", "the reader ended"))?
                .map_err(|e| self.failed("reading", e))?;
            let info = message.info().map_err(|e| self.failed("reading", e))?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            stored.push((seq, message.message.payload));
            if seq >= last || pending == 0 {
                return Ok(stored);
            }
        }
    }

    /// The newest blocks holding at least `count` records, oldest first,
    /// and the stream sequence to follow from.
    async fn read_latest(&self, count: usize) -> Result<(Vec<v1::AuditBlock>, u64), CliError> {
        let Some(last) = self.last_seq().await? else {
            return Ok((Vec::new(), 0));
        };
        let (mut blocks, mut records) = (Vec::new(), 0);
        let first = self.stream.cached_info().state.first_sequence.max(1);
        let mut seq = last;
        while seq >= first && records < count {
            match self.stream.get_raw_message(seq).await {
                Ok(m) if m.subject.as_str() == self.subject => {
                    if let Ok(block) = decode_block(&m.payload) {
                        records += block.records.len();
                        blocks.push(block);
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(self.failed(&format!("reading seq {seq}"), e)),
            }
            seq -= 1;
        }
        blocks.reverse();
        Ok((blocks, last))
    }

    /// Prints every record stored from stream sequence `from` on, until
    /// Ctrl-C.
    async fn follow(&self, from: u64) -> Result<(), CliError> {
        let mut messages = self.ordered_from(from).await?;
        loop {
            let next = tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                next = messages.next() => next,
            };
            let message = match next {
                None => return Err(self.failed("following", "the consumer ended")),
                Some(m) => m.map_err(|e| self.failed("following", e))?,
            };
            if let Ok(block) = decode_block(&message.payload) {
                for r in &block.records {
                    println!("{}", one_line(block.index, r));
                }
            }
        }
    }

    /// An ordered (ephemeral, ack-less) consumer on the nation's subject.
    async fn ordered_from(&self, seq: u64) -> Result<consumer::pull::Ordered, CliError> {
        self.stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: self.subject.clone(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: seq.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| self.failed("creating a reader", e))?
            .messages()
            .await
            .map_err(|e| self.failed("reading", e))
    }
}

fn or_dash(s: &str) -> String {
    if s.is_empty() { "-" } else { s }.to_string()
}

fn label_text(label: &Option<v1::ConfidentialityLabel>) -> String {
    label
        .clone()
        .map_or("-".to_string(), |l| Label::from(l).display())
}

/// Everything a record says, for `audit show`.
fn describe(r: &RecordRef<'_>) -> String {
    let rec = r.record;
    let rows = [
        ("message", rec.msg_id.clone()),
        ("reason", or_dash(&rec.reason)),
        ("label as produced", label_text(&rec.label_as_produced)),
        ("label as translated", label_text(&rec.label_as_translated)),
        ("translator", or_dash(&rec.translator)),
        (
            "policy versions",
            format!(
                "source v{}, target v{}",
                rec.source_policy_version, rec.target_policy_version
            ),
        ),
        ("key", or_dash(&rec.key_id)),
        ("schema", or_dash(&rec.schema)),
        (
            "decided at",
            format!("{} ({} ms)", utc(rec.decided_at_ms), rec.decided_at_ms),
        ),
        ("source stream seq", rec.source_stream_seq.to_string()),
        ("detail", or_dash(&rec.detail)),
    ];
    let mut out = format!(
        "block {}, record {}: {} at {}, partner {}\n",
        r.index,
        r.position,
        decision_name(rec.decision),
        or_dash(&rec.stage),
        or_dash(&rec.partner)
    );
    for (name, value) in rows {
        out.push_str(&format!("  {:<20} {value}\n", format!("{name}:")));
    }
    out
}

/// One record on one line, for `audit tail`.
fn one_line(index: u64, rec: &v1::AuditRecord) -> String {
    let mut line = format!(
        "{} block {index} {} {} {} {}",
        utc(rec.decided_at_ms),
        decision_name(rec.decision),
        or_dash(&rec.stage),
        or_dash(&rec.partner),
        rec.msg_id
    );
    if !rec.reason.is_empty() {
        line.push_str(&format!(" reason={}", rec.reason));
    }
    if !rec.translator.is_empty() {
        line.push_str(&format!(" translator={}", rec.translator));
    }
    line
}

use coalition_core::clock::utc;

#[cfg(test)]
mod tests;
