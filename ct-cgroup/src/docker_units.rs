//! Sizes and CPU counts written the way docker's CLI takes them (`docker run --memory 64m
//! --cpus 0.5`), turned into what the kernel files want:
//!
//! * a size is a number with an optional binary unit: `b`, `k`, `m`, `g`, `t`, `p`, optionally
//!   followed by `b` or `ib` and in any case (`64m`, `64MB`, `1.5g`, `512KiB`, `1048576`);
//!   `-1` means unlimited where docker allows it (`--memory-swap -1`);
//! * `--cpus N` is a CFS bandwidth limit (sched(7), "CFS bandwidth control"): N CPUs' worth of
//!   runtime in every 100 ms period, so `0.5` is a quota of 50000 us per 100000 us period —
//!   `cpu.cfs_quota_us`/`cpu.cfs_period_us` on v1, `cpu.max` = `50000 100000` on v2.

use crate::error::CgroupError;

/// The CFS period docker uses for `--cpus`: 100 ms.
pub const CFS_PERIOD_US: u64 = 100_000;

/// Bytes in `s` (`64m` → 67108864). `-1` is returned as -1 (unlimited).
pub fn parse_size(what: &'static str, s: &str) -> Result<i64, CgroupError> {
    let bad = |reason: &str| CgroupError::InvalidValue {
        what,
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(bad(
            "expected a number with an optional unit (b, k, m, g, t, p), e.g. 64m",
        ));
    }
    let n: f64 = num.parse().map_err(|_| bad("not a number"))?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad("unknown unit (use b, k, m, g, t or p)")),
    };
    let bytes = (n * mult).floor();
    if !(1.0..=(i64::MAX as f64)).contains(&bytes) {
        return Err(bad("must be at least 1 byte and fit in 63 bits"));
    }
    Ok(bytes as i64)
}

/// `--cpus N` as (quota_us, period_us) over docker's 100 ms period.
pub fn parse_cpus(s: &str) -> Result<(i64, u64), CgroupError> {
    let bad = |reason: &str| CgroupError::InvalidValue {
        what: "--cpus",
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let n: f64 = s
        .trim()
        .parse()
        .map_err(|_| bad("expected a number of CPUs, e.g. 0.5 or 2"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(bad("must be more than 0"));
    }
    let quota = (n * CFS_PERIOD_US as f64).round();
    if quota < 1000.0 {
        return Err(bad(
            "the kernel's smallest quota is 1 ms per 100 ms period (0.01 CPUs)",
        ));
    }
    if quota > 1e12 {
        return Err(bad("too large"));
    }
    Ok((quota as i64, CFS_PERIOD_US))
}

/// `67108864` → `64MiB`, for people.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 || v.fract() == 0.0 {
        format!("{}{}", v as u64, UNITS[i])
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_writes_them() {
        assert_eq!(parse_size("--memory", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("--memory", "64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("--memory", "64mb").unwrap(), 64 << 20);
        assert_eq!(parse_size("--memory", "64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("--memory", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("--memory", "1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("--memory", "4096").unwrap(), 4096);
        assert_eq!(parse_size("--memory", "10b").unwrap(), 10);
        assert_eq!(parse_size("--memory", "512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("--memory-swap", "-1").unwrap(), -1);
        for bad in ["", "m", "64x", "-5m", "0", "1e3m", "12.3.4m", "64 m m"] {
            assert!(parse_size("--memory", bad).is_err(), "{bad}");
        }
        let e = parse_size("--memory", "64x").unwrap_err().to_string();
        assert!(e.starts_with("invalid --memory '64x'"), "{e}");
    }

    #[test]
    fn cpus_become_quota_and_period() {
        assert_eq!(parse_cpus("0.5").unwrap(), (50_000, 100_000));
        assert_eq!(parse_cpus("2").unwrap(), (200_000, 100_000));
        assert_eq!(parse_cpus("1.25").unwrap(), (125_000, 100_000));
        for bad in ["0", "-1", "x", "0.001", "inf", "NaN"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(64 << 20), "64MiB");
        assert_eq!(human(1536), "1.5KiB");
        assert_eq!(human(12), "12B");
    }
}
