//! Serde helpers for fields that may have no value in a document but that the reference
//! contract marks required: they are never `null` (or missing) on the wire. Strict v1 clients
//! (metal-python's generated models) refuse a required field that is `null`, so such a field
//! is sent as its type's zero value (metal-api's Go zero values: `""`, `0`, the zero time
//! `0001-01-01T00:00:00Z`), and the zero value reads back as "none", so a stored document
//! and a client's copy keep the `None` they had.
//!
//! Use as `#[serde(with = "crate::wire::or_default")]` or `with = "crate::wire::zero_time"`.

/// `Option<T>` sent as `T::default()` when `None`; `T::default()` (or `null`) reads as `None`.
pub mod or_default {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T, S>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error>
    where
        T: Serialize + Default,
        S: Serializer,
    {
        match value {
            Some(v) => v.serialize(s),
            None => T::default().serialize(s),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: Deserialize<'de> + Default + PartialEq,
        D: Deserializer<'de>,
    {
        Ok(Option::<T>::deserialize(d)?.filter(|v| *v != T::default()))
    }
}

/// `Option<DateTime<Utc>>` sent as Go's zero time `0001-01-01T00:00:00Z` when `None`; the zero
/// time (or `null`) reads as `None`.
pub mod zero_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Go's `time.Time{}` as metal-api sends it.
    pub const ZERO: &str = "0001-01-01T00:00:00Z";

    fn zero() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(ZERO)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    pub fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(t) => t.serialize(s),
            None => s.serialize_str(ZERO),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<DateTime<Utc>>::deserialize(d)?.filter(|t| *t != zero()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    struct Metric {
        watts: f32,
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    struct Doc {
        #[serde(with = "super::or_default")]
        metric: Option<Metric>,
        #[serde(with = "super::or_default")]
        kind: Option<String>,
        #[serde(with = "super::zero_time")]
        at: Option<DateTime<Utc>>,
    }

    #[test]
    fn none_is_sent_as_the_zero_value_and_read_back_as_none() {
        let none = Doc::default();
        let wire = serde_json::to_value(&none).unwrap();
        assert_eq!(
            wire,
            json!({"metric": {"watts": 0.0}, "kind": "", "at": "0001-01-01T00:00:00Z"})
        );
        assert_eq!(serde_json::from_value::<Doc>(wire).unwrap(), none);
        for absent in [json!({}), json!({"metric": null, "kind": null, "at": null})] {
            assert_eq!(serde_json::from_value::<Doc>(absent).unwrap(), none);
        }
    }

    #[test]
    fn values_pass_through() {
        let at: DateTime<Utc> = "2024-05-06T07:08:09Z".parse().unwrap();
        let some = Doc {
            metric: Some(Metric { watts: 231.5 }),
            kind: Some("8300".into()),
            at: Some(at),
        };
        let wire = serde_json::to_value(&some).unwrap();
        assert_eq!(wire["metric"]["watts"], 231.5);
        assert_eq!(wire["at"], json!(at));
        assert_eq!(serde_json::from_value::<Doc>(wire).unwrap(), some);
    }
}
