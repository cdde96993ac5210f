//! Small wire types without an entity behind them (health, version, the calling user) and
//! the id rule shared by all entities.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// Ids travel in URL paths: they must be non-empty, at most 128 characters, and hold no
/// whitespace, `/`, `?` or `#`.
pub fn validate_id(kind: &str, id: &str) -> DomainResult<()> {
    if id.is_empty() {
        return Err(DomainError::invalid(format!(
            "{kind} id should not be empty"
        )));
    }
    // characters, as the message and the document's maxLength say (not bytes)
    if id.chars().count() > 128 {
        return Err(DomainError::invalid(format!(
            "{kind} id must be at most 128 characters"
        )));
    }
    if id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '%'))
    {
        return Err(DomainError::invalid(format!(
            "{kind} id {id:?} must not contain whitespace, '/', '?', '#' or '%'"
        )));
    }
    Ok(())
}

/// `GET /v1/health` (`rest.HealthResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct HealthResponse {
    /// healthy, degraded or unhealthy
    pub status: String,
    pub message: String,
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub services: BTreeMap<String, HealthResponse>,
}

/// `GET /v1/version` (`rest.version`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VersionResponse {
    pub name: String,
    pub version: String,
    pub release_version: String,
    pub revision: String,
    pub gitsha1: String,
    pub builddate: String,
    pub min_client_version: String,
}

/// `GET /v1/user/me` (`v1.User`): Go field names as JSON keys, as the reference has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct User {
    #[serde(rename = "EMail")]
    pub email: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Groups")]
    pub groups: Vec<String>,
    #[serde(rename = "Tenant")]
    pub tenant: String,
    #[serde(rename = "Issuer")]
    pub issuer: String,
    #[serde(rename = "Subject")]
    pub subject: String,
}

/// The body of every error answer: `{"statuscode": N, "message": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    pub statuscode: i32,
    pub message: String,
}

/// `v1.EmptyBody`: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmptyBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("size", "c1-xlarge-x86").is_ok());
        assert!(validate_id("image", "ubuntu-20.04.20201026").is_ok());
        for bad in ["", "a b", "a/b", "a?b", "a#b", "a%2f"] {
            assert!(validate_id("size", bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_id("size", &"x".repeat(129)).is_err());
        // 128 characters of two bytes each are fine
        assert!(validate_id("size", &"ü".repeat(128)).is_ok());
    }
}
