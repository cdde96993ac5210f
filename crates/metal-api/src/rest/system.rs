//! Health, version and the calling user. The routes and their handlers.

use axum::extract::State;
use axum::http::{Extensions, StatusCode};
use axum::routing::get;
use axum::Json;
use metal_domain::misc::{HealthResponse, User, VersionResponse};

use super::table::{Op, RouteTable};
use super::{PUBLIC, VIEW};
use crate::auth::principal_of;
use crate::error::{ApiError, ApiResult};
use crate::state::App;

/// The health, version and user routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/health", "health", PUBLIC)
            .summary("perform a healthcheck")
            .query(
                "service",
                "string",
                "return health for this specific service only",
            )
            .returns::<HealthResponse>(200)
            .returns::<HealthResponse>(500),
        get(health),
    );
    t.add(
        Op::get("/v1/version", "info", PUBLIC)
            .summary("returns the current version information of this module")
            .returns::<VersionResponse>(200),
        get(version),
    );
    t.add(
        Op::get("/v1/user/me", "getMe", VIEW)
            .summary("the calling user")
            .returns::<User>(200),
        get(user_me),
    );
}

#[derive(Debug, serde::Deserialize)]
pub struct HealthQuery {
    service: Option<String>,
}

/// 200 when the database answers, 500 with the same body shape otherwise; `?service=database`
/// answers that service alone, an unknown service is a 404.
pub async fn health(
    State(a): State<App>,
    axum::extract::Query(q): axum::extract::Query<HealthQuery>,
) -> ApiResult<(StatusCode, Json<HealthResponse>)> {
    if let Some(s) = q
        .service
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "database")
    {
        return Err(ApiError::not_found(format!(
            "unknown service {s:?}: this server checks \"database\""
        )));
    }
    let db = match a.store.ping().await {
        Ok(()) => HealthResponse {
            status: "healthy".into(),
            message: format!("{:?} database answers", a.store.backend()).to_lowercase(),
            services: Default::default(),
        },
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "health check failed");
            HealthResponse {
                status: "unhealthy".into(),
                message: "database does not answer".into(),
                services: Default::default(),
            }
        }
    };
    let healthy = db.status == "healthy";
    let body = HealthResponse {
        status: db.status.clone(),
        message: if healthy {
            "all services are healthy".into()
        } else {
            "some services are unhealthy".into()
        },
        services: [("database".to_string(), db)].into_iter().collect(),
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    Ok((code, Json(body)))
}

pub async fn version(State(a): State<App>) -> Json<VersionResponse> {
    Json(a.version.clone())
}

pub async fn user_me(ext: Extensions) -> ApiResult<Json<User>> {
    let p =
        principal_of(&ext).ok_or_else(|| ApiError::Unauthenticated("not authenticated".into()))?;
    Ok(Json(User {
        email: p.email.clone(),
        name: p.name.clone(),
        groups: p.groups.clone(),
        tenant: p.tenant.clone(),
        issuer: p.issuer.clone(),
        subject: p.subject.clone(),
    }))
}
