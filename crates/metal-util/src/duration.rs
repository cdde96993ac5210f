//! The duration grammar of every command line: metal-bmc's intervals and timeouts, pixie's
//! token lifetime, metalctl's thresholds and `--from`/`--to`.
//!
//! A duration is a bare number of seconds (`90`) or one or more numbers with a unit, summed
//! (`250ms`, `30m`, `1h30m`, `2d`). Units: `ms`, `s`, `m`, `h`, `d`. Surrounding whitespace is
//! ignored. It is the union of the three grammars the crates had before, so every value that
//! worked with one of them works with all.

use std::time::Duration;

/// A string that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Empty, or a unit without a number (`h`), a sign or a fraction.
    #[error("invalid duration {0:?} (like 90s, 30m, 1h30m, 2d or 250ms)")]
    Invalid(String),
    /// A unit that is none of `ms`, `s`, `m`, `h`, `d`, or a number without unit after one
    /// with (`1h30`).
    #[error("invalid duration unit in {0:?} (ms, s, m, h or d)")]
    Unit(String),
    /// More than [`Duration`] holds.
    #[error("duration {0:?} is too large")]
    TooLarge(String),
}

/// Parses a duration (see the [module](self) for the grammar).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    let invalid = || DurationError::Invalid(s.to_string());
    let too_large = || DurationError::TooLarge(s.to_string());
    if s.is_empty() {
        return Err(invalid());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(Duration::from_secs).map_err(|_| too_large());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| too_large())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs_per_unit = match &rest[..unit_len] {
            "ms" => None,
            "s" => Some(1),
            "m" => Some(60),
            "h" => Some(3_600),
            "d" => Some(86_400),
            _ => return Err(DurationError::Unit(s.to_string())),
        };
        let part = match secs_per_unit {
            None => Duration::from_millis(n),
            Some(k) => Duration::from_secs(n.checked_mul(k).ok_or_else(too_large)?),
        };
        total = total.checked_add(part).ok_or_else(too_large)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn accepted() {
        for (input, want) in [
            // metal-bmc
            ("5m", S(300)),
            ("30", S(30)),
            ("250ms", Duration::from_millis(250)),
            ("20s", S(20)),
            (" 5m ", S(300)),
            // pixie
            ("90", S(90)),
            ("90s", S(90)),
            ("30m", S(1_800)),
            ("1h", S(3_600)),
            // metalctl
            ("1h30m", S(5_400)),
            ("2d", S(172_800)),
            ("168h", S(604_800)),
            ("45s", S(45)),
            ("1d2h3m4s", S(86_400 + 7_200 + 180 + 4)),
            // the union
            ("1s500ms", Duration::from_millis(1_500)),
            ("0", S(0)),
            ("0s", S(0)),
        ] {
            assert_eq!(parse_duration(input), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn refused() {
        for (input, want) in [
            ("", DurationError::Invalid(String::new())),
            ("  ", DurationError::Invalid(String::new())),
            ("h", DurationError::Invalid("h".into())),
            ("-1h", DurationError::Invalid("-1h".into())),
            ("soon", DurationError::Invalid("soon".into())),
            ("yesterday", DurationError::Invalid("yesterday".into())),
            ("5x", DurationError::Unit("5x".into())),
            ("1w", DurationError::Unit("1w".into())),
            ("1x", DurationError::Unit("1x".into())),
            ("1H", DurationError::Unit("1H".into())),
            ("1h30", DurationError::Unit("1h30".into())),
            ("1.5h", DurationError::Unit("1.5h".into())),
            ("1 h", DurationError::Unit("1 h".into())),
            (
                "2024-01-01T00:00:00Z",
                DurationError::Unit("2024-01-01T00:00:00Z".into()),
            ),
            (
                "99999999999999999999",
                DurationError::TooLarge("99999999999999999999".into()),
            ),
            (
                "99999999999999999d",
                DurationError::TooLarge("99999999999999999d".into()),
            ),
        ] {
            assert_eq!(parse_duration(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn messages_name_the_input() {
        assert_eq!(
            parse_duration("5x").unwrap_err().to_string(),
            "invalid duration unit in \"5x\" (ms, s, m, h or d)"
        );
        assert_eq!(
            parse_duration("h").unwrap_err().to_string(),
            "invalid duration \"h\" (like 90s, 30m, 1h30m, 2d or 250ms)"
        );
    }
}
