//! Instants as people read them: Unix milliseconds as a UTC date and time
//! (proleptic Gregorian, H. Hinnant's days-to-civil algorithm), for audit
//! lines, exercise reports and benchmark reports. Pure; no time crate.

/// Unix ms as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc(ms: i64) -> String {
    let ((year, month, day), (h, m, s), milli) = civil(ms);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS UTC`, to the second.
pub fn utc_seconds(ms: i64) -> String {
    let ((year, month, day), (h, m, s), _) = civil(ms);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02} UTC")
}

/// Now, in Unix ms (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

type Date = (i64, i64, i64);
type Time = (i64, i64, i64);

fn civil(ms: i64) -> (Date, Time, i64) {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date, in eras of 400 years.
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let time = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    ((year, month, day), time, milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(utc(ms), want, "{ms}");
        }
        assert_eq!(utc_seconds(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
    }
}
