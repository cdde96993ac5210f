//! Answers shared by the handlers: `201 Created` with the new entity, and JSON the database
//! already serialized ([`RawJson`], a plain type of the app layer that answers as
//! `application/json` here).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::app::RawJson;

/// A `201 Created` answer with the created entity.
pub type Created<T> = (StatusCode, Json<T>);

pub fn created<T>(v: T) -> Created<T> {
    (StatusCode::CREATED, Json(v))
}

impl IntoResponse for RawJson {
    fn into_response(self) -> Response {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.0,
        )
            .into_response()
    }
}
