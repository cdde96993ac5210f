//! `/v1/filesystemlayout`: filesystem layouts, and which layout a size and image get. The routes
//! and their handlers.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::fsl::*;

use super::extract::JsonBody;
use super::response::{created, Created};
use super::table::{Op, RouteTable};
use super::{ADMIN, VIEW};
use crate::app;
use crate::app::RawJson;
use crate::error::ApiResult;
use crate::state::App;

/// The filesystem layout routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/filesystemlayout", "listFilesystemLayouts", VIEW)
            .summary("get all filesystem layouts")
            .returns_list::<FilesystemLayout>(200),
        get(fsl_list),
    );
    t.add(
        Op::get("/v1/filesystemlayout/{id}", "getFilesystemLayout", VIEW)
            .summary("get filesystem layout by id")
            .returns::<FilesystemLayout>(200),
        get(fsl_get),
    );
    t.add(
        Op::put("/v1/filesystemlayout", "createFilesystemLayout", ADMIN)
            .summary("create a filesystem layout")
            .body::<FilesystemLayoutCreateRequest>()
            .returns::<FilesystemLayout>(201)
            .error(409),
        put(fsl_create),
    );
    t.add(
        Op::post("/v1/filesystemlayout", "updateFilesystemLayout", ADMIN)
            .summary("update a filesystem layout")
            .body::<FilesystemLayoutUpdateRequest>()
            .returns::<FilesystemLayout>(200)
            .error(409),
        post(fsl_update),
    );
    t.add(
        Op::delete("/v1/filesystemlayout/{id}", "deleteFilesystemLayout", ADMIN)
            .summary("delete a filesystem layout")
            .returns::<FilesystemLayout>(200),
        delete(fsl_delete),
    );
    t.add(
        Op::post("/v1/filesystemlayout/try", "tryFilesystemLayout", ADMIN)
            .summary("the filesystem layout a size and image get")
            .body::<FilesystemLayoutTryRequest>()
            .returns::<FilesystemLayout>(200),
        post(fsl_try),
    );
    t.add(
        Op::post(
            "/v1/filesystemlayout/matches",
            "matchFilesystemLayout",
            ADMIN,
        )
        .summary("whether a machine's disks fit a filesystem layout")
        .body::<FilesystemLayoutMatchRequest>()
        .returns::<FilesystemLayout>(200),
        post(fsl_matches),
    );
}

pub async fn fsl_list(State(a): State<App>) -> ApiResult<RawJson> {
    app::list_json::<FilesystemLayout>(&a).await
}
pub async fn fsl_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<FilesystemLayout>> {
    Ok(Json(app::get::<FilesystemLayout>(&a, &id).await?))
}
pub async fn fsl_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<FilesystemLayoutCreateRequest>,
) -> ApiResult<Created<FilesystemLayout>> {
    Ok(created(app::fsl::create(&a, req).await?))
}
pub async fn fsl_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<FilesystemLayoutUpdateRequest>,
) -> ApiResult<Json<FilesystemLayout>> {
    Ok(Json(app::fsl::update(&a, req).await?))
}
pub async fn fsl_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<FilesystemLayout>> {
    Ok(Json(app::delete::<FilesystemLayout>(&a, &id).await?))
}
pub async fn fsl_try(
    State(a): State<App>,
    JsonBody(req): JsonBody<FilesystemLayoutTryRequest>,
) -> ApiResult<Json<FilesystemLayout>> {
    Ok(Json(app::fsl::try_layout(&a, &req).await?))
}
pub async fn fsl_matches(
    State(a): State<App>,
    JsonBody(req): JsonBody<FilesystemLayoutMatchRequest>,
) -> ApiResult<Json<FilesystemLayout>> {
    Ok(Json(app::fsl::matches(&a, &req).await?))
}
