//! The timeline's tests: axes (item 6 of issue 18), lanes, marks, the
//! verdict, the legend and the PNG, on a small hand-made ledger and on a
//! realistic made-up run ([`synthetic`]).
mod picture;
mod synthetic;

use super::*;
use crate::ledger::{AlertsRecord, EventRecord, LabelRecord, LinkSample};
use crate::scenario::Action;
use crate::verify::verify;

/// The synthetic run and its verifier's report.
fn run() -> (Evidence, Report) {
    let e = synthetic::evidence();
    let r = verify(&synthetic::topology(), &e);
    (e, r)
}

fn tiny() -> Evidence {
    let label = LabelRecord {
        classification: "SECRET".into(),
        releasable_to: Default::default(),
        caveats: Default::default(),
    };
    let delivered = |t_ms| AlertsRecord::Delivered {
        t_ms,
        origin: "USA".into(),
        producer: "p".into(),
        feed: "tracks".into(),
        seq: 1,
        label: label.clone(),
        released_at_ms: None,
        admitted_at_ms: None,
        translator: None,
        gap: None,
        replayed: false,
    };
    let sample = |t_ms| LinkSample {
        t_ms,
        name: "USA-GBR-0".into(),
        open: true,
        live: 1,
        to_upstream: 0,
        from_upstream: 0,
        delay_ms: 0,
        jitter_ms: 0,
        wire_bytes: None,
    };
    let cut = Action::Cut {
        a: "USA".into(),
        b: "GBR".into(),
    };
    let restore = Action::Restore {
        a: "USA".into(),
        b: "GBR".into(),
    };
    Evidence {
        delivered: [("GBR".into(), vec![delivered(10_100), delivered(13_500)])].into(),
        links: [("USA-GBR-0".into(), vec![sample(10_000), sample(11_000)])].into(),
        events: vec![ev(11_000, cut), ev(12_500, restore)],
        t0_ms: 10_000,
        ..Default::default()
    }
}

fn ev(t_ms: i64, event: Action) -> EventRecord {
    EventRecord {
        t_ms,
        action: event.describe(),
        event,
        notice: None,
    }
}

#[test]
fn value_ticks_are_round_and_each_label_states_its_position() {
    // (largest value, tick labels)
    let table: [(f64, &[&str]); 8] = [
        (0.0, &["0", "0.2", "0.4", "0.6", "0.8", "1"]),
        (1.65, &["0", "0.5", "1", "1.5", "2"]),
        (3.0, &["0", "1", "2", "3"]),
        (30.0, &["0", "10", "20", "30"]),
        (31.0, &["0", "10", "20", "30", "40"]),
        (1_234.0, &["0", "500", "1k", "1.5k"]),
        (9_000.0, &["0", "2k", "4k", "6k", "8k", "10k"]),
        (2_500_000.0, &["0", "500k", "1M", "1.5M", "2M", "2.5M"]),
    ];
    for (max, want) in table {
        let t = ticks(max);
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, want, "max {max}");
        assert!(t.last().unwrap().0 >= max, "the axis covers {max}");
        for (v, label) in &t {
            let (n, unit) = match label.strip_suffix('M') {
                Some(n) => (n, 1e6),
                None => label
                    .strip_suffix('k')
                    .map_or((label.as_str(), 1.0), |n| (n, 1e3)),
            };
            let stated: f64 = n.parse::<f64>().unwrap() * unit;
            assert!((stated - v).abs() < 1e-9, "{label} drawn at {v}");
        }
    }
}

#[test]
fn time_ticks_start_at_0_never_say_minus_0_and_stop_at_the_end() {
    // (end of the run, s; tick labels)
    let table: [(f64, &[&str]); 3] = [
        (4.0, &["0", "1", "2", "3", "4"]),
        (26.0, &["0", "5", "10", "15", "20", "25"]),
        (70.0, &["0", "10", "20", "30", "40", "50", "60", "70"]),
    ];
    for (end, want) in table {
        let t = x_ticks(end);
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, want, "end {end}");
        for (v, l) in &t {
            assert_eq!(format!("{v:.0}"), *l);
        }
    }
}

#[test]
fn latency_ticks_are_powers_of_ten_labelled_in_ms_or_s() {
    // (lowest p50, highest p99; labels)
    let table: [(f64, f64, &[&str]); 4] = [
        (8.0, 40.0, &["1 ms", "10 ms", "100 ms"]),
        (8.0, 1_400.0, &["1 ms", "10 ms", "100 ms", "1 s", "10 s"]),
        (150.0, 6_400.0, &["100 ms", "1 s", "10 s"]),
        (0.0, 0.0, &["1 ms", "10 ms", "100 ms"]),
    ];
    for (lo, hi, want) in table {
        let t = log_ticks(lo, hi);
        let labels: Vec<&str> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, want, "{lo}..{hi}");
        assert!(t.first().unwrap().0 <= lo.max(1.0) && t.last().unwrap().0 >= hi);
    }
}

