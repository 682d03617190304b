//! Counters read around a run: what crossed the leaf link, and what the
//! bridges' own metrics say about their stages.
//!
//! - **Leaf link**: the `in_bytes`/`out_bytes` of every leaf connection in
//!   account REL_GBR on USA's servers (`/leafz` on the monitoring
//!   endpoint), both directions (USA -> GBR carries the released batches;
//!   GBR -> USA the ingress consumer's pull requests and acknowledgements).
//!   nats-server counts message bytes there (headers and payloads), not
//!   the protocol around them (subjects, reply subjects, `MSG` lines) nor
//!   TLS. So the bytes the harness's link proxy forwarded are read too:
//!   everything on the wire, TLS records included.
//! - **Bridge stages**: `coalition_bridge_batch_seconds{nation,stage}`
//!   (one observation per pull cycle: decide and store what one pull
//!   returned) from the in-process Prometheus recorder, as count and sum.
use std::collections::BTreeMap;

use serde_json::Value;

use crate::setup::Bench;
use crate::Failure;

/// Leaf-link byte counters at one moment.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Leaf {
    /// Messages USA sent GBR over the leaf connection (`out_msgs`).
    pub usa_to_gbr_msgs: u64,
    /// The connection's compression (`compression`: nats-server's default
    /// for leaf nodes, `s2_auto`, switches it on as the RTT grows, so the
    /// wire bytes below may be compressed).
    pub compression: String,
    /// The leaf connections' ids; a different set later means the link
    /// reconnected in between, and the per-connection counters restarted.
    pub connections: Vec<u64>,
    /// Set by [`Leaf::since`] when that happened.
    pub reconnected: bool,
    /// Message bytes USA sent GBR over the leaf connection (`out_bytes`).
    pub usa_to_gbr: u64,
    /// Message bytes GBR sent USA (`in_bytes`).
    pub gbr_to_usa: u64,
    /// Bytes on the wire (TLS) USA -> GBR, as the proxy forwarded them.
    pub wire_usa_to_gbr: u64,
    /// Bytes on the wire GBR -> USA.
    pub wire_gbr_to_usa: u64,
}

impl Leaf {
    /// Reads the counters now.
    pub async fn read(bench: &Bench) -> Result<Leaf, Failure> {
        let port = bench.monitor_port("USA")?;
        let leafz = nats_harness::get_json(port, "/leafz").await?;
        let mut out = Leaf::default();
        let leafs = leafz
            .get("leafs")
            .and_then(Value::as_array)
            .ok_or("/leafz on USA has no leaf connections")?;
        let mut found = false;
        for leaf in leafs {
            if leaf.get("account").and_then(Value::as_str) != Some("REL_GBR") {
                continue;
            }
            let field = |name: &str| {
                leaf.get(name)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("/leafz: a REL_GBR leaf has no `{name}`"))
            };
            out.usa_to_gbr += field("out_bytes")?;
            out.gbr_to_usa += field("in_bytes")?;
            out.usa_to_gbr_msgs += field("out_msgs")?;
            out.connections.push(field("id")?);
            out.compression = leaf
                .get("compression")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            found = true;
        }
        if !found {
            return Err("/leafz on USA lists no leaf connection in REL_GBR".into());
        }
        if let Some(proxy) = bench.mesh.link_proxy("USA", "GBR", 0) {
            // The proxy's client is GBR (it dials), its upstream USA.
            let (to_upstream, to_client) = proxy.bytes_forwarded();
            out.wire_gbr_to_usa = to_upstream;
            out.wire_usa_to_gbr = to_client;
        }
        Ok(out)
    }

    /// `self` minus `earlier` (the compression as `earlier -> self` if it
    /// changed).
    pub fn since(&self, earlier: &Leaf) -> Leaf {
        Leaf {
            usa_to_gbr_msgs: self.usa_to_gbr_msgs.saturating_sub(earlier.usa_to_gbr_msgs),
            compression: if self.compression == earlier.compression {
                self.compression.clone()
            } else {
                format!("{} -> {}", earlier.compression, self.compression)
            },
            connections: self.connections.clone(),
            reconnected: self.connections != earlier.connections,
            usa_to_gbr: self.usa_to_gbr.saturating_sub(earlier.usa_to_gbr),
            gbr_to_usa: self.gbr_to_usa.saturating_sub(earlier.gbr_to_usa),
            wire_usa_to_gbr: self.wire_usa_to_gbr.saturating_sub(earlier.wire_usa_to_gbr),
            wire_gbr_to_usa: self.wire_gbr_to_usa.saturating_sub(earlier.wire_gbr_to_usa),
        }
    }

    /// Message bytes both ways.
    pub fn both_ways(&self) -> u64 {
        self.usa_to_gbr + self.gbr_to_usa
    }
}

/// Per (nation, stage): pull cycles and seconds spent deciding and storing.
pub type Stages = BTreeMap<(String, String), (f64, f64)>;

/// The bridges' stage counters now.
pub fn stages() -> Stages {
    parse_stages(&coalition_bridge::telemetry::render())
}

fn parse_stages(text: &str) -> Stages {
    let mut out = Stages::new();
    for line in text.lines() {
        let (which, rest) =
            if let Some(r) = line.strip_prefix("coalition_bridge_batch_seconds_sum{") {
                (1, r)
            } else if let Some(r) = line.strip_prefix("coalition_bridge_batch_seconds_count{") {
                (0, r)
            } else {
                continue;
            };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let entry = out.entry((label("nation"), label("stage"))).or_default();
        if which == 0 {
            entry.0 = value;
        } else {
            entry.1 = value;
        }
    }
    out
}

/// One stage's work during a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageWork {
    pub nation: String,
    pub stage: String,
    pub cycles: u64,
    pub seconds: f64,
    /// Seconds deciding and storing / the run's duration.
    pub busy: f64,
}

/// What each stage did between two readings, over a run of `elapsed` s.
pub fn stage_work(before: &Stages, after: &Stages, elapsed: f64) -> Vec<StageWork> {
    after
        .iter()
        .filter_map(|(key, (count, sum))| {
            let (c0, s0) = before.get(key).copied().unwrap_or_default();
            let cycles = (count - c0).max(0.0) as u64;
            (cycles > 0).then(|| StageWork {
                nation: key.0.clone(),
                stage: key.1.clone(),
                cycles,
                seconds: sum - s0,
                busy: (sum - s0) / elapsed.max(1e-9),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stage_summaries() {
        let text = "# TYPE coalition_bridge_batch_seconds summary\n\
            coalition_bridge_batch_seconds{nation=\"USA\",stage=\"egress\",quantile=\"0.5\"} 0.01\n\
            coalition_bridge_batch_seconds_sum{nation=\"USA\",stage=\"egress\"} 1.5\n\
            coalition_bridge_batch_seconds_count{nation=\"USA\",stage=\"egress\"} 30\n";
        let s = parse_stages(text);
        assert_eq!(s[&("USA".into(), "egress".into())], (30.0, 1.5));
    }
}
