//! What the cryptography of one batch costs on this machine, on one core:
//! sealing (record headers, Merkle root, one ML-DSA-65 signature) and
//! opening (decode, signature, Merkle root), with `coalition_core::batch`
//! directly, no I/O. The mesh path seals each batch once (producer) and
//! opens it three times (egress, ingress, subscriber), so this gives the
//! CPU ceiling the signatures alone put on the path, to set beside the
//! measured rate.
use std::time::Instant;

use bytes::Bytes;
use coalition_core::batch::{open_batch, seal_batch, RecordDraft};
use coalition_core::certificate::CertificateCache;
use coalition_sdk::{load_producer_identity, load_trust_anchor, MessageType};
use prost::Message;

use crate::payload::{releasable, track_of_size};
use crate::setup::{feed, Bench, TRACK_PRODUCER};
use crate::Failure;

/// One batch size's cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cost {
    pub records: usize,
    pub size: usize,
    pub iterations: usize,
    /// Mean milliseconds to seal one batch.
    pub seal_ms: f64,
    /// How the seals spread: ML-DSA signing repeats its attempt until the
    /// signature passes its bounds (about 5 attempts on average for
    /// ML-DSA-65, a geometric spread), so the tail is several times the
    /// median. This tail is in every alert's latency.
    pub seal_spread: crate::stats::Percentiles,
    /// Mean milliseconds to open (decode and verify) one batch.
    pub open_ms: f64,
    /// CPU per record on the mesh path: (one seal + three opens) / records, µs.
    pub path_us_per_record: f64,
    /// Records/s the path's cryptography alone allows on all this machine's cores.
    pub ceiling_records_per_s: f64,
}

/// Measures sealing and opening batches of `records` tracks of `size` bytes.
pub async fn measure(
    bench: &Bench,
    size: usize,
    records: usize,
    iterations: usize,
) -> Result<Cost, Failure> {
    let root = load_trust_anchor(&bench.mesh.root_public_key_path("USA"))?;
    let (key, cert) = bench.mesh.producer_key_paths("USA", TRACK_PRODUCER);
    let identity = load_producer_identity(&key, &cert, "USA", &root)?;
    let cache = CertificateCache::new(bench.anchors()?);
    cache
        .add(&identity.certificate)
        .map_err(|r| format!("the bench producer's certificate does not verify: {r:?}"))?;
    let feed = feed("warm", 0);
    let cost = tokio::task::spawn_blocking(move || -> Result<Cost, String> {
        let now = crate::payload::now_us() / 1000;
        let drafts: Vec<RecordDraft> = (0..records as u64)
            .map(|i| {
                let track = track_of_size(size, i);
                RecordDraft {
                    schema_version: 1,
                    label: releasable(),
                    payload: Bytes::from(track.encode_to_vec()),
                    corrects_seq: None,
                    product_id: track.track_id.clone(),
                    derived_from: Vec::new(),
                    produced_at_ms: now,
                }
            })
            .collect();
        let (mut seal, mut open) = (0.0, 0.0);
        let mut seals_us = Vec::with_capacity(iterations);
        for i in 0..iterations {
            let t = Instant::now();
            let sealed = seal_batch(
                &identity,
                MessageType::Track,
                &feed,
                1 + (i * records) as u64,
                &drafts,
                now,
            )
            .map_err(|e| e.to_string())?;
            seal += t.elapsed().as_secs_f64();
            seals_us.push(i64::try_from(t.elapsed().as_micros()).unwrap_or(i64::MAX));
            let t = Instant::now();
            open_batch(&sealed.bytes, &cache, now).map_err(|r| format!("{r:?}"))?;
            open += t.elapsed().as_secs_f64();
        }
        let (seal_ms, open_ms) = (
            seal * 1000.0 / iterations as f64,
            open * 1000.0 / iterations as f64,
        );
        let path_us_per_record = (seal_ms + 3.0 * open_ms) * 1000.0 / records as f64;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Ok(Cost {
            records,
            size,
            iterations,
            seal_ms,
            seal_spread: crate::stats::percentiles(&seals_us),
            open_ms,
            path_us_per_record,
            ceiling_records_per_s: cores * 1e6 / path_us_per_record.max(1e-9),
        })
    })
    .await??;
    Ok(cost)
}
