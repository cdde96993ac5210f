//! Timestamps as stored: RFC 3339 in UTC with a fixed number of fraction digits, so that the
//! text order of a column is its time order on both backends.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a timestamp for a time column.
pub fn to_db(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a time column.
pub fn from_db(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The current time, truncated to what a column keeps (microseconds).
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    from_db(&to_db(t)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = now();
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(from_db(&to_db(a)), Some(a));
        assert!(to_db(a) < to_db(b));
        assert_eq!(to_db(a).len(), "2024-01-01T00:00:00.000000Z".len());
    }
}