#[test]
fn the_time_axis_runs_from_0_to_the_run_s_end_not_to_the_last_sample() {
    let mut e = tiny();
    // A sidecar sample long after the run (verify called late), and one
    // before the producers started.
    let first = e.links["USA-GBR-0"][0].clone();
    let samples = e.links.get_mut("USA-GBR-0").unwrap();
    samples.push(LinkSample {
        t_ms: 60_000,
        ..first.clone()
    });
    samples.insert(
        0,
        LinkSample {
            t_ms: -2_000,
            ..first
        },
    );
    assert_eq!(run_end_s(&e), 4.0, "the last delivery, at 3.5 s");
    let svg = timeline_svg("t", &e, &Report::default());
    assert!(!svg.contains(">-"), "no negative tick");
    assert!(!svg.contains(">5</text>"), "no tick after the run's end");
    assert!(svg.contains(">4</text>"));
}

#[test]
fn a_long_title_is_wrapped_to_fit_the_canvas() {
    let title = "exercise suspend-during-cut: while the bearer is cut for 30 s, one nation suspends its partner; it reinstates it after the link returns, and the verifier checks that nothing crossed while it was suspended";
    let lines = wrap(title, TITLE_CHARS);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l.chars().count() <= TITLE_CHARS));
    assert!(
        axes::text_width(&lines[0], TITLE_SIZE) <= WIDTH - 48.0,
        "a full line fits the canvas"
    );
    assert_eq!(lines.join(" "), title);
    assert_eq!(wrap("short", 10), vec!["short"]);
    assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    let svg = timeline_svg(title, &tiny(), &Report::default());
    assert_eq!(
        svg.matches(&format!("font-size=\"{TITLE_SIZE}\"")).count(),
        2
    );
}

#[test]
fn a_restore_named_in_the_reverse_direction_ends_the_cut() {
    let mut e = tiny();
    e.events[1].event = Action::Restore {
        a: "GBR".into(),
        b: "USA".into(),
    };
    let bearers = bearers(&e, &Report::default());
    let m = incidents(&e, &Report::default(), &bearers, 4.0);
    let cut = m.iter().find(|m| m.kind == Kind::Cut).unwrap();
    assert_eq!(
        (cut.from_s, cut.until_s, cut.text.as_str()),
        (1.0, 2.5, "cut 1.5 s")
    );
}

#[test]
fn there_is_one_lane_per_bearer_with_both_directions_in_it() {
    let (e, r) = run();
    let lanes = lanes(&e, &r, run_end_s(&e));
    let names: Vec<String> = lanes.iter().map(|l| l.bearer.name()).collect();
    // The scenario's bearers first, in the order it acts on them, named
    // as it names them; then the rest.
    assert_eq!(names, ["USA – GBR", "USA – FRA", "GBR – FRA"]);
    for lane in &lanes {
        let links: Vec<&str> = lane.directions.iter().map(|d| d.link.as_str()).collect();
        assert_eq!(
            links,
            lane.bearer
                .links()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        for d in &lane.directions {
            assert!(d.delivered > 0, "{} has deliveries", d.link);
            // The lane's deliveries are the report's.
            assert_eq!(d.delivered, r.links[&d.link].delivered, "{}", d.link);
        }
    }
    // A bearer named both ways is still one lane.
    let mut e2 = e.clone();
    e2.events.push(ev(
        e.t0_ms + 30_000,
        Action::Cut {
            a: "GBR".into(),
            b: "USA".into(),
        },
    ));
    assert_eq!(bearers(&e2, &r).len(), 3);
}

#[test]
fn a_cut_bearer_is_at_zero_in_both_directions_during_the_cut() {
    let (e, r) = run();
    let lanes = lanes(&e, &r, run_end_s(&e));
    let during = |d: &Direction| -> f64 {
        d.rate
            .iter()
            .filter(|(s, _)| *s > 10.0 && *s < 16.0)
            .map(|(_, v)| v)
            .sum()
    };
    for d in &lanes[0].directions {
        assert_eq!(during(d), 0.0, "{} during the cut", d.link);
        let before: f64 = d
            .rate
            .iter()
            .filter(|(s, _)| *s < 9.0)
            .map(|(_, v)| v)
            .sum();
        assert!(before > 100.0, "{} flows before the cut", d.link);
    }
    for d in lanes[1..].iter().flat_map(|l| &l.directions) {
        assert!(
            during(d) > 100.0,
            "{} flows during the other bearer's cut",
            d.link
        );
    }
}

#[test]
fn latency_is_drawn_in_runs_and_a_lone_bin_still_shows() {
    let bin = |at_s: f64, p50_ms: i64| LatencyBin {
        at_s,
        p50_ms,
        p99_ms: p50_ms * 2,
    };
    // (bins' centres, runs drawn as (from, to) in seconds)
    type Row<'a> = (&'a [f64], &'a [(f64, f64)]);
    let table: [Row; 4] = [
        (&[0.5, 1.5, 2.5], &[(0.5, 2.5)]),
        (&[0.5, 1.5, 9.5, 10.5], &[(0.5, 1.5), (9.5, 10.5)]),
        // The backlog of a long cut arriving in the run's last second.
        (&[0.5, 1.5, 49.5], &[(0.5, 1.5), (49.0, 50.0)]),
        (&[], &[]),
    ];
    for (centres, want) in table {
        let bins: Vec<LatencyBin> = centres.iter().map(|c| bin(*c, 20)).collect();
        let runs = lanes::latency_runs(&bins, 1.0);
        let got: Vec<(f64, f64)> = runs
            .iter()
            .map(|r| (r[0].at_s, r[r.len() - 1].at_s))
            .collect();
        assert_eq!(got, want, "{centres:?}");
        assert!(runs.iter().all(|r| r.len() >= 2), "every run is a line");
    }
}
