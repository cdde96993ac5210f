//! Handlers of networks and IPs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use metal_domain::ip::*;
use metal_domain::network::*;

use super::extract::JsonBody;
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

type Created<T> = (StatusCode, Json<T>);

pub async fn network_list(State(a): State<App>) -> ApiResult<Json<Vec<Network>>> {
    Ok(Json(app::network::list(&a).await?))
}
pub async fn network_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::get(&a, &id).await?))
}
pub async fn network_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<NetworkFindRequest>,
) -> ApiResult<Json<Vec<Network>>> {
    Ok(Json(app::network::find(&a, &q).await?))
}
pub async fn network_create(
    State(a): State<App>,
    JsonBody(r): JsonBody<NetworkCreateRequest>,
) -> ApiResult<Created<Network>> {
    Ok((
        StatusCode::CREATED,
        Json(app::network::create(&a, r).await?),
    ))
}
pub async fn network_update(
    State(a): State<App>,
    JsonBody(r): JsonBody<NetworkUpdateRequest>,
) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::update(&a, r).await?))
}
pub async fn network_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::delete(&a, &id).await?))
}
pub async fn network_allocate(
    State(a): State<App>,
    JsonBody(r): JsonBody<NetworkAllocateRequest>,
) -> ApiResult<Created<Network>> {
    Ok((
        StatusCode::CREATED,
        Json(app::network::allocate(&a, r).await?),
    ))
}
pub async fn network_free(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Network>> {
    Ok(Json(app::network::free(&a, &id).await?))
}

pub async fn ip_list(State(a): State<App>) -> ApiResult<Json<Vec<Ip>>> {
    Ok(Json(app::ip::list(&a).await?))
}
pub async fn ip_get(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Ip>> {
    Ok(Json(app::ip::get(&a, &id).await?))
}
pub async fn ip_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<IpFindRequest>,
) -> ApiResult<Json<Vec<Ip>>> {
    Ok(Json(app::ip::find(&a, &q).await?))
}
pub async fn ip_update(
    State(a): State<App>,
    JsonBody(r): JsonBody<IpUpdateRequest>,
) -> ApiResult<Json<Ip>> {
    Ok(Json(app::ip::update(&a, r).await?))
}
pub async fn ip_allocate(
    State(a): State<App>,
    JsonBody(r): JsonBody<IpAllocateRequest>,
) -> ApiResult<Created<Ip>> {
    Ok((
        StatusCode::CREATED,
        Json(app::ip::allocate(&a, r, None).await?),
    ))
}
pub async fn ip_allocate_specific(
    State(a): State<App>,
    Path(ip): Path<String>,
    JsonBody(r): JsonBody<IpAllocateRequest>,
) -> ApiResult<Created<Ip>> {
    Ok((
        StatusCode::CREATED,
        Json(app::ip::allocate(&a, r, Some(&ip)).await?),
    ))
}
pub async fn ip_free(State(a): State<App>, Path(id): Path<String>) -> ApiResult<Json<Ip>> {
    Ok(Json(app::ip::free(&a, &id).await?))
}
