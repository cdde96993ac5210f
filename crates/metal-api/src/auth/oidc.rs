//! OIDC bearer tokens: JWTs signed by a configured issuer, verified against its JWKS (from a
//! file, or from a URL refreshed in the background), with the groups claim mapped to a role.

use std::sync::{Arc, RwLock};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::Value;

use super::{GroupRoles, Principal};

/// Settings of the OIDC authenticator.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: Option<String>,
    pub groups_claim: String,
    pub roles: GroupRoles,
    pub default_tenant: String,
}

/// Verifies bearer tokens against the current key set.
pub struct OidcAuth {
    settings: OidcSettings,
    keys: Arc<RwLock<JwkSet>>,
}

impl OidcAuth {
    pub fn new(settings: OidcSettings, keys: JwkSet) -> Self {
        Self {
            settings,
            keys: Arc::new(RwLock::new(keys)),
        }
    }

    /// The shared key set, for the refresher to replace.
    pub fn keys(&self) -> Arc<RwLock<JwkSet>> {
        self.keys.clone()
    }

    /// Verifies a token; the error is a reason safe to show to the caller.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let header = decode_header(token).map_err(|e| format!("malformed bearer token: {e}"))?;
        let keys = self
            .keys
            .read()
            .map_err(|_| "key set unavailable".to_string())?
            .clone();
        let candidates: Vec<_> = match &header.kid {
            Some(kid) => keys.find(kid).into_iter().collect(),
            None => keys.keys.iter().collect(),
        };
        if candidates.is_empty() {
            return Err("bearer token is signed with an unknown key".into());
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        match &self.settings.client_id {
            Some(aud) => {
                validation.set_audience(&[aud.as_str()]);
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            }
        }
        let mut last = String::from("no usable key");
        for jwk in candidates {
            let key = match DecodingKey::from_jwk(jwk) {
                Ok(k) => k,
                Err(e) => {
                    last = format!("unusable key: {e}");
                    continue;
                }
            };
            match decode::<Value>(token, &key, &validation) {
                Ok(data) => return Ok(self.principal(&data.claims)),
                Err(e) => last = format!("invalid bearer token: {e}"),
            }
        }
        Err(last)
    }

    fn principal(&self, claims: &Value) -> Principal {
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let groups: Vec<String> = match claims.get(&self.settings.groups_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        let tenant = match text("tenant") {
            t if t.is_empty() => self.settings.default_tenant.clone(),
            t => t,
        };
        Principal {
            subject: text("sub"),
            email: text("email"),
            name: text("name"),
            role: self.settings.roles.role_of(&groups),
            groups,
            tenant,
            issuer: text("iss"),
        }
    }
}

/// Parses a JWKS document.
pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))
}

/// Loads a JWKS from a file path or an http(s) URL.
pub async fn load_jwks(source: &str) -> anyhow::Result<JwkSet> {
    use anyhow::Context;
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?
            .get(source)
            .send()
            .await
            .with_context(|| format!("fetching JWKS from {source}"))?
            .error_for_status()
            .with_context(|| format!("fetching JWKS from {source}"))?
            .text()
            .await?
    } else {
        tokio::fs::read_to_string(source)
            .await
            .with_context(|| format!("reading JWKS file {source}"))?
    };
    parse_jwks(&text).map_err(anyhow::Error::msg)
}
