//! HMAC authentication exactly as metal-stack's clients sign requests:
//! `Authorization: <Type> <hex(HMAC-SHA256(key, X-Date ‖ method ‖ X-Data-Salt))>`, with `X-Date`
//! an RFC 3339 time that must lie within the lifetime of now. The type names the built-in user:
//! `Metal-View`, `Metal-Edit` or `Metal-Admin`. The headers are checked by metal-util's
//! [`check_request`], with the same code the clients sign with
//! ([`hmac_signature`](metal_util::hmac::hmac_signature)).

use axum::http::HeaderMap;
use chrono::Utc;
use metal_util::hmac::check_request;

use super::{Principal, Role};

/// One built-in user with its key.
struct HmacUser {
    auth_type: &'static str,
    role: Role,
    key: Vec<u8>,
}

/// The three HMAC users. Keys are never logged; `Debug` shows which are configured.
pub struct HmacAuth {
    users: Vec<HmacUser>,
    lifetime: chrono::Duration,
    tenant: String,
}

impl std::fmt::Debug for HmacAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<_> = self.users.iter().map(|u| u.auth_type).collect();
        f.debug_struct("HmacAuth").field("users", &types).finish()
    }
}

/// The user type of a role, as clients put it in the Authorization header.
pub fn auth_type(role: Role) -> &'static str {
    match role {
        Role::View => "Metal-View",
        Role::Edit => "Metal-Edit",
        Role::Admin => "Metal-Admin",
    }
}

impl HmacAuth {
    /// `keys`: (role, key) for each configured user; `lifetime_secs` 0 = dates never expire.
    pub fn new(keys: Vec<(Role, String)>, lifetime_secs: u64, tenant: String) -> Self {
        let users = keys
            .into_iter()
            .filter(|(_, k)| !k.is_empty())
            .map(|(role, key)| HmacUser {
                auth_type: auth_type(role),
                role,
                key: key.into_bytes(),
            })
            .collect();
        Self {
            users,
            lifetime: chrono::Duration::seconds(lifetime_secs as i64),
            tenant,
        }
    }

    /// Verifies a request signed with `scheme` (the user type) and `signature`.
    pub fn verify(
        &self,
        scheme: &str,
        signature: &str,
        method: &str,
        headers: &HeaderMap,
    ) -> Result<Principal, String> {
        let user = self
            .users
            .iter()
            .find(|u| u.auth_type.eq_ignore_ascii_case(scheme))
            .ok_or_else(|| format!("unknown authorization type {scheme:?}"))?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("missing header {name}"))
        };
        let date = header("X-Date")?;
        let salt = header("X-Data-Salt")?;
        check_request(
            &user.key,
            method,
            date,
            salt,
            signature,
            Utc::now(),
            self.lifetime,
        )?;
        let name = format!("metal-{}", user.role.as_str());
        Ok(Principal {
            subject: name.clone(),
            email: format!("{name}@metal-stack.io"),
            name,
            groups: vec![format!("maas-all-all-{}", user.role.as_str())],
            tenant: self.tenant.clone(),
            issuer: String::new(),
            role: Some(user.role),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use metal_util::hmac::hmac_signature as sign;

    fn headers(auth: &str, date: &str, salt: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("Authorization", HeaderValue::from_str(auth).unwrap());
        h.insert("X-Date", HeaderValue::from_str(date).unwrap());
        h.insert("X-Data-Salt", HeaderValue::from_str(salt).unwrap());
        h
    }

    #[test]
    fn known_vector() {
        // python3: hmac.new(b"secret", b"2024-05-27T10:00:00ZGETabcdefghijklmnopqrstuvwx", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(
                b"secret",
                "2024-05-27T10:00:00Z",
                "GET",
                "abcdefghijklmnopqrstuvwx"
            ),
            "93620aaaf712c339f00bbafbd800975498e36ed2cbdfd5f22c59dbc2c19648be"
        );
    }

    #[test]
    fn verify_accepts_fresh_and_rejects_stale_or_wrong() {
        let auth = HmacAuth::new(
            vec![
                (Role::Admin, "k-admin".into()),
                (Role::View, "k-view".into()),
            ],
            30,
            "metal-stack".into(),
        );
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let sig = sign(b"k-admin", &now, "POST", "saltsaltsaltsaltsaltsalt");
        let h = headers(
            &format!("Metal-Admin {sig}"),
            &now,
            "saltsaltsaltsaltsaltsalt",
        );
        let p = auth.verify("Metal-Admin", &sig, "POST", &h).unwrap();
        assert_eq!(p.role, Some(Role::Admin));
        assert_eq!(p.email, "metal-admin@metal-stack.io");
        // other method than signed
        assert!(auth.verify("Metal-Admin", &sig, "GET", &h).is_err());
        // signed with the view key but claiming admin
        let vsig = sign(b"k-view", &now, "POST", "saltsaltsaltsaltsaltsalt");
        assert!(auth.verify("Metal-Admin", &vsig, "POST", &h).is_err());
        // an unconfigured user type
        assert!(auth.verify("Metal-Edit", &sig, "POST", &h).is_err());
        // stale date
        let old = (Utc::now() - chrono::Duration::seconds(120))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let osig = sign(b"k-admin", &old, "POST", "s");
        let oh = headers(&format!("Metal-Admin {osig}"), &old, "s");
        let err = auth.verify("Metal-Admin", &osig, "POST", &oh).unwrap_err();
        assert!(err.contains("outside the allowed window"), "{err}");
    }
}
