//! The table of measurement 7: send -> SDK delivery beside send -> webhook
//! receipt for the same alerts, and the forwarder's added latency. Pure.
use std::fmt::Write;

use crate::report::Results;
use crate::stats::Percentiles;

fn row(s: &mut String, format: &str, what: &str, p: &Percentiles) {
    let _ = writeln!(
        s,
        "| {format} | {what} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.mean_ms
    );
}

pub(super) fn forward(s: &mut String, r: &Results) {
    if r.forward.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## 7. The webhook forwarder's added latency (`coalition forward`, same alerts, same clock)\n\n\
         The alerts of measurement 6 with no track load, read in GBR by the benchmark's SDK subscriber \
         and by the real `coalition forward` (the CLI binary, a separate process, `--format json` then \
         `cap`), which posts each to an HTTP endpoint in the benchmark (loopback, answers 200 at once) \
         and acknowledges it on the bus after the 200. Added: per alert, webhook receipt minus SDK \
         delivery (the forwarder's own pull and verification, rendering, the POST, and waiting behind \
         earlier alerts: it posts one at a time).\n\n\
         | format | from send to | alerts | p50 ms | p90 ms | p99 ms | max ms | mean ms |\n\
         |---|---|---:|---:|---:|---:|---:|---:|"
    );
    for f in &r.forward {
        row(s, &f.format, "SDK subscriber delivery", &f.sdk);
        row(s, &f.format, "webhook receipt (first POST)", &f.webhook);
        row(
            s,
            &f.format,
            "**added by the forwarder** (per alert)",
            &f.added,
        );
    }
    let _ = writeln!(
        s,
        "\n| format | alerts/s | alerts sent | SDK delivered | posted (once or more) | POSTs | duplicates (at least once) | dead-lettered | last POST after publishing ended | first POSTs/s | all acknowledged before stop | forwarder process cores | machine busy | bench process cores |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
    );
    for f in &r.forward {
        let _ = writeln!(
            s,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.2} s | {:.0} | {} | {:.2} | {:.0} % | {:.2} |",
            f.format,
            f.alerts_per_second,
            f.alerts_sent,
            f.sdk_delivered,
            f.posted,
            f.posts,
            f.duplicates,
            f.dead_lettered,
            f.post_drain_seconds,
            f.posted_per_second,
            if f.all_acked { "yes" } else { "no" },
            f.forwarder_cores,
            f.cpu.machine_busy * 100.0,
            f.cpu.bench_process_cores
        );
    }
    let _ = writeln!(
        s,
        "\nEach run's warm-up alert (posted before the clock starts) is left out of the counts, but not \
         out of the duplicates. Every \
         alert must reach the webhook: a lost, unreadable, unexpected or reordered POST is an error \
         (see Checks); a duplicate is counted here, not an error (the forwarder delivers at least once). \
         First POSTs/s: what the forwarder posted per second from the first to the last alert; \
         below the send rate, alerts queue in front of it and the added latency grows through the run. \
         The forwarder runs in its own process: its CPU is in machine busy, not in the bench process.\n"
    );
}
