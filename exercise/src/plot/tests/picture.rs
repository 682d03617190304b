//! Marks, verdict, legend and PNG, on the synthetic run.
use super::*;

fn marks_on(m: &[Incident], kind: Kind) -> Vec<(usize, String)> {
    m.iter()
        .filter(|i| i.kind == kind)
        .map(|i| (i.lane, i.text.clone()))
        .collect()
}

#[test]
fn each_incident_is_marked_on_every_lane_it_affects_and_no_other() {
    let (e, r) = run();
    let b = bearers(&e, &r);
    let m = incidents(&e, &r, &b, run_end_s(&e));
    // Lanes: 0 USA–GBR (cut), 1 USA–FRA (degraded), 2 GBR–FRA (revoked).
    let s = |v: &[(usize, &str)]| -> Vec<(usize, String)> {
        v.iter().map(|(l, t)| (*l, t.to_string())).collect()
    };
    // (kind, expected marks)
    let table = [
        (Kind::Cut, s(&[(0, "cut 6 s")])),
        (Kind::Restored, s(&[(0, "restored"), (1, "cleared")])),
        (
            Kind::Degraded,
            s(&[(1, "degraded: 200 ms ± 50 ms, 5 % loss")]),
        ),
        (Kind::Notice, s(&[(2, "FRA revokes translator GBR-FRA")])),
        (
            Kind::Enforced,
            s(&[
                // Applied within a second of each other: one label.
                (2, "enforced: FRA +12 ms, USA +20 ms, GBR +35 ms"),
                (2, ""),
                (2, ""),
            ]),
        ),
        (Kind::BridgeDown, s(&[])),
    ];
    for (kind, want) in table {
        assert_eq!(marks_on(&m, kind), want, "{kind:?}");
    }
    // A bridge outage is on every lane of its nation.
    let mut e2 = e.clone();
    e2.events = vec![
        ev(
            e.t0_ms + 5_000,
            Action::KillBridge {
                nation: "GBR".into(),
            },
        ),
        ev(
            e.t0_ms + 9_000,
            Action::StartBridge {
                nation: "GBR".into(),
            },
        ),
    ];
    let m2 = incidents(&e2, &Report::default(), &b, 36.0);
    let lanes_of = |k: Kind| {
        m2.iter()
            .filter(|i| i.kind == k)
            .map(|i| i.lane)
            .collect::<Vec<_>>()
    };
    assert_eq!(lanes_of(Kind::BridgeDown), [0, 2]);
    assert_eq!(lanes_of(Kind::Restored), [0, 2]);
    assert_eq!(m2[0].text, "GBR bridge down 4 s");
}

#[test]
fn catch_up_is_its_own_mark_with_the_report_s_figures() {
    let (e, r) = run();
    assert_eq!(r.catch_up.len(), 1);
    let c = &r.catch_up[0];
    assert!(c.backlog > 200, "the cut held back {} tracks", c.backlog);
    let b = bearers(&e, &r);
    let m = incidents(&e, &r, &b, run_end_s(&e));
    let catch_up: Vec<&Incident> = m.iter().filter(|i| i.kind == Kind::CatchUp).collect();
    assert_eq!(catch_up.len(), 1);
    assert_eq!(catch_up[0].lane, 0);
    assert_eq!(catch_up[0].from_s, 16.0, "from the restore");
    let drained = c.drained_after_ms as f64 / 1000.0;
    assert!((catch_up[0].until_s - (16.0 + drained)).abs() < 1e-9);
    let text = format!(
        "catch-up: {} waiting, drained in {}",
        c.backlog,
        axes::millis(c.drained_after_ms as f64)
    );
    assert_eq!(catch_up[0].text, text);
    assert!(timeline_svg("t", &e, &r).contains(&text));
}

#[test]
fn the_burst_after_a_cut_is_clipped_so_the_steady_rate_stays_readable() {
    let (e, r) = run();
    let lanes = lanes(&e, &r, run_end_s(&e));
    let top = rate_top(&lanes);
    let peak = lanes
        .iter()
        .flat_map(|l| &l.directions)
        .flat_map(|d| d.rate.iter().map(|(_, v)| *v))
        .fold(0.0, f64::max);
    assert!(peak > 100.0, "the catch-up burst, {peak}/s");
    assert!(
        (50.0..80.0).contains(&top),
        "steady 25-50/s; the axis tops at {top}"
    );
    let svg = timeline_svg("t", &e, &r);
    assert!(
        svg.contains(&format!("{}/s</text>", axes::human(peak))),
        "the burst's value is written"
    );
    // Without a burst the axis is the data's own.
    let flat = |v: f64| Lane {
        bearer: Bearer {
            a: "A".into(),
            b: "B".into(),
        },
        directions: [
            Direction {
                rate: (0..20)
                    .map(|i| (i as f64 + 0.5, 30.0))
                    .chain([(20.5, v)])
                    .collect(),
                ..Default::default()
            },
            Direction::default(),
        ],
    };
    // (largest second, top of the axis)
    for (peak, want) in [(30.0, 30.0), (55.0, 55.0), (61.0, 45.0), (0.0, 30.0)] {
        assert_eq!(rate_top(&[flat(peak)]), want, "peak {peak}");
    }
}

