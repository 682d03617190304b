//! The exercise's load: how many tracks each producer publishes, and when.
//! A steady rate for every producer, plus surges (one nation publishing
//! far above its rate for a while, as in `partner-flood`). Pure: the
//! producer agent asks [`Load::due`] how many tracks it should have
//! published by now and publishes the difference, so a slow moment is
//! caught up and the total is exact.
use serde::{Deserialize, Serialize};

/// One nation's producers publishing at another rate for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surge {
    /// The nation whose producers surge.
    pub nation: String,
    /// From this many ms after the start...
    pub from_ms: u64,
    /// ...until this many.
    pub until_ms: u64,
    /// Tracks per second per producer meanwhile.
    pub tracks_per_sec: u32,
}

/// Every producer's rate over the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    /// Tracks per second per producer (the exercise topologies have one
    /// producer per nation, so per nation too).
    pub tracks_per_sec: u32,
    /// Surges, in any order; where two of one nation overlap, the later
    /// one in the list wins.
    #[serde(default)]
    pub surges: Vec<Surge>,
}

/// The most tracks per second a producer is asked for: beyond this a
/// rate is a typing mistake, not a load.
pub const MAX_TRACKS_PER_SEC: u32 = 100_000;

impl Load {
    /// A steady load with no surge.
    pub fn steady(tracks_per_sec: u32) -> Load {
        Load {
            tracks_per_sec,
            surges: Vec::new(),
        }
    }

    /// Checks the rates: at least 1 and at most [`MAX_TRACKS_PER_SEC`],
    /// and every surge ends after it starts.
    pub fn check(&self) -> Result<(), String> {
        let rate_ok = |r: u32| (1..=MAX_TRACKS_PER_SEC).contains(&r);
        if !rate_ok(self.tracks_per_sec) {
            return Err(format!(
                "a rate of {} tracks/s: use 1 to {MAX_TRACKS_PER_SEC}",
                self.tracks_per_sec
            ));
        }
        for s in &self.surges {
            if !rate_ok(s.tracks_per_sec) || s.until_ms <= s.from_ms {
                return Err(format!(
                    "{}'s surge to {} tracks/s from {} ms to {} ms: the rate must be 1 to {MAX_TRACKS_PER_SEC} and the surge must end after it starts",
                    s.nation, s.tracks_per_sec, s.from_ms, s.until_ms
                ));
            }
        }
        Ok(())
    }

    /// `nation`'s rate at `at_ms` after the start.
    pub fn rate_at(&self, nation: &str, at_ms: u64) -> u32 {
        self.surges
            .iter()
            .rev()
            .find(|s| s.nation == nation && s.from_ms <= at_ms && at_ms < s.until_ms)
            .map_or(self.tracks_per_sec, |s| s.tracks_per_sec)
    }

    /// How many tracks one of `nation`'s producers should have published
    /// `elapsed_ms` after the start, publishing for `duration_ms` in all.
    pub fn due(&self, nation: &str, elapsed_ms: u64, duration_ms: u64) -> u64 {
        let end = elapsed_ms.min(duration_ms);
        // The instants where the rate may change, in order.
        let mut marks: Vec<u64> = vec![0, end];
        for s in self.surges.iter().filter(|s| s.nation == nation) {
            marks.extend([s.from_ms, s.until_ms].into_iter().filter(|m| *m < end));
        }
        marks.sort_unstable();
        marks.dedup();
        let milli_tracks: u64 = marks
            .windows(2)
            .map(|w| u64::from(self.rate_at(nation, w[0])) * (w[1] - w[0]))
            .sum();
        milli_tracks / 1_000
    }

    /// The highest rate any producer is asked for.
    pub fn peak(&self) -> u32 {
        self.surges
            .iter()
            .map(|s| s.tracks_per_sec)
            .chain([self.tracks_per_sec])
            .max()
            .unwrap_or(self.tracks_per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flood() -> Load {
        Load {
            tracks_per_sec: 100,
            surges: vec![Surge {
                nation: "USA".into(),
                from_ms: 2_000,
                until_ms: 4_000,
                tracks_per_sec: 1_000,
            }],
        }
    }

    #[test]
    fn tracks_due_follow_the_rate_and_its_surges() {
        // (load, nation, elapsed ms, duration ms, tracks due)
        let table = [
            (Load::steady(1_000), "USA", 0, 60_000, 0),
            (Load::steady(1_000), "USA", 1, 60_000, 1),
            (Load::steady(1_000), "USA", 1_500, 60_000, 1_500),
            (Load::steady(10), "USA", 99, 60_000, 0),
            (Load::steady(10), "USA", 100, 60_000, 1),
            // Nothing after the publishing time.
            (Load::steady(1_000), "USA", 90_000, 60_000, 60_000),
            (flood(), "USA", 2_000, 60_000, 200),
            (flood(), "USA", 3_000, 60_000, 1_200),
            (flood(), "USA", 4_000, 60_000, 2_200),
            (flood(), "USA", 5_000, 60_000, 2_300),
            // Another nation is not surging.
            (flood(), "GBR", 5_000, 60_000, 500),
            // The publishing time ends inside the surge.
            (flood(), "USA", 9_000, 3_000, 1_200),
        ];
        for (load, nation, elapsed, duration, due) in table {
            assert_eq!(
                load.due(nation, elapsed, duration),
                due,
                "{nation} at {elapsed} ms of {duration} ms"
            );
        }
    }

    #[test]
    fn the_rate_at_an_instant_is_the_surge_s_inside_it_and_the_steady_one_outside() {
        let l = flood();
        assert_eq!(l.rate_at("USA", 1_999), 100);
        assert_eq!(l.rate_at("USA", 2_000), 1_000);
        assert_eq!(l.rate_at("USA", 3_999), 1_000);
        assert_eq!(l.rate_at("USA", 4_000), 100);
        assert_eq!(l.rate_at("FRA", 3_000), 100);
        assert_eq!(l.peak(), 1_000);
    }

    #[test]
    fn bad_rates_and_backwards_surges_are_refused_with_the_rule() {
        assert!(Load::steady(1).check().is_ok());
        assert!(flood().check().is_ok());
        let e = Load::steady(0).check().unwrap_err();
        assert!(e.contains("use 1 to 100000"), "{e}");
        assert!(Load::steady(MAX_TRACKS_PER_SEC + 1).check().is_err());
        let mut backwards = flood();
        backwards.surges[0].until_ms = 2_000;
        let e = backwards.check().unwrap_err();
        assert!(
            e.contains("USA's surge") && e.contains("end after it starts"),
            "{e}"
        );
    }

    #[test]
    fn a_start_signal_without_surges_reads() {
        let l: Load = serde_json::from_str(r#"{"tracks_per_sec": 250}"#).unwrap();
        assert_eq!(l, Load::steady(250));
    }
}
