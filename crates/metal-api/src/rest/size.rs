//! `/v1/size`: machine sizes and the size suggestion. The routes and their handlers.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::size::*;

use super::extract::JsonBody;
use super::response::{created, Created};
use super::table::{Op, RouteTable};
use super::{ADMIN, AUTH};
use crate::app;
use crate::app::RawJson;
use crate::error::ApiResult;
use crate::state::App;

/// The size routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/size", "listSizes", AUTH)
            .summary("get all sizes")
            .returns_list::<Size>(200),
        get(size_list),
    );
    t.add(
        Op::get("/v1/size/{id}", "findSize", AUTH)
            .summary("get size by id")
            .returns::<Size>(200),
        get(size_get),
    );
    t.add(
        Op::put("/v1/size", "createSize", ADMIN)
            .summary("create a size")
            .body::<SizeCreateRequest>()
            .returns::<Size>(201)
            .error(409),
        put(size_create),
    );
    t.add(
        Op::post("/v1/size", "updateSize", ADMIN)
            .summary("update a size")
            .body::<SizeUpdateRequest>()
            .returns::<Size>(200)
            .error(409),
        post(size_update),
    );
    t.add(
        Op::delete("/v1/size/{id}", "deleteSize", ADMIN)
            .summary("delete a size unless machines have it")
            .returns::<Size>(200),
        delete(size_delete),
    );
    t.add(
        Op::post("/v1/size/suggest", "suggest", AUTH)
            .summary("size constraints matching a machine's hardware exactly")
            .body::<SizeSuggestRequest>()
            .returns_list::<SizeConstraint>(200),
        post(size_suggest),
    );
}

pub async fn size_list(State(a): State<App>) -> ApiResult<RawJson> {
    app::list_json::<Size>(&a).await
}
pub async fn size_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Size>> {
    Ok(Json(app::get::<Size>(&a, &id).await?))
}
pub async fn size_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeCreateRequest>,
) -> ApiResult<Created<Size>> {
    Ok(created(app::size::create(&a, req).await?))
}
pub async fn size_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeUpdateRequest>,
) -> ApiResult<Json<Size>> {
    Ok(Json(app::size::update(&a, req).await?))
}
pub async fn size_delete(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Size>> {
    Ok(Json(app::size::delete(&a, &id).await?))
}
pub async fn size_suggest(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeSuggestRequest>,
) -> ApiResult<Json<Vec<SizeConstraint>>> {
    Ok(Json(app::size::suggest(&a, &req.machine_id).await?))
}
