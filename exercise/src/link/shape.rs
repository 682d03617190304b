//! The pure part of the link sidecar: the commands it takes and when a
//! delayed chunk may be written. No sockets here.

use std::time::Duration;

/// What the link does to traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// False while cut: live connections are dropped, new ones refused.
    pub open: bool,
    /// Added one-way delay.
    pub delay_ms: u64,
    /// Added jitter: each chunk is delayed `delay ± jitter`, uniformly.
    pub jitter_ms: u64,
    /// The bearer's bandwidth, kbit/s, as limited by `tc` in the sidecar's
    /// network namespace; 0: not limited. The relay only uses it to bound
    /// how far it reads ahead ([`read_ahead_budget`]).
    #[serde(default)]
    pub rate_kbit: u32,
    /// Number of cuts so far (a new cut closes connections opened since
    /// the last one).
    pub cuts: u64,
}

impl Shape {
    /// An open link with nothing added.
    pub const CLEAR: Shape = Shape {
        open: true,
        delay_ms: 0,
        jitter_ms: 0,
        rate_kbit: 0,
        cuts: 0,
    };
}

/// How many bytes one direction of the relay may hold read and not yet
/// written, `None` for no bound beyond its chunk queue. A narrow bearer
/// holds what it carries during the delay (plus a little): reading further
/// ahead would queue seconds of data in the relay, a buffer no real bearer
/// has, and every reply on the connection would wait behind it.
pub fn read_ahead_budget(shape: &Shape) -> Option<usize> {
    if shape.rate_kbit == 0 {
        return None;
    }
    let bytes_per_sec = u64::from(shape.rate_kbit) * 1_000 / 8;
    let hold_ms = shape.delay_ms + shape.jitter_ms + 100;
    Some((bytes_per_sec * hold_ms / 1_000).max(16 * 1024) as usize)
}

/// A control command, one line on the control port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Drop every connection and refuse new ones.
    Cut,
    /// Accept connections again.
    Restore,
    /// Delay every chunk by `delay ± jitter` ms, on a bearer of
    /// `rate_kbit` (0: not limited).
    Degrade {
        /// One-way delay, ms.
        delay_ms: u64,
        /// Jitter, ± ms (at most the delay).
        jitter_ms: u64,
        /// The bandwidth `tc` limits the sidecar to, kbit/s.
        rate_kbit: u32,
    },
    /// Remove any delay.
    Clear,
    /// Report the shape and counters.
    Status,
}

/// The longest delay a sidecar accepts: beyond this the link is cut, not slow.
pub const MAX_DELAY_MS: u64 = 60_000;

/// Parses a control line, e.g. `degrade 200 50`.
pub fn parse_command(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |w: &str, what: &str| {
        w.parse::<u64>()
            .map_err(|_| format!("{what} {w:?} is not a whole number of milliseconds"))
    };
    match words.as_slice() {
        ["cut"] => Ok(Command::Cut),
        ["restore"] => Ok(Command::Restore),
        ["clear"] => Ok(Command::Clear),
        ["status"] => Ok(Command::Status),
        ["degrade", delay, jitter, rate @ ..] if rate.len() <= 1 => {
            let delay_ms = number(delay, "delay")?;
            let jitter_ms = number(jitter, "jitter")?;
            let rate_kbit = match rate.first() {
                None => 0,
                Some(r) => r
                    .parse::<u32>()
                    .map_err(|_| format!("rate {r:?} is not a whole number of kbit/s"))?,
            };
            if delay_ms > MAX_DELAY_MS {
                return Err(format!(
                    "delay {delay_ms} ms is above {MAX_DELAY_MS} ms; cut the link instead"
                ));
            }
            if jitter_ms > delay_ms {
                return Err(format!(
                    "jitter {jitter_ms} ms is larger than the delay {delay_ms} ms"
                ));
            }
            Ok(Command::Degrade {
                delay_ms,
                jitter_ms,
                rate_kbit,
            })
        }
        ["degrade", ..] => Err("usage: degrade <delay_ms> <jitter_ms> [<rate_kbit>]".into()),
        [] => Err("empty command; expected cut, restore, degrade, clear or status".into()),
        [other, ..] => Err(format!(
            "unknown command {other:?}; expected cut, restore, degrade, clear or status"
        )),
    }
}

