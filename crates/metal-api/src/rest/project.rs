//! `/v1/project`: projects. The routes and their handlers.

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

/// The project routes.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/project", "listProjects", VIEW)
            .summary("get all projects")
            .returns_list::<Project>(200),
        get(project_list),
    );
    t.add(
        Op::get("/v1/project/{id}", "findProject", VIEW)
            .summary("get project by id")
            .returns::<Project>(200),
        get(project_get),
    );
    t.add(
        Op::post("/v1/project/find", "findProjects", VIEW)
            .summary("find projects")
            .body::<ProjectFindRequest>()
            .returns_list::<Project>(200),
        post(project_find),
    );
    t.add(
        Op::put("/v1/project", "createProject", ADMIN)
            .summary("create a project")
            .body::<Project>()
            .returns::<Project>(201)
            .error(409),
        put(project_create),
    );
    t.add(
        Op::post("/v1/project", "updateProject", ADMIN)
            .summary("update a project (meta.version must be the one read)")
            .body::<Project>()
            .returns::<Project>(200)
            .error(409),
        post(project_update),
    );
    t.add(
        Op::delete("/v1/project/{id}", "deleteProject", ADMIN)
            .summary("delete a project without machines")
            .returns::<Project>(200),
        delete(project_delete),
    );
}

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
