//! `/v1/tenant`: tenants. The routes and their handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::project::*;

use super::extract::JsonBody;
use super::table::{Op, RouteTable};
use super::{ADMIN, VIEW};
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The tenant routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/tenant", "listTenants", VIEW)
            .summary("get all tenants")
            .returns_list::<Tenant>(200),
        get(tenant_list),
    );
    t.add(
        Op::get("/v1/tenant/{id}", "getTenant", VIEW)
            .summary("get tenant by id")
            .returns::<Tenant>(200),
        get(tenant_get),
    );
    t.add(
        Op::post("/v1/tenant/find", "findTenants", VIEW)
            .summary("find tenants")
            .body::<TenantFindRequest>()
            .returns_list::<Tenant>(200),
        post(tenant_find),
    );
    t.add(
        Op::put("/v1/tenant", "createTenant", ADMIN)
            .summary("create a tenant")
            .body::<Tenant>()
            .returns::<Tenant>(201)
            .error(409),
        put(tenant_create),
    );
    t.add(
        Op::post("/v1/tenant", "updateTenant", ADMIN)
            .summary("update a tenant (meta.version must be the one read)")
            .body::<Tenant>()
            .returns::<Tenant>(200)
            .error(409),
        post(tenant_update),
    );
    t.add(
        Op::delete("/v1/tenant/{id}", "deleteTenant", ADMIN)
            .summary("delete a tenant without projects")
            .returns::<Tenant>(200),
        delete(tenant_delete),
    );
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
