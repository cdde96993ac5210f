//! Request extraction with the API's error body: a JSON body is parsed whatever its content
//! type says (metal-stack's clients are not all consistent), and a body that does not parse is
//! a 400 naming the problem (`missing field `id``, `unknown variant ...`). Also the caller's
//! name for the records that keep it.
//!
//! A `null` member of a JSON object is read as an absent member, at every depth, as metal-api
//! (Go) reads it: its optional fields are pointers, which `null` leaves nil. Clients rely on it
//! (metal-python sends `None` for "not given"); a required field sent as `null` is then a
//! missing field, and the 400 names it.
//!
//! A number with a zero fraction (`7.0`, `1e3`) is the integer it equals, as JSON Schema counts
//! it (`type: integer` allows `7.0`): a body that does not parse as sent is parsed again with
//! such numbers written as integers. metal-api (Go) refuses them; being lenient here costs
//! nothing, and a client that follows the document is not turned away.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::Extensions;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::principal_of;
use crate::error::ApiError;

/// The authenticated caller's email, empty when there is none.
pub fn caller(ext: &Extensions) -> String {
    principal_of(ext)
        .map(|p| p.email.clone())
        .unwrap_or_default()
}

/// A JSON request body.
pub struct JsonBody<T>(pub T);

const MISSING: &str = "request body is missing: expected a JSON object";
const NOT_AN_OBJECT: &str = "invalid request body: expected a JSON object";

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        // every body of this API is an object; serde would read a struct from an array too
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            None => return Err(ApiError::bad_request(MISSING)),
            Some(b'{' | b'n') => {}
            Some(_) => return Err(ApiError::bad_request(NOT_AN_OBJECT)),
        }
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a request body, `null` members read as absent. A body without the word `null` is
/// parsed directly; one with it goes through a [`Value`] that loses its `null` members first.
/// When that fails and the body may hold a float, it is parsed once more with its integral
/// floats written as integers; an error still names the body as sent.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let sent = if bytes.windows(4).any(|w| w == b"null") {
        serde_json::from_value(tidy(bytes, false)?)
    } else {
        serde_json::from_slice(bytes)
    };
    let error = match sent {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    if !bytes.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return Err(invalid(error));
    }
    serde_json::from_value(tidy(bytes, true)?).map_err(|retry| {
        // The retry's own error is the real reason unless it is about a number the retry
        // rewrote (out of the field's range) or a float that stayed one: then the body as sent
        // names it better.
        let about_numbers = retry.to_string();
        if about_numbers.contains("floating point")
            || about_numbers.contains("invalid value: integer")
        {
            invalid(error)
        } else {
            invalid(retry)
        }
    })
}

fn invalid(e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("invalid request body: {e}"))
}

/// The body as a [`Value`] without `null` members, and with integral floats as integers when
/// `integers`; a `null` body is the missing body.
fn tidy(bytes: &[u8], integers: bool) -> Result<Value, ApiError> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(invalid)?;
    if value.is_null() {
        return Err(ApiError::bad_request(MISSING));
    }
    strip_nulls(&mut value);
    if integers {
        integral_floats(&mut value);
    }
    Ok(value)
}