#[test]
fn the_degraded_bearer_s_latency_rises_while_degraded_and_only_there() {
    let (e, r) = run();
    let lanes = lanes(&e, &r, run_end_s(&e));
    let p50 = |lane: usize, from: f64, to: f64| -> Vec<i64> {
        lanes[lane].directions[0]
            .latency
            .iter()
            .filter(|b| b.at_s > from && b.at_s < to)
            .map(|b| b.p50_ms)
            .collect()
    };
    assert!(
        p50(1, 21.0, 27.0).iter().all(|ms| *ms >= 150),
        "{:?}",
        p50(1, 21.0, 27.0)
    );
    assert!(p50(1, 1.0, 9.0).iter().all(|ms| *ms < 30));
    assert!(
        p50(2, 21.0, 23.0).iter().all(|ms| *ms < 30),
        "GBR–FRA is not degraded"
    );
    let p99 = lanes[1].directions[0]
        .latency
        .iter()
        .map(|b| b.p99_ms)
        .max()
        .unwrap();
    assert!(
        p99 > 600,
        "a lost packet's retransmission shows in p99: {p99}"
    );
}

#[test]
fn the_verdict_shows_the_report_s_own_figures() {
    let (e, r) = run();
    assert!(r.passed(), "{:?}", r.failures);
    let svg = timeline_svg("t", &e, &r);
    let t = &r.total;
    for want in [
        ">PASS<".to_string(),
        format!(">sent {}<", axes::count(r.sent)),
        format!(
            ">delivered {} of {} releasable<",
            axes::count(t.delivered),
            axes::count(t.releasable)
        ),
        ">lost 0<".into(),
        ">duplicated 0<".into(),
        ">leaked 0<".into(),
        format!(
            "{} waiting, all delivered",
            axes::count(r.catch_up[0].backlog)
        ),
        "denied by reason: ".into(),
        format!(
            "translator_revoked {}",
            axes::count(t.denied["translator_revoked"])
        ),
    ] {
        assert!(svg.contains(&want), "{want}");
    }
    let story = verdict::story(&r);
    assert!(
        story.contains(
            "FRA revokes translator GBR-FRA (FRA#1) enforced by FRA +12 ms, GBR +35 ms, USA +20 ms"
        ),
        "{story}"
    );
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let drawn: Vec<String> = svg
        .lines()
        .filter(|l| l.contains("font-size=\"12\""))
        .filter_map(|l| l.split('>').nth(1)?.split('<').next().map(str::to_string))
        .flat_map(|l| words(&l))
        .collect();
    assert!(
        drawn
            .windows(words(&story).len())
            .any(|w| w == words(&story).as_slice()),
        "the whole story is drawn, wrapped"
    );
    // A failed run says FAIL, in red, with what broke.
    let mut failed = r.clone();
    failed.total.lost = 3;
    failed.failures.push("3 message(s) lost".into());
    let svg = timeline_svg("t", &e, &failed);
    assert!(svg.contains(">FAIL<") && !svg.contains(">PASS<"));
    assert!(svg.contains(&format!("fill=\"{}\">lost 3<", palette::FAIL)));
    assert!(svg.contains("! 3 message(s) lost"));
}

