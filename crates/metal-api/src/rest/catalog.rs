//! Handlers of the catalog: images, sizes, size-image constraints, partitions and filesystem
//! layouts. Each extracts, calls one app function and answers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use metal_domain::fsl::*;
use metal_domain::image::*;
use metal_domain::misc::EmptyBody;
use metal_domain::partition::*;
use metal_domain::sic::*;
use metal_domain::size::*;
use serde::Deserialize;

use super::extract::JsonBody;
use crate::app;
use crate::app::RawJson;
use crate::error::ApiResult;
use crate::state::App;
use axum::response::{IntoResponse, Response};

type Created<T> = (StatusCode, Json<T>);

fn created<T>(v: T) -> Created<T> {
    (StatusCode::CREATED, Json(v))
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

pub async fn sic_list(State(a): State<App>) -> ApiResult<RawJson> {
    app::list_json::<SizeImageConstraint>(&a).await
}
pub async fn sic_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<SizeImageConstraint>> {
    Ok(Json(app::get::<SizeImageConstraint>(&a, &id).await?))
}
pub async fn sic_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeImageConstraintCreateRequest>,
) -> ApiResult<Created<SizeImageConstraint>> {
    Ok(created(app::catalog::create_sic(&a, req).await?))
}
pub async fn sic_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeImageConstraintUpdateRequest>,
) -> ApiResult<Json<SizeImageConstraint>> {
    Ok(Json(app::catalog::update_sic(&a, req).await?))
}
pub async fn sic_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<SizeImageConstraint>> {
    Ok(Json(app::delete::<SizeImageConstraint>(&a, &id).await?))
}
pub async fn sic_try(
    State(a): State<App>,
    JsonBody(req): JsonBody<SizeImageConstraintTryRequest>,
) -> ApiResult<Json<EmptyBody>> {
    app::catalog::try_sic(&a, &req).await?;
    Ok(Json(EmptyBody {}))
}

pub async fn partition_list(State(a): State<App>) -> ApiResult<RawJson> {
    app::list_json::<Partition>(&a).await
}
pub async fn partition_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Partition>> {
    Ok(Json(app::get::<Partition>(&a, &id).await?))
}
pub async fn partition_create(
    State(a): State<App>,
    JsonBody(req): JsonBody<PartitionCreateRequest>,
) -> ApiResult<Created<Partition>> {
    Ok(created(app::catalog::create_partition(&a, req).await?))
}
pub async fn partition_update(
    State(a): State<App>,
    JsonBody(req): JsonBody<PartitionUpdateRequest>,
) -> ApiResult<Json<Partition>> {
    Ok(Json(app::catalog::update_partition(&a, req).await?))
}
pub async fn partition_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Partition>> {
    Ok(Json(app::catalog::delete_partition(&a, &id).await?))
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
