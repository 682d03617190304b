//! `latest.md`: one table per measurement, the ratios and what binds, with
//! the machine and the command line. Pure: renders [`Results`] to text.
use std::fmt::Write;

mod forward;
mod links;

use crate::report::Results;
use crate::track_run::TrackRun;

fn range(rounds: &[f64]) -> String {
    let min = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rounds.iter().copied().fold(0.0, f64::max);
    if rounds.len() < 2 {
        "-".into()
    } else {
        format!("{min:.0}-{max:.0}")
    }
}

pub(super) fn cpu_row(s: &mut String, what: &str, c: &crate::cpu::Use) {
    let _ = writeln!(
        s,
        "| {what} | {:.0} % | {:.0} % | {:.2} | {:.2} | {:.2} |",
        c.machine_busy * 100.0,
        c.machine_iowait * 100.0,
        c.bench_process_cores,
        c.usa_server_cores,
        c.gbr_server_cores
    );
}

pub(super) const CPU_HEADER: &str = "| run | machine busy | iowait | bench process (bridges, SDKs) cores | USA nats-server cores | GBR nats-server cores |\n|---|---:|---:|---:|---:|---:|";

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.2} %", x * 100.0))
}

fn times(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.2}x"))
}

/// Renders every table.
pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(s, "# coalition-bench results\n");
    let _ = writeln!(
        s,
        "- date: {}\n- machine: {} CPUs ({}), kernel {}\n- build: {}\n- nats-server: {}\n- command: `{}`",
        m.date_utc, m.nproc, m.cpu, m.kernel, m.profile, m.nats_server, m.command_line
    );
    if let Some(p) = &r.plan {
        let _ = writeln!(
            s,
            "- sizes: {:?} B; raw {} msgs; one stream {} pipelined / {} awaited / {} batched msgs; \
             mesh {} records per size over {} feeds; leaf runs {} / {} / {} records (batch 1 / 8 / 64); \
             alerts {} /s for {} s per run{}",
            p.sizes,
            p.raw_messages,
            p.store_pipelined,
            p.store_awaited,
            p.store_batched,
            p.mesh_records,
            p.feeds,
            p.leaf_records_b1,
            p.leaf_records_b8,
            p.leaf_records_b64,
            p.alerts_per_second,
            p.alerts_seconds,
            if p.tiny { " (--tiny)" } else { "" }
        );
    }
    let _ = writeln!(
        s,
        "- bridges' rate limits lifted (10^8 records/s) so the path, not the limiter, is measured\n"
    );
    raw_and_store(&mut s, r);
    crypto(&mut s, r);
    mesh(&mut s, r);
    links::leaf(&mut s, r);
    links::alerts(&mut s, r);
    forward::forward(&mut s, r);
    let _ = writeln!(s, "## Checks\n");
    if r.errors.is_empty() {
        let _ = writeln!(
            s,
            "Every record of every mesh run was delivered exactly once, in order per feed{}.",
            if r.forward.is_empty() {
                ""
            } else {
                "; every alert of the forwarder runs reached the webhook, first posts in order"
            }
        );
    } else {
        for e in &r.errors {
            let _ = writeln!(s, "- ERROR: {e}");
        }
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(
            s,
            "\nRecords the SDK skipped (de-duplicated): {:?}",
            r.skipped
        );
    }
    let _ = writeln!(
        s,
        "\n## Bridge and SDK log\n\n{} warnings, {} errors (`{}`).\n",
        r.log.warnings,
        r.log.errors,
        r.log.path.display()
    );
    if !r.log.top.is_empty() {
        let _ = writeln!(s, "| count | event (digits as N) |\n|---:|---|");
        for (event, n) in &r.log.top {
            let _ = writeln!(s, "| {n} | `{}` |", event.replace('|', "/"));
        }
    }
    s
}

fn raw_and_store(s: &mut String, r: &Results) {
    let _ = writeln!(s, "## 1. Raw leaf (core NATS through the leaf link)\n");
    let _ = writeln!(
        s,
        "| size | sent | received | msg/s (median round) | rounds' range |\n|---:|---:|---:|---:|---:|"
    );
    for x in &r.raw {
        let _ = writeln!(
            s,
            "| {} B | {} | {} | {:.0} | {} |",
            x.size,
            x.sent,
            x.received,
            x.msgs_per_s,
            range(&x.rounds_msgs_per_s)
        );
    }
    let _ = writeln!(
        s,
        "\n## 2-3. One fsynced JetStream stream (R1, file, sync_interval: always)\n\n\
         (a) one message per publish, 1,000 acks in flight; (b) one message per publish, \
         each ack awaited before the next; (3) one message per 64 records (64 x size bytes), \
         1,000 in flight.\n"
    );
    let _ = writeln!(
        s,
        "| size | mode | messages | msg/s (median round) | rounds' range | records/s | payload MB/s | fsynced (stored) MB/s |\n|---:|---|---:|---:|---:|---:|---:|---:|"
    );
    for x in &r.store {
        let mode = x.mode.label();
        let _ = writeln!(
            s,
            "| {} B | {mode} | {} | {:.0} | {} | {:.0} | {:.2} | {:.2} |",
            x.size,
            x.messages,
            x.msgs_per_s,
            range(&x.rounds_msgs_per_s),
            x.records_per_s,
            x.payload_mb_per_s,
            x.stored_mb_per_s
        );
    }
    s.push('\n');
}

