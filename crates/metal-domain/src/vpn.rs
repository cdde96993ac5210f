//! The VPN of a project (metal-api §3.3 "VPN"): a headscale server, in which each project is a
//! user named by the project id. `POST /v1/vpn/authkey` creates a pre-auth key with which a
//! node joins the project's VPN. The rules here are the request's checks and the key's
//! expiry; the headscale calls are metal-api's.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// How long a key is valid when the request does not say (metal-stack's default).
pub const DEFAULT_KEY_LIFETIME_NS: i64 = 3_600_000_000_000;

/// `v1.VPNRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VpnRequest {
    /// project ID
    pub pid: String,
    /// specifies if auth key should be ephemeral
    pub ephemeral: bool,
    /// expiration time (nanoseconds from now; one hour when absent)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<i64>,
    /// reason why the vpn key is requested, typically an incident number with short description
    pub reason: String,
}

/// `v1.VPNResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VpnResponse {
    /// address of VPN's control plane
    pub address: String,
    /// auth key to connect to the VPN
    pub auth_key: String,
}

impl VpnRequest {
    /// The project id is required and the expiration, when given, positive (400 otherwise).
    pub fn validate(&self) -> DomainResult<()> {
        if self.pid.trim().is_empty() {
            return Err(DomainError::invalid("pid should not be empty"));
        }
        match self.expiration {
            Some(ns) if ns <= 0 => Err(DomainError::invalid(format!(
                "expiration must be a positive duration in nanoseconds, got {ns}"
            ))),
            _ => Ok(()),
        }
    }

    /// When the key expires: `now` plus the requested expiration, or plus one hour.
    pub fn expires_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let ns = self.expiration.unwrap_or(DEFAULT_KEY_LIFETIME_NS);
        now.checked_add_signed(Duration::nanoseconds(ns))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pid: &str, expiration: Option<i64>) -> VpnRequest {
        VpnRequest {
            pid: pid.into(),
            expiration,
            ..Default::default()
        }
    }

    #[test]
    fn request_checks() {
        for (r, want) in [
            (req("p1", None), Ok(())),
            (req("p1", Some(1)), Ok(())),
            (
                req("", None),
                Err(DomainError::invalid("pid should not be empty")),
            ),
            (
                req(" ", Some(5)),
                Err(DomainError::invalid("pid should not be empty")),
            ),
            (
                req("p1", Some(0)),
                Err(DomainError::invalid(
                    "expiration must be a positive duration in nanoseconds, got 0",
                )),
            ),
            (
                req("p1", Some(-3)),
                Err(DomainError::invalid(
                    "expiration must be a positive duration in nanoseconds, got -3",
                )),
            ),
        ] {
            assert_eq!(r.validate(), want, "{r:?}");
        }
    }

    #[test]
    fn expiry() {
        let now: DateTime<Utc> = "2026-12-07T01:00:00Z".parse().unwrap();
        for (expiration, want) in [
            (None, "2026-12-07T02:00:00Z"),
            (Some(90 * 1_000_000_000), "2026-12-07T01:01:30Z"),
            (Some(24 * DEFAULT_KEY_LIFETIME_NS), "2026-12-08T01:00:00Z"),
        ] {
            let want: DateTime<Utc> = want.parse().unwrap();
            assert_eq!(req("p1", expiration).expires_at(now), want);
        }
        assert_eq!(
            req("p1", Some(i64::MAX)).expires_at(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn wire_names() {
        let r: VpnRequest =
            serde_json::from_str(r#"{"pid":"p1","ephemeral":true,"reason":"INC-1"}"#).unwrap();
        assert!(r.ephemeral && r.expiration.is_none());
        let json = serde_json::to_value(VpnResponse {
            address: "https://vpn.test".into(),
            auth_key: "k".into(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"address": "https://vpn.test", "auth_key": "k"})
        );
    }
}