/// Every `#rrggbb` in `svg`.
fn colours(svg: &str) -> std::collections::BTreeSet<String> {
    svg.match_indices('#')
        .filter_map(|(i, _)| svg.get(i..i + 7))
        .filter(|c| c[1..].chars().all(|ch| ch.is_ascii_hexdigit()))
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn the_legend_explains_every_colour_the_picture_uses() {
    let (e, r) = run();
    let mut with_all = e.clone();
    with_all.events.push(ev(
        e.t0_ms + 30_000,
        Action::KillBridge {
            nation: "FRA".into(),
        },
    ));
    let svg = timeline_svg("t", &with_all, &r);
    let (body, legend) = svg.split_once("<g id=\"legend\">").unwrap();
    let legend = legend.split_once("</g>").unwrap().0;
    let explained = colours(legend);
    let exempt: Vec<String> = palette::SELF_EXPLAINED
        .iter()
        .map(|c| c.to_lowercase())
        .collect();
    let used = colours(body);
    for c in &used {
        assert!(
            explained.contains(c) || exempt.contains(c),
            "{c} is used but not in the legend"
        );
    }
    // Every kind of mark is in this picture, so every legend colour is used.
    for c in &explained {
        assert!(
            used.contains(c) || exempt.contains(c),
            "the legend names {c}, which is not drawn"
        );
    }
}

#[test]
fn labels_in_one_row_never_overlap_and_stay_on_the_canvas() {
    let (e, r) = run();
    let b = bearers(&e, &r);
    let m = incidents(&e, &r, &b, run_end_s(&e));
    let frame = draw::Frame {
        left: 150.0,
        right: 1290.0,
        end_s: run_end_s(&e),
    };
    for lane in 0..b.len() {
        let on: Vec<&Incident> = m.iter().filter(|i| i.lane == lane).collect();
        let placed = draw::place_labels(&on, &frame);
        // The synthetic run's labels all fit.
        let texts: Vec<&str> = on.iter().map(|i| i.text.as_str()).collect();
        let labelled = on.iter().filter(|i| !i.text.is_empty()).count();
        assert_eq!(placed.len(), labelled, "lane {lane}: {texts:?} {placed:?}");
        let span = |p: &draw::Placed| (p.x, p.x + axes::text_width(&on[p.incident].text, 11.0));
        for (i, a) in placed.iter().enumerate() {
            let (x0, x1) = span(a);
            assert!(
                x0 >= frame.left && x1 <= frame.right,
                "{}",
                on[a.incident].text
            );
            for other in &placed[i + 1..] {
                let (y0, y1) = span(other);
                assert!(
                    a.row != other.row || x1 <= y0 || y1 <= x0,
                    "overlap in lane {lane}"
                );
            }
        }
    }
}

/// Pixels that are not white.
fn inked(png: &Png) -> usize {
    let p = resvg::tiny_skia::Pixmap::decode_png(&png.bytes).unwrap();
    p.pixels()
        .iter()
        .filter(|c| (c.red(), c.green(), c.blue()) != (255, 255, 255))
        .count()
}

#[test]
fn the_png_decodes_at_the_svg_s_size_and_is_not_blank() {
    let (e, r) = run();
    let svg = timeline_svg("exercise cut-30s", &e, &r);
    let png = png::render(&svg, &Fonts::none(), PNG_SCALE).unwrap();
    let decoded = resvg::tiny_skia::Pixmap::decode_png(&png.bytes).unwrap();
    assert_eq!(
        decoded.width(),
        (WIDTH * f64::from(PNG_SCALE)).ceil() as u32
    );
    assert_eq!((decoded.width(), decoded.height()), (png.width, png.height));
    let height: f64 = svg
        .split("height=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(png.height, (height * f64::from(PNG_SCALE)).ceil() as u32);
    let share = inked(&png) as f64 / (png.width * png.height) as f64;
    assert!(share > 0.05, "lanes, lines and shades are drawn: {share}");
    assert!(!png.has_text, "no fonts, no text, and no panic");
}

#[test]
fn with_system_fonts_the_png_has_its_text() {
    let fonts = Fonts::system();
    if !fonts.has_text() {
        eprintln!("no system fonts here: the PNG would have no text (see png.rs)");
        return;
    }
    let (e, r) = run();
    let title = "exercise (made up): USA-GBR cut for 6 s, USA-FRA degraded for 8 s, FRA revokes translator GBR-FRA";
    let svg = timeline_svg(title, &e, &r);
    let with = png::render(&svg, &fonts, 1.0).unwrap();
    let without = png::render(&svg, &Fonts::none(), 1.0).unwrap();
    assert!(with.has_text);
    assert!(
        inked(&with) > inked(&without) + 20_000,
        "the words are drawn"
    );
    // Set COALITION_TIMELINE_DEMO=<dir> to look at the picture.
    if let Some(dir) = std::env::var_os("COALITION_TIMELINE_DEMO") {
        let dir = std::path::PathBuf::from(dir);
        let png = png::render(&svg, &fonts, PNG_SCALE).unwrap();
        std::fs::write(dir.join("timeline-demo.svg"), &svg).unwrap();
        std::fs::write(dir.join("timeline-demo.png"), png.bytes).unwrap();
    }
}
