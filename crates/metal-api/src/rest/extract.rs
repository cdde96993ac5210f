//! Request extraction with the API's error body: a JSON body is parsed whatever its content
//! type says (metal-stack's clients are not all consistent), and a body that does not parse is
//! a 400 naming the problem (`missing field `id``, `unknown variant ...`). Also the caller's
//! name for the records that keep it.
//!
//! A `null` member of a JSON object is read as an absent member, at every depth, as metal-api
//! (Go) reads it: its optional fields are pointers, which `null` leaves nil. Clients rely on it
//! (metal-python sends `None` for "not given"); a required field sent as `null` is then a
//! missing field, and the 400 names it.

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

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(MISSING));
        }
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a request body, `null` members read as absent. A body without the word `null` is
/// parsed directly; one with it goes through a [`Value`] that loses its `null` members first.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid =
        |e: serde_json::Error| ApiError::bad_request(format!("invalid request body: {e}"));
    if !bytes.windows(4).any(|w| w == b"null") {
        return serde_json::from_slice(bytes).map_err(invalid);
    }
    let mut value: Value = serde_json::from_slice(bytes).map_err(invalid)?;
    if value.is_null() {
        return Err(ApiError::bad_request(MISSING));
    }
    strip_nulls(&mut value);
    serde_json::from_value(value).map_err(invalid)
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
}
