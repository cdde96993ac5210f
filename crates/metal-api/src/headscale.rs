//! A client of headscale's REST API (`<addr>/api/v1/...`, `Authorization: Bearer <api key>`),
//! the VPN server of metal-stack's projects: each project is a headscale user named by the
//! project id. Two calls: find a user by name, create a pre-auth key for it. metal-stack speaks
//! headscale's gRPC API; the REST API (the same service through headscale's gateway) needs no
//! generated code and works with the HTTP client metal-api already has.
//!
//! The API key goes only into the `Authorization` header; errors name the call, headscale's
//! status and its message, never the key.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum HeadscaleError {
    #[error("cannot reach headscale for {call}")]
    Unreachable {
        call: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("headscale answered {status} to {call}: {message}")]
    Status {
        call: &'static str,
        status: u16,
        message: String,
    },
    #[error("headscale's answer to {call} is not understood: {reason}")]
    Answer { call: &'static str, reason: String },
}

/// headscale at `base` (its REST API's base URL), authorized by `key`.
pub struct Headscale<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub key: &'a Secret,
}

#[derive(Deserialize)]
struct Users {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Deserialize)]
struct User {
    /// a uint64, which headscale's gateway writes as a string
    #[serde(default)]
    id: Value,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct PreAuthKeyAnswer {
    #[serde(rename = "preAuthKey")]
    pre_auth_key: Option<PreAuthKey>,
}

#[derive(Deserialize)]
struct PreAuthKey {
    #[serde(default)]
    key: String,
}

impl Headscale<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.base.trim_end_matches('/'))
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        call: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, HeadscaleError> {
        let resp = req
            .bearer_auth(self.key.expose())
            .send()
            .await
            .map_err(|source| HeadscaleError::Unreachable { call, source })?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|source| HeadscaleError::Unreachable { call, source })?;
        if !status.is_success() {
            return Err(HeadscaleError::Status {
                call,
                status: status.as_u16(),
                message: message(&body),
            });
        }
        serde_json::from_str(&body).map_err(|e| HeadscaleError::Answer {
            call,
            reason: e.to_string(),
        })
    }

    /// The id of the user with this name, `None` when there is none.
    pub async fn user_id(&self, name: &str) -> Result<Option<String>, HeadscaleError> {
        let call = "listing users";
        let req = self.http.get(self.url("user")).query(&[("name", name)]);
        let users: Users = self.send(call, req).await?;
        // an older headscale ignores the filter and lists every user
        let Some(u) = users.users.into_iter().find(|u| u.name == name) else {
            return Ok(None);
        };
        match u.id {
            Value::String(s) if !s.is_empty() => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            other => Err(HeadscaleError::Answer {
                call,
                reason: format!("user {name} has the id {other}"),
            }),
        }
    }

    /// Creates a single-use pre-auth key for the user, valid until `expiration`.
    pub async fn create_pre_auth_key(
        &self,
        user_id: &str,
        ephemeral: bool,
        expiration: DateTime<Utc>,
    ) -> Result<String, HeadscaleError> {
        let call = "creating a pre-auth key";
        let body = json!({
            "user": user_id,
            "reusable": false,
            "ephemeral": ephemeral,
            "expiration": expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
            "aclTags": [],
        });
        let req = self.http.post(self.url("preauthkey")).json(&body);
        let answer: PreAuthKeyAnswer = self.send(call, req).await?;
        match answer.pre_auth_key {
            Some(k) if !k.key.is_empty() => Ok(k.key),
            _ => Err(HeadscaleError::Answer {
                call,
                reason: "no key in the answer".into(),
            }),
        }
    }
}

/// headscale's error message (`{"code": .., "message": ".."}`), else the start of the body.
fn message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string));
    from_json.unwrap_or_else(|| body.trim().chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_messages() {
        assert_eq!(
            super::message(r#"{"code": 16, "message": "Unauthorized", "details": []}"#),
            "Unauthorized"
        );
        assert_eq!(super::message(" not json \n"), "not json");
        assert_eq!(super::message(&"x".repeat(500)).len(), 200);
    }
}
