//! The tables of measurements 5 and 6: what crossed the leaf link per
//! record, and alert latency under track load. Pure.
use std::fmt::Write;

use crate::report::Results;
use crate::stored;

pub(super) fn leaf(s: &mut String, r: &Results) {
    let _ = writeln!(
        s,
        "## 5. Bytes on the leaf link per record (200 B tracks)\n\n\
         Leaf B/record: message bytes both ways on the REL_GBR leaf connection (`/leafz` in_bytes + \
         out_bytes on USA; nats-server counts headers and payloads, not subjects or protocol lines), per \
         record delivered in GBR; idle traffic (same counters) measured before the runs: {:.0} B/s. \
         Wire: everything the link proxy forwarded, TLS included. Header + payload: the encoded \
         RecordHeader plus payload, read from sealed batches in OUTBOUND; batch overhead: the rest of a \
         batch message (batch header, ML-DSA-65 signature, framing).\n",
        r.idle_leaf_bytes_per_s
    );
    let _ = writeln!(
        s,
        "| run | batch max | records/batch | released | delivered | leaf B/record | less idle | USA->GBR B/record | wire (TLS) B/record | header+payload | leaf / (header+payload) | same, had each RELEASED message crossed once (est.) | batch overhead B |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in &r.leaf {
        let hp = m.sealed.header_plus_payload();
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.0} % | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} ({:.0} + {:.0}) | {:.2}x | {:.2}x | {:.0} |",
            m.run,
            m.batch_records,
            m.records_per_batch,
            m.released_share * 100.0,
            m.delivered,
            m.leaf_bytes_per_record,
            m.leaf_bytes_per_record_less_idle,
            m.leaf.usa_to_gbr as f64 / m.delivered.max(1) as f64,
            m.wire_bytes_per_record,
            hp,
            m.sealed.header_per_record,
            m.sealed.payload_per_record,
            m.leaf_bytes_per_record / hp.max(1.0),
            m.leaf_bytes_per_record / hp.max(1.0) * once(m),
            m.sealed.overhead_per_batch
        );
    }
    let _ = writeln!(
        s,
        "\nTarget (the issue): at batch 64, all released, leaf / (header+payload) <= 1.5x.\n\n\
         What crossed: RELEASED batch messages stored, messages the leaf connection carried USA -> GBR \
         (more than stored means redeliveries or control traffic crossed too), redeliveries by every \
         durable consumer of both nations, and the connection's compression (nats-server's `s2_auto` \
         compresses once the RTT grows, which lowers the wire bytes).\n\n\
         | run | RELEASED messages | leaf messages USA->GBR | redeliveries (all consumers) | bridge warnings | compression | link reconnected |\n|---|---:|---:|---:|---:|---|---|"
    );
    for m in &r.leaf {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            m.run,
            stored::messages_in(&m.streams, "USA", "RELEASED"),
            m.leaf.usa_to_gbr_msgs,
            m.redelivered,
            m.log_warnings,
            m.leaf.compression,
            if m.leaf.reconnected { "yes" } else { "no" }
        );
    }
    s.push('\n');
}

/// RELEASED messages stored / leaf messages carried USA -> GBR (at most 1):
/// the share of the leaf's traffic that was first crossings.
fn once(m: &crate::track_run::TrackRun) -> f64 {
    let stored = stored::messages_in(&m.streams, "USA", "RELEASED") as f64;
    let crossed = m.leaf.usa_to_gbr_msgs as f64;
    if crossed > 0.0 {
        (stored / crossed).min(1.0)
    } else {
        1.0
    }
}

pub(super) fn alerts(s: &mut String, r: &Results) {
    let _ = writeln!(
        s,
        "## 6. Alert latency under track load (Producer::send of an alert -> subscriber delivery, same clock)\n"
    );
    let _ = writeln!(
        s,
        "| track load | target tracks/s | achieved | delivered | drain after | alerts sent | delivered | p50 ms | p90 ms | p99 ms | max ms | p50 / p99 to release decision | to admit decision | to delivery |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for a in &r.alerts {
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {} | {:.2} s | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} |",
            a.name,
            a.track_rate_target,
            a.track_rate_achieved,
            a.tracks_delivered,
            a.track_drain_seconds,
            a.alerts_sent,
            a.alerts_delivered,
            a.latency.p50_ms,
            a.latency.p90_ms,
            a.latency.p99_ms,
            a.latency.max_ms,
            a.to_release_decision.p50_ms,
            a.to_release_decision.p99_ms,
            a.to_admit_decision.p50_ms,
            a.to_admit_decision.p99_ms,
            a.to_delivery.p50_ms,
            a.to_delivery.p99_ms
        );
    }
    let _ = writeln!(
        s,
        "\nCPU while publishing, and alerts per sealed batch (one ML-DSA signature each):\n\n\
         | run | machine busy | iowait | bench process cores | USA nats-server cores | GBR nats-server cores | alert batches | alerts per batch |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for a in &r.alerts {
        let c = &a.cpu;
        let _ = writeln!(
            s,
            "| {} | {:.0} % | {:.0} % | {:.2} | {:.2} | {:.2} | {} | {:.1} |",
            a.name,
            c.machine_busy * 100.0,
            c.machine_iowait * 100.0,
            c.bench_process_cores,
            c.usa_server_cores,
            c.gbr_server_cores,
            a.alert_batches,
            a.alerts_sent as f64 / a.alert_batches.max(1) as f64
        );
    }
    let _ = writeln!(
        s,
        "\nThe split uses the bridges' decision times (`Coalition-Released-At`, `Coalition-Admitted-At`, \
         whole milliseconds): send -> USA's release decision (SDK seal and OUTBOUND_ALERTS store, egress pull, \
         verification); -> GBR's admit decision (RELEASED_ALERTS store, audit, positions, ack, ingress pull \
         across the leaf); -> delivery (INBOUND_ALERTS store, subscriber pull and verification).\n"
    );
}
