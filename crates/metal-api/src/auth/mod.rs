//! Who is calling and what they may do.
//!
//! A middleware authenticates every request once ([`authenticate`]): HMAC for the three built-in
//! users (`Metal-View`, `Metal-Edit`, `Metal-Admin`), then OIDC bearer tokens. It stores the
//! outcome in the request's extensions. Each route declares the role it needs in the route table
//! (`rest::routes`), whose layer refuses with 401 when the caller is not authenticated (no,
//! malformed, wrong or stale credentials) and 403 when the role is too low.
//! metal-stack answers 403 for a bad signature too; we answer 401, as HTTP means it.

pub mod hmac;
pub mod oidc;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::error::ApiError;

/// Roles, ordered: a higher role includes the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    View,
    Edit,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Edit => "edit",
            Self::Admin => "admin",
        }
    }
}

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Anyone, also without credentials (health, version, the API document).
    Public,
    /// Any authenticated caller, whatever its role.
    Authenticated,
    /// At least this role.
    Role(Role),
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Authenticated => "authenticated",
            Self::Role(r) => r.as_str(),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
    pub tenant: String,
    pub issuer: String,
    /// The highest role the caller's groups grant; `None` = authenticated without a role.
    pub role: Option<Role>,
}

/// The result of authentication, stored in the request extensions.
#[derive(Debug, Clone)]
pub enum AuthOutcome {
    /// No credentials at all.
    Anonymous,
    Authenticated(Arc<Principal>),
    /// Credentials were given but are not valid; the reason is safe to show.
    Failed(String),
}

/// The authenticators of this server.
pub struct Authenticator {
    pub hmac: hmac::HmacAuth,
    pub oidc: Option<oidc::OidcAuth>,
}

impl Authenticator {
    /// Authenticates from the request headers and method.
    pub fn authenticate(&self, method: &str, headers: &HeaderMap) -> AuthOutcome {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return AuthOutcome::Anonymous;
        };
        let Ok(value) = value.to_str() else {
            return AuthOutcome::Failed("authorization header is not valid text".into());
        };
        let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return match &self.oidc {
                Some(oidc) => match oidc.verify(credential.trim()) {
                    Ok(p) => AuthOutcome::Authenticated(Arc::new(p)),
                    Err(reason) => AuthOutcome::Failed(reason),
                },
                None => AuthOutcome::Failed(
                    "bearer tokens are not accepted: no OIDC issuer is configured".into(),
                ),
            };
        }
        match self.hmac.verify(scheme, credential.trim(), method, headers) {
            Ok(p) => AuthOutcome::Authenticated(Arc::new(p)),
            Err(reason) => AuthOutcome::Failed(reason),
        }
    }
}

/// Middleware: authenticates once and stores the [`AuthOutcome`].
pub async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    let outcome = auth.authenticate(req.method().as_str(), req.headers());
    req.extensions_mut().insert(outcome);
    next.run(req).await
}

/// Checks an outcome against what a route requires.
pub fn authorize(outcome: Option<&AuthOutcome>, access: Access) -> Result<(), ApiError> {
    if access == Access::Public {
        return Ok(());
    }
    let principal = match outcome {
        Some(AuthOutcome::Authenticated(p)) => p,
        Some(AuthOutcome::Failed(reason)) => {
            return Err(ApiError::Unauthenticated(format!(
                "authentication failed: {reason}"
            )))
        }
        _ => {
            return Err(ApiError::Unauthenticated(
                "authentication required: send an HMAC signature or a bearer token".into(),
            ))
        }
    };
    match access {
        Access::Role(required) if principal.role.is_none_or(|r| r < required) => {
            Err(ApiError::Forbidden(format!(
                "you are not member in one of the groups with role {}: your groups are [{}]",
                required.as_str(),
                principal.groups.join(" ")
            )))
        }
        _ => Ok(()),
    }
}

/// The caller of a request that passed the route's check; anonymous callers of public routes
/// have none.
pub fn principal_of(ext: &axum::http::Extensions) -> Option<Arc<Principal>> {
    match ext.get::<AuthOutcome>() {
        Some(AuthOutcome::Authenticated(p)) => Some(p.clone()),
        _ => None,
    }
}

/// Groups → the highest role they grant.
#[derive(Debug, Clone, Default)]
pub struct GroupRoles {
    pub view: Vec<String>,
    pub edit: Vec<String>,
    pub admin: Vec<String>,
}

impl GroupRoles {
    pub fn role_of(&self, groups: &[String]) -> Option<Role> {
        let has = |list: &[String]| groups.iter().any(|g| list.iter().any(|l| l == g));
        if has(&self.admin) {
            Some(Role::Admin)
        } else if has(&self.edit) {
            Some(Role::Edit)
        } else if has(&self.view) {
            Some(Role::View)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Option<Role>) -> AuthOutcome {
        AuthOutcome::Authenticated(Arc::new(Principal {
            subject: "s".into(),
            email: "e".into(),
            name: "n".into(),
            groups: vec![],
            tenant: "t".into(),
            issuer: "i".into(),
            role,
        }))
    }

    #[test]
    fn access_table() {
        use Access::*;
        let cases = [
            (None, Public, None),
            (None, Authenticated, Some(401)),
            (
                Some(AuthOutcome::Failed("x".into())),
                Role(self::Role::View),
                Some(401),
            ),
            (Some(principal(None)), Authenticated, None),
            (Some(principal(None)), Role(self::Role::View), Some(403)),
            (
                Some(principal(Some(self::Role::View))),
                Role(self::Role::Edit),
                Some(403),
            ),
            (
                Some(principal(Some(self::Role::Edit))),
                Role(self::Role::Edit),
                None,
            ),
            (
                Some(principal(Some(self::Role::Admin))),
                Role(self::Role::Edit),
                None,
            ),
            (
                Some(principal(Some(self::Role::Edit))),
                Role(self::Role::Admin),
                Some(403),
            ),
        ];
        for (outcome, access, want) in cases {
            let got = authorize(outcome.as_ref(), access)
                .err()
                .map(|e| e.status().as_u16());
            assert_eq!(got, want, "{outcome:?} {access:?}");
        }
    }

    #[test]
    fn group_roles() {
        let g = GroupRoles {
            view: vec!["v".into()],
            edit: vec!["e".into()],
            admin: vec!["a".into()],
        };
        assert_eq!(g.role_of(&["v".into(), "e".into()]), Some(Role::Edit));
        assert_eq!(g.role_of(&["a".into()]), Some(Role::Admin));
        assert_eq!(g.role_of(&["x".into()]), None);
    }
}
