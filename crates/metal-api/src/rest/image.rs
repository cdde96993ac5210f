//! `/v1/image`: operating system images. The routes and their handlers; each handler extracts,
//! calls one app function and answers.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Json;
use metal_domain::image::*;
use serde::Deserialize;

use super::extract::JsonBody;
use super::response::{created, Created};
use super::table::{Op, RouteTable};
use super::{ADMIN, AUTH, VIEW};
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The image routes.
pub(super) fn routes(t: &mut RouteTable) {
    const USAGE: (&str, &str, &str) =
        ("show-usage", "boolean", "include image usage into response");
    t.add(
        Op::get("/v1/image", "listImages", AUTH)
            .summary("get all images")
            .query(USAGE.0, USAGE.1, USAGE.2)
            .returns_list::<Image>(200),
        get(image_list),
    );
    t.add(
        Op::get("/v1/image/{id}", "findImage", AUTH)
            .summary("get image by id")
            .returns::<Image>(200),
        get(image_get),
    );
    t.add(
        Op::get("/v1/image/{id}/latest", "findLatestImage", AUTH)
            .summary("the newest image matching an id such as ubuntu-20.04")
            .returns::<Image>(200),
        get(image_latest),
    );
    t.add(
        Op::get("/v1/image/{id}/query", "queryImages by id", AUTH)
            .summary("all images matching an id")
            .returns_list::<Image>(200),
        get(image_query),
    );
    t.add(
        Op::post("/v1/image/find", "findImages", VIEW)
            .summary("find images by search query")
            .query(USAGE.0, USAGE.1, USAGE.2)
            .body::<ImageFindRequest>()
            .returns_list::<Image>(200),
        post(image_find),
    );
    t.add(
        Op::put("/v1/image", "createImage", ADMIN)
            .summary("create an image")
            .body::<ImageCreateRequest>()
            .returns::<Image>(201)
            .error(409),
        put(image_create),
    );
    t.add(
        Op::post("/v1/image", "updateImage", ADMIN)
            .summary("update an image")
            .body::<ImageUpdateRequest>()
            .returns::<Image>(200)
            .error(409),
        post(image_update),
    );
    t.add(
        Op::delete("/v1/image/{id}", "deleteImage", ADMIN)
            .summary("delete an image unless machines use it")
            .returns::<Image>(200),
        delete(image_delete),
    );
}

#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    #[serde(rename = "show-usage", default)]
    show_usage: bool,
}

pub async fn image_list(State(a): State<App>, Query(q): Query<UsageQuery>) -> ApiResult<Response> {
    if q.show_usage {
        Ok(Json(app::image::list(&a, true).await?).into_response())
    } else {
        Ok(app::list_json::<Image>(&a).await?.into_response())
    }
}
pub async fn image_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Image>> {
    Ok(Json(app::image::get(&a, &id).await?))
}
pub async fn image_latest(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Image>> {
    Ok(Json(app::image::latest(&a, &id).await?))
}
pub async fn image_query(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Image>>> {
    Ok(Json(app::image::query(&a, &id).await?))
}
pub async fn image_find(
    State(a): State<App>,
    Query(q): Query<UsageQuery>,
    JsonBody(req): JsonBody<ImageFindRequest>,
) -> ApiResult<Json<Vec<Image>>> {
    Ok(Json(app::image::find(&a, &req, q.show_usage).await?))
}
pub async fn image_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<ImageCreateRequest>,
) -> ApiResult<Created<Image>> {
    Ok(created(app::image::create(&a, req).await?))
}
pub async fn image_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<ImageUpdateRequest>,
) -> ApiResult<Json<Image>> {
    Ok(Json(app::image::update(&a, req).await?))
}
pub async fn image_delete(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Image>> {
    Ok(Json(app::image::delete(&a, &id).await?))
}
