//! Handlers of projects, tenants, audit search, health, version and the calling user.

use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::Json;
use metal_domain::audit::{AuditEntry, AuditFindRequest};
use metal_domain::misc::{HealthResponse, User, VersionResponse};
use metal_domain::project::*;

use super::extract::JsonBody;
use crate::app;
use crate::auth::principal_of;
use crate::error::{ApiError, ApiResult};
use crate::state::App;

pub async fn project_list(State(a): State<App>) -> ApiResult<crate::app::RawJson> {
    app::list_json::<Project>(&a).await
}
pub async fn project_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Project>> {
    Ok(Json(app::project::get_project(&a, &id).await?))
}
pub async fn project_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<ProjectFindRequest>,
) -> ApiResult<Json<Vec<Project>>> {
    Ok(Json(app::project::find_projects(&a, &q).await?))
}
pub async fn project_create(
    State(a): State<App>,
    JsonBody(p): JsonBody<Project>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    Ok((
        StatusCode::CREATED,
        Json(app::project::create_project(&a, p).await?),
    ))
}
pub async fn project_update(
    State(a): State<App>,
    JsonBody(p): JsonBody<Project>,
) -> ApiResult<Json<Project>> {
    Ok(Json(app::project::update_project(&a, p).await?))
}
pub async fn project_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Project>> {
    Ok(Json(app::project::delete_project(&a, &id).await?))
}

pub async fn tenant_list(State(a): State<App>) -> ApiResult<crate::app::RawJson> {
    app::list_json::<Tenant>(&a).await
}
pub async fn tenant_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Tenant>> {
    Ok(Json(app::get::<Tenant>(&a, &id).await?))
}
pub async fn tenant_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<TenantFindRequest>,
) -> ApiResult<Json<Vec<Tenant>>> {
    Ok(Json(app::project::find_tenants(&a, &q).await?))
}
pub async fn tenant_create(
    State(a): State<App>,
    JsonBody(t): JsonBody<Tenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    Ok((
        StatusCode::CREATED,
        Json(app::project::create_tenant(&a, t).await?),
    ))
}
pub async fn tenant_update(
    State(a): State<App>,
    JsonBody(t): JsonBody<Tenant>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(app::project::update_tenant(&a, t).await?))
}
pub async fn tenant_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(app::project::delete_tenant(&a, &id).await?))
}

pub async fn audit_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<AuditFindRequest>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let mut conn = a.store.reader().acquire().await.map_err(app::store_err)?;
    Ok(Json(metal_store::audit::find(&mut conn, &q).await?))
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
