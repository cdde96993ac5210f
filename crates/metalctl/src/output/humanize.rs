//! Human-friendly numbers for tables: durations with at most two non-zero units out of
//! `d h m s` (metalctl's style), and byte counts in SI units as go-humanize prints them.

use chrono::Duration;

/// `3d 4h`, `12m 5s`, `0s`; negative durations get a leading `-` (`-2d 1h`).
pub fn duration(d: Duration) -> String {
    let total = d.num_seconds();
    let sign = if total < 0 { "-" } else { "" };
    let secs = total.unsigned_abs();
    let units = [
        (secs / 86_400, "d"),
        (secs / 3_600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let parts: Vec<String> = units
        .iter()
        .filter(|(n, _)| *n != 0)
        .take(2)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".to_string()
    } else {
        format!("{sign}{}", parts.join(" "))
    }
}

/// Bytes in powers of 1000 with one decimal below 10: `9 B`, `1.0 kB`, `16 GB`, `1.5 TB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let mut exp = 0usize;
    let mut scaled = n as f64;
    while scaled >= 1000.0 && exp + 1 < UNITS.len() {
        scaled /= 1000.0;
        exp += 1;
    }
    let val = (scaled * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[exp])
    } else {
        format!("{val:.0} {}", UNITS[exp])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            (0, "0s"),
            (5, "5s"),
            (12 * 60 + 5, "12m 5s"),
            (3 * 86_400 + 4 * 3_600 + 59, "3d 4h"),
            (3 * 86_400 + 5 * 60, "3d 5m"),
            (3_600, "1h"),
            (90 * 86_400, "90d"),
            (-(2 * 86_400 + 3_600), "-2d 1h"),
        ];
        for (secs, want) in cases {
            assert_eq!(duration(Duration::seconds(secs)), want, "{secs}s");
        }
        assert_eq!(duration(Duration::milliseconds(999)), "0s");
    }

    #[test]
    fn byte_counts() {
        let cases = [
            (0, "0 B"),
            (9, "9 B"),
            (10, "10 B"),
            (999, "999 B"),
            (1_000, "1.0 kB"),
            (1_500_000, "1.5 MB"),
            (16_000_000_000, "16 GB"),
            (17_179_869_184, "17 GB"),
            (1_099_511_627_776, "1.1 TB"),
            (u64::MAX, "18 EB"),
        ];
        for (n, want) in cases {
            assert_eq!(bytes(n), want, "{n}");
        }
    }
}