fn crypto(s: &mut String, r: &Results) {
    let _ = writeln!(
        s,
        "## Cryptography per batch (coalition_core::batch, one core, no I/O)\n\n\
         The path seals a batch once and opens it three times (egress, ingress, subscriber); \
         the ceiling is what that alone allows on all {} cores. A seal's time varies: ML-DSA signing \
         repeats its attempt until the signature passes its bounds (about 5 attempts on average for \
         ML-DSA-65), so its p99 is several times its median; an alert pays it.\n\n\
         | records x size | seals | seal ms (mean) | seal p50 / p99 / max ms | open ms | path CPU µs/record | ceiling records/s |\n|---|---:|---:|---|---:|---:|---:|",
        r.machine.nproc
    );
    for c in &r.crypto {
        let _ = writeln!(
            s,
            "| {} x {} B | {} | {:.2} | {:.2} / {:.2} / {:.2} | {:.2} | {:.0} | {:.0} |",
            c.records,
            c.size,
            c.iterations,
            c.seal_ms,
            c.seal_spread.p50_ms,
            c.seal_spread.p99_ms,
            c.seal_spread.max_ms,
            c.open_ms,
            c.path_us_per_record,
            c.ceiling_records_per_s
        );
    }
    s.push('\n');
}

fn mesh(s: &mut String, r: &Results) {
    let _ = writeln!(
        s,
        "## 4. The mesh path (SDK -> OUTBOUND -> egress -> RELEASED -> leaf -> ingress -> INBOUND -> SDK)\n\n\
         Every batch signed once and verified three times, every record policy-checked, delivered and \
         acknowledged, checked exactly once and in order per feed. Records/s: first publish to last \
         delivery. Feeds publish at once, each with one batch being stored and the next sealed ahead. \
         TrackV1's only variable-length field is `track_id`, so sizes are reached by padding it; the SDK \
         signs it again in each record header as `product_id`, so a record weighs about twice its \
         payload at 1 KiB (header+payload column).\n"
    );
    let _ = writeln!(
        s,
        "| size | header+payload B/record | records | feeds | batch max | in flight | records/batch | published in s | delivered in s | records/s | fsynced B/record | redeliveries | bridge warnings |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in &r.mesh {
        let _ = writeln!(
            s,
            "| {} B | {:.0} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.0} | {:.0} | {} | {} |",
            m.size,
            m.sealed.header_plus_payload(),
            m.delivered,
            m.feeds,
            m.batch_records,
            m.in_flight_batches,
            m.records_per_batch,
            m.publish_seconds,
            m.seconds,
            m.records_per_s,
            m.fsynced_bytes_per_record,
            m.redelivered,
            m.log_warnings
        );
    }
    let _ = writeln!(
        s,
        "\n### Ratios\n\n| size | mesh records/s | mesh / raw leaf | mesh / one stream, pipelined (a) | mesh / one stream, awaited (b) |\n|---:|---:|---:|---:|---:|"
    );
    for x in &r.ratios {
        let _ = writeln!(
            s,
            "| {} B | {:.0} | {} | {} | {} |",
            x.size,
            x.mesh_records_per_s,
            pct(x.mesh_over_raw_leaf),
            times(x.mesh_over_store_pipelined),
            times(x.mesh_over_store_awaited)
        );
    }
    let _ = writeln!(
        s,
        "\n### What binds\n\nBytes fsynced per record, summed over every stream of both nations, \
         times records/s, beside what one batched stream fsyncs per second (measurement 3).\n\n\
         | size | records/s | fsynced B/record | mesh fsync MB/s | one stream MB/s | share | disk | CPU | redeliveries |\n|---:|---:|---:|---:|---:|---:|---|---|---|"
    );
    for b in &r.binding {
        let _ = writeln!(
            s,
            "| {} B | {:.0} | {:.0} | {:.2} | {} | {} | {} | {} | {} |",
            b.size,
            b.mesh_records_per_s,
            b.fsynced_bytes_per_record,
            b.mesh_fsynced_mb_per_s,
            b.one_stream_mb_per_s
                .map_or("-".into(), |x| format!("{x:.2}")),
            pct(b.share_of_disk),
            b.verdict,
            b.cpu_verdict,
            b.redelivery_verdict
        );
    }
    let _ = writeln!(s, "\n#### CPU during the mesh runs\n\n{CPU_HEADER}");
    for m in &r.mesh {
        cpu_row(s, &format!("{} B", m.size), &m.cpu);
    }
    if let Some(last) = r.mesh.iter().max_by_key(|m| m.size) {
        streams_table(s, last);
        stages_table(s, last);
    }
}

fn streams_table(s: &mut String, m: &TrackRun) {
    let _ = writeln!(
        s,
        "\n#### Per stream, {} B run ({} records delivered)\n\n| nation | account | stream | messages | bytes | B/record | consumer deliveries | of which redeliveries |\n|---|---|---|---:|---:|---:|---:|---:|",
        m.size, m.delivered
    );
    for d in &m.streams {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {}{} | {:.1} | {} | {} |",
            d.nation,
            d.account,
            d.stream,
            d.messages_written,
            d.bytes_written,
            if d.estimated { " (est.)" } else { "" },
            d.bytes_written as f64 / m.delivered.max(1) as f64,
            d.consumer_deliveries,
            d.redelivered
        );
    }
}

fn stages_table(s: &mut String, m: &TrackRun) {
    let _ = writeln!(
        s,
        "\n#### Bridge stages, {} B run (coalition_bridge_batch_seconds)\n\n| nation | stage | pull cycles | seconds deciding+storing | busy |\n|---|---|---:|---:|---:|",
        m.size
    );
    for w in &m.stages {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {:.0} % |",
            w.nation,
            w.stage,
            w.cycles,
            w.seconds,
            w.busy * 100.0
        );
    }
    s.push('\n');
}
