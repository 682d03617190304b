//! Measurement 7's pure half: which alert one webhook POST carries and
//! when it was sent, and the **exactly-once check** of a run's POSTs.
//!
//! A POST names its record in `Idempotency-Key:
//! <origin>/<producer>/<feed>/<seq>/v<version>` (docs/alerting.md), and
//! carries the send time the benchmark's alert holds in `summary`
//! ([`crate::payload::alert`]): `payload.summary` of the JSON object, or
//! `<headline>` of the CAP document (a version 1 summary becomes the CAP
//! headline). Per feed, the run's seqs must each be posted:
//!
//! - a seq never posted, a POST that cannot be read, a seq not published
//!   in the run, or a first POST of a seq after a later seq's (the
//!   forwarder posts one at a time, in order) is an **error**: the
//!   benchmark exits non-zero;
//! - a seq posted again is a **duplicate**, counted and reported, not an
//!   error: the forwarder delivers at least once.
//!
//! No I/O: the receiver ([`crate::webhook`]) hands its POSTs in.
use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;

/// One POST as the receiver got it.
#[derive(Debug, Clone)]
pub struct Post {
    /// Its `Idempotency-Key` header.
    pub key: String,
    /// Its `Content-Type` header.
    pub content_type: String,
    pub body: String,
    /// When the receiver had the whole request (Unix µs, the machine's
    /// clock, as the send time).
    pub received_us: i64,
}

/// What a POST says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub feed: String,
    pub seq: u64,
    /// The send time the alert carries (Unix µs).
    pub sent_us: i64,
}

/// The feed and seq an `Idempotency-Key` names.
pub fn key_record(key: &str) -> Option<(String, u64)> {
    match key.split('/').collect::<Vec<_>>().as_slice() {
        [_origin, _producer, feed, seq, version] if version.starts_with('v') => {
            Some((feed.to_string(), seq.parse().ok()?))
        }
        _ => None,
    }
}

/// The send time in a body: JSON `payload.summary`, or CAP `<headline>`.
pub fn body_sent_us(content_type: &str, body: &str) -> Option<i64> {
    if content_type.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v["payload"]["summary"].as_str()?.parse().ok()
    } else if content_type.starts_with("application/cap+xml") {
        let (_, rest) = body.split_once("<headline>")?;
        let (headline, _) = rest.split_once("</headline>")?;
        headline.trim().parse().ok()
    } else {
        None
    }
}

/// Reads one POST; an error says what could not be read.
pub fn parse(post: &Post) -> Result<Alert, String> {
    let (feed, seq) = key_record(&post.key).ok_or_else(|| {
        format!(
            "a POST whose Idempotency-Key {:?} names no record",
            post.key
        )
    })?;
    let sent_us = body_sent_us(&post.content_type, &post.body).ok_or_else(|| {
        format!(
            "the POST of {feed} seq {seq} ({}) carries no send time",
            post.content_type
        )
    })?;
    Ok(Alert { feed, seq, sent_us })
}

/// The POSTs of one run, checked against the seqs it published.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Check {
    /// Every POST received.
    pub posts: u64,
    /// Seqs of `expected` posted at least once.
    pub posted: u64,
    /// POSTs of a seq posted before.
    pub duplicates: u64,
    /// (seq, first POST received - sent, in µs), in the order posted.
    pub latencies_us: Vec<(u64, i64)>,
    /// When each of those first POSTs arrived (Unix µs), in the same order.
    pub first_posts_us: Vec<i64>,
    /// When the last first POST arrived (Unix µs).
    pub last_first_post_us: Option<i64>,
    /// Loss, unreadable or unexpected POSTs, order: each an error.
    pub errors: Vec<String>,
}