/// Applies `command` to `shape`; returns the new shape.
pub fn apply(shape: Shape, command: Command) -> Shape {
    match command {
        Command::Cut if shape.open => Shape {
            open: false,
            cuts: shape.cuts + 1,
            ..shape
        },
        Command::Cut | Command::Status => shape,
        Command::Restore => Shape {
            open: true,
            ..shape
        },
        Command::Degrade {
            delay_ms,
            jitter_ms,
            rate_kbit,
        } => Shape {
            delay_ms,
            jitter_ms,
            rate_kbit,
            ..shape
        },
        Command::Clear => Shape {
            delay_ms: 0,
            jitter_ms: 0,
            rate_kbit: 0,
            ..shape
        },
    }
}

/// When a chunk read at `now` may be written: `now + delay + offset`, where
/// `unit` in [0, 1) picks the offset in `[-jitter, +jitter]`, but never
/// before the previous chunk of the same direction (`last`): a byte stream
/// is delayed, never reordered.
pub fn release_at(now: Duration, last: Duration, shape: &Shape, unit: f64) -> Duration {
    let jitter = shape.jitter_ms as f64;
    let offset = (unit.clamp(0.0, 1.0) * 2.0 - 1.0) * jitter;
    let delay_ms = (shape.delay_ms as f64 + offset).max(0.0);
    let at = now + Duration::from_micros((delay_ms * 1000.0) as u64);
    at.max(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(parse_command("cut"), Ok(Command::Cut));
        assert_eq!(parse_command(" restore \n"), Ok(Command::Restore));
        assert_eq!(
            parse_command("degrade 200 50"),
            Ok(Command::Degrade {
                delay_ms: 200,
                jitter_ms: 50,
                rate_kbit: 0,
            })
        );
        assert_eq!(
            parse_command("degrade 300 0 256"),
            Ok(Command::Degrade {
                delay_ms: 300,
                jitter_ms: 0,
                rate_kbit: 256,
            })
        );
        let refused = [
            ("degrade 50 200", "larger than the delay"),
            ("degrade 2OO 5", "not a whole number"),
            ("degrade 61000 0", "cut the link instead"),
            ("degrade 5", "usage"),
            ("degrade 300 0 fast", "not a whole number of kbit/s"),
            ("degrade 300 0 256 9", "usage"),
            ("", "empty command"),
            ("explode", "unknown command \"explode\""),
        ];
        for (line, why) in refused {
            let e = parse_command(line).unwrap_err();
            assert!(e.contains(why), "{line:?}: {e}");
        }
    }

    #[test]
    fn a_cut_counts_once_and_restore_keeps_the_degradation() {
        let s = apply(Shape::CLEAR, Command::Cut);
        assert_eq!((s.open, s.cuts), (false, 1));
        assert_eq!(
            apply(s, Command::Cut).cuts,
            1,
            "cutting a cut link is no new cut"
        );
        let s = apply(
            s,
            Command::Degrade {
                delay_ms: 200,
                jitter_ms: 50,
                rate_kbit: 256,
            },
        );
        let s = apply(s, Command::Restore);
        assert_eq!(
            (s.open, s.delay_ms, s.jitter_ms, s.rate_kbit),
            (true, 200, 50, 256)
        );
        let cleared = apply(s, Command::Clear);
        assert_eq!((cleared.delay_ms, cleared.rate_kbit), (0, 0));
    }

    #[test]
    fn a_narrow_bearer_bounds_the_relay_s_read_ahead_to_what_it_carries_in_the_delay() {
        assert_eq!(read_ahead_budget(&Shape::CLEAR), None);
        let satcom = Shape {
            delay_ms: 300,
            rate_kbit: 256,
            ..Shape::CLEAR
        };
        // 32,000 B/s for 400 ms.
        assert_eq!(read_ahead_budget(&satcom), Some(16 * 1024));
        let wide = Shape {
            delay_ms: 300,
            rate_kbit: 10_000,
            ..Shape::CLEAR
        };
        assert_eq!(read_ahead_budget(&wide), Some(500_000));
    }

    #[test]
    fn chunks_are_delayed_within_the_jitter_and_never_reordered() {
        let shape = Shape {
            delay_ms: 200,
            jitter_ms: 50,
            ..Shape::CLEAR
        };
        let now = Duration::from_secs(10);
        let ms = |d: Duration| (d - now).as_millis();
        assert_eq!(ms(release_at(now, Duration::ZERO, &shape, 0.0)), 150);
        assert_eq!(ms(release_at(now, Duration::ZERO, &shape, 0.5)), 200);
        assert_eq!(ms(release_at(now, Duration::ZERO, &shape, 0.999_999)), 249);
        // A chunk drawn early waits for the one before it.
        let last = now + Duration::from_millis(240);
        assert_eq!(release_at(now, last, &shape, 0.0), last);
        assert_eq!(ms(release_at(now, Duration::ZERO, &Shape::CLEAR, 0.7)), 0);
    }
}
