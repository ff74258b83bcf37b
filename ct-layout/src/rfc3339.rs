//! RFC 3339 timestamps in UTC (`2026-01-02T03:04:05Z`), as the OCI specs write them: an image
//! config's `created`, `state.json`'s `created`, a runtime log line's `time`. The civil date
//! comes from the day count with Howard Hinnant's days-to-civil algorithm (dates are counted
//! in 400-year eras of 146,097 days, starting each year on March 1st so the leap day falls
//! last), so no date crate and no time zone database is needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// `secs` seconds since the Unix epoch (negative: before it).
pub fn format(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A point in time, to the second (the epoch for a clock set before it).
pub fn of(t: SystemTime) -> String {
    format(
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    )
}

/// The system clock, now.
pub fn now() -> String {
    of(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn known_dates() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(format(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59Z");
    }
}