/// Writes every float with a zero fraction in the range of `i64` or `u64` as that integer. Such
/// a float is exactly an integer (every float beyond 2^53 is one), and JSON Schema counts it as
/// one, so a client that follows the document may send `1e18` for a 64-bit field.
pub fn integral_floats(value: &mut Value) {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 {
                if (0.0..TWO_64).contains(&f) {
                    *value = Value::from(f as u64);
                } else if f < 0.0 && f > -TWO_63 {
                    // -2^63 itself is left out: an integer literal below i64::MIN is read
                    // as a float and rounds to it
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Object(map) => map.values_mut().for_each(integral_floats),
        Value::Array(items) => items.iter_mut().for_each(integral_floats),
        _ => {}
    }
}

/// Removes the `null` members of every object in `value`, nested ones and those inside arrays
/// included. `null` elements of arrays stay: an array has no optional positions.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Req {
        id: String,
        #[serde(default)]
        description: String,
        layout: Option<String>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
    }

    fn parse_json(v: Value) -> Result<Req, String> {
        parse::<Req>(v.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn null_members_are_absent_at_every_depth() {
        let r = parse_json(json!({"id": "a", "description": null, "layout": null,
            "inner": {"name": "n", "tags": null}, "list": [{"name": "x", "tags": null}]}))
        .unwrap();
        assert_eq!(
            r,
            Req {
                id: "a".into(),
                description: String::new(),
                layout: None,
                inner: Some(Inner {
                    name: "n".into(),
                    tags: vec![]
                }),
                list: vec![Inner {
                    name: "x".into(),
                    tags: vec![]
                }],
            }
        );
        let r = parse_json(json!({"id": "a", "inner": null, "list": null})).unwrap();
        assert_eq!((r.inner, r.list), (None, vec![]));
    }

    #[test]
    fn a_required_field_sent_as_null_is_missing() {
        for body in [
            json!({"id": null}),
            json!({"id": "a", "inner": {"name": null}}),
        ] {
            let e = parse_json(body).unwrap_err();
            assert!(e.contains("missing field `"), "{e}");
        }
        let e = parse::<Req>(b"null").unwrap_err().to_string();
        assert!(e.contains("request body is missing"), "{e}");
    }

    #[test]
    fn bodies_without_null_keep_their_errors() {
        let e = parse::<Req>(br#"{"id": 7}"#).unwrap_err().to_string();
        assert!(
            e.contains("invalid request body: invalid type: integer `7`"),
            "{e}"
        );
        let e = parse::<Req>(br#"{"id": "x", "layout": nul}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid request body"), "{e}");
        // `null` inside a string value is text, not a null
        assert_eq!(parse_json(json!({"id": "null"})).unwrap().id, "null");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Counts {
        small: u8,
        big: u64,
        signed: i64,
        ratio: f64,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn integral_floats_are_integers() {
        let want = Counts {
            small: 7,
            big: 1_000_000_000_000_000,
            signed: -3,
            ratio: 2.0,
            note: None,
        };
        for body in [
            r#"{"small": 7.0, "big": 1e15, "signed": -3.0, "ratio": 2.0}"#,
            r#"{"small": 7, "big": 1000000000000000, "signed": -3, "ratio": 2}"#,
            r#"{"small": 7.0, "big": 1E15, "signed": -3, "ratio": 2.0, "note": null}"#,
        ] {
            assert_eq!(parse::<Counts>(body.as_bytes()).unwrap(), want, "{body}");
        }
        // a fraction stays a float, and the error names the body as sent
        let e = parse::<Counts>(br#"{"small": 7.5, "big": 1, "signed": 1, "ratio": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("floating point `7.5`, expected u8"), "{e}");
        let e = parse::<Counts>(br#"{"small": 256.0, "big": 1, "signed": 1, "ratio": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("floating point `256.0`"), "{e}");
        // an integral float read as an integer does not hide the body's other faults
        let e = parse::<Counts>(br#"{"small": 7.0, "big": 1, "signed": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `ratio`"), "{e}");
        // a float beyond 2^53 is still exactly an integer: read as one within the type's range
        let big = parse::<Counts>(br#"{"small": 1, "big": 1.2e19, "signed": -9e18, "ratio": 1}"#)
            .unwrap();
        assert_eq!(
            (big.big, big.signed),
            (12_000_000_000_000_000_000, -9_000_000_000_000_000_000)
        );
        // outside it the float stays a float, and the parse refuses it
        for body in [
            &br#"{"small": 1, "big": 1, "signed": -9223372036854775809, "ratio": 1}"#[..],
            &br#"{"small": 1, "big": 1, "signed": -1e19, "ratio": 1}"#[..],
            &br#"{"small": 1, "big": 1.9e19, "signed": 1, "ratio": 1}"#[..],
        ] {
            let e = parse::<Counts>(body).unwrap_err().to_string();
            assert!(
                e.contains("floating point") || e.contains("expected i64"),
                "{e}"
            );
        }
    }
}
