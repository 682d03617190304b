//! The link sidecar: a TCP relay on one leaf connection between two
//! nations, which the exercise cuts, restores and degrades.
//!
//! - `cut` drops every live connection and refuses new ones, as a bearer
//!   loss does; the receiving nation's server keeps redialling.
//! - `degrade D J` delays every chunk by `D ± J` ms in each direction,
//!   keeping byte order (a satellite bearer). Packet loss is not made
//!   here: a relay cannot lose bytes of a TCP stream without corrupting
//!   it. The driver adds real packet loss with an `iptables` rule in the
//!   sidecar's network namespace, so TCP retransmits (docs/exercises.md),
//!   and limits its bandwidth with `tc` ([`bandwidth`]).
//! - every 250 ms it appends a [`LinkSample`] to its ledger, which the
//!   report plots: the bytes it relayed each way, and the bytes its
//!   interfaces sent as the kernel counts them (what crossed the shaped
//!   bearer; the relay itself may read ahead of a narrow bearer).
//!
//! Commands arrive as one line on the control port (its own loopback
//! only), sent by `coalition exercise link-ctl` through `docker exec`.
pub mod bandwidth;
mod shape;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use shape::{apply, parse_command, read_ahead_budget, release_at, Command, Shape};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::ledger::{JsonlWriter, LedgerDir, LinkSample};
use crate::{now_ms, ExerciseError};

/// How a sidecar is started.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// `<FROM>-<TO>-<i>`: names its ledger.
    pub name: String,
    /// Where the receiving nation's servers dial.
    pub listen: SocketAddr,
    /// The sending server's leaf port, `host:port` (resolved per connection).
    pub upstream: String,
    /// The control port.
    pub control: SocketAddr,
    /// The ledger folder.
    pub ledger: PathBuf,
}

#[derive(Default)]
struct Stats {
    to_upstream: AtomicU64,
    from_upstream: AtomicU64,
    live: AtomicUsize,
}

/// Runs a sidecar until `shutdown` turns true.
pub async fn run_link(
    opts: LinkOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ExerciseError> {
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(ExerciseError::io(format!("listen on {}", opts.listen)))?;
    let control = TcpListener::bind(opts.control)
        .await
        .map_err(ExerciseError::io(format!(
            "listen for control on {}",
            opts.control
        )))?;
    let mut ledger = JsonlWriter::append(&LedgerDir(opts.ledger.clone()).link(&opts.name))?;
    let (shape, shape_rx) = watch::channel(Shape::CLEAR);
    let shape = Arc::new(shape);
    let stats = Arc::new(Stats::default());
    tracing::info!(link = %opts.name, listen = %opts.listen, upstream = %opts.upstream, "link sidecar up");
    let mut sample = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((conn, peer)) => {
                    if !shape_rx.borrow().open {
                        drop(conn);
                        continue;
                    }
                    tracing::info!(link = %opts.name, %peer, "connection");
                    tokio::spawn(relay(conn, opts.upstream.clone(), shape_rx.clone(), Arc::clone(&stats)));
                }
                Err(e) => tracing::warn!(link = %opts.name, error = %e, "accept failed"),
            },
            ctl = control.accept() => if let Ok((conn, _)) = ctl {
                tokio::spawn(serve_control(conn, Arc::clone(&shape), opts.name.clone()));
            },
            _ = sample.tick() => {
                let s = *shape_rx.borrow();
                ledger.write(&LinkSample {
                    t_ms: now_ms(),
                    name: opts.name.clone(),
                    open: s.open,
                    live: stats.live.load(Ordering::SeqCst),
                    to_upstream: stats.to_upstream.load(Ordering::SeqCst),
                    from_upstream: stats.from_upstream.load(Ordering::SeqCst),
                    delay_ms: s.delay_ms,
                    jitter_ms: s.jitter_ms,
                    wire_bytes: wire_bytes(),
                })?;
            }
        }
    }
}

/// Bytes this container's interfaces (loopback left out) have sent, both
/// ways, as the kernel counts them: after the bandwidth limit, with every
/// retransmission and header. `None` where `/sys` cannot tell.
fn wire_bytes() -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir("/sys/class/net").ok()?.flatten() {
        if entry.file_name() == "lo" {
            continue;
        }
        let counter = std::fs::read_to_string(entry.path().join("statistics/tx_bytes")).ok()?;
        total += counter.trim().parse::<u64>().ok()?;
    }
    Some(total)
}

