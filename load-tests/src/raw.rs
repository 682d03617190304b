//! Measurement 1, **raw leaf**: core NATS through the leaf link, nothing
//! stored, signed or checked.
//!
//! A publisher in USA's REL_GBR account sends `n` messages of `size` bytes
//! on an `_INBOX.` subject (the leaf carries it, no stream stores it); a
//! subscriber in GBR's FROM_USA account receives them. Rate = messages
//! received / (first publish to last receipt). Core NATS may drop messages
//! for a slow consumer; the rate counts only what arrived, and the drops
//! are reported.
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::setup::Bench;
use crate::Failure;

/// One raw-leaf run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RawLeaf {
    pub size: usize,
    pub sent: usize,
    pub received: usize,
    pub seconds: f64,
    pub msgs_per_s: f64,
    /// msg/s of every round (this run is the median one).
    pub rounds_msgs_per_s: Vec<f64>,
}

/// Runs it.
pub async fn raw_leaf(bench: &Bench, size: usize, n: usize) -> Result<RawLeaf, Failure> {
    let mesh = &bench.mesh;
    let usa = mesh.bridge_config("USA").ok_or("no USA config")?;
    let gbr = mesh.bridge_config("GBR").ok_or("no GBR config")?;
    let tx = bench.connect("USA", &usa.release[0].credential).await?;
    let rx = bench.connect("GBR", &gbr.ingress[0].credential).await?;
    let subject = format!("_INBOX.bench.{size}");
    let mut sub = rx.subscribe(subject.clone()).await?;
    rx.flush().await?;
    // Wait until the subscription is known across the leaf link.
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tx.publish(subject.clone(), bytes::Bytes::from_static(b"probe"))
                .await?;
            tx.flush().await?;
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await
            {
                return Ok::<_, Failure>(());
            }
        }
    })
    .await
    .map_err(|_| "the raw-leaf subscription never became known across the leaf link")??;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {}
    let payload = bytes::Bytes::from(vec![0x5a; size]);
    let receiver = tokio::spawn(async move {
        let mut got = 0usize;
        let mut last = None;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
                Ok(Some(_)) => {
                    got += 1;
                    last = Some(Instant::now());
                }
                _ => break,
            }
        }
        (got, last)
    });
    let started = Instant::now();
    for _ in 0..n {
        tx.publish(subject.clone(), payload.clone()).await?;
    }
    tx.flush().await?;
    let (received, last) = receiver.await?;
    let seconds = last.unwrap_or_else(Instant::now).duration_since(started);
    let seconds = seconds.as_secs_f64().max(1e-9);
    Ok(RawLeaf {
        size,
        sent: n,
        received,
        seconds,
        msgs_per_s: received as f64 / seconds,
        rounds_msgs_per_s: Vec::new(),
    })
}
