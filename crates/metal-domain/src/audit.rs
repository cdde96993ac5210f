//! Audit trail entries and their search. Each mutating request leaves one entry (request id,
//! user, tenant, method, path, redacted body, status code); `POST /v1/audit/find` searches them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One audited request, as stored and answered (`v1.AuditResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct AuditEntry {
    pub rqid: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub component: String,
    /// "http" for REST requests
    #[serde(rename = "type")]
    pub kind: String,
    pub user: String,
    pub tenant: String,
    pub project: String,
    /// the HTTP method
    pub detail: String,
    /// "single": request and response are recorded in one entry
    pub phase: String,
    pub path: String,
    pub forwarded_for: String,
    pub remote_addr: String,
    /// the request body, with secrets replaced by "[redacted]"
    pub body: String,
    pub status_code: i32,
    pub error: String,
}

/// Search (`v1.AuditFindRequest`): every given field must match; text fields match exactly,
/// except `body` and `path`, which match as substrings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct AuditFindRequest {
    pub rqid: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub component: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub user: Option<String>,
    pub tenant: Option<String>,
    pub project: Option<String>,
    pub detail: Option<String>,
    pub phase: Option<String>,
    pub path: Option<String>,
    pub forwarded_for: Option<String>,
    pub remote_addr: Option<String>,
    pub body: Option<String>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// at most this many entries, newest first (default 100)
    pub limit: Option<i64>,
}

/// Default and upper bound of `AuditFindRequest::limit`.
pub const DEFAULT_AUDIT_LIMIT: i64 = 100;
pub const MAX_AUDIT_LIMIT: i64 = 10_000;

impl AuditFindRequest {
    /// The effective limit: default 100, capped at 10,000.
    pub fn effective_limit(&self) -> i64 {
        match self.limit {
            Some(n) if n > 0 => n.min(MAX_AUDIT_LIMIT),
            _ => DEFAULT_AUDIT_LIMIT,
        }
    }
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "secret",
    "token",
    "key",
    "hmac",
    "console_password",
    "userdata",
    "authorization",
];

/// Replaces the values of secret-looking JSON keys (passwords, keys, tokens) by "[redacted]".
/// A body that is not JSON is kept only as its length.
pub fn redact_body(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            redact_value(&mut v);
            v.to_string()
        }
        Err(_) => format!("[{} bytes, not json]", body.len()),
    }
}

fn redact_value(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let lk = k.to_ascii_lowercase();
                if SECRET_KEYS.iter().any(|s| lk.contains(s)) && !lk.ends_with("keys_count") {
                    *val = serde_json::Value::String("[redacted]".into());
                } else {
                    redact_value(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_nested_secrets() {
        let body = br#"{"id":"m1","password":"s3cret","nested":{"api_token":"t","name":"n"},"list":[{"hmac":"k"}]}"#;
        let out = redact_body(body);
        assert!(!out.contains("s3cret"));
        assert!(!out.contains("\"t\""));
        assert!(!out.contains("\"k\""));
        assert!(out.contains("\"name\":\"n\""));
        assert!(out.contains("[redacted]"));
    }

    #[test]
    fn non_json_body_is_not_stored() {
        assert_eq!(redact_body(b"password=x"), "[10 bytes, not json]");
        assert_eq!(redact_body(b""), "");
    }

    #[test]
    fn limit_defaults_and_caps() {
        let mut q = AuditFindRequest::default();
        assert_eq!(q.effective_limit(), 100);
        q.limit = Some(1_000_000);
        assert_eq!(q.effective_limit(), 10_000);
        q.limit = Some(5);
        assert_eq!(q.effective_limit(), 5);
    }
}