async fn serve_control(conn: TcpStream, shape: Arc<watch::Sender<Shape>>, name: String) {
    let (read, mut write) = conn.into_split();
    let mut line = String::new();
    let reply = match BufReader::new(read).read_line(&mut line).await {
        Err(e) => format!("error cannot read the command: {e}\n"),
        Ok(_) => match parse_command(&line) {
            Err(why) => format!("error {why}\n"),
            Ok(command) => {
                shape.send_modify(|s| *s = apply(*s, command));
                let now = *shape.borrow();
                tracing::info!(link = %name, ?command, ?now, "control");
                format!(
                    "ok {}\n",
                    serde_json::to_string(&now).unwrap_or_else(|_| "{}".into())
                )
            }
        },
    };
    let _ = write.write_all(reply.as_bytes()).await;
}

async fn relay(
    inbound: TcpStream,
    upstream: String,
    shape: watch::Receiver<Shape>,
    stats: Arc<Stats>,
) {
    let cuts = shape.borrow().cuts;
    let outbound = match tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(upstream.as_str()),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(%upstream, error = %e, "cannot reach the sending server");
            return;
        }
        Err(_) => {
            tracing::warn!(%upstream, "no answer from the sending server within 5 s");
            return;
        }
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    stats.live.fetch_add(1, Ordering::SeqCst);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let up = pump(
        in_read,
        out_write,
        shape.clone(),
        cuts,
        Arc::clone(&stats),
        true,
    );
    let down = pump(out_read, in_write, shape, cuts, Arc::clone(&stats), false);
    // Either direction ending (EOF, error or a cut) ends the connection.
    tokio::select! { _ = up => {}, _ = down => {} }
    stats.live.fetch_sub(1, Ordering::SeqCst);
}

/// Copies one direction, delaying chunks as the shape says, until EOF, an
/// error, or a cut after the connection was made.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut shape: watch::Receiver<Shape>,
    cuts: u64,
    stats: Arc<Stats>,
    to_upstream: bool,
) {
    let epoch = Instant::now();
    let (tx, mut rx) = mpsc::channel::<(Duration, Vec<u8>)>(1024);
    // Bytes read and not yet written, and a wake-up for a reader waiting
    // on a narrow bearer's read-ahead budget.
    let queued = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(tokio::sync::Notify::new());
    let (queued_w, written_w) = (Arc::clone(&queued), Arc::clone(&written));
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            let wait = at.saturating_sub(epoch.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            queued_w.fetch_sub(chunk.len(), Ordering::SeqCst);
            written_w.notify_one();
        }
    };
    let mut cut_watch = shape.clone();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = Duration::ZERO;
        loop {
            // A narrow bearer: read no further ahead than it carries.
            let room = match read_ahead_budget(&shape.borrow()) {
                None => buf.len(),
                Some(budget) => budget.saturating_sub(queued.load(Ordering::SeqCst)),
            }
            .min(buf.len());
            let n = tokio::select! {
                r = from.read(&mut buf[..room]), if room > 0 => match r { Ok(0) | Err(_) => return, Ok(n) => n },
                _ = written.notified(), if room == 0 => continue,
                changed = shape.changed() => {
                    let s = *shape.borrow();
                    if changed.is_err() || !s.open || s.cuts != cuts { return }
                    continue;
                }
            };
            let s = *shape.borrow();
            if !s.open || s.cuts != cuts {
                return;
            }
            let counter = if to_upstream {
                &stats.to_upstream
            } else {
                &stats.from_upstream
            };
            counter.fetch_add(n as u64, Ordering::SeqCst);
            queued.fetch_add(n, Ordering::SeqCst);
            last = release_at(epoch.elapsed(), last, &s, rand::random::<f64>());
            if tx.send((last, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    // The writer ends once the reader has ended and the queue is written,
    // unless the link was cut, which ends both at once.
    tokio::select! {
        _ = async { tokio::join!(reader, writer) } => {}
        _ = async {
            loop {
                if cut_watch.changed().await.is_err() { return }
                let s = *cut_watch.borrow();
                if !s.open || s.cuts != cuts { return }
            }
        } => {}
    }
}

/// Sends one control line to a sidecar and returns its answer.
pub async fn control(addr: SocketAddr, line: &str) -> Result<String, ExerciseError> {
    let io = async {
        let mut conn = TcpStream::connect(addr).await?;
        conn.write_all(format!("{line}\n").as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(conn).read_line(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| {
            ExerciseError::Runtime(format!("the sidecar at {addr} did not answer within 10 s"))
        })?
        .map_err(ExerciseError::io(format!("talk to the sidecar at {addr}")))?;
    match reply.trim().split_once(' ') {
        Some(("ok", rest)) => Ok(rest.to_string()),
        Some(("error", why)) => Err(ExerciseError::Usage(format!(
            "the sidecar refused {line:?}: {why}"
        ))),
        _ => Err(ExerciseError::Runtime(format!(
            "the sidecar at {addr} answered {reply:?}"
        ))),
    }
}
