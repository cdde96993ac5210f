//! The one error type of the API and its single mapping to HTTP: `{"statuscode": N,
//! "message": "..."}` with the status of the kind. Internal errors answer a generic message
//! and log the full cause chain.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use metal_domain::misc::ErrorResponse;
use metal_domain::DomainError;
use metal_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    /// Any other status, with its message.
    #[error("{1}")]
    Status(StatusCode, String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Status(s, _) => *s,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn unprocessable(msg: impl Into<String>) -> Self {
        Self::Unprocessable(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InvalidArgument(m) => Self::BadRequest(m),
            DomainError::Unprocessable(m) => Self::Unprocessable(m),
            DomainError::NotFound(m) => Self::NotFound(m),
            DomainError::Conflict(m) => Self::Conflict(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::NotFound(m),
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Internal(other.into()),
        }
    }
}

/// Writes the error body with a status.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorResponse {
        statuscode: i32::from(status.as_u16()),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                "internal server error, see the server log".to_string()
            }
            other => other.to_string(),
        };
        error_response(status, message)
    }
}
