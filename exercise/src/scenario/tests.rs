//! Table tests of the scenarios: sizes, figures, loads, pairing.
use super::*;

fn pair() -> Pair {
    Pair {
        a: "USA".into(),
        b: "GBR".into(),
    }
}

#[test]
fn every_named_scenario_exists_in_both_sizes_with_steps_in_order_inside_the_run() {
    for name in NAMES {
        for size in [Size::Full, Size::Reduced] {
            let s = scenario(name, size, &pair(), None).unwrap();
            assert_eq!(s.name, name);
            assert!(!s.steps.is_empty());
            assert!(
                s.steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
                "{name}"
            );
            let last = s.steps.last().unwrap().at_ms;
            assert!(
                last < s.publish_ms,
                "{name}: tracks still flow after the last step"
            );
        }
    }
}

#[test]
fn the_full_cut_lasts_30_s_and_the_degradation_is_the_one_asked_for() {
    let s = scenario("cut-30s", Size::Full, &pair(), None).unwrap();
    assert_eq!(s.steps[1].at_ms - s.steps[0].at_ms, 30_000);
    let d = scenario("degraded", Size::Full, &pair(), None).unwrap();
    assert_eq!(
        d.steps[0].action.describe(),
        "degrade USA-GBR: 200 ms ± 50 ms, 5 % loss"
    );
    let r = scenario("revoke-during-cut", Size::Full, &pair(), None).unwrap();
    assert_eq!(
        r.steps[1].action.describe(),
        "GBR revokes translator USA-GBR"
    );
    assert!(r.steps[0].at_ms < r.steps[1].at_ms && r.steps[1].at_ms < r.steps[2].at_ms);
}

#[test]
fn a_restore_or_clear_ends_the_cut_or_degradation_of_its_bearer_named_either_way() {
    let cut = |a: &str, b: &str| Action::Cut {
        a: a.into(),
        b: b.into(),
    };
    let restore = |a: &str, b: &str| Action::Restore {
        a: a.into(),
        b: b.into(),
    };
    let degrade = |a: &str, b: &str| Action::Degrade {
        a: a.into(),
        b: b.into(),
        delay_ms: 200,
        jitter_ms: 50,
        loss_percent: 5,
        rate_kbit: 0,
    };
    let clear = |a: &str, b: &str| Action::Clear {
        a: a.into(),
        b: b.into(),
    };
    let kill = |n: &str| Action::KillBridge { nation: n.into() };
    let start = |n: &str| Action::StartBridge { nation: n.into() };
    // (what began, what followed, does it end it)
    let table = [
        (cut("USA", "GBR"), restore("USA", "GBR"), true),
        (cut("USA", "GBR"), restore("GBR", "USA"), true),
        (cut("GBR", "USA"), restore("USA", "GBR"), true),
        (cut("USA", "GBR"), restore("USA", "FRA"), false),
        (cut("USA", "GBR"), restore("FRA", "GBR"), false),
        (cut("USA", "GBR"), clear("USA", "GBR"), false),
        (degrade("USA", "GBR"), clear("GBR", "USA"), true),
        (degrade("USA", "GBR"), clear("USA", "FRA"), false),
        (degrade("USA", "GBR"), restore("USA", "GBR"), false),
        (kill("GBR"), start("GBR"), true),
        (kill("GBR"), start("USA"), false),
        (restore("USA", "GBR"), cut("USA", "GBR"), false),
    ];
    for (began, followed, ends) in table {
        assert_eq!(
            followed.ends(&began),
            ends,
            "{} then {}",
            began.describe(),
            followed.describe()
        );
    }
}

#[test]
fn each_size_s_summary_states_its_own_figures() {
    // (scenario, size, in the summary, not in it)
    let table = [
        ("cut-30s", Size::Full, "cut for 30 s", "6 s"),
        ("cut-30s", Size::Reduced, "cut for 6 s", "30 s"),
        (
            "flapping",
            Size::Full,
            "cut for 3 s, restored for 3 s, 8 times",
            "1.5 s",
        ),
        (
            "flapping",
            Size::Reduced,
            "cut for 1.5 s, restored for 1.5 s, 3 times",
            "3 s",
        ),
        ("degraded", Size::Full, "bearer for 30 s", "6 s"),
        ("degraded", Size::Reduced, "bearer for 6 s", "30 s"),
        ("bridge-crash", Size::Full, "again 15 s later", "again 5 s"),
        ("bridge-crash", Size::Reduced, "again 5 s later", "15 s"),
        ("revoke-during-cut", Size::Reduced, "cut for 6 s", "30 s"),
        ("suspend-during-cut", Size::Reduced, "cut for 6 s", "30 s"),
    ];
    for (name, size, has, lacks) in table {
        let s = scenario(name, size, &pair(), None).unwrap();
        assert!(s.summary.contains(has), "{name} {size:?}: {}", s.summary);
        assert!(!s.summary.contains(lacks), "{name} {size:?}: {}", s.summary);
    }
    // The duration stated is the one the steps carry out.
    let s = scenario("cut-30s", Size::Reduced, &pair(), None).unwrap();
    assert_eq!(s.steps[1].at_ms - s.steps[0].at_ms, 6_000);
}

#[test]
fn the_load_is_the_size_s_unless_a_rate_is_given() {
    let full = scenario("cut-30s", Size::Full, &pair(), None).unwrap();
    assert_eq!(full.load, Load::steady(FULL_RATE));
    let reduced = scenario("cut-30s", Size::Reduced, &pair(), None).unwrap();
    assert_eq!(reduced.load, Load::steady(REDUCED_RATE));
    let given = scenario("flapping", Size::Full, &pair(), Some(400)).unwrap();
    assert_eq!(given.load, Load::steady(400));
    assert!(given.quota.is_none());
}

#[test]
fn narrow_satcom_narrows_the_bearer_to_the_satellite_figures_then_clears_it() {
    let s = scenario("narrow-satcom", Size::Full, &pair(), None).unwrap();
    assert_eq!(
        s.steps[0].action.describe(),
        "degrade USA-GBR: 300 ms ± 0 ms, 1 % loss, 256 kbit/s"
    );
    assert!(s.steps[1].action.ends(&s.steps[0].action));
    assert!(
        s.summary.contains("256 kbit/s") && s.summary.contains("600 ms round trip"),
        "{}",
        s.summary
    );
}

#[test]
fn partner_flood_surges_ten_times_the_quota_it_sets_with_a_steady_load_inside_it() {
    for size in [Size::Full, Size::Reduced] {
        let s = scenario("partner-flood", size, &pair(), None).unwrap();
        let quota = s.quota.clone().unwrap();
        assert_eq!(
            (quota.partner.as_str(), quota.tracks_per_sec),
            ("USA", FLOOD_QUOTA)
        );
        let surge = &s.load.surges[0];
        assert_eq!(surge.nation, "USA");
        assert_eq!(surge.tracks_per_sec, FLOOD_FACTOR * FLOOD_QUOTA);
        assert!(s.load.tracks_per_sec < FLOOD_QUOTA, "{size:?}");
        assert_eq!(
            (s.steps[0].at_ms, s.steps[1].at_ms),
            (surge.from_ms, surge.until_ms)
        );
        assert!(s.steps[1].action.ends(&s.steps[0].action));
        assert!(s.summary.contains("10×"), "{}", s.summary);
        assert!(s.load.check().is_ok());
    }
}

#[test]
fn an_unknown_scenario_lists_the_known_ones() {
    let e = scenario("meteor", Size::Full, &pair(), None).unwrap_err();
    assert!(e.contains("cut-30s, flapping"), "{e}");
}
