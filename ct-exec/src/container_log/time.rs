//! The log's timestamps: RFC 3339 with nanoseconds in UTC (`2026-12-07T03:52:45.123456789Z`)
//! written on every entry, and what `ct-exec logs --since` accepts — docker's forms: a Go
//! duration before now (`1h30m`), a Unix time (`1733543565.5`), or an RFC 3339 time or date
//! (any offset, turned to UTC). Dates are counted with Howard Hinnant's civil-calendar
//! algorithms, so no date crate and no time zone database is needed.

use std::time::{SystemTime, UNIX_EPOCH};

use ct_layout::rfc3339::civil_from_days;

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// (year, month, day) → days since 1970-01-01: the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Nanoseconds since the epoch → `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`.
pub fn format_time(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let frac = ns.rem_euclid(1_000_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// RFC 3339 (`2026-12-07T03:52:45.5Z`, `…+01:00`, a space for the `T`) or a bare date (UTC
/// midnight) → nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = b.get(r)?;
        t.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(t).ok()?.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&mo) {
        return None;
    }
    if !(1..=31).contains(&d) {
        return None;
    }
    let day = i128::from(days_from_civil(y, mo, d)) * 86_400 * 1_000_000_000;
    if b.len() == 10 {
        return Some(day);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b.get(16) != Some(&b':') || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let nine = format!("{:0<9}", &digits[..digits.len().min(9)]);
        frac = nine.parse().ok()?;
    }
    let offset: i64 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = i128::from(h * 3600 + mi * 60 + sec - offset);
    Some(day + secs * 1_000_000_000 + frac)
}

/// docker's `--since`: a duration before now (`10m`, `1h30m`, `2.5s`), a Unix time (`1733543565`,
/// `1733543565.5`), or an RFC 3339 time or date → nanoseconds since the epoch.
pub fn parse_since(s: &str, now: i128) -> Option<i128> {
    if let Some(d) = parse_duration(s) {
        return Some(now - d);
    }
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let w: i128 = whole.parse().ok()?;
        let f: i128 = if frac.is_empty() {
            0
        } else {
            format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?
        };
        return Some(w * 1_000_000_000 + f);
    }
    parse_time(s)
}

/// Go's duration syntax (`1h30m`, `500ms`, `2.5s`) → nanoseconds.
fn parse_duration(s: &str) -> Option<i128> {
    let mut rest = s;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += v * unit;
        rest = &rest[u..];
    }
    Some(total as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-12-07T03:52:45.123456789Z").unwrap();
        assert_eq!(format_time(t), "2026-12-07T03:52:45.123456789Z");
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2026-12-07T04:52:45.5+01:00"),
            parse_time("2026-12-07T03:52:45.500Z")
        );
        assert_eq!(parse_time("2000-03-01"), Some(951_868_800 * 1_000_000_000));
        assert_eq!(parse_time("2026-13-07T03:52:45Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn since_takes_durations_unix_times_and_dates() {
        let now = 10_000 * 1_000_000_000;
        assert_eq!(parse_since("10m", now), Some(now - 600 * 1_000_000_000));
        assert_eq!(parse_since("1h30m", now), Some(now - 5400 * 1_000_000_000));
        assert_eq!(parse_since("1.5", now), Some(1_500_000_000));
        assert_eq!(
            parse_since("1970-01-01T00:00:01Z", now),
            Some(1_000_000_000)
        );
        assert_eq!(parse_since("10x", now), None);
    }
}
