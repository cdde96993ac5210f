//! The one error type of the domain. Its kind decides the HTTP status the API answers with
//! (mapped once, in metal-api): the message is what the user reads, so it names the field or
//! entity at fault.

use thiserror::Error;

/// An error of a domain rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The request is malformed or breaks a validation rule (HTTP 400).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is well-formed but cannot be carried out given the current state (HTTP 422).
    #[error("{0}")]
    Unprocessable(String),
    /// A referenced entity does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The entity already exists or was changed concurrently (HTTP 409).
    #[error("{0}")]
    Conflict(String),
}

impl DomainError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }
    pub fn unprocessable(msg: impl Into<String>) -> Self {
        Self::Unprocessable(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
