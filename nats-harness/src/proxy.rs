//! A loopback TCP proxy the harness can cut and restore, placed on a
//! leaf-node link to simulate the link going down and coming back.
//!
//! The open/closed state lives in a `tokio::sync::watch` channel. Every
//! forwarded connection races its byte pumps against that state, so a
//! [`LinkProxy::cut`] drops every live connection at once (both peers see
//! the socket close). While cut, the listener stays bound, so the port is
//! kept, and every new connection is closed as soon as it is accepted.
//!
//! It keeps the first bytes the upstream sent on the latest connection
//! ([`LinkProxy::opening_bytes_from_upstream`]), so a test can read the
//! handshake two servers made on the wire (`crate::tls_wire`).
//!
//! What it does not do: shape traffic (delay, loss, bandwidth) or change
//! bytes; a cut closes sockets cleanly rather than black-holing packets, so
//! peers notice at once instead of after their ping timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::HarnessError;

/// Upper bound on connecting to the upstream for one accepted connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (such as too many open files), so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Size of each direction's copy buffer.
const BUFFER_BYTES: usize = 16 * 1024;

/// How many of the upstream's first bytes are kept per connection.
const OPENING_BYTES: usize = 16 * 1024;

/// Counters shared by the proxy handle and its tasks.
#[derive(Debug, Default)]
struct Stats {
    /// Bytes written to the upstream (client → upstream).
    to_upstream: AtomicU64,
    /// Bytes written back to clients (upstream → client).
    from_upstream: AtomicU64,
    /// Accepted connections whose task has not finished yet.
    live: AtomicUsize,
    /// The first [`OPENING_BYTES`] the upstream sent on the latest
    /// connection.
    opening_from_upstream: std::sync::Mutex<Vec<u8>>,
}

impl Stats {
    fn keep_opening(&self, bytes: &[u8]) {
        let mut kept = self
            .opening_from_upstream
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = OPENING_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// The link state carried by the watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    /// Whether new connections are forwarded.
    open: bool,
    /// How many times the link has been cut. A connection remembers the
    /// value it started under, so a cut followed at once by a restore still
    /// drops it even if its task only sees the final (open) state.
    cuts: u64,
}

impl Link {
    /// True while a connection started under `cuts` may keep forwarding.
    fn allows(&self, cuts: u64) -> bool {
        self.open && self.cuts == cuts
    }
}

/// Counts one live connection for as long as it exists.
struct LiveGuard(Arc<Stats>);

impl LiveGuard {
    fn enter(stats: &Arc<Stats>) -> Self {
        stats.live.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(stats))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A cuttable TCP proxy from `127.0.0.1:<listen port>` to an upstream.
///
/// Dropping it stops accepting and closes every forwarded connection.
#[derive(Debug)]
pub struct LinkProxy {
    name: String,
    listen_addr: SocketAddr,
    upstream: SocketAddr,
    /// The link state. Only the handle holds the sender: dropping it is
    /// the shutdown signal for every task.
    state: watch::Sender<Link>,
    stats: Arc<Stats>,
    /// Owns the connection tasks (in a `JoinSet`), so aborting it aborts them.
    accept_task: JoinHandle<()>,
}

impl LinkProxy {
    /// Binds `127.0.0.1:listen_port` (0 picks a free port) and starts
    /// forwarding to `upstream` on the current tokio runtime. The link
    /// starts open.
    ///
    /// A port that is already taken is reported as
    /// [`HarnessError::PortInUse`].
    pub async fn start(
        name: &str,
        listen_port: u16,
        upstream: SocketAddr,
    ) -> Result<Self, HarnessError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| HarnessError::Config {
            what: format!("link proxy '{name}' must be started inside a tokio runtime"),
        })?;
        let listener = TcpListener::bind(("127.0.0.1", listen_port))
            .await
            .map_err(|e| bind_error(name, listen_port, e))?;
        let listen_addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io(format!("reading address of link proxy '{name}'"), e))?;
        let (state, state_rx) = watch::channel(Link {
            open: true,
            cuts: 0,
        });
        let stats = Arc::new(Stats::default());
        let accept_task = runtime.spawn(accept_loop(
            name.to_string(),
            listener,
            upstream,
            state_rx,
            Arc::clone(&stats),
        ));
        Ok(Self {
            name: name.to_string(),
            listen_addr,
            upstream,
            state,
            stats,
            accept_task,
        })
    }

    /// Cuts the link: drops every live connection and refuses new ones
    /// until [`restore`](Self::restore).
    pub fn cut(&self) {
        tracing::debug!(proxy = %self.name, "cut");
        self.state.send_if_modified(|link| {
            let was_open = link.open;
            if was_open {
                link.open = false;
                link.cuts += 1;
            }
            was_open
        });
    }

    /// Restores the link: new connections are forwarded again.
    pub fn restore(&self) {
        tracing::debug!(proxy = %self.name, "restore");
        self.state.send_if_modified(|link| {
            let was_cut = !link.open;
            link.open = true;
            was_cut
        });
    }

    /// True while the link is open.
    pub fn is_open(&self) -> bool {
        self.state.borrow().open
    }

    /// The name given at start.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// Where connections are forwarded.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Bytes forwarded so far: (client → upstream, upstream → client).
    pub fn bytes_forwarded(&self) -> (u64, u64) {
        (
            self.stats.to_upstream.load(Ordering::SeqCst),
            self.stats.from_upstream.load(Ordering::SeqCst),
        )
    }

    /// The first bytes (up to 16 KiB) the upstream sent on the latest
    /// forwarded connection.
    pub fn opening_bytes_from_upstream(&self) -> Vec<u8> {
        self.stats
            .opening_from_upstream
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Accepted connections that are still being forwarded.
    pub fn live_connections(&self) -> usize {
        self.stats.live.load(Ordering::SeqCst)
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        // Needs no runtime: abort only flags the task, and dropping
        // `state` (after this) wakes every connection task to exit.
        self.accept_task.abort();
    }
}

