//! The webhook endpoint measurement 7 posts to: an HTTP/1.1 server (axum)
//! on a free loopback port that answers every POST 200 at once and keeps
//! it, stamped with the time the whole request was in (Unix µs, the clock
//! the alerts' send times come from).
//!
//! It only receives and counts; reading the POSTs and the exactly-once
//! check are [`crate::posted`]'s.
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::payload::now_us;
use crate::posted::{key_record, Post};
use crate::Failure;

#[derive(Debug, Default)]
struct Received {
    posts: Vec<Post>,
    /// Seqs posted at least once, per feed (from the key), so a wait can
    /// ask "all of them yet?" without reading every POST again.
    seqs: HashMap<String, HashSet<u64>>,
}

struct Shared {
    received: Mutex<Received>,
    /// POSTs so far; a wait wakes on each change.
    count: watch::Sender<u64>,
}

/// The running endpoint.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    count: watch::Receiver<u64>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

async fn handle(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let received_us = now_us();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let post = Post {
        key: header("idempotency-key"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
        received_us,
    };
    {
        let mut r = s.received.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((feed, seq)) = key_record(&post.key) {
            r.seqs.entry(feed).or_default().insert(seq);
        }
        r.posts.push(post);
    }
    s.count.send_modify(|n| *n += 1);
    StatusCode::OK
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Result<Receiver, Failure> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (count_tx, count) = watch::channel(0);
        let shared = Arc::new(Shared {
            received: Mutex::default(),
            count: count_tx,
        });
        let app = Router::new()
            .route("/hook", post(handle))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                eprintln!("the benchmark's webhook server failed: {e}");
            }
        });
        Ok(Receiver {
            addr,
            shared,
            count,
            stop: Some(stop),
            task,
        })
    }

    /// The URL to give `coalition forward --webhook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Whether every seq of `seqs` on `feed` was posted at least once.
    pub fn has_all(&self, feed: &str, seqs: std::ops::RangeInclusive<u64>) -> bool {
        let r = self
            .shared
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let want = seqs.end().saturating_sub(*seqs.start()) + 1;
        r.seqs.get(feed).is_some_and(|got| {
            got.len() as u64 >= want && seqs.into_iter().all(|s| got.contains(&s))
        })
    }

    /// Resolves at the next POST (at once if one came since the last call).
    pub async fn changed(&mut self) {
        if self.count.changed().await.is_err() {
            // The sender lives in `shared`, as long as self: never reached.
            std::future::pending::<()>().await;
        }
    }

    /// Stops listening; returns every POST received, in arrival order.
    pub async fn stop(mut self) -> Vec<Post> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.task).await;
        self.task.abort();
        let mut r = self
            .shared
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut r.posts)
    }
}
