//! The forwarder's retry policy, as pure functions: what to do after each
//! try of a POST ([`decide`]) and how long to wait before the next
//! ([`backoff`]: exponential, full jitter, bounded). No clock, no sleep,
//! no randomness of its own: the caller passes a jitter in `[0, 1)`.
//!
//! - 2xx: delivered.
//! - 408, 429 and 5xx, time-outs and connection errors: retried, until
//!   `max_tries` tries were made; then dead-lettered. A `Retry-After` of
//!   whole seconds on a 429 or 503 (or any retried status) is honoured,
//!   bounded by the maximum delay.
//! - Anything else (other 4xx, 1xx, 3xx: redirects are not followed):
//!   dead-lettered at once; trying the same request again cannot succeed.
use std::time::Duration;

/// How the forwarder retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included; at least 1.
    pub max_tries: u32,
    /// The first delay's upper bound.
    pub base: Duration,
    /// No delay is longer (nor is an honoured `Retry-After`).
    pub max_delay: Duration,
}

/// What one try of a POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered.
    Status {
        /// The HTTP status code.
        code: u16,
        /// Its `Retry-After`, if it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// No answer within the request time-out.
    Timeout,
    /// No connection, TLS failure, connection dropped.
    Transport(String),
}

impl Outcome {
    /// The HTTP status, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A line for logs and the dead letter.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Status { code, .. } => format!("HTTP {code}"),
            Outcome::Timeout => "no response within the request timeout".into(),
            Outcome::Transport(e) => e.clone(),
        }
    }
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Acknowledge: the endpoint took it.
    Delivered,
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up: dead-letter it (then acknowledge).
    DeadLetter,
}

/// Whether a status is worth another try.
pub fn retryable_status(code: u16) -> bool {
    matches!(code, 408 | 429 | 500..=599)
}

/// Decides after try number `tries` (1 for the first) came to `outcome`.
/// `jitter` in `[0, 1)` scales the backoff (full jitter).
pub fn decide(policy: &RetryPolicy, tries: u32, outcome: &Outcome, jitter: f64) -> Next {
    let retry_after = match outcome {
        Outcome::Status { code, .. } if (200..300).contains(code) => return Next::Delivered,
        Outcome::Status { code, .. } if !retryable_status(*code) => return Next::DeadLetter,
        Outcome::Status { retry_after, .. } => *retry_after,
        Outcome::Timeout | Outcome::Transport(_) => None,
    };
    if tries >= policy.max_tries {
        return Next::DeadLetter;
    }
    Next::RetryAfter(match retry_after {
        Some(after) => after.min(policy.max_delay),
        None => backoff(policy, tries, jitter),
    })
}

/// The wait after try number `tries`: a uniform draw (`jitter`) from zero
/// to `min(max_delay, base * 2^(tries - 1))`.
pub fn backoff(policy: &RetryPolicy, tries: u32, jitter: f64) -> Duration {
    let doublings = tries.saturating_sub(1).min(32);
    let ceiling = policy
        .base
        .saturating_mul(1u32 << doublings.min(31))
        .min(policy.max_delay);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

/// A `Retry-After` value in whole seconds; an HTTP date (or anything
/// else) is not used, and the backoff applies instead.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_tries: 4,
        base: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    };

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn what_is_retried_and_what_is_dead_lettered_at_once() {
        let half = Duration::from_millis(50);
        let table = [
            (status(200), 1, Next::Delivered),
            (status(204), 3, Next::Delivered),
            (status(400), 1, Next::DeadLetter),
            (status(404), 1, Next::DeadLetter),
            (status(410), 1, Next::DeadLetter),
            (status(302), 1, Next::DeadLetter),
            (status(101), 1, Next::DeadLetter),
            (status(408), 1, Next::RetryAfter(half)),
            (status(429), 1, Next::RetryAfter(half)),
            (status(500), 1, Next::RetryAfter(half)),
            (status(503), 3, Next::RetryAfter(Duration::from_millis(200))),
            (status(503), 4, Next::DeadLetter),
            (Outcome::Timeout, 1, Next::RetryAfter(half)),
            (Outcome::Timeout, 4, Next::DeadLetter),
            (
                Outcome::Transport("refused".into()),
                2,
                Next::RetryAfter(Duration::from_millis(100)),
            ),
            (Outcome::Transport("refused".into()), 4, Next::DeadLetter),
        ];
        for (outcome, tries, want) in table {
            assert_eq!(
                decide(&POLICY, tries, &outcome, 0.5),
                want,
                "{outcome:?} try {tries}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_within_the_maximum_delay() {
        let after = |s| Outcome::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(
            decide(&POLICY, 1, &after(0), 0.9),
            Next::RetryAfter(Duration::ZERO)
        );
        assert_eq!(
            decide(&POLICY, 1, &after(3600), 0.9),
            Next::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(decide(&POLICY, 4, &after(1), 0.9), Next::DeadLetter);
    }

    #[test]
    fn backoff_doubles_with_full_jitter_and_is_bounded() {
        let table = [
            (1, 1.0, 100),
            (2, 1.0, 200),
            (3, 1.0, 400),
            (4, 1.0, 800),
            (5, 1.0, 1_000),
            (60, 1.0, 1_000),
            (u32::MAX, 1.0, 1_000),
            (3, 0.0, 0),
            (3, 0.25, 100),
            (3, 7.0, 400),
            (3, -1.0, 0),
        ];
        for (tries, jitter, want_ms) in table {
            assert_eq!(
                backoff(&POLICY, tries, jitter),
                Duration::from_millis(want_ms),
                "try {tries} jitter {jitter}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_only() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }
}
