//! Permit/deny tables for the rate rules, on a fake clock.
use std::collections::HashMap;
use std::time::Duration;

use governor::clock::FakeRelativeClock;

use super::*;

fn rate(msgs_per_sec: u32, burst: u32) -> Rate {
    Rate {
        msgs_per_sec,
        burst,
    }
}

#[test]
fn pace_table() {
    // (waiting, max, within rate) -> pace; each rule permits and denies.
    let cases = [
        (0, 10, true, Pace::Now),     // nothing waiting, within rate
        (0, 10, false, Pace::Defer),  // over the rate
        (1, 10, true, Pace::Defer),   // behind its own deferred messages
        (9, 10, true, Pace::Defer),   // backlog not yet full
        (10, 10, true, Pace::Refuse), // backlog full
        (11, 10, false, Pace::Refuse),
    ];
    for (waiting, max, within, want) in cases {
        assert_eq!(
            pace(waiting, max, || within),
            want,
            "waiting {waiting}, max {max}, within {within}"
        );
    }
}

#[test]
fn the_limiter_is_not_asked_while_messages_wait() {
    // Asking would take a token that a later message then lacks.
    let asked = std::cell::Cell::new(false);
    pace(3, 10, || {
        asked.set(true);
        true
    });
    assert!(!asked.get());
}

#[test]
fn a_partner_gets_its_burst_then_waits_for_a_whole_batch_at_its_rate() {
    let clock = FakeRelativeClock::default();
    let p = PartnerPace::with_clock("USA", rate(20, 5), clock.clone());
    assert_eq!(p.window, 5);
    assert_eq!(p.try_n(3), Ok(()));
    assert_eq!(p.try_n(2), Ok(()), "the rest of the burst");
    let wait = p.try_n(5).expect_err("burst spent");
    assert_eq!(wait, Duration::from_millis(250), "five tokens at 20/s");
    clock.advance(Duration::from_millis(50));
    assert_eq!(p.try_n(1), Ok(()), "one token after 1/20 s");
    assert!(p.try_n(1).is_err());
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        p.try_n(50),
        Ok(()),
        "a batch larger than the burst takes the whole burst"
    );
    assert!(p.try_n(1).is_err(), "and the burst is spent");
}

#[test]
fn windows_are_one_second_and_one_burst_at_most() {
    assert_eq!(window(rate(20, 50)), 20);
    assert_eq!(window(rate(50, 20)), 20);
    assert_eq!(window(rate(5_000, 10_000)), MAX_BATCH);
    assert_eq!(window(rate(1, 1)), 1);
}

#[test]
fn a_producer_over_its_rate_is_deferred_and_stays_deferred_until_drained() {
    let clock = FakeRelativeClock::default();
    let p = ProducerPacing::with_clock(rate(10, 2), 3, clock.clone());
    assert_eq!(p.admit("radar-1", 0, 1), Pace::Now);
    assert_eq!(p.admit("radar-1", 0, 1), Pace::Now);
    assert_eq!(p.admit("radar-1", 0, 1), Pace::Defer, "burst spent");
    // Another producer has its own bucket.
    assert_eq!(p.admit("radar-2", 0, 2), Pace::Now, "a batch of 2 records");
    assert_eq!(p.admit("radar-2", 0, 1), Pace::Defer, "counted in records");
    // Later in the same cycle: behind the deferred one, even with a token.
    clock.advance(Duration::from_secs(1));
    assert_eq!(p.admit("radar-1", 1, 1), Pace::Defer);
    p.deferred("radar-1", 2);
    assert_eq!(p.admit("radar-1", 0, 1), Pace::Defer, "two wait in PACED");
    assert_eq!(
        p.admit("radar-1", 1, 1),
        Pace::Refuse,
        "backlog of 3 is full"
    );
    let epoch = p.epoch();
    p.drained("radar-1", 2);
    assert!(p.epoch() > epoch, "the paced stage moved");
    assert_eq!(p.admit("radar-1", 0, 1), Pace::Now, "drained: direct again");
}

#[test]
fn a_drain_counted_before_its_deferral_nets_to_zero() {
    let p = ProducerPacing::with_clock(rate(10, 10), 5, FakeRelativeClock::default());
    p.drained("radar-1", 1);
    p.deferred("radar-1", 1);
    assert_eq!(p.entries().1, 0);
    assert_eq!(p.admit("radar-1", 0, 1), Pace::Now);
}

#[test]
fn the_paced_stage_waits_for_the_producer_of_each_batch() {
    let clock = FakeRelativeClock::default();
    let p = ProducerPacing::with_clock(rate(4, 2), 5, clock.clone());
    assert_eq!(p.try_n("radar-1", 2), Ok(()));
    let wait = p.try_n("radar-1", 2).expect_err("over the rate");
    assert_eq!(wait, Duration::from_millis(500), "two records at 4/s");
    assert_eq!(
        p.try_n("radar-2", 9),
        Ok(()),
        "not held by radar-1; 9 take the burst"
    );
    clock.advance(wait);
    assert_eq!(p.try_n("radar-1", 2), Ok(()));
}

#[test]
fn reset_replaces_the_counts() {
    let p = ProducerPacing::with_clock(rate(10, 10), 5, FakeRelativeClock::default());
    p.deferred("radar-1", 4);
    p.reset(HashMap::from([("radar-2".to_string(), 2)]));
    assert_eq!(p.admit("radar-1", 0, 1), Pace::Now);
    assert_eq!(p.admit("radar-2", 0, 1), Pace::Defer);
}

#[test]
fn paced_subjects_name_their_producer() {
    let cases = [
        ("paced.track.radar-1.tracks", Some("radar-1")),
        ("paced.alert.p.f", Some("p")),
        ("out.track.radar-1.tracks", None),
        ("paced.track", None),
        ("", None),
    ];
    for (subject, want) in cases {
        assert_eq!(paced_producer(subject), want, "{subject}");
    }
}

#[test]
fn refused_control_objects_are_audited_up_to_a_burst_then_at_a_rate_per_source() {
    let clock = FakeRelativeClock::default();
    let audit = RefusalAudit::with_clock(clock.clone());
    let burst = RefusalAudit::<FakeRelativeClock>::BURST;
    for i in 0..burst {
        assert!(audit.audit("GBR"), "refusal {i} of the burst");
    }
    assert!(!audit.audit("GBR"), "past the burst");
    assert!(audit.audit("home"), "another source has its own allowance");
    clock.advance(RefusalAudit::<FakeRelativeClock>::EVERY - Duration::from_millis(1));
    assert!(!audit.audit("GBR"), "not yet");
    clock.advance(Duration::from_millis(1));
    assert!(audit.audit("GBR"), "one more after the period");
    assert!(!audit.audit("GBR"));
}