fn bind_error(name: &str, port: u16, e: std::io::Error) -> HarnessError {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        HarnessError::PortInUse {
            name: name.to_string(),
            log_tail: format!("link proxy bind 127.0.0.1:{port}: {e}"),
        }
    } else {
        HarnessError::io(
            format!("binding link proxy '{name}' on 127.0.0.1:{port}"),
            e,
        )
    }
}

async fn accept_loop(
    name: String,
    listener: TcpListener,
    upstream: SocketAddr,
    mut state: watch::Receiver<Link>,
    stats: Arc<Stats>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((inbound, peer)) => {
                    let link = *state.borrow();
                    if link.open {
                        tracing::debug!(proxy = %name, %peer, "forwarding connection");
                        let live = LiveGuard::enter(&stats);
                        conns.spawn(serve(inbound, upstream, state.clone(), link.cuts, live));
                    } else {
                        tracing::debug!(proxy = %name, %peer, "link cut: closing new connection");
                        drop(inbound);
                    }
                }
                Err(e) => {
                    tracing::warn!(proxy = %name, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            changed = state.changed() => {
                if changed.is_err() {
                    return; // the LinkProxy was dropped
                }
            }
        }
    }
}

/// Forwards one connection until either side closes, an error occurs, or
/// the link is cut (or the proxy dropped).
async fn serve(
    inbound: TcpStream,
    upstream: SocketAddr,
    mut state: watch::Receiver<Link>,
    cuts: u64,
    live: LiveGuard,
) {
    let stats = Arc::clone(&live.0);
    tokio::select! {
        result = forward(inbound, upstream, &stats) => {
            if let Err(e) = result {
                tracing::debug!(%upstream, error = %e, "forwarded connection ended with error");
            }
        }
        // Resolves once the link has been cut since this connection began
        // (or the proxy is gone).
        _ = state.wait_for(|link| !link.allows(cuts)) => {}
    }
    drop(live);
}

async fn forward(
    mut inbound: TcpStream,
    upstream: SocketAddr,
    stats: &Stats,
) -> std::io::Result<()> {
    let mut outbound = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream))
        .await
        .map_err(|_| std::io::Error::other(format!("connect to {upstream} timed out")))??;
    inbound.set_nodelay(true)?;
    outbound.set_nodelay(true)?;
    let (mut in_read, mut in_write) = inbound.split();
    let (mut out_read, mut out_write) = outbound.split();
    stats
        .opening_from_upstream
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clear();
    tokio::try_join!(
        pump(&mut in_read, &mut out_write, &stats.to_upstream, None),
        pump(
            &mut out_read,
            &mut in_write,
            &stats.from_upstream,
            Some(stats)
        ),
    )?;
    Ok(())
}

/// Copies `from` to `to` until end of stream, then half-closes `to`,
/// counting bytes as they are written; the first bytes are kept in
/// `opening` if given.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    counter: &AtomicU64,
    opening: Option<&Stats>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUFFER_BYTES];
    let mut kept = 0;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        if let Some(stats) = opening.filter(|_| kept < OPENING_BYTES) {
            stats.keep_opening(&buf[..n]);
            kept += n;
        }
        to.write_all(&buf[..n]).await?;
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
}
