//! Request extraction with the API's error body: a JSON body is parsed whatever its content
//! type says (metal-stack's clients are not all consistent), and a body that does not parse is
//! a 400 naming the problem (`missing field `id``, `unknown variant ...`). Also the caller's
//! name for the records that keep it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::Extensions;
use serde::de::DeserializeOwned;

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

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "request body is missing: expected a JSON object",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    }
}