/// Checks `posts` (in arrival order): `expected` on `feed`, each once.
pub fn check(feed: &str, expected: RangeInclusive<u64>, posts: &[Post]) -> Check {
    let mut out = Check {
        posts: posts.len() as u64,
        ..Check::default()
    };
    let mut seen = HashSet::new();
    let mut highest = 0;
    // Per feed: POSTs not of this run, and the first one's seq.
    let mut unexpected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for post in posts {
        let alert = match parse(post) {
            Ok(a) => a,
            Err(e) => {
                out.errors.push(format!("unreadable: {e}"));
                continue;
            }
        };
        if alert.feed != feed || !expected.contains(&alert.seq) {
            let (n, _first) = unexpected.entry(alert.feed).or_insert((0, alert.seq));
            *n += 1;
            continue;
        }
        if !seen.insert(alert.seq) {
            out.duplicates += 1;
            continue;
        }
        if alert.seq < highest {
            out.errors.push(format!(
                "out of order: {feed} seq {} first posted after seq {highest}",
                alert.seq
            ));
        }
        highest = highest.max(alert.seq);
        out.posted += 1;
        out.latencies_us
            .push((alert.seq, post.received_us - alert.sent_us));
        out.first_posts_us.push(post.received_us);
        out.last_first_post_us = Some(post.received_us);
    }
    for (other, (n, first)) in unexpected {
        out.errors.push(format!(
            "unexpected: the webhook received {n} POSTs of {other} not published in this run \
             (the first seq {first})"
        ));
    }
    let missing: Vec<u64> = expected.filter(|s| !seen.contains(s)).collect();
    if let Some(first) = missing.first() {
        out.errors.push(format!(
            "lost: {} alerts of {feed} never reached the webhook (the first seq {first})",
            missing.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(seq: u64, sent: i64, at: i64) -> Post {
        Post {
            key: format!("USA/warn-1/afjson-0/{seq}/v1"),
            content_type: "application/json".into(),
            body: format!(r#"{{"seq":{seq},"payload":{{"summary":"{sent}"}}}}"#),
            received_us: at,
        }
    }

    #[test]
    fn a_post_is_read_from_its_key_and_body_in_either_format() {
        assert_eq!(
            parse(&json(7, 1_000, 1_500)),
            Ok(Alert {
                feed: "afjson-0".into(),
                seq: 7,
                sent_us: 1_000
            })
        );
        let cap = Post {
            key: "USA/warn-1/afcap-0/3/v1".into(),
            content_type: "application/cap+xml".into(),
            body: "<alert><info><headline>1234</headline></info></alert>".into(),
            received_us: 0,
        };
        assert_eq!(parse(&cap).map(|a| (a.seq, a.sent_us)), Ok((3, 1234)));
        // (key, content type, body, refused because)
        let table = [
            (
                "USA/warn-1/f/x/v1",
                "application/json",
                "{}",
                "names no record",
            ),
            (
                "USA/warn-1/f/1",
                "application/json",
                "{}",
                "names no record",
            ),
            (
                "USA/warn-1/f/1/v1",
                "application/json",
                "{}",
                "no send time",
            ),
            ("USA/warn-1/f/1/v1", "text/plain", "1", "no send time"),
            (
                "USA/warn-1/f/1/v1",
                "application/cap+xml",
                "<alert/>",
                "no send time",
            ),
        ];
        for (key, content_type, body, why) in table {
            let post = Post {
                key: key.into(),
                content_type: content_type.into(),
                body: body.into(),
                received_us: 0,
            };
            let e = parse(&post).unwrap_err();
            assert!(e.contains(why), "{key} {content_type}: {e}");
        }
    }

    #[test]
    fn every_seq_posted_once_in_order_passes() {
        let posts: Vec<Post> = (1..=3)
            .map(|s| json(s, 100 * s as i64, 100 * s as i64 + 40))
            .collect();
        let c = check("afjson-0", 1..=3, &posts);
        assert_eq!(c.errors, Vec::<String>::new());
        assert_eq!((c.posts, c.posted, c.duplicates), (3, 3, 0));
        assert_eq!(c.latencies_us, vec![(1, 40), (2, 40), (3, 40)]);
        assert_eq!(c.first_posts_us, vec![140, 240, 340]);
        assert_eq!(c.last_first_post_us, Some(340));
    }

    #[test]
    fn a_duplicate_is_counted_not_an_error_and_keeps_the_first_receipt() {
        let posts = [
            json(1, 0, 10),
            json(2, 0, 20),
            json(2, 0, 90),
            json(3, 0, 30),
        ];
        let c = check("afjson-0", 1..=3, &posts);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!((c.posts, c.posted, c.duplicates), (4, 3, 1));
        assert_eq!(c.latencies_us[1], (2, 20));
    }

    #[test]
    fn a_lost_unexpected_unreadable_or_reordered_post_is_an_error() {
        // (posts, expected error)
        let mut garbled = json(2, 0, 0);
        garbled.body = "not json".into();
        let table: [(Vec<Post>, &str); 4] = [
            (
                vec![json(1, 0, 0), json(3, 0, 0)],
                "lost: 1 alerts of afjson-0",
            ),
            (
                vec![json(1, 0, 0), json(2, 0, 0), json(3, 0, 0), json(9, 0, 0)],
                "unexpected",
            ),
            (vec![json(1, 0, 0), garbled, json(3, 0, 0)], "unreadable"),
            (
                vec![json(1, 0, 0), json(3, 0, 0), json(2, 0, 0)],
                "out of order",
            ),
        ];
        for (posts, want) in table {
            let c = check("afjson-0", 1..=3, &posts);
            assert!(
                c.errors.iter().any(|e| e.starts_with(want)),
                "{want}: {:?}",
                c.errors
            );
        }
    }
}
