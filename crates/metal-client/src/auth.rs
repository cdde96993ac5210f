//! Request authentication as metal-stack does it: HMAC-signed headers for the three built-in
//! technical users (`Metal-Admin`, `Metal-Edit`, `Metal-View`) or an OIDC bearer token.
//!
//! The signature is `hex(HMAC-SHA256(key, X-Date ‖ method ‖ X-Data-Salt))` (metal-lib's
//! `security` package), computed by metal-util's [`hmac_signature`], with which the server
//! verifies it too. Keys and tokens never appear in `Debug` output.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rand::Rng;

pub use metal_util::hmac::hmac_signature;

/// Header carrying the signing time (RFC 3339, UTC, seconds precision).
pub const DATE_HEADER: &str = "X-Date";
/// Header carrying the random salt of the signature.
pub const SALT_HEADER: &str = "X-Data-Salt";
/// Length of the random salt: 24 ASCII letters.
pub const SALT_LEN: usize = 24;

/// The technical user an HMAC signature claims to be; sent as the `Authorization` scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HmacAuthType {
    #[default]
    Admin,
    Edit,
    View,
}

impl HmacAuthType {
    /// The wire name, e.g. `Metal-Admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "Metal-Admin",
            Self::Edit => "Metal-Edit",
            Self::View => "Metal-View",
        }
    }

    pub const ALL: [HmacAuthType; 3] = [Self::Admin, Self::Edit, Self::View];
}

impl fmt::Display for HmacAuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The auth type given is none of `Metal-Admin`, `Metal-Edit`, `Metal-View`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hmac auth type {0:?}, expected one of Metal-Admin, Metal-Edit, Metal-View")]
pub struct UnknownHmacAuthType(pub String);

impl FromStr for HmacAuthType {
    type Err = UnknownHmacAuthType;

    /// Accepts the wire names case-insensitively, and the bare role (`admin`, `edit`, `view`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let role = lower.strip_prefix("metal-").unwrap_or(&lower);
        match role {
            "admin" => Ok(Self::Admin),
            "edit" => Ok(Self::Edit),
            "view" => Ok(Self::View),
            _ => Err(UnknownHmacAuthType(s.to_string())),
        }
    }
}

/// How requests are authenticated.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials (the caller is a guest: only health and version work).
    #[default]
    None,
    /// HMAC signature with a shared key.
    Hmac {
        key: String,
        auth_type: HmacAuthType,
    },
    /// `Authorization: Bearer <token>` (an OIDC id-token).
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Hmac { auth_type, .. } => f
                .debug_struct("Hmac")
                .field("key", &"[redacted]")
                .field("auth_type", auth_type)
                .finish(),
            Self::Bearer(_) => f.debug_tuple("Bearer").field(&"[redacted]").finish(),
        }
    }
}

/// The three headers of an HMAC-signed request.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacHeaders {
    /// value of `X-Date`
    pub date: String,
    /// value of `X-Data-Salt`
    pub salt: String,
    /// value of `Authorization`: `<Type> <hex signature>`
    pub authorization: String,
}

impl fmt::Debug for HmacHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacHeaders")
            .field("date", &self.date)
            .field("salt", &self.salt)
            .field("authorization", &"[redacted]")
            .finish()
    }
}

/// Formats a time as `X-Date` expects it: `2024-05-27T10:00:00Z`.
pub fn format_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A fresh salt of [`SALT_LEN`] random ASCII letters.
pub fn random_salt() -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..SALT_LEN)
        .map(|_| char::from(LETTERS[rng.gen_range(0..LETTERS.len())]))
        .collect()
}

/// Signs a request of `method` made at `now` with a fresh salt.
pub fn hmac_headers(
    key: impl AsRef<[u8]>,
    auth_type: HmacAuthType,
    method: &str,
    now: DateTime<Utc>,
) -> HmacHeaders {
    let date = format_date(now);
    let salt = random_salt();
    let signature = hmac_signature(key, &date, method, &salt);
    HmacHeaders {
        authorization: format!("{auth_type} {signature}"),
        date,
        salt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // Vectors computed independently with Python:
    // hmac.new(key, date + method + salt, hashlib.sha256).hexdigest()
    #[test]
    fn signature_matches_reference_vectors() {
        assert_eq!(
            hmac_signature(
                "metal-admin-secret",
                "2024-05-27T10:00:00Z",
                "GET",
                "abcdefghijklmnopqrstuvwx"
            ),
            "2e2c31036e0fcf5a2b15bf6597c95788b33b2644003e03774516eeaf08a54c69"
        );
        assert_eq!(
            hmac_signature(
                b"k".as_slice(),
                "2024-01-01T00:00:00Z",
                "PUT",
                "ABCDEFGHIJKLMNOPQRSTUVWX"
            ),
            "276d3200c110a50828a1a78d068159fd4df99e06a3a24f532862c7f5b03d51bb"
        );
    }

    #[test]
    fn headers_are_consistent() {
        let now = Utc.with_ymd_and_hms(2024, 5, 27, 10, 0, 0).unwrap();
        let h = hmac_headers("secret", HmacAuthType::Edit, "POST", now);
        assert_eq!(h.date, "2024-05-27T10:00:00Z");
        assert_eq!(h.salt.len(), SALT_LEN);
        assert!(h.salt.chars().all(|c| c.is_ascii_alphabetic()));
        let expected = hmac_signature("secret", &h.date, "POST", &h.salt);
        assert_eq!(h.authorization, format!("Metal-Edit {expected}"));
        assert!(!format!("{h:?}").contains(&expected));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(random_salt(), random_salt());
    }

    #[test]
    fn auth_type_parsing() {
        for (s, t) in [
            ("Metal-Admin", HmacAuthType::Admin),
            ("metal-edit", HmacAuthType::Edit),
            ("METAL-VIEW", HmacAuthType::View),
            ("view", HmacAuthType::View),
        ] {
            assert_eq!(s.parse::<HmacAuthType>(), Ok(t));
        }
        assert!("Metal-Root".parse::<HmacAuthType>().is_err());
        assert_eq!(HmacAuthType::default().to_string(), "Metal-Admin");
    }

    #[test]
    fn debug_redacts_secrets() {
        let a = Auth::Hmac {
            key: "topsecret".into(),
            auth_type: HmacAuthType::Admin,
        };
        let b = Auth::Bearer("eyJtoken".into());
        let out = format!("{a:?} {b:?}");
        assert!(!out.contains("topsecret"));
        assert!(!out.contains("eyJtoken"));
        assert!(out.contains("[redacted]"));
    }
}
