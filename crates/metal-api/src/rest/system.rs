//! Health, version and the calling user. The routes and their handlers.

use axum::extract::{Query, State};
use axum::http::{Extensions, StatusCode};
use axum::routing::get;
use axum::Json;
use metal_domain::misc::{HealthResponse, User, VersionResponse};

use super::table::{Op, RouteTable};
use super::{PUBLIC, VIEW};
use crate::app;
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
    Query(q): Query<HealthQuery>,
) -> ApiResult<(StatusCode, Json<HealthResponse>)> {
    let body = app::system::health(&a, q.service.as_deref()).await?;
    let code = if body.status == "healthy" {
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
