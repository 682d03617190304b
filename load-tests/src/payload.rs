//! What the benchmark publishes: tracks of an exact encoded size, alerts
//! that carry their send time, and the labels (released to GBR or not).
//!
//! Pure: no I/O beyond reading the clock.
use coalition_sdk::{AlertV1, Label, Severity, TrackV1};
use prost::Message;

/// A label USA releases to GBR (SECRET, the link's ceiling).
pub fn releasable() -> Label {
    Label::new("USA", "SECRET", &["GBR"])
}

/// A label USA's bridge never releases: NOFORN forbids any foreign
/// release (`caveat_forbids_release`).
pub fn not_releasable() -> Label {
    Label::new("USA", "SECRET", &["GBR"]).with_caveat("NOFORN")
}

/// Unix microseconds now (alerts carry it; sender and receiver share the
/// machine's clock).
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A track with every field set, whose encoded TrackV1 is exactly `size`
/// bytes when `size` allows it (at least [`min_track_size`]; smaller sizes
/// give the smallest track; at the one size where the id's length prefix
/// grows, one byte less). TrackV1's only variable-length field is
/// `track_id`, so the id is padded to reach the size; the SDK copies it
/// into the signed record header as `product_id`.
pub fn track_of_size(size: usize, index: u64) -> TrackV1 {
    let mut track = TrackV1 {
        track_id: format!("USA-R1-{index:08}"),
        latitude_deg: 51.4775 + (index % 1000) as f64 * 1e-4,
        longitude_deg: -0.4614 - (index % 997) as f64 * 1e-4,
        altitude_m: 10_668.0 + (index % 50) as f64,
        speed_mps: 231.5,
        heading_deg: 274.2,
        confidence: 0.93,
        observed_at_ms: 1_767_225_600_000 + index as i64,
    };
    let id = std::mem::take(&mut track.track_id);
    let fixed = track.encoded_len();
    // Field 1: tag, length prefix, bytes. Pick the longest id that fits.
    let cost = |len: usize| 1 + prost::length_delimiter_len(len) + len;
    let id_len = id.len();
    let mut len = id_len;
    while fixed + cost(len + 1) <= size {
        len += 1;
    }
    track.track_id = id + &filler(len - id_len, index);
    track
}

/// `n` characters from a 64-letter alphabet, pseudo-random per `seed`, so
/// the padding does not compress (the leaf link may compress).
fn filler(n: usize, seed: u64) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x >> 58) as usize] as char
        })
        .collect()
}

/// The smallest encoded track [`track_of_size`] makes.
#[cfg(test)]
pub fn min_track_size() -> usize {
    track_of_size(0, 0).encoded_len()
}

/// An alert raised now, carrying its send time (Unix µs) in `summary`:
/// `raised_at_ms` is only milliseconds, too coarse for a 2 ms target.
pub fn alert(index: u64, sent_us: i64) -> AlertV1 {
    AlertV1 {
        alert_id: format!("USA-W1-A{index:08}"),
        severity: Severity::Critical as i32,
        summary: sent_us.to_string(),
        track_id: format!("USA-R1-{index:08}"),
        raised_at_ms: sent_us / 1000,
    }
}

/// The send time an [`alert`] carries.
pub fn alert_sent_us(alert: &AlertV1) -> Option<i64> {
    alert.summary.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_have_the_size_asked_for() {
        for size in [min_track_size(), 100, 128, 200, 1024, 4096] {
            assert_eq!(track_of_size(size, 7).encoded_len(), size, "size {size}");
        }
        // Where the id's length prefix grows, one size cannot be reached:
        // the track is one byte short of it, never over.
        for size in min_track_size()..2000 {
            let got = track_of_size(size, 7).encoded_len();
            assert!(got == size || got + 1 == size, "size {size}: {got}");
        }
    }

    #[test]
    fn too_small_gives_the_smallest_track() {
        assert_eq!(track_of_size(1, 0).encoded_len(), min_track_size());
    }

    #[test]
    fn alerts_carry_their_send_time() {
        assert_eq!(alert_sent_us(&alert(3, 1_234_567)), Some(1_234_567));
    }
}
