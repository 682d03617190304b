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
        cuts: 0,
    };
}

/// A control command, one line on the control port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Drop every connection and refuse new ones.
    Cut,
    /// Accept connections again.
    Restore,
    /// Delay every chunk by `delay ± jitter` ms.
    Degrade {
        /// One-way delay, ms.
        delay_ms: u64,
        /// Jitter, ± ms (at most the delay).
        jitter_ms: u64,
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
        ["degrade", delay, jitter] => {
            let delay_ms = number(delay, "delay")?;
            let jitter_ms = number(jitter, "jitter")?;
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
            })
        }
        ["degrade", ..] => Err("usage: degrade <delay_ms> <jitter_ms>".into()),
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
        } => Shape {
            delay_ms,
            jitter_ms,
            ..shape
        },
        Command::Clear => Shape {
            delay_ms: 0,
            jitter_ms: 0,
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
                jitter_ms: 50
            })
        );
        let refused = [
            ("degrade 50 200", "larger than the delay"),
            ("degrade 2OO 5", "not a whole number"),
            ("degrade 61000 0", "cut the link instead"),
            ("degrade 5", "usage"),
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
            },
        );
        let s = apply(s, Command::Restore);
        assert_eq!((s.open, s.delay_ms, s.jitter_ms), (true, 200, 50));
        assert_eq!(apply(s, Command::Clear).delay_ms, 0);
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
